"""Write the app's OpenAPI document to the contract file: `python -m scripts.export_openapi`.

`make openapi` runs this; tests/api/test_openapi_contract.py fails until the file matches the app.
"""

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

BACKEND_DIR = Path(__file__).resolve().parents[1]
CONTRACT = BACKEND_DIR.parent / "specs" / "001-backend-auth-tasks" / "contracts"
CONTRACT_FILE = CONTRACT / "task-endpoints.yaml"
HEADER = (
    "# The Task API's OpenAPI contract, generated from the app by `make openapi`.\n"
    "# Do not edit: tests/api/test_openapi_contract.py fails when it differs from the app.\n"
)
# The document does not depend on configuration, but importing src.main builds the served app,
# which refuses to start without a secret; a throwaway one keeps this runnable anywhere.
_THROWAWAY_SECRET = "openapi-export-only-not-a-real-secret-0123456789"  # noqa: S105


def openapi_document() -> dict[str, Any]:
    os.environ.setdefault("BETTER_AUTH_SECRET", _THROWAWAY_SECRET)
    from src.config import Settings
    from src.main import create_app

    # Never started, so it needs no database.
    settings = Settings(better_auth_secret=_THROWAWAY_SECRET, _env_file=None)
    return create_app(settings).openapi()


def render(document: dict[str, Any]) -> str:
    """YAML in the document's own key order, so a change to the app is a readable diff."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


class _Dumper(yaml.SafeDumper):
    """Multi-line text (the API description) as a `|` block, the way a person would write it."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        style = "|" if "\n" in data else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _Dumper.represent_str)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=CONTRACT_FILE, help="default: %(default)s")
    args = parser.parse_args(argv)
    args.output.write_text(render(openapi_document()), encoding="utf-8")


if __name__ == "__main__":
    main()
