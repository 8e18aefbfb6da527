"""Where the code a server runs comes from: this working tree, or a git ref in a worktree."""

import os
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.report import say

BACKEND_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = BACKEND_DIR.parent
UV = BACKEND_DIR / ".uv" / "bin" / "uv"


@dataclass(frozen=True)
class Checkout:
    backend_dir: Path  # the cwd of its servers and of its alembic
    bin_dir: Path  # its venv's bin/: python, uvicorn and alembic

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


CURRENT = Checkout(BACKEND_DIR, Path(sys.executable).parent)


def baseline(ref: str, path: Path, cleanup: ExitStack) -> Checkout:
    """`ref` checked out at `path` with a venv of its own; removed by `cleanup`."""
    say(f"checking out {ref} into a git worktree ({path})")
    _run(["git", "-C", str(REPO_DIR), "worktree", "add", "--detach", str(path), ref])
    cleanup.callback(_remove_worktree, path)
    backend = path / "backend"
    say(f"building the baseline's venv (uv sync --locked --no-dev in {backend})")
    # Its own lock file, its own venv: the baseline runs the dependencies it shipped with. On the
    # Python behind this venv (uv resolves it), never a downloaded one, as `make install` does,
    # so that both Task APIs run on one interpreter.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)  # or uv would warn that the active venv is not the project's
    python = ["--python", sys.executable]
    _run([str(UV), "sync", "--locked", "--no-dev", *python], cwd=backend, env=env)
    return Checkout(backend, backend / ".venv" / "bin")


def _remove_worktree(path: Path) -> None:
    say(f"removing the baseline worktree {path}")
    # --force: the checkout holds an untracked venv, and git refuses to drop untracked files.
    command = ["git", "-C", str(REPO_DIR), "worktree", "remove", "--force", str(path)]
    failure = _failure(command)
    if failure:  # cleanup goes on; git forgets the worktree at its next `git worktree prune`
        say(f"warning: {failure}")


def _run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    failure = _failure(command, cwd, env)
    if failure:
        raise SystemExit(failure)


def _failure(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> str | None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    return f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.strip()}"
