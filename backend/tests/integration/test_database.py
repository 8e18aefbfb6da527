"""The schema on each real server: migrations, indexes, timestamps, the pool and its settings."""

from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg_pool import PoolTimeout
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from alembic import command
from src.config import DatabaseSettings, Settings
from src.db import Database, sqlalchemy_url
from src.schemas.queries import TaskListQuery
from src.services.list_statements import page_statement
from tests.conftest import SqlConnection, alembic_config, opened_database

BACKEND_DIR = Path(__file__).resolve().parents[2]
APPLICATION = "task-api"  # the application_name the app's pool gives its connections


@pytest.fixture
def schema_engine(clean_database: str) -> Iterator[Engine]:
    """A sync SQLAlchemy engine on the test database, for Alembic and schema inspection."""
    engine = create_engine(sqlalchemy_url(clean_database), poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated(schema_engine: Engine) -> Iterator[Connection]:
    """The test database taken down to nothing and back up to head by Alembic."""
    # Migrations run in a transaction, as alembic/env.py runs them.
    with schema_engine.connect() as connection:
        config = alembic_config(connection)
        command.downgrade(config, "base")
        command.upgrade(config, "head")
        connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            command.upgrade(config, "head")  # where every other test expects it
            connection.commit()


def test_migrations_match_models(migrated: Connection) -> None:
    context = MigrationContext.configure(migrated, opts={"compare_type": True})

    assert compare_metadata(context, SQLModel.metadata) == []


def test_migrations_index_user_id_and_completed_as_the_plan_asks(migrated: Connection) -> None:
    indexed = {tuple(index["column_names"]) for index in inspect(migrated).get_indexes("tasks")}

    # Composite indexes led by the owner serve every query; single-column ones served none.
    assert {
        ("user_id", "created_at", "id"),
        ("user_id", "completed", "created_at", "id"),
    } <= indexed
    assert not {("user_id",), ("completed",), ("created_at",)} & indexed


def test_downgrade_base_removes_the_table(migrated: Connection) -> None:
    command.downgrade(alembic_config(migrated), "base")
    migrated.commit()

    assert "tasks" not in inspect(migrated).get_table_names()
    command.upgrade(alembic_config(migrated), "head")
    migrated.commit()


def test_task_counts_migration_counts_existing_tasks_then_keeps_counting(
    migrated: Connection,
) -> None:
    config = alembic_config(migrated)
    command.downgrade(config, "003")
    stamp = "2026-01-01 00:00:00"
    for user, title in [("alice", "a1"), ("alice", "a2"), ("bob", "b1")]:
        migrated.execute(
            text(
                "INSERT INTO tasks (user_id, title, completed, created_at, updated_at)"
                " VALUES (:user, :title, false, :stamp, :stamp)"
            ),
            {"user": user, "title": title, "stamp": stamp},
        )
    command.upgrade(config, "head")
    migrated.execute(text("DELETE FROM tasks WHERE title = 'a1'"))
    migrated.commit()

    counts = migrated.execute(text("SELECT user_id, total FROM task_counts ORDER BY user_id"))

    assert [tuple(row) for row in counts] == [("alice", 1), ("bob", 1)]


def test_migrations_create_the_list_and_idempotency_indexes(migrated: Connection) -> None:
    inspector = inspect(migrated)
    tasks = {index["name"]: index["column_names"] for index in inspector.get_indexes("tasks")}
    keys = inspector.get_pk_constraint("idempotency_keys")

    assert {name: tasks[name] for name in LIST_INDEXES} == LIST_INDEXES
    assert keys["constrained_columns"] == ["user_id", "key"]


LIST_INDEXES = {
    "ix_tasks_user_id_created_at_id": ["user_id", "created_at", "id"],
    "ix_tasks_user_id_updated_at_id": ["user_id", "updated_at", "id"],
    "ix_tasks_user_id_completed_created_at_id": ["user_id", "completed", "created_at", "id"],
}


def test_timestamp_columns_are_timezone_aware(schema_engine: Engine) -> None:
    columns = {column["name"]: column for column in inspect(schema_engine).get_columns("tasks")}

    assert getattr(columns["created_at"]["type"], "timezone", None) is True
    assert getattr(columns["updated_at"]["type"], "timezone", None) is True
    assert columns["updated_at"]["nullable"] is False


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h/db?sslmode=require", "postgresql://u:p@h/db?sslmode=require"),
        ("postgres://u:p@h/db", "postgresql://u:p@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql://u@h/db"),
        ("  ", None),
    ],
    ids=["libpq", "heroku", "psycopg2", "psycopg", "blank-is-embedded"],
)
def test_database_url_as_users_write_it_becomes_a_libpq_url(
    given: str, expected: str | None
) -> None:
    settings = DatabaseSettings(database_url=given, _env_file=None)

    assert settings.database_url == expected


def test_database_url_for_sqlite_is_rejected() -> None:
    with pytest.raises(ValidationError, match="must be a PostgreSQL URL"):
        DatabaseSettings(database_url="sqlite:///./tasks.db", _env_file=None)


def test_sqlalchemy_url_names_psycopg_3() -> None:
    assert sqlalchemy_url("postgresql://u:p@h/db?sslmode=require") == (
        "postgresql+psycopg://u:p@h/db?sslmode=require"
    )


def _skip_behind_a_pooler(sql: SqlConnection, url: str) -> None:
    port = conninfo_to_dict(url).get("port")
    [server] = sql.execute("SELECT inet_server_port() AS port").fetchall()
    if port is not None and int(port) != server["port"]:
        pytest.skip("a pooler is in between: the server connections are its own, not the pool's")


def _pool_backends(sql: SqlConnection) -> dict[int, str]:
    """The server's connections from the app's pools on this database: pid -> state."""
    rows = sql.execute(
        "SELECT pid, state FROM pg_stat_activity"
        " WHERE application_name = %(name)s AND datname = current_database()",
        {"name": APPLICATION},
    ).fetchall()
    return {int(row["pid"]): row["state"] for row in rows}


@pytest.mark.anyio
async def test_request_beyond_db_pool_size_fails_after_db_pool_timeout(
    settings: Settings,
) -> None:
    async with opened_database(settings, db_pool_size=3, db_pool_timeout=0.2) as database:
        async with AsyncExitStack() as stack:
            for _ in range(3):
                await stack.enter_async_context(database.connection())

            # The fourth waits for one of the three (the API's 503), and the pool does not grow.
            with pytest.raises(PoolTimeout):
                await stack.enter_async_context(database.connection())
        stats = database.pool.get_stats()

    assert (stats["pool_size"], stats["requests_errors"]) == (3, 1)


@pytest.mark.anyio
async def test_pool_opens_exactly_db_pool_size_server_connections(
    settings: Settings, sql: SqlConnection
) -> None:
    assert settings.database_url is not None
    _skip_behind_a_pooler(sql, settings.database_url)

    async with opened_database(settings, db_pool_size=3) as database:
        opened = _pool_backends(sql)
        await _every_backend_pid(database)
        used = _pool_backends(sql)

    assert list(opened.values()) == ["idle"] * 3
    assert used.keys() == opened.keys()


@pytest.mark.anyio
async def test_pooled_connection_commits_each_statement_as_it_runs(
    database: Database, sql: SqlConnection
) -> None:
    async with database.connection() as connection:
        cursor = await connection.execute(
            "INSERT INTO task_counts (user_id, total) VALUES ('alice', 7) RETURNING *"
        )
        returned = await cursor.fetchone()
        # Still inside the block: the row is committed and the session is in no transaction.
        status = connection.info.transaction_status
        seen = sql.execute("SELECT user_id, total FROM task_counts").fetchall()

    assert returned == {"user_id": "alice", "total": 7}  # rows come back as dicts
    assert (status, seen) == (TransactionStatus.IDLE, [returned])


async def _backend_pid(database: Database) -> int:
    async with database.connection() as connection:
        cursor = await connection.execute("SELECT pg_backend_pid() AS pid")
        row = await cursor.fetchone()
    assert row is not None
    return int(row["pid"])


def _terminate(sql: SqlConnection, pids: list[int]) -> None:
    for pid in pids:
        # The timeout makes it wait until the backend is gone (PostgreSQL 14+).
        sql.execute("SELECT pg_terminate_backend(%(pid)s, 5000)", {"pid": pid})


async def _every_backend_pid(database: Database) -> list[int]:
    """Takes every pooled connection once, so each has been used and returned."""
    async with AsyncExitStack() as stack:
        connections = [
            await stack.enter_async_context(database.connection())
            for _ in range(database.pool.max_size)
        ]
        return [connection.info.backend_pid for connection in connections]


@pytest.mark.anyio
async def test_idle_pooled_connection_dropped_by_server_is_replaced_unseen(
    settings: Settings, sql: SqlConnection
) -> None:
    assert settings.database_url is not None
    _skip_behind_a_pooler(sql, settings.database_url)
    async with opened_database(settings, db_pool_size=1, db_ping_after_idle=0) as pinging:
        dropped = await _backend_pid(pinging)
        _terminate(sql, [dropped])

        assert await _backend_pid(pinging) != dropped  # no error: the ping found it dead


@pytest.mark.anyio
async def test_recently_used_pooled_connection_is_trusted_without_a_ping(
    settings: Settings, sql: SqlConnection
) -> None:
    assert settings.database_url is not None
    _skip_behind_a_pooler(sql, settings.database_url)
    async with opened_database(settings, db_pool_size=1, db_ping_after_idle=3600) as trusting:
        dropped = await _backend_pid(trusting)
        _terminate(sql, [dropped])

        # Without a ping the first statement meets the dead connection (the API answers 503)...
        with pytest.raises(psycopg.OperationalError):
            await _backend_pid(trusting)
        # ...and the pool has already replaced it for the next one.
        assert await _backend_pid(trusting) != dropped


@pytest.mark.anyio
async def test_never_used_pooled_connection_dropped_by_server_is_replaced_unseen(
    settings: Settings, sql: SqlConnection
) -> None:
    # The pool opens every connection at start; a quiet service may not touch some of them
    # before the server (Neon's suspend, a pooler's idle limit) drops them all.
    assert settings.database_url is not None
    _skip_behind_a_pooler(sql, settings.database_url)
    async with opened_database(settings, db_pool_size=1, db_ping_after_idle=0) as pinging:
        [dropped] = _pool_backends(sql)
        _terminate(sql, [dropped])

        assert await _backend_pid(pinging) != dropped


@pytest.mark.anyio
async def test_every_idle_pooled_connection_dropped_by_server_is_replaced_unseen(
    settings: Settings, sql: SqlConnection
) -> None:
    # Neon's suspend drops all of them at once: each dead one is passed over at once, with no
    # backoff between, well within this 2 s DB_POOL_TIMEOUT.
    assert settings.database_url is not None
    _skip_behind_a_pooler(sql, settings.database_url)
    async with opened_database(
        settings, db_pool_size=3, db_ping_after_idle=0, db_pool_timeout=2.0
    ) as pinging:
        dropped = await _every_backend_pid(pinging)
        _terminate(sql, dropped)

        assert await _backend_pid(pinging) not in dropped


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (TaskListQuery(), "ix_tasks_user_id_created_at_id"),
        (TaskListQuery(order="asc", offset=5), "ix_tasks_user_id_created_at_id"),
        (TaskListQuery(sort="updated_at"), "ix_tasks_user_id_updated_at_id"),
        # Without statistics either owner-led index serves this; both need no sort.
        (TaskListQuery(completed=True), "ix_tasks_user_id_c"),
    ],
    ids=["default", "oldest-first", "updated", "completed"],
)
def test_list_page_reads_an_owner_index_in_order_without_sorting(
    sql: SqlConnection, query: TaskListQuery, index: str
) -> None:
    # The statement and values TaskService.list_page sends for this query.
    statement, values = page_statement(query)

    plan = _plan(sql, statement, values | {"owner": "alice"})

    assert index in plan, plan
    assert "Sort" not in plan, plan


def _plan(sql: SqlConnection, statement: str, values: dict[str, object]) -> str:
    with sql.transaction():
        # An empty table makes a sequential scan cheapest; forbid it so the test asks
        # "can an index serve this order?" rather than "is the table small?".
        sql.execute("SET LOCAL enable_seqscan = off")
        sql.execute("SET LOCAL enable_sort = off")
        rows = sql.execute(f"EXPLAIN {statement}", values).fetchall()
    return "\n".join(str(row["QUERY PLAN"]) for row in rows)
