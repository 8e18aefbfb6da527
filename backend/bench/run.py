"""`make bench`: the Task API under load on PostgreSQL, beside the stack's floor and a bare route.

Run from backend/: `python -m bench.run`. Settings come from the environment (bench/config.py).
Scenario "mixed": 60% list, 20% create, 10% get, 10% patch at each CONCURRENCY on the Task API
(and on the baseline's, with BENCH_BASELINE), then the same load on the floor (bench/floor.py:
one query per request, awaited on the event loop, no application), then the bare route at the
same concurrency. Scenario "large": list latency for users with 20 tasks in a small
table, then for one user with 10,000 tasks in a table of 1,000,000 rows. Scenario "streams" (on
request): the mixed load on a second Task API holding STREAMS event streams, in turn with the
first, which has none (bench/scenarios.py).
Everything it starts (servers, databases, the baseline's worktree) is stopped or removed at the
end, Ctrl-C included.
"""

import json
import os
import resource
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn

from bench import load, report
from bench.config import Config
from bench.database import HEAVY_USER
from bench.report import Row, say
from bench.scenarios import BARE_RUN, FLOOR_RUN, PAGE, Bench

P95_TARGET_MS = {100: 100.0, 1000: 500.0}
MIN_SHARE_OF_FLOOR = 0.80  # of the floor's requests/s, from SHARE_FROM_CONNECTIONS up
SHARE_FROM_CONNECTIONS = 1000
MAX_LARGE_LIST_RATIO = 1.5
STREAM_LATENCY_TARGET_MS = 100.0
STREAM_LOAD_TOLERANCE = 0.10  # the mixed load beside the streams: at most this much slower


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
            if bench.apis:
                say(report.header())
            sections["large"] = bench.large()
        if "streams" in config.scenarios and bench.streamed is not None:
            sections["streams"] = bench.streams()
        sections["peak_rss_mib_per_worker"] = bench.peak_rss_mib()
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
        _summarise_mixed(sections["mixed"])
    for name, large in sections.get("large", {}).items():
        _summarise_large(name, large)
    if "large" in sections and not sections["large"]:
        say("\nlarge scenario: no Task API to measure (BENCH_SKIP_API without BENCH_BASELINE)")
    if "streams" in sections:
        _summarise_streams(sections["streams"])
    say("\npeak RSS per worker, MiB:")
    for name, peaks in sections["peak_rss_mib_per_worker"].items():
        say(f"  {name}: {', '.join(f'{mib:.0f}' for mib in peaks) or '-'}")


def _summarise_streams(result: dict[str, Any]) -> None:
    latency, count, runs = result["latency"], result["streams"], result["runs"]
    say(f"\nlive updates: {count} open event streams")
    say(report.table([run["row"] for run in runs]))
    say(
        f"idle streams: workers' RSS {result['rss_mib_before']} -> {result['rss_mib_open']} MiB, "
        f"CPU {result['idle_cpu_percent']}% of one core while idle"
    )
    say(
        f"write answered -> event on the stream: p50 {latency['p50_ms']} ms, p95 "
        f"{latency['p95_ms']} ms, max {latency['max_ms']} ms ({latency['writes']} writes, "
        f"{latency['lost']} lost); from the write's request: "
        f"p95 {latency['p95_ms_from_request']} ms"
    )
    met = latency["p95_ms"] is not None and latency["p95_ms"] < STREAM_LATENCY_TARGET_MS
    say(f"{_pass(met)}: write to event p95 < {STREAM_LATENCY_TARGET_MS:.0f} ms")
    # Each streamed run (odd places) against the mean of the quiet runs either side of it.
    rows = [run["row"] for run in runs]
    trios = list(zip(rows[0::2], rows[1::2], rows[2::2], strict=False))
    served = [_change(_served, *trio) for trio in trios]
    cpu = [_change(_cpu_per_request, *trio) for trio in trios]
    p95 = [_change(_p95, *trio) for trio in trios]
    # The median: a burst of other work on the machine swings a single run by 30%.
    change, slower = statistics.median(served), statistics.median(p95)
    say(
        f"{_pass(change >= -STREAM_LOAD_TOLERANCE)}: the mixed load's requests/s beside the "
        f"streams, within {STREAM_LOAD_TOLERANCE:.0%}: {change:+.1%} (median; mean "
        f"{statistics.mean(served):+.1%}; each streamed run against the quiet runs either side: "
        f"{', '.join(f'{one:+.0%}' for one in served)})"
    )
    say(
        f"{_pass(slower <= STREAM_LOAD_TOLERANCE)}: its p95 latency, within "
        f"{STREAM_LOAD_TOLERANCE:.0%}: {slower:+.1%} (median; each "
        f"{', '.join(f'{one:+.0%}' for one in p95)})"
    )
    say(
        f"its CPU per request (workers and PostgreSQL): median {statistics.median(cpu):+.0%}, "
        f"each {', '.join(f'{one:+.0%}' for one in cpu)}"
    )
    client = ", ".join(f"{run['client_cpu_percent']}%" for run in runs[1::2])
    say(f"the bench's stream reader (a thread at SCHED_IDLE) used {client} of a core")


def _pass(met: bool) -> str:
    return "PASS" if met else "FAIL"


def _served(row: Row) -> float:
    return row.requests_per_second


def _p95(row: Row) -> float:
    return row.p95_ms


def _cpu_per_request(row: Row) -> float:
    return (row.app_cpu_us or 0.0) + (row.db_cpu_us or 0.0)


def _change(figure: Callable[[Row], float], before: Row, streamed: Row, after: Row) -> float:
    return figure(streamed) / ((figure(before) + figure(after)) / 2) - 1


def _summarise_mixed(rows: list[Row]) -> None:
    say("mixed workload (60% list, 20% create, 10% get, 10% patch)")
    say(report.table(rows))
    apis = [row for row in rows if row.run not in (FLOOR_RUN, BARE_RUN)]
    for row in apis:
        say(f"{row.run}: {_verdict(row)}")
    for row in rows:
        if row.run == FLOOR_RUN:
            say(f"the same targets for the floor alone: {_verdict(row)}")
    floors = {row.connections: row for row in rows if row.run == FLOOR_RUN}
    for row in apis:
        say(_share_of_floor(row, floors[row.connections]))


def _summarise_large(name: str, large: dict[str, Any]) -> None:
    say(f"\n{name}: list latency, table of {large['table_rows']:,} rows")
    say(report.table(large["rows"]))
    same, page = large["p50_ratio_same_size"], large["p50_ratio_page_of_100"]
    if not large["paging_supported"]:
        say(f"FAIL: the API ignores {PAGE}: every list of {HEAVY_USER} holds all its tasks")
    else:
        met = same <= MAX_LARGE_LIST_RATIO
        say(f"{_pass(met)}: a page of 20 costs {same}x the small table's list of 20 (p50)")
        say(f"      a page of 100 costs {page}x (it serialises five times the tasks)")
    sql = ", ".join(f"{query}: {ms:.2f} ms" for query, ms in large["sql_ms"].items())
    say(f"the list's SQL alone (median): {sql}")
    say(f"\nEXPLAIN ANALYZE, {HEAVY_USER}, LIMIT 100:\n{large['explain_page']}")


def _verdict(row: Row) -> str:
    """The load targets; the share of the floor only for a row measured against one."""
    failures = []
    if row.non_2xx or row.socket_errors:
        failures.append(f"{row.non_2xx} non-2xx, {row.socket_errors} socket errors")
    if row.stalls:
        failures.append(f"{row.stalls} stalls")
    target = P95_TARGET_MS.get(row.connections)
    if target is not None and row.p95_ms >= target:
        failures.append(f"p95 {row.p95_ms:.0f} ms >= {target:.0f}")
    share = row.vs_floor if row.connections >= SHARE_FROM_CONNECTIONS else None
    if share is not None and share < MIN_SHARE_OF_FLOOR:
        failures.append(f"{share:.0%} of the floor's requests/s < {MIN_SHARE_OF_FLOOR:.0%}")
    outcome = "FAIL: " + "; ".join(failures) if failures else "PASS"
    return f"{outcome} at {row.connections} connections"


def _share_of_floor(app: Row, floor: Row) -> str:
    # Steadier than req/s across runs on a machine whose speed swings: compare changes by this.
    share = app.requests_per_second / floor.requests_per_second
    p95 = app.p95_ms / floor.p95_ms
    line = (
        f"{app.run} at {app.connections} connections: {share:.0%} of the floor's requests/s, "
        f"p95 {p95:.2f}x the floor's"
    )
    if app.app_cpu_us and floor.app_cpu_us and app.db_cpu_us and floor.db_cpu_us:
        # What each request costs the machine, whatever its speed during the run.
        cpu = (app.app_cpu_us + app.db_cpu_us) / (floor.app_cpu_us + floor.db_cpu_us)
        line += f", CPU per request (workers + PostgreSQL) {cpu:.2f}x the floor's"
    return line


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
