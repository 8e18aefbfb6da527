"""The scenarios of `make bench`: the Task API(s), the floor and the bare route, over HTTP."""

import asyncio
import http.client
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from bench import checkout, database, load, report, servers, streams
from bench.config import Config
from bench.database import HEAVY_USER
from bench.report import Row, say
from bench.streams import Stream
from bench.users import Users

STREAM_LOAD_CONNECTIONS = 100  # the mixed load beside the streams, and without them
STREAM_IDLE_SECONDS = 10  # how long the open streams are watched idle

PAGE_SIZE = 100
PAGE = f"?limit={PAGE_SIZE}"  # the API's default page once it pages; ignored before that
SAME_SIZE = "?limit=20"  # a page as long as the small table's lists
LIST_SQL = "SELECT * FROM tasks WHERE user_id = %(user)s ORDER BY created_at DESC, id DESC"
PAGE_SQL = f" LIMIT {PAGE_SIZE}"
API_RUN = "Task API"
FLOOR_RUN = "floor (1 query, no app)"  # bench/floor.py: what the stack alone costs
BARE_RUN = "bare route"


@dataclass(frozen=True)
class Target:
    """A server under load, and the database it serves (None for the bare route)."""

    name: str  # its rows' label
    server: servers.Server
    database_url: str | None


class Bench:
    def __init__(self, config: Config, wrk: str, work_dir: Path) -> None:
        self.config = config
        self.wrk = wrk
        self.work_dir = work_dir
        self.users = Users(work_dir / "users.txt")
        self.logs = report.RESULTS_DIR / "logs"
        self.apis: list[Target] = []  # the working tree's Task API, then the baselines'
        self.floor: Target | None = None
        self.bare: Target | None = None
        self.streamed: Target | None = None  # the Task API again, for the streams

    def start(self, cleanup: ExitStack) -> None:
        url = self._database(cleanup)
        say("migrating (alembic upgrade head)")
        database.migrate(url)
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.config.skip_api:
            self.apis.append(self._start(cleanup, "app", API_RUN, "src.main:app", url, "/health"))
        for index, ref in enumerate(self.config.baselines, start=1):
            self.apis.append(self._baseline(cleanup, ref, index))
        if "mixed" in self.config.scenarios:
            self.floor = self._start(cleanup, "floor", FLOOR_RUN, "bench.floor:app", url)
            self.bare = self._start(cleanup, "bare", BARE_RUN, "bench.bare:app", None)
        if "streams" in self.config.scenarios and self.apis:
            streamed_url = self._create_database(cleanup, f"{self.config.database_name}_streams")
            database.migrate(streamed_url)
            label = f"{API_RUN}, {self.config.streams} streams"
            self.streamed = self._start(
                cleanup, "streamed", label, "src.main:app", streamed_url, "/health"
            )

    def mixed(self) -> list[Row]:
        rows: list[Row] = []
        for connections in self.config.concurrency:
            apis = [self._measure(api, "mixed", connections) for api in self.apis]
            floor = self._measure(_running(self.floor), "mixed", connections)
            bare = self._measure(_running(self.bare), "bare", connections)
            for row in apis:
                row.vs_floor = row.requests_per_second / floor.requests_per_second
            for row in (*apis, floor):
                row.vs_bare = row.requests_per_second / bare.requests_per_second
            for row in (*apis, floor, bare):
                say(report.line(row))
                rows.append(row)
        return rows

    def large(self) -> dict[str, dict[str, Any]]:
        """List latency of each Task API, on its own database."""
        return {api.name: self._large(api) for api in self.apis}

    def streams(self) -> dict[str, Any]:
        """The working tree's Task API with STREAMS open event streams (bench/streams.py),
        against the same API without any.

        Two servers of the same code, each on its own database: one holds the streams for the
        whole scenario, the other never has one. The machine's speed drifts by more than the
        difference sought, so the mixed load alternates between them, quiet, streamed, quiet,
        ... STREAM_ROUNDS times and quiet once more: each streamed run is compared with the
        quiet runs just before and after it.
        """
        quiet, streamed = self.apis[0], _running(self.streamed)
        # The loads run from a thread started here, at the usual priority, which wrk inherits;
        # the streams are read by another, which drops its own priority (see `_streaming`).
        with ThreadPoolExecutor(1) as loading, ThreadPoolExecutor(1) as reading:
            loading.submit(int).result()  # its thread exists from now on
            # uvloop, as the servers run: the reading of 1,000 streams takes less of their cores.
            return reading.submit(uvloop.run, self._streaming(quiet, streamed, loading)).result()

    async def _streaming(
        self, quiet: Target, streamed: Target, loading: ThreadPoolExecutor
    ) -> dict[str, Any]:
        self._seed(_database_of(streamed))
        held = streams.read_users(self.users.path, self.config.streams)
        rss_before = streamed.server.rss_mib()
        await streams.open_streams(streamed.server.url, held)
        try:
            idle = await self._idle_streams(streamed, held, rss_before)
            runs: list[dict[str, Any]] = []
            # The streams' readers stand for browsers on other machines; here they share the
            # servers' two cores. SCHED_IDLE: this thread reads only when a core has nothing
            # else to run, so it neither takes CPU from the servers nor preempts them at each
            # event; the kernel holds what it has not read yet, a few KiB a stream per run.
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            for target in [quiet, streamed] * self.config.stream_rounds + [quiet]:
                client_cpu, started = time.thread_time(), time.monotonic()
                row = await asyncio.get_running_loop().run_in_executor(
                    loading, self._measure, target, "mixed", STREAM_LOAD_CONNECTIONS
                )
                client_cpu = (time.thread_time() - client_cpu) / (time.monotonic() - started)
                say(report.line(row))
                runs.append({"row": row, "client_cpu_percent": round(100 * client_cpu, 1)})
        finally:
            streams.close(held)
        return idle | {"streams": len(held), "runs": runs}

    async def _idle_streams(
        self, api: Target, held: list[Stream], rss_before: float
    ) -> dict[str, Any]:
        """What the open streams cost while nothing changes, then how fast a write reaches one."""
        await asyncio.sleep(2)  # the listeners start on the first stream of each worker
        rss_open = api.server.rss_mib()
        cpu = api.server.cpu_seconds()
        await asyncio.sleep(STREAM_IDLE_SECONDS)
        idle_cpu = api.server.cpu_seconds() - cpu
        say(f"{len(held)} streams open: workers' RSS {rss_before:.0f} -> {rss_open:.0f} MiB")
        latency = await streams.timed_writes(api.server.url, held, self.config.stream_writes)
        say(f"write to event: {json.dumps(latency)}")
        return {
            "rss_mib_before": round(rss_before, 1),
            "rss_mib_open": round(rss_open, 1),
            "idle_cpu_percent": round(100 * idle_cpu / STREAM_IDLE_SECONDS, 1),
            "latency": latency,
        }

    def peak_rss_mib(self) -> dict[str, list[float]]:
        """Each server's workers' peak resident sets so far."""
        targets = [*self.apis, *filter(None, (self.floor, self.bare, self.streamed))]
        return {target.name: target.server.peak_rss_mib() for target in targets}

    def _large(self, api: Target) -> dict[str, Any]:
        """Users with 20 tasks in a small table, then one user with 10,000."""
        config, url = self.config, _database_of(api)
        say(f"large scenario: {api.name}")
        small_user = next(iter(self._seed(url)))
        small = self._list_run(api, f"list {config.tasks}/user", PAGE)
        small_sql_ms = self._sql_ms(url, small_user, PAGE_SQL)
        say(f"growing the table to {config.large_rows:,} rows, {config.large_tasks:,} for one user")
        self.users.write(database.grow(url, config.large_rows, config.large_tasks))
        paged = self._list_length(api, HEAVY_USER, PAGE) <= PAGE_SIZE
        heavy = f"list {config.large_tasks}/user"
        page = self._list_run(api, f"{heavy} {PAGE}", PAGE)
        same = self._list_run(api, f"{heavy} {SAME_SIZE}", SAME_SIZE)
        whole = self._list_run(api, f"{heavy}, all")
        return {
            "rows": [small, page, same, whole],
            "table_rows": database.row_count(url),
            "paging_supported": paged,
            # Like for like: a page of 20 from 10,000 tasks against a list of 20 tasks.
            "p50_ratio_same_size": round(same.p50_ms / small.p50_ms, 2),
            "p50_ratio_page_of_100": round(page.p50_ms / small.p50_ms, 2),
            "sql_ms": {
                f"{config.tasks}/user LIMIT {PAGE_SIZE}": small_sql_ms,
                f"{config.large_tasks}/user LIMIT {PAGE_SIZE}": self._sql_ms(
                    url, HEAVY_USER, PAGE_SQL
                ),
                f"{config.large_tasks}/user, all": self._sql_ms(url, HEAVY_USER, ""),
            },
            "explain_page": database.explain(url, LIST_SQL + PAGE_SQL, {"user": HEAVY_USER}),
            "explain_all": database.explain(url, LIST_SQL, {"user": HEAVY_USER}),
        }

    def _start(
        self,
        cleanup: ExitStack,
        name: str,
        label: str,
        app: str,
        url: str | None,
        ready_path: str = "/",
        code: checkout.Checkout = checkout.CURRENT,
    ) -> Target:
        workers = self.config.workers
        say(f"starting {label}: {workers} uvicorn workers")
        env = self._server_env(url)
        server = servers.start(name, app, workers, env, self.logs, ready_path, code)
        cleanup.callback(server.stop)
        return Target(label, server, url)

    def _baseline(self, cleanup: ExitStack, ref: str, index: int) -> Target:
        """The Task API at `ref`: its own checkout, venv and database, migrated by its alembic."""
        code = checkout.baseline(ref, self.work_dir / f"baseline{index}", cleanup)
        name = self.config.baseline_database_name(index)
        url = self._create_database(cleanup, name)
        say(f"migrating {name} with the baseline's alembic")
        database.migrate(url, code)
        label = f"{API_RUN} (baseline {ref})"
        name = f"baseline{index}"
        return self._start(cleanup, name, label, "src.main:app", url, "/health", code)

    def _database(self, cleanup: ExitStack) -> str:
        if self.config.database_url:
            say("using BENCH_DATABASE_URL (its tasks table will be emptied; it is not dropped)")
            return database.plain_url(self.config.database_url)
        return self._create_database(cleanup, self.config.database_name)

    def _create_database(self, cleanup: ExitStack, name: str) -> str:
        say(f"creating database {name}")
        created = database.create(self.config.admin_url, name)
        cleanup.callback(self._drop, name)
        return created.url

    def _drop(self, name: str) -> None:
        say(f"dropping database {name}")
        database.drop(self.config.admin_url, name)

    def _server_env(self, url: str | None) -> dict[str, str]:
        # Empty issuer/audience: a developer's .env must not make the minted tokens invalid.
        env = {
            **os.environ,
            **{"BETTER_AUTH_SECRET": self.users.secret},
            **{"ENVIRONMENT": "production", "LOG_LEVEL": "WARNING", "CORS_ORIGINS": ""},
            **{"JWT_ISSUER": "", "JWT_AUDIENCE": ""},
        }
        if url is not None:
            env["DATABASE_URL"] = url
        return env

    def _seed(self, url: str) -> dict[str, list[int]]:
        tasks = database.reset(url, self.config.users, self.config.tasks)
        self.users.write(tasks)
        return tasks

    def _measure(self, target: Target, mode: str, connections: int) -> Row:
        """A warm-up, then the measured run; a server with a database gets it reseeded first."""
        config, url = self.config, target.server.url
        timeout = config.stall_seconds
        warm = load.Load(url, connections, config.warmup, mode, self.users.path, timeout)
        if target.database_url is not None:
            self._seed(target.database_url)
        load.run(self.wrk, warm, f"warm-up {target.name} @{connections}")
        if target.database_url is not None:
            self._seed(target.database_url)  # every measured run starts from the same table
        measured = load.Load(url, connections, config.duration, mode, self.users.path, timeout)
        # CPU per request moves less with the machine's speed than requests/s do.
        app_cpu, db_cpu = target.server.cpu_seconds(), servers.postgres_cpu_seconds()
        result = load.run(self.wrk, measured, f"{target.name} @{connections}")
        row = Row.from_wrk(target.name, connections, result, target.server.peak_rss_mib())
        if result["requests"]:
            row.app_cpu_us = (target.server.cpu_seconds() - app_cpu) / result["requests"] * 1e6
            db_used = servers.postgres_cpu_seconds() - db_cpu
            row.db_cpu_us = db_used / result["requests"] * 1e6 if target.database_url else None
        return row

    def _list_run(self, api: Target, name: str, query: str = "") -> Row:
        config, url = self.config, api.server.url
        timeout = max(config.stall_seconds, 10.0)  # a full 10,000-task list is slow by design
        connections = config.list_concurrency
        warm = load.Load(url, connections, 3, "list", self.users.path, timeout, query)
        load.run(self.wrk, warm, f"warm-up {name}")
        measured = load.Load(
            url, connections, config.list_duration, "list", self.users.path, timeout, query
        )
        result = load.run(self.wrk, measured, name)
        row = Row.from_wrk(name, connections, result, api.server.peak_rss_mib())
        say(report.line(row))
        return row

    def _list_length(self, api: Target, user_id: str, query: str) -> int:
        connection = http.client.HTTPConnection(servers.HOST, api.server.port, timeout=60)
        try:
            headers = {"Authorization": f"Bearer {self.users.token(user_id)}"}
            connection.request("GET", f"/api/{user_id}/tasks{query}", headers=headers)
            body = connection.getresponse().read()
        finally:
            connection.close()
        return len(json.loads(body))

    @staticmethod
    def _sql_ms(url: str, user_id: str, limit: str) -> float:
        return database.median_ms(url, LIST_SQL + limit, {"user": user_id})


def _running(target: Target | None) -> Target:
    if target is None:
        raise RuntimeError("servers not started")
    return target


def _database_of(target: Target) -> str:
    if target.database_url is None:
        raise RuntimeError(f"{target.name} has no database")
    return target.database_url
