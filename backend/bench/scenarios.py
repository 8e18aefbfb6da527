"""The two scenarios of `make bench`, run against one database and two servers."""

import http.client
import json
import os
import secrets
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import database, load, report, servers
from bench.config import Config
from bench.database import HEAVY_USER
from bench.report import Row, say
from src.tokens import create_token

TOKEN_LIFETIME_SECONDS = 6 * 3600
PAGE_SIZE = 100
PAGE = f"?limit={PAGE_SIZE}"  # the API's default page once it pages; ignored before that
SAME_SIZE = "?limit=20"  # a page as long as the small table's lists
LIST_SQL = "SELECT * FROM tasks WHERE user_id = %(user)s ORDER BY created_at DESC, id DESC"
PAGE_SQL = f" LIMIT {PAGE_SIZE}"
FLOOR_RUN = "floor (1 query, no app)"  # bench/floor.py: what the stack alone costs


class Bench:
    def __init__(self, config: Config, wrk: str, work_dir: Path) -> None:
        self.config = config
        self.wrk = wrk
        self.data_file = work_dir / "users.txt"
        self.secret = secrets.token_urlsafe(48)
        self.url = ""
        self.app: servers.Server | None = None
        self.floor: servers.Server | None = None
        self.bare: servers.Server | None = None

    def start(self, cleanup: ExitStack) -> None:
        self.url = self._database(cleanup)
        say("migrating (alembic upgrade head)")
        database.migrate(self.url)
        logs = report.RESULTS_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        workers = self.config.workers
        say(f"starting the Task API, the floor and the bare route: {workers} uvicorn workers each")
        env = self._server_env()
        self.app = servers.start("app", "src.main:app", workers, env, logs, "/health")
        cleanup.callback(self.app.stop)
        if "mixed" in self.config.scenarios:
            self.floor = servers.start("floor", "bench.floor:app", workers, env, logs)
            cleanup.callback(self.floor.stop)
        self.bare = servers.start("bare", "bench.bare:app", workers, env, logs)
        cleanup.callback(self.bare.stop)

    def mixed(self) -> list[Row]:
        rows: list[Row] = []
        for connections in self.config.concurrency:
            app_row = self._measure(self._app(), "mixed", connections, reset=True)
            floor_row = self._measure(
                self._running(self.floor), "mixed", connections, reset=True, name=FLOOR_RUN
            )
            bare_row = self._measure(self._bare(), "bare", connections)
            for row in (app_row, floor_row):
                row.vs_bare = row.requests_per_second / bare_row.requests_per_second
            rows += [app_row, floor_row, bare_row]
            for row in (app_row, floor_row, bare_row):
                say(report.line(row))
        return rows

    def large(self) -> dict[str, Any]:
        """List latency: users with 20 tasks in a small table, then one user with 10,000."""
        config = self.config
        small_user = next(iter(self._seed()))
        small = self._list_run(f"list {config.tasks}/user", PAGE)
        small_sql_ms = self._sql_ms(small_user, PAGE_SQL)
        say(f"growing the table to {config.large_rows:,} rows, {config.large_tasks:,} for one user")
        self._write_users(database.grow(self.url, config.large_rows, config.large_tasks))
        paged = self._list_length(HEAVY_USER, PAGE) <= PAGE_SIZE
        heavy = f"list {config.large_tasks}/user"
        page = self._list_run(f"{heavy} {PAGE}", PAGE)
        same = self._list_run(f"{heavy} {SAME_SIZE}", SAME_SIZE)
        whole = self._list_run(f"{heavy}, all")
        return {
            "rows": [small, page, same, whole],
            "table_rows": database.row_count(self.url),
            "paging_supported": paged,
            # Like for like: a page of 20 from 10,000 tasks against a list of 20 tasks.
            "p50_ratio_same_size": round(same.p50_ms / small.p50_ms, 2),
            "p50_ratio_page_of_100": round(page.p50_ms / small.p50_ms, 2),
            "sql_ms": {
                f"{config.tasks}/user LIMIT {PAGE_SIZE}": small_sql_ms,
                f"{config.large_tasks}/user LIMIT {PAGE_SIZE}": self._sql_ms(HEAVY_USER, PAGE_SQL),
                f"{config.large_tasks}/user, all": self._sql_ms(HEAVY_USER, ""),
            },
            "explain_page": database.explain(self.url, LIST_SQL + PAGE_SQL, {"user": HEAVY_USER}),
            "explain_all": database.explain(self.url, LIST_SQL, {"user": HEAVY_USER}),
        }

    def _app(self) -> servers.Server:
        return self._running(self.app)

    def _bare(self) -> servers.Server:
        return self._running(self.bare)

    @staticmethod
    def _running(server: servers.Server | None) -> servers.Server:
        if server is None:
            raise RuntimeError("servers not started")
        return server

    def _database(self, cleanup: ExitStack) -> str:
        config = self.config
        if config.database_url:
            say("using BENCH_DATABASE_URL (its tasks table will be emptied; it is not dropped)")
            return config.database_url
        say(f"creating database {config.database_name}")
        created = database.create(config.admin_url, config.database_name)
        cleanup.callback(self._drop)
        return created.url

    def _drop(self) -> None:
        say(f"dropping database {self.config.database_name}")
        database.drop(self.config.admin_url, self.config.database_name)

    def _server_env(self) -> dict[str, str]:
        # Empty issuer/audience: a developer's .env must not make the minted tokens invalid.
        return {
            **os.environ,
            **{"DATABASE_URL": self.url, "BETTER_AUTH_SECRET": self.secret},
            **{"ENVIRONMENT": "production", "LOG_LEVEL": "WARNING", "CORS_ORIGINS": ""},
            **{"JWT_ISSUER": "", "JWT_AUDIENCE": ""},
        }

    def _seed(self) -> dict[str, list[int]]:
        tasks = database.reset(self.url, self.config.users, self.config.tasks)
        self._write_users(tasks)
        return tasks

    def _write_users(self, tasks: dict[str, list[int]]) -> None:
        lines = []
        for user_id, ids in tasks.items():
            token = create_token(user_id, self.secret, expires_in=TOKEN_LIFETIME_SECONDS)
            lines.append(" ".join([user_id, token, *map(str, ids)]))
        self.data_file.write_text("\n".join(lines) + "\n")

    def _measure(
        self,
        server: servers.Server,
        mode: str,
        connections: int,
        *,
        reset: bool = False,
        name: str | None = None,
    ) -> Row:
        config = self.config
        name = name or ("bare route" if mode == "bare" else mode)
        timeout = config.stall_seconds
        warm = load.Load(server.url, connections, config.warmup, mode, self.data_file, timeout)
        if reset:
            self._seed()
        load.run(self.wrk, warm, f"warm-up {name} @{connections}")
        if reset:
            self._seed()  # every measured run starts from the same table
        measured = load.Load(
            server.url, connections, config.duration, mode, self.data_file, timeout
        )
        result = load.run(self.wrk, measured, f"{name} @{connections}")
        return Row.from_wrk(name, connections, result, server.peak_rss_mib())

    def _list_run(self, name: str, query: str = "") -> Row:
        config = self.config
        app = self._app()
        timeout = max(config.stall_seconds, 10.0)  # a full 10,000-task list is slow by design
        connections = config.list_concurrency
        warm = load.Load(app.url, connections, 3, "list", self.data_file, timeout, query)
        load.run(self.wrk, warm, f"warm-up {name}")
        measured = load.Load(
            app.url, connections, config.list_duration, "list", self.data_file, timeout, query
        )
        row = Row.from_wrk(
            name, connections, load.run(self.wrk, measured, name), app.peak_rss_mib()
        )
        say(report.line(row))
        return row

    def _list_length(self, user_id: str, query: str) -> int:
        app = self._app()
        token = create_token(user_id, self.secret)
        connection = http.client.HTTPConnection(servers.HOST, app.port, timeout=60)
        try:
            headers = {"Authorization": f"Bearer {token}"}
            connection.request("GET", f"/api/{user_id}/tasks{query}", headers=headers)
            body = connection.getresponse().read()
        finally:
            connection.close()
        return len(json.loads(body))

    def _sql_ms(self, user_id: str, limit: str) -> float:
        return database.median_ms(self.url, LIST_SQL + limit, {"user": user_id})
