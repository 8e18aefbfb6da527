"""One row per wrk run: the table on screen and the JSON under bench/results/."""

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).with_name("results")

_COLUMNS = (
    ("run", "{:<30}"),
    ("conns", "{:>5}"),
    ("req/s", "{:>8}"),
    ("p50 ms", "{:>7}"),
    ("p95 ms", "{:>7}"),
    ("p99 ms", "{:>7}"),
    ("max ms", "{:>7}"),
    ("non-2xx", "{:>7}"),
    ("sock err", "{:>8}"),
    ("stalls", "{:>6}"),
    ("RSS MiB", "{:>7}"),
    ("vs floor", "{:>8}"),
    ("vs bare", "{:>7}"),
    ("app us/req", "{:>10}"),
    ("db us/req", "{:>9}"),
)


@dataclass
class Row:
    run: str
    connections: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    stalls: int  # responses slower than the stall timeout, or never answered
    peak_rss_mib_per_worker: list[float]
    statuses: dict[str, int]
    vs_floor: float | None = None  # requests/s as a share of the floor's in the same run
    vs_bare: float | None = None
    app_cpu_us: float | None = None  # the server's workers' CPU time per request answered
    db_cpu_us: float | None = None  # PostgreSQL's CPU time per request answered

    @classmethod
    def from_wrk(cls, run: str, connections: int, wrk: dict[str, Any], rss: list[float]) -> "Row":
        latency, errors = wrk["latency_us"], wrk["errors"]
        statuses: dict[str, int] = wrk["statuses"]
        return cls(
            run=run,
            connections=connections,
            requests_per_second=round(wrk["requests"] / (wrk["duration_us"] / 1e6), 1),
            p50_ms=latency["p50"] / 1000,
            p95_ms=latency["p95"] / 1000,
            p99_ms=latency["p99"] / 1000,
            max_ms=latency["max"] / 1000,
            non_2xx=sum(n for code, n in statuses.items() if not 200 <= int(code) < 300),
            socket_errors=errors["connect"] + errors["read"] + errors["write"],
            stalls=errors["timeout"],
            peak_rss_mib_per_worker=[round(mib, 1) for mib in rss],
            statuses=statuses,
        )

    def cells(self) -> tuple[object, ...]:
        ratios = (self.vs_floor, self.vs_bare)
        shares = (f"{ratio:.0%}" if ratio is not None else "-" for ratio in ratios)
        rss = f"{max(self.peak_rss_mib_per_worker):.0f}" if self.peak_rss_mib_per_worker else "-"
        return (
            *(self.run, self.connections, f"{self.requests_per_second:.0f}"),
            *(f"{ms:.1f}" for ms in (self.p50_ms, self.p95_ms, self.p99_ms, self.max_ms)),
            *(self.non_2xx, self.socket_errors, self.stalls, rss, *shares),
            *(f"{us:.0f}" if us is not None else "-" for us in (self.app_cpu_us, self.db_cpu_us)),
        )


def say(text: str) -> None:
    """A line for the person running the bench: this is a CLI, stdout is its output."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def header() -> str:
    return " ".join(fmt.format(name) for name, fmt in _COLUMNS)


def line(row: Row) -> str:
    return " ".join(fmt.format(cell) for (_, fmt), cell in zip(_COLUMNS, row.cells(), strict=True))


def table(rows: list[Row]) -> str:
    return "\n".join([header(), *(line(row) for row in rows)])


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_average": list(os.getloadavg()),
    }


def write(settings: dict[str, Any], sections: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    now = datetime.now(UTC)
    path = RESULTS_DIR / f"bench-{now:%Y%m%d-%H%M%S}.json"
    document: dict[str, object] = {"finished_at": now.isoformat(), "machine": machine()}
    document |= {"settings": settings} | {name: _plain(value) for name, value in sections.items()}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def _plain(value: object) -> object:
    if isinstance(value, Row):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
