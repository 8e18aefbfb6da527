"""Imports flow one way: no module of `src` imports from a layer above its own."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
# Lowest first. A module may import from its own layer and from those below it.
LAYERS = [
    {"config", "errors", "models", "schemas", "metrics", "embedded_db"},
    {"db"},
    {"services"},
    {"middleware", "logs", "http_protocol"},
    {"api"},
    {"tokens"},
    {"main", "server"},
]


def _layer(module: str) -> int:
    top = module.split(".")[1]  # src.<top>...
    return next(rank for rank, names in enumerate(LAYERS) if top in names)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("src."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("src."))
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_its_layer_and_below(path: Path) -> None:
    module = "src." + ".".join(path.relative_to(SRC).with_suffix("").parts)
    above = {name for name in _imports(path) if _layer(name) > _layer(module)}
    assert not above, f"{module} imports from a layer above it: {sorted(above)}"
