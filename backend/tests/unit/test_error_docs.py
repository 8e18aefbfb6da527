"""docs/api.md's error table says what the service really answers: checked against the code.

Frontends match on these texts, so a row whose `detail` the code no longer produces, or an
error of the catalogue (src/errors.py) the table does not list, fails here.
"""

import ast
import importlib
import re
from pathlib import Path

import pytest

from src import errors
from src.errors import ApiError

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "backend" / "src"
_ROW = re.compile(r"^\| (\d{3}) \| `(.+?)` \| (.*) \|$")
_PLACEHOLDER = re.compile(r"<[^<>]+>")
_SAMPLE = "\x00"  # stands for a placeholder's text: no real detail contains it


def _rows() -> list[tuple[int, str]]:
    text = (ROOT / "docs" / "api.md").read_text()
    table = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = [_ROW.match(line) for line in table.splitlines()]
    return [(int(m[1]), m[2]) for m in rows if m]


def _code_patterns() -> list[re.Pattern[str]]:
    """Every text the code can send, as a pattern: f-string fields it cannot resolve match any."""
    patterns = []
    for path in SRC.rglob("*.py"):
        module = importlib.import_module(
            "src." + ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        )
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                patterns.append("".join(_part(module, value) for value in node.values))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # A tail such as "; the API's CORS_ORIGINS ..." follows a library's own text.
                tail = node.value.startswith("; ")
                # A template's {fields} (src/errors.py) are filled in with any text.
                text = re.sub(r"\\\{\w+\\\}", ".+", re.escape(node.value))
                patterns.append((".+" if tail else "") + text)
    return [re.compile(pattern, re.DOTALL) for pattern in patterns]


def _part(module: object, value: ast.expr) -> str:
    if isinstance(value, ast.Constant):
        return re.escape(str(value.value))
    if isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
        known = getattr(module, value.value.id, None)
        if isinstance(known, str):  # a module constant, such as the list of algorithms
            return re.escape(known)
    return ".+"


ROWS = _rows()
CODE = _code_patterns()


def test_the_table_lists_the_errors() -> None:
    assert len(ROWS) > 30
    assert {status for status, _ in ROWS} >= {400, 401, 403, 404, 409, 412, 413, 415, 422, 503}


@pytest.mark.parametrize(("status", "detail"), ROWS, ids=[d[:50] for _, d in ROWS])
def test_each_documented_detail_is_one_the_code_sends(status: int, detail: str) -> None:
    if detail.startswith("["):  # 422: FastAPI's list of problems; its texts are FastAPI's
        return
    sample = _PLACEHOLDER.sub(_SAMPLE, detail)
    assert any(pattern.fullmatch(sample) for pattern in CODE), (
        f"docs/api.md documents a {status} the code does not send: {detail!r}"
    )


CATALOGUE = [
    error
    for error in vars(errors).values()
    if isinstance(error, type) and issubclass(error, ApiError) and error is not ApiError
]


@pytest.mark.parametrize("error", CATALOGUE, ids=lambda e: e.__name__)
def test_each_error_of_the_catalogue_is_documented(error: type[ApiError]) -> None:
    documented = [detail for status, detail in ROWS if status == error.status]
    patterns = [
        re.compile(".+".join(re.escape(part) for part in _PLACEHOLDER.split(detail)))
        for detail in documented
    ]
    # A 422 row quotes its `msg` inside FastAPI's list form.
    quoted = any(f'"msg": "{error.detail}"' in detail for detail in documented)
    assert quoted or any(pattern.fullmatch(error.detail) for pattern in patterns), (
        f"docs/api.md has no {error.status} row for {error.__name__}: {error.detail!r}"
    )
