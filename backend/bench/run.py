"""`make bench`: the Task API under load on PostgreSQL, beside the stack's floor and a bare route.

Run from backend/: `python -m bench.run`. Settings come from the environment (bench/config.py).
Scenario "mixed": 60% list, 20% create, 10% get, 10% patch at each CONCURRENCY, then the same load
on the floor (bench/floor.py: one query per request, no application), then the bare route at the
same concurrency. Scenario "large": list latency for users with 20 tasks in a small
table, then for one user with 10,000 tasks in a table of 1,000,000 rows.
Everything it starts (servers, database) is stopped or dropped at the end, Ctrl-C included.
"""

import json
import os
import resource
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn

from bench import load, report
from bench.config import Config
from bench.database import HEAVY_USER
from bench.report import Row, say
from bench.scenarios import FLOOR_RUN, PAGE, Bench

P95_TARGET_MS = {100: 100.0, 1000: 500.0}
MIN_SHARE_OF_BARE = 0.20
MAX_LARGE_LIST_RATIO = 1.5


def main() -> None:
    config = Config.from_env()
    wrk = load.ensure_wrk()
    _raise_open_files_limit(max(config.concurrency) + 1024)
    # Both, explicitly: a shell starts background jobs with SIGINT ignored, and cleanup must
    # still run when someone interrupts one.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    say(f"make bench: {json.dumps(config.as_dict())}")
    say(f"machine: {report.machine()}")
    sections: dict[str, Any] = {"load_average_before": list(os.getloadavg())}
    with ExitStack() as cleanup:
        work_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        bench = Bench(config, wrk, work_dir)
        bench.start(cleanup)
        if "mixed" in config.scenarios:
            say(report.header())
            sections["mixed"] = bench.mixed()
        if "large" in config.scenarios:
            say(report.header())
            sections["large"] = bench.large()
    sections["load_average_after"] = list(os.getloadavg())
    path = report.write(config.as_dict(), sections)
    _summarise(config, sections)
    say(f"results: {path}")


def _summarise(config: Config, sections: dict[str, Any]) -> None:
    before, after = sections["load_average_before"][0], sections["load_average_after"][0]
    say(
        f"\n{os.cpu_count()} CPUs, {config.workers} workers; 1-minute load average {before:.1f} "
        f"before, {after:.1f} after (other work on the machine skews every figure)"
    )
    if "mixed" in sections:
        say("mixed workload (60% list, 20% create, 10% get, 10% patch)")
        say(report.table(sections["mixed"]))
        for row in sections["mixed"]:
            if row.run == "mixed":
                say(_verdict(row))
        floors = {row.connections: row for row in sections["mixed"] if row.run == FLOOR_RUN}
        for row in floors.values():
            say(f"the same targets for the floor alone: {_verdict(row)}")
        for row in sections["mixed"]:
            if row.run == "mixed" and (floor := floors.get(row.connections)):
                say(_share_of_floor(row, floor))
    if "large" in sections:
        _summarise_large(sections["large"])


def _summarise_large(large: dict[str, Any]) -> None:
    say(f"\nlist latency, table of {large['table_rows']:,} rows")
    say(report.table(large["rows"]))
    same, page = large["p50_ratio_same_size"], large["p50_ratio_page_of_100"]
    if not large["paging_supported"]:
        say(f"FAIL: the API ignores {PAGE}: every list of {HEAVY_USER} holds all its tasks")
    else:
        verdict = "PASS" if same <= MAX_LARGE_LIST_RATIO else "FAIL"
        say(f"{verdict}: a page of 20 costs {same}x the small table's list of 20 (p50)")
        say(f"      a page of 100 costs {page}x (it serialises five times the tasks)")
    sql = ", ".join(f"{name}: {ms:.2f} ms" for name, ms in large["sql_ms"].items())
    say(f"the list's SQL alone (median): {sql}")
    say(f"\nEXPLAIN ANALYZE, {HEAVY_USER}, LIMIT 100:\n{large['explain_page']}")


def _verdict(row: Row) -> str:
    failures = []
    if row.non_2xx or row.socket_errors or row.stalls:
        failures.append("errors or stalls")
    target = P95_TARGET_MS.get(row.connections)
    if target is not None and row.p95_ms >= target:
        failures.append(f"p95 {row.p95_ms:.0f} ms >= {target:.0f}")
    if row.connections >= 1000 and (row.vs_bare or 0) < MIN_SHARE_OF_BARE:
        failures.append(f"{row.vs_bare:.0%} of the bare route < {MIN_SHARE_OF_BARE:.0%}")
    outcome = "FAIL: " + "; ".join(failures) if failures else "PASS"
    return f"{outcome} at {row.connections} connections"


def _share_of_floor(app: Row, floor: Row) -> str:
    # Steadier than req/s across runs on a machine whose speed swings: compare changes by this.
    share = app.requests_per_second / floor.requests_per_second
    p95 = app.p95_ms / floor.p95_ms
    return (
        f"the Task API at {app.connections} connections: {share:.0%} of the floor's requests/s, "
        f"p95 {p95:.2f}x the floor's"
    )


def _raise_open_files_limit(needed: int) -> None:
    # wrk and the workers inherit the limit: 1,000 connections need 1,000+ descriptors each side.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if hard != resource.RLIM_INFINITY and hard < needed:
        say(f"warning: open-files limit {hard} < {needed}; expect socket errors (ulimit -Hn)")


def _interrupt(_signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        say("interrupted; servers stopped and database dropped")
        sys.exit(130)
