"""Budgets for the property and fuzz tests: fixed in CI, larger through environment variables."""

import os
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from alembic import command
from src.db import sqlalchemy_url
from tests.conftest import alembic_config
from tests.robustness.servers import PostgresCluster

IN_CI = os.environ.get("CI", "").lower() == "true"

# Derandomized in CI so a red run can be replayed exactly; random locally, to explore further.
settings.register_profile(
    "robustness",
    deadline=None,  # a request to PostgreSQL on a loaded machine has no fixed upper bound
    derandomize=IN_CI,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def budget(variable: str, default: int) -> int:
    """`default` unless the environment asks for more (or less) through `variable`."""
    return int(os.environ.get(variable, default))


# What the robustness tests did, printed at the end of the run: faults survived, cases tried.
TALLY: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, count in sorted(TALLY.items()):
        terminalreporter.write_line(f"robustness: {name}: {count}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for this run: safe to stop, crash and restart."""
    cluster = PostgresCluster()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def pg_database(pg_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database on the private cluster, migrated to head; its URL."""
    name = "robust_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    _drop_database(pg_cluster.url(), name, create_again=True)
    # NullPool: a connection kept across a test that restarts the cluster would be dead.
    engine = create_engine(sqlalchemy_url(pg_cluster.url(name)), poolclass=NullPool)
    with engine.connect() as connection:
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
    engine.dispose()
    try:
        yield pg_cluster.url(name)
    finally:
        _drop_database(pg_cluster.url(), name)


def _drop_database(admin_url: str, name: str, *, create_again: bool = False) -> None:
    """Drops database `name`, closing its connections; then creates it empty if `create_again`."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        database = sql.Identifier(name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        if create_again:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(database))
