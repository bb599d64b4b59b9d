# Blossom's recipes. Run them through ./dev (it installs what is missing first): ./dev <recipe>.

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

python := ".venv/bin/python"

# [continue] on the recipes that run until Ctrl-C, and on psql's, where Ctrl-C cancels a query:
# the terminal's SIGINT reaches just too (the whole foreground process group gets it), and just,
# once its recipe had stopped cleanly and exited 0, exited 130 itself, printing `error:
# interrupted by SIGINT`. With [continue] (just 1.54+) just exits with the recipe's own status:
# 0 after a clean stop, non-zero after a failure.

alias t := test
alias m := migrate

# List the recipes
default:
    @just --list --unsorted

# Bring the whole stack up: local Postgres (or DATABASE_URL), migrations, MailDev, PostgREST, edge, worker
[group('run')]
[continue]
up *ARGS:
    {{python}} -m ops.stack up "$@"

# Stop the stack that `up` runs on this data folder (under nohup, or from a terminal since closed), as Ctrl-C would
[group('run')]
down *ARGS:
    {{python}} -m ops.stack down "$@"

# Run the worker alone, in the foreground (mail to BLOSSOM_SMTP_URL, or to MailDev's port)
[group('run')]
[continue]
worker *ARGS:
    {{python}} -m ops.stack worker "$@"

# Run Dagster's UI on the pipeline (dagster dev) against the local database, on BLOSSOM_DAGSTER_PORT
[group('run')]
[continue]
pipeline *ARGS:
    {{python}} -m ops.stack pipeline "$@"

# Materialize pipeline assets once (default: today's org_daily_metrics and auth_housekeeping; --day DAY)
[group('run')]
pipeline-run *ARGS:
    {{python}} -m ops.stack pipeline-run "$@"

# Show the mail delivered to MailDev under `just up`, newest first (--to ADDRESS, --limit N)
[group('run')]
mail *ARGS:
    {{python}} -m ops.mailbox "$@"

# Apply pending migrations, then re-apply the stateless layer when it changed, then reload PostgREST
[group('database')]
migrate *ARGS:
    {{python}} -m ops.stack migrate "$@"

# Write migrations/NNNN.NAME.sql (and its rollback) from the diff between migrations/ and sql/schema/
[group('database')]
new-migration NAME:
    {{python}} -m ops.new_migration "$1"

# Open psql on the local database as the admin user
[group('database')]
[continue]
psql *ARGS:
    {{python}} -m ops.stack psql "$@"

# Open psql on the local database as panopticon: the operators' read-only views of schema admin
[group('database')]
[continue]
psql-admin *ARGS:
    {{python}} -m ops.stack psql-admin "$@"

# The statements that cost the database the most time, from pg_stat_statements (--limit N, --by mean|calls, --reset)
[group('database')]
top-queries *ARGS:
    {{python}} -m ops.top_queries "$@"

# backup and restore: FILE as named from the folder ./dev was called in; an option (--help) is
# passed on as it is, not taken for a file there.

# Dump the local database (or DATABASE_URL) into FILE with pg_dump, custom format
[group('database')]
backup FILE:
    {{python}} -m ops.backup backup {{quote(if FILE =~ '^-' { FILE } else { join(invocation_directory(), FILE) })}}

# Restore FILE (from `backup`) into a new database DATABASE on the same server, in one transaction
[group('database')]
restore FILE *DATABASE:
    {{python}} -m ops.backup restore {{quote(if FILE =~ '^-' { FILE } else { join(invocation_directory(), FILE) })}} "${@:2}"

# Drop the local database and build it again from migrations (asks first unless --yes)
[group('database')]
reset-db *ARGS:
    {{python}} -m ops.stack reset-db "$@"

# Roll back the migrations applied after MIGRATION, each with its rollback file (asks first unless --yes)
[group('database')]
rollback MIGRATION *ARGS:
    {{python}} -m ops.stack rollback "$@"

# Check that migrations/ build exactly what sql/schema/ describes; print the difference if not
[group('check')]
schema-check *ARGS:
    {{python}} -m ops.schema_check "$@"

# Every test: lint, SQL checks, schema check, codegen check, TypeScript, pgTAP and pytest, on a throwaway cluster
[group('check')]
test *PYTEST_ARGS:
    {{python}} -m ops.run_tests "$@"

# Every check but pytest (lint, SQL checks, schema check, codegen check, TypeScript, pgTAP), on a throwaway cluster
[group('check')]
check *ARGS:
    {{python}} -m ops.run_tests --checks "$@"

# pgTAP files (default: every one under sql/tests) on a freshly migrated throwaway database
[group('check')]
pgtap *FILES:
    {{python}} -m ops.run_tests --pgtap {{quote(invocation_directory())}} "$@"

# Static checks: ruff (lint and format), mypy, and the SQL checks that need no database (squawk, rollbacks, landed migrations, calls, distribution)
[group('check')]
lint:
    {{python}} -m ruff check .
    {{python}} -m ruff format --check .
    {{python}} -m mypy
    {{python}} -m ops.sql_lint --no-database

# SQL checks: plpgsql_check on a freshly migrated scratch database, squawk, schema-qualified calls, distribution
[group('check')]
sql-lint *ARGS:
    {{python}} -m ops.sql_lint "$@"

# Format the Python code in place
[group('check')]
fmt:
    {{python}} -m ruff format .
    {{python}} -m ruff check --fix .

# Regenerate the TypeScript client and the Python wrappers from a freshly migrated scratch database
[group('check')]
codegen *ARGS:
    {{python}} -m ops.codegen "$@"

# Pack the TypeScript client as an npm package (ESM + CommonJS) into clients/typescript/dist/ (--out DIR)
[group('check')]
client-package *ARGS:
    {{python}} -m ops.client_package --called-from {{quote(invocation_directory())}} "$@"

# Build the example web app (examples/web) into examples/web/dist/ (--out DIR); serve it with BLOSSOM_DEMO_DIR
[group('run')]
web-example *ARGS:
    {{python}} -m ops.web_example --called-from {{quote(invocation_directory())}} "$@"

# Fail, naming the file, when a generated file differs from what the current SQL makes
[group('check')]
codegen-check *ARGS:
    {{python}} -m ops.codegen --check "$@"

# List the SQL functions of the API and every public Python symbol
[group('check')]
list-symbols *ARGS:
    {{python}} -m ops.list_symbols "$@"

# Benchmarks under bench/ (numbers, not pass/fail), on a throwaway cluster
[group('check')]
bench *ARGS:
    {{python}} -m ops.bench "$@"

# Print a fresh key for BLOSSOM_SECRETS_KEY (KEY_ID:BASE64)
[group('maintain')]
new-secrets-key ID:
    {{python}} -m ops.secrets new-key "$1"

# Seal every stored credential again with BLOSSOM_SECRETS_KEY (after a rotation)
[group('maintain')]
reseal-secrets *ARGS:
    {{python}} -m ops.secrets reseal "$@"

# Record again the LLM answers the tests replay (tests/fixtures/llm/), from the real provider with OPENAI_API_KEY
[group('maintain')]
rerecord-llm:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${OPENAI_API_KEY:-}" ]; then
        echo "rerecord-llm: set OPENAI_API_KEY (and OPENAI_BASE_URL for another provider); nothing was changed" >&2
        exit 1
    fi
    rm -f tests/fixtures/llm/*.json
    BLOSSOM_LLM_RECORD=1 {{python}} -m pytest -q tests/test_ai.py
    git status --short tests/fixtures/llm

# Re-pin requirements.lock from requirements.in (exact versions and hashes, no download hosts)
[group('maintain')]
lock:
    {{python}} -m pip install --quiet pip-tools
    CUSTOM_COMPILE_COMMAND="just lock" {{python}} -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
        --no-emit-index-url --no-emit-trusted-host --no-emit-find-links \
        -o requirements.lock requirements.in
