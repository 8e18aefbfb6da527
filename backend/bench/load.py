"""wrk: find or install it, run it with mixed.lua, read back its one-line JSON summary."""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("mixed.lua")
WRK_THREADS = 2
_MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Load:
    url: str
    connections: int
    seconds: int
    mode: str  # "mixed", "list" or "bare" (see mixed.lua)
    data_file: Path
    timeout_seconds: float  # a response slower than this is a stall
    list_query: str = ""


def ensure_wrk() -> str:
    """The path of wrk; installs the Debian package when it is missing and apt-get can."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or not _is_root():
        raise SystemExit(
            "wrk is missing. Install it (Debian/Ubuntu: sudo apt-get install -y wrk; "
            "macOS: brew install wrk) and run make bench again."
        )
    _say("wrk is missing; installing the Debian package (apt-get update, install wrk)")
    subprocess.run([apt, "update", "-qq"], check=True)
    subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def run(wrk: str, load: Load, label: str) -> dict[str, Any]:
    """One wrk run; shows a progress line while it runs and returns the script's summary."""
    command = [
        *(wrk, "-t", str(min(WRK_THREADS, load.connections)), "-c", str(load.connections)),
        *("-d", f"{load.seconds}s", "--timeout", f"{load.timeout_seconds:g}s"),
        *("-s", str(SCRIPT), load.url, "--", str(load.data_file), load.mode, load.list_query),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        while process.poll() is None:
            _progress(label, min(time.monotonic() - started, load.seconds), load.seconds)
            time.sleep(1)
        stdout, stderr = process.communicate()
    finally:
        if process.poll() is None:  # interrupted: never leave wrk running
            process.kill()
            process.wait()
    _progress(label, load.seconds, load.seconds, final=True)
    for line in stdout.splitlines():
        if line.startswith(_MARKER):
            result: dict[str, Any] = json.loads(line.removeprefix(_MARKER))
            return result
    raise RuntimeError(f"wrk gave no summary (exit {process.returncode}): {stderr.strip()}")


def _progress(label: str, done: float, total: int, *, final: bool = False) -> None:
    if not sys.stderr.isatty():
        if final:
            sys.stderr.write(f"  {label}: done\n")
        return
    width = 30
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r  {label:<40} [{bar}] {done:4.0f}/{total} s")
    if final:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _is_root() -> bool:
    return os.geteuid() == 0


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
