"""The TypeScript client as an npm package: built and packed (ops/client_package.py), installed
from its tarball into a scratch project, then imported as an ES module and with require(), at
run time by Node and at compile time by tsc (node16 resolution, the `exports` map's types)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops.client_package import TSC
from ops.settings import ROOT

# A call to a port nothing listens on: the runtime works (fetch, the Result, the error codes).
ESM_PROGRAM = """
import { isUserId, me, orgRoleValues, orThrow, BlossomError } from "@blossom/client";
const result = await me({ baseUrl: "http://127.0.0.1:1" });
let thrown = "";
try {
  await orThrow(me({ baseUrl: "http://127.0.0.1:1" }));
} catch (error) {
  thrown = error instanceof BlossomError ? error.error.code : "?";
}
console.log(JSON.stringify({ code: result.ok ? null : result.error.code, roles: orgRoleValues,
  guard: isUserId("usr_01jd8x0000000000000000000a"), thrown }));
"""
CJS_PROGRAM = """
const client = require("@blossom/client");
client.me({ baseUrl: "http://127.0.0.1:1" }).then((result) => {
  console.log(JSON.stringify({ code: result.ok ? null : result.error.code, roles: client.orgRoleValues,
    guard: client.isUserId("usr_01jd8x0000000000000000000a"), thrown: typeof client.BlossomError }));
});
"""
TYPED = """
import { type OrgId, type UserId, getOrganization, isOrgId } from "@blossom/client";
export async function typed(user: UserId, org: OrgId): Promise<string | null> {
  // @ts-expect-error a user ID where an org ID goes
  await getOrganization({ baseUrl: "" }, { org_id: user });
  const found = await getOrganization({ baseUrl: "" }, { org_id: org });
  return found.ok && isOrgId(found.data.id) ? found.data.name : null;
}
"""


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_the_packed_client_installs_and_imports_as_esm_and_commonjs(tmp_path: Path) -> None:
    """Packed by the recipe called from a frontend's folder beside the checkout, with a relative
    --out: the tarball is in that folder, not in the checkout (the build is checked for that here,
    not built a second time for it)."""
    tarball = run_recipe_with_a_relative_out(tmp_path, "client-package", "blossom-client-0.1.0.tgz")
    project = tmp_path / "app"
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": "scratch", "private": True, "type": "module"}))
    # No dependency to fetch: installing the tarball needs no registry (--offline proves it).
    _run(
        ["npm", "install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", str(tarball)], project
    )
    installed = json.loads((project / "node_modules" / "@blossom" / "client" / "package.json").read_text())
    assert not installed.get("dependencies")

    expected = {
        "code": "client.network",
        "roles": ["owner", "admin", "member"],
        "guard": True,
    }
    esm = json.loads(_run(["node", "--input-type=module", "-e", ESM_PROGRAM], project))
    assert esm == {**expected, "thrown": "client.network"}
    cjs = json.loads(_run(["node", "-e", CJS_PROGRAM], project))
    assert cjs == {**expected, "thrown": "function"}

    (project / "typed.mts").write_text(TYPED)
    (project / "typed.cts").write_text(TYPED)
    options = {"strict": True, "noEmit": True, "module": "Node16", "moduleResolution": "Node16"}
    options |= {"target": "ES2022", "lib": ["ES2022", "DOM"], "types": [], "skipDefaultLibCheck": True}
    tsconfig = {"compilerOptions": options, "files": ["typed.mts", "typed.cts"]}
    (project / "tsconfig.json").write_text(json.dumps(tsconfig))
    _run(["node", str(TSC), "--project", "tsconfig.json"], project)


# @tsconfig/strictest's options: a frontend that compiles the client's source with its own code
# (a `paths` entry, as examples/web does, or the file copied in) checks it under its settings.
STRICTEST = {
    "strict": True,
    "allowUnusedLabels": False,
    "allowUnreachableCode": False,
    "exactOptionalPropertyTypes": True,
    "noFallthroughCasesInSwitch": True,
    "noImplicitOverride": True,
    "noImplicitReturns": True,
    "noPropertyAccessFromIndexSignature": True,
    "noUncheckedIndexedAccess": True,
    "noUnusedLocals": True,
    "noUnusedParameters": True,
    "isolatedModules": True,
    "forceConsistentCasingInFileNames": True,
}


def test_the_client_source_compiles_in_a_project_of_the_strictest_settings(tmp_path: Path) -> None:
    """The committed client and the fixture's golden one (every case codegen writes) compile as
    part of a consumer's own sources under @tsconfig/strictest, in ES modules."""
    committed = ROOT / "clients" / "typescript" / "src" / "generated.ts"
    golden = ROOT / "tests" / "fixtures" / "codegen" / "expected" / "generated.ts"
    for name, source in (("client.ts", committed), ("golden.ts", golden)):
        (tmp_path / name).write_text(source.read_text())
    options = STRICTEST | {"noEmit": True, "module": "ES2022", "moduleResolution": "Bundler"}
    options |= {"target": "ES2022", "lib": ["ES2022", "DOM"], "types": [], "skipDefaultLibCheck": True}
    tsconfig = {"compilerOptions": options, "files": ["client.ts", "golden.ts"]}
    (tmp_path / "tsconfig.json").write_text(json.dumps(tsconfig))
    _run(["node", str(TSC), "--project", "tsconfig.json"], tmp_path)


# What TypeScript's `erasableSyntaxOnly` refuses (Vite's templates set it) and Node's own type
# stripping cannot run (`node app.ts`, Node 22.18 and 23.6 on): syntax that emits code.
NOT_ERASABLE = """
const ts = require(process.argv[1]);
const fs = require("fs");
const found = [];
for (const file of process.argv.slice(2)) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    const kind =
      ts.isParameterPropertyDeclaration(node, node.parent) ? "a parameter property" :
      ts.isEnumDeclaration(node) ? "an enum" :
      ts.isModuleDeclaration(node) ? "a namespace" :
      ts.isImportEqualsDeclaration(node) ? "import =" :
      ts.isExportAssignment(node) && node.isExportEquals ? "export =" :
      ts.isTypeAssertionExpression(node) ? "a <T> assertion" : null;
    const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    if (kind) found.push(`${file}:${line}: ${kind}`);
    ts.forEachChild(node, visit);
  };
  visit(source);
}
console.log(JSON.stringify(found));
"""


def test_the_client_source_is_erasable_typescript(tmp_path: Path) -> None:
    """The committed and golden clients hold only syntax that type stripping removes, so that a
    project under `erasableSyntaxOnly` compiles them and Node runs them as they are."""
    typescript = TSC.parent.parent / "lib" / "typescript.js"
    sources = [ROOT / "clients" / "typescript" / "src" / "generated.ts"]
    sources.append(ROOT / "tests" / "fixtures" / "codegen" / "expected" / "generated.ts")
    found = json.loads(_run(["node", "-e", NOT_ERASABLE, str(typescript), *map(str, sources)], tmp_path))
    assert found == []


def run_recipe_with_a_relative_out(caller: Path, recipe: str, made: str) -> Path:
    """`./dev RECIPE --out DIR` called from `caller`, DIR relative; returns what it made there."""
    just = [str(Path(sys.executable).with_name("just")), "--justfile", str(ROOT / "justfile")]
    out = f"out-{caller.name}"
    try:
        said = _run([*just, "--working-directory", str(ROOT), recipe, "--out", out], caller)
        assert (caller / out / made).is_file(), said
        assert not (ROOT / out).exists(), "nothing is left in the checkout"
    finally:
        shutil.rmtree(ROOT / out, ignore_errors=True)
    return caller / out / made


def test_a_relative_out_is_the_callers_folder(tmp_path: Path) -> None:
    """`./dev RECIPE --out DIR` from another folder (a frontend's, beside the checkout) wrote DIR
    inside the checkout, where just runs every recipe, and printed DIR as given: the package was
    not where it was asked for, and a stray folder was left in the checkout. As with backup's
    FILE, a relative DIR is the caller's: here of web-example; client-package's is the packed
    client's test above."""
    run_recipe_with_a_relative_out(tmp_path, "web-example", "index.html")


@pytest.mark.parametrize("module", ["client_package", "web_example"])
@pytest.mark.parametrize("out", ["a-file", "a-file/dist"])
def test_an_out_that_is_or_lies_in_a_file_is_refused_naming_the_option(
    module: str, out: str, tmp_path: Path
) -> None:
    """`./dev client-package --out FILE` ended in FileExistsError's traceback, and `./dev
    web-example --out FILE` in NotADirectoryError's after compiling the app; a folder under a
    file, the same. Both are refused as the command line is read, the file left as it was."""
    (tmp_path / "a-file").write_text("kept\n")
    ran = subprocess.run(
        [sys.executable, "-m", f"ops.{module}", "--called-from", str(tmp_path), "--out", out],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr
    assert f"error: argument --out: {out!r} cannot be a folder: {tmp_path / 'a-file'} is a file" in ran.stderr
    assert (tmp_path / "a-file").read_text() == "kept\n"
    assert [path.name for path in tmp_path.iterdir()] == ["a-file"]
