"""The contract feeds a real client generator: openapi-typescript, then `tsc --strict` on a client.

usage.ts is a typed fetch client as the Next.js frontend writes it. It compiles against the types
generated from the committed contract; a contract that lost an operation name or a constraint
makes it fail to compile (the `@ts-expect-error` lines turn into errors when unused).
"""

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.export_openapi import CONTRACT_FILE
from tests.external import need

TOOLS_DIR = Path(__file__).resolve().parent
BIN = TOOLS_DIR / "node_modules" / ".bin"
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "noUnusedLocals": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM"],
        "types": [],
    },
    "files": ["usage.ts"],
}

Compile = Callable[[Path], subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def compile_client() -> Compile:
    """Generate types from a contract into a fresh directory and type-check usage.ts there."""
    need(shutil.which("node"), "Node.js is not installed: the TypeScript client check needs it")
    need(
        (BIN / "openapi-typescript").exists() and (BIN / "tsc").exists(),
        "tests/typescript/node_modules is missing: `make test` installs it with npm ci",
    )

    def compile_against(contract: Path) -> subprocess.CompletedProcess[str]:
        workdir = contract.parent
        _run([str(BIN / "openapi-typescript"), str(contract), "-o", str(workdir / "schema.d.ts")])
        shutil.copy(TOOLS_DIR / "usage.ts", workdir / "usage.ts")
        (workdir / "tsconfig.json").write_text(json.dumps(TSCONFIG))
        return _run([str(BIN / "tsc"), "--project", str(workdir)], check=False)

    return compile_against


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    # Fixed argv of locked tools; stdout and stderr come back for the failure message.
    result = subprocess.run(argv, cwd=TOOLS_DIR, capture_output=True, text=True, check=False)  # noqa: S603
    if check and result.returncode != 0:
        pytest.fail(f"{argv[0]} failed:\n{result.stdout}{result.stderr}")
    return result


def test_typed_client_compiles_against_the_contract(
    compile_client: Compile, tmp_path: Path
) -> None:
    contract = tmp_path / "task-endpoints.yaml"
    shutil.copy(CONTRACT_FILE, contract)

    result = compile_client(contract)

    assert result.returncode == 0, result.stdout + result.stderr


def _rename_list_operation(document: dict[str, Any]) -> None:
    document["paths"]["/api/{user_id}/tasks"]["get"]["operationId"] = "getApiUserIdTasks"


def _make_title_optional(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["TaskCreate"]["required"] = []


@pytest.mark.parametrize(
    ("mutate", "expected_error"),
    [
        (_rename_list_operation, "Type '\"list_tasks\"' does not satisfy the constraint"),
        (_make_title_optional, "Unused '@ts-expect-error' directive"),
    ],
    ids=["operation-renamed", "title-optional"],
)
def test_typed_client_fails_against_a_drifted_contract(
    compile_client: Compile,
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    expected_error: str,
) -> None:
    document = yaml.safe_load(CONTRACT_FILE.read_text(encoding="utf-8"))
    mutate(document)
    contract = tmp_path / "task-endpoints.json"
    contract.write_text(json.dumps(document))

    result = compile_client(contract)

    assert result.returncode != 0
    assert expected_error in result.stdout, result.stdout
