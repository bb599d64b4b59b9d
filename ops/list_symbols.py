"""`just list-symbols`: every RPC with its signature, the roles that may call it and the error
codes it can raise (codegen's parser), then every public Python symbol of the edge, the
pipeline, the generated wrappers, deploy, codegen and ops."""

from __future__ import annotations

import ast

import psycopg

from ops.scratch import migrated_database
from ops.settings import ROOT, recipe_parser

PYTHON_PACKAGES = ("edge", "pipeline", "blossom_db", "deploy", "codegen", "ops")

RPC_QUERY = """
select p.oid::int, p.proname::text,
       pg_get_function_arguments(p.oid),
       pg_get_function_result(p.oid),
       coalesce((select string_agg(distinct r.rolname, ', ' order by r.rolname)
                   from aclexplode(p.proacl) a join pg_roles r on r.oid = a.grantee
                  where a.privilege_type = 'EXECUTE' and r.rolname <> 'blossom_owner'), '-')
  from pg_proc p
 where p.pronamespace = 'api'::regnamespace
 order by p.proname
"""


def rpc_lines(database_url: str) -> list[str]:
    # Developer tooling, like codegen itself: the only place here that loads pglast.
    from codegen.config import Config
    from codegen.raises import error_codes

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(RPC_QUERY).fetchall()
        codes = error_codes(conn, Config().raises)
    lines = []
    for oid, name, arguments, result, roles in rows:
        raised = ", ".join(sorted(codes.of(oid) | codes.common)) or "-"
        lines.append(f"  POST /rpc/{name}({arguments}) -> {result}   [{roles}]\n      errors: {raised}")
    return lines


def _public(name: str) -> bool:
    return not name.startswith("_")


def python_symbols(package: str) -> list[str]:
    lines = []
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if not all(_public(part) or part == "__init__" for part in path.relative_to(ROOT).parts):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _public(node.name):
                lines.append(f"  {module}.{node.name}({ast.unparse(node.args)})")
            elif isinstance(node, ast.ClassDef) and _public(node.name):
                lines.append(f"  {module}.{node.name}")
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _public(item.name):
                        lines.append(f"  {module}.{node.name}.{item.name}")
    return lines


def main() -> None:
    recipe_parser("just list-symbols", __doc__).parse_args()
    with migrated_database("symbols") as url:
        rpcs = rpc_lines(url)
    print("RPC functions (schema api) [roles that may execute]:")
    print("\n".join(rpcs) if rpcs else "  (none yet)")
    for package in PYTHON_PACKAGES:
        print(f"\nPython: {package}")
        print("\n".join(python_symbols(package)) or "  (none yet)")


if __name__ == "__main__":
    main()
