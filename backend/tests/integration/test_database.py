"""The schema on each real backend: migrations, indexes, timestamps, engine settings."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from alembic import command
from src.config import DatabaseSettings
from src.db import create_db_engine, transactional
from src.schemas.queries import TaskListQuery
from src.services.task_service import TaskService

BACKEND_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def migrated(settings: Settings) -> Iterator[Connection]:
    """The test database rebuilt by Alembic instead of create_all, restored afterwards."""
    SQLModel.metadata.drop_all(clean_engine)
    # Migrations run in a transaction, as alembic/env.py runs them.
    with transactional(clean_engine).connect() as connection:
        config = _alembic_config(connection)
        command.upgrade(config, "head")
        connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            command.downgrade(config, "base")
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            connection.commit()
    SQLModel.metadata.create_all(clean_engine)


def _alembic_config(connection: Connection) -> Config:
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    return config


def test_migrations_match_models(migrated: Connection) -> None:
    context = MigrationContext.configure(migrated, opts={"compare_type": True})

    assert compare_metadata(context, SQLModel.metadata) == []


def test_migrations_create_the_plan_indexes(migrated: Connection) -> None:
    indexed = {tuple(index["column_names"]) for index in inspect(migrated).get_indexes("tasks")}

    assert {("user_id",), ("completed",), ("created_at",)} <= indexed


def test_downgrade_base_removes_the_table(migrated: Connection) -> None:
    command.downgrade(_alembic_config(migrated), "base")
    migrated.commit()

    assert "tasks" not in inspect(migrated).get_table_names()
    command.upgrade(_alembic_config(migrated), "head")
    migrated.commit()


def test_task_counts_migration_counts_existing_tasks_then_keeps_counting(
    migrated: Connection,
) -> None:
    config = _alembic_config(migrated)
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


def test_timestamp_columns_are_timezone_aware(engine: Engine) -> None:
    columns = {column["name"]: column for column in inspect(engine).get_columns("tasks")}

    if engine.dialect.name == "postgresql":
        assert getattr(columns["created_at"]["type"], "timezone", None) is True
    assert columns["updated_at"]["nullable"] is False


def test_postgresql_engine_uses_the_plan_pool_settings() -> None:
    settings = DatabaseSettings(database_url="postgresql://u@localhost/db", _env_file=None)
    engine = create_db_engine(settings)

    assert engine.url.drivername == "postgresql+psycopg2"
    assert (engine.pool.size(), engine.pool._max_overflow) == (10, 20)  # type: ignore[attr-defined]
    # Not on every checkout: only connections that sat idle are pinged (tests below).
    assert engine.pool._pre_ping is False


def _postgresql_engine(engine: Engine, ping_after_idle: float) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("needs a server that can drop a connection: PostgreSQL only")
    with engine.connect() as connection:
        server_port = connection.execute(text("SELECT inet_server_port()")).scalar_one()
    if engine.url.port not in (None, server_port):
        pytest.skip("a pooler is in between: it owns the server connections this would drop")
    url = engine.url.render_as_string(hide_password=False)
    settings = DatabaseSettings(
        database_url=url, db_ping_after_idle=ping_after_idle, _env_file=None
    )
    return create_db_engine(settings)


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(engine: Engine, pid: int) -> None:
    with engine.connect() as connection:
        # The timeout makes it wait until the backend is gone (PostgreSQL 14+).
        connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        connection.commit()


def test_idle_pooled_connection_dropped_by_server_is_replaced_unseen(engine: Engine) -> None:
    pinging = _postgresql_engine(engine, ping_after_idle=0)
    try:
        dropped = _backend_pid(pinging)
        _terminate(engine, dropped)

        assert _backend_pid(pinging) != dropped  # no error: the ping found it dead
    finally:
        pinging.dispose()


def test_recently_used_pooled_connection_is_trusted_without_a_ping(engine: Engine) -> None:
    trusting = _postgresql_engine(engine, ping_after_idle=3600)
    try:
        dropped = _backend_pid(trusting)
        _terminate(engine, dropped)

        # Without a ping the first statement meets the dead connection (the API answers 503)...
        with pytest.raises(OperationalError):
            _backend_pid(trusting)
        # ...and the pool has already replaced it for the next one.
        assert _backend_pid(trusting) != dropped
    finally:
        trusting.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h/db?sslmode=require", "postgresql+psycopg2://u:p@h/db?sslmode=require"),
        ("postgres://u:p@h/db", "postgresql+psycopg2://u:p@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:///./tasks.db", "sqlite:///./tasks.db"),
    ],
)
def test_database_url_as_users_write_it_uses_psycopg2(given: str, expected: str) -> None:
    settings = DatabaseSettings(database_url=given, _env_file=None)

    assert settings.database_url == expected


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
    settings: Settings, query: TaskListQuery, index: str
) -> None:
    statements: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        _conn, _cursor, statement, parameters = args[:4]
        if "ORDER BY" in statement:
            statements.append((statement, parameters))

    event.listen(clean_engine, "before_cursor_execute", capture)
    try:
        TaskService(clean_engine, "alice").list_page(query)
    finally:
        event.remove(clean_engine, "before_cursor_execute", capture)

    [(statement, parameters)] = statements
    plan = _plan(clean_engine, statement, parameters)
    assert index in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def _plan(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # An empty table makes a sequential scan cheapest; forbid it so the test asks
            # "can an index serve this order?" rather than "is the table small?".
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_sort = off")
            rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
            connection.rollback()
        else:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return "\n".join(str(row[-1]) for row in rows)
