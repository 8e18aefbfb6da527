"""What `make bench` measures, from the environment (every variable optional).

Two variables choose what is measured beside the floor and the bare route:

- BENCH_BASELINE=<git ref> (e.g. `0e6ec53`) adds the Task API as it was at that commit, as one
  more row, "Task API (baseline <ref>)", in every scenario of the same run. Several refs,
  separated by spaces, add a row each (say, one per performance device taken out). Each ref is
  checked out into a temporary git worktree with a venv of its own, built with the project's uv
  (`uv sync --locked --no-dev`, never downloading a Python), and gets a throwaway database of
  its own (BENCH_DB_NAME with `_baseline<n>` appended, next to BENCH_ADMIN_URL, even when
  BENCH_DATABASE_URL is given), migrated by its own alembic; all are removed at the end. Give
  refs whose backend runs on PostgreSQL from a `postgresql://` DATABASE_URL and a
  BETTER_AUTH_SECRET.
- BENCH_SKIP_API=1 leaves out the Task API of the working tree: only the baseline (if any), the
  floor and the bare route are run. The schema still comes from the working tree's migrations.
"""

import os
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SCENARIOS = ("mixed", "large", "streams")
DEFAULT_SCENARIOS = ("mixed", "large")  # streams on request: SCENARIO=streams


@dataclass(frozen=True)
class Config:
    workers: int  # WORKERS: uvicorn worker processes
    concurrency: tuple[int, ...]  # CONCURRENCY: open connections per mixed run, e.g. "100 1000"
    duration: int  # DURATION: seconds per measured run
    warmup: int  # BENCH_WARMUP: seconds of load before each measured run
    scenarios: tuple[str, ...]  # SCENARIO: "mixed", "large" or both
    users: int  # BENCH_USERS
    tasks: int  # BENCH_TASKS: per user
    database_url: str | None  # BENCH_DATABASE_URL: a dedicated database, emptied, never dropped
    admin_url: str  # BENCH_ADMIN_URL: where the throwaway databases are created
    database_name: str  # BENCH_DB_NAME: name of the throwaway database
    stall_seconds: float  # BENCH_TIMEOUT: a response slower than this is a stall
    large_rows: int  # LARGE_ROWS: table size of the large scenario
    large_tasks: int  # LARGE_TASKS: tasks of its one heavy user
    list_concurrency: (
        int  # LIST_CONCURRENCY: connections for the list-latency runs (latency, not load)
    )
    list_duration: int  # LIST_DURATION: seconds per list-latency run
    baselines: tuple[str, ...]  # BENCH_BASELINE: git refs whose Task APIs are measured too
    streams: int  # STREAMS: event streams the streams scenario holds open, one per user
    stream_writes: int  # STREAM_WRITES: timed writes, each awaited on its user's stream
    stream_rounds: int  # STREAM_ROUNDS: mixed loads beside the streams, each between two without
    skip_api: bool  # BENCH_SKIP_API=1: leave out the working tree's Task API (above)

    @classmethod
    def from_env(cls) -> "Config":
        scenarios = tuple(os.environ.get("SCENARIO", " ".join(DEFAULT_SCENARIOS)).split())
        unknown = set(scenarios) - set(SCENARIOS)
        if unknown or not scenarios:
            raise SystemExit(f"SCENARIO must name one or more of {SCENARIOS}, not {scenarios}")
        return cls(
            workers=_int("WORKERS", os.cpu_count() or 1),
            concurrency=tuple(int(n) for n in os.environ.get("CONCURRENCY", "100 1000").split()),
            duration=_int("DURATION", 20),
            warmup=_int("BENCH_WARMUP", 5),
            scenarios=scenarios,
            users=_int("BENCH_USERS", 1000),
            tasks=_int("BENCH_TASKS", 20),
            database_url=os.environ.get("BENCH_DATABASE_URL") or None,
            admin_url=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL),
            database_name=os.environ.get("BENCH_DB_NAME", f"task_bench_{os.getpid()}"),
            stall_seconds=float(os.environ.get("BENCH_TIMEOUT", "2")),
            large_rows=_int("LARGE_ROWS", 1_000_000),
            large_tasks=_int("LARGE_TASKS", 10_000),
            list_concurrency=_int("LIST_CONCURRENCY", 1),
            list_duration=_int("LIST_DURATION", 10),
            baselines=tuple(os.environ.get("BENCH_BASELINE", "").split()),
            streams=_int("STREAMS", 1000),
            stream_writes=_int("STREAM_WRITES", 200),
            stream_rounds=_int("STREAM_ROUNDS", 5),
            skip_api=_flag("BENCH_SKIP_API"),
        )

    def baseline_database_name(self, index: int) -> str:
        return f"{self.database_name}_baseline{index}"

    def as_dict(self) -> dict[str, Any]:
        settings = asdict(self)
        settings["database_url"] = "(given)" if self.database_url else "(throwaway)"
        given = self.database_url and not self.baselines
        settings["admin_url"] = None if given else self.admin_url
        return settings


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        number = int(value) if value.strip() else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise SystemExit(f"{name} must be at least 1")
    return number


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value not in ("", "0", "1", "false", "true", "no", "yes"):
        raise SystemExit(f"{name} must be 1 or 0, not {value!r}")
    return value in ("1", "true", "yes")
