"""Budgets for the property and fuzz tests: fixed in CI, larger through environment variables."""

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from tests.robustness.servers import PostgresCluster, postgres_bindir

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


# What the robustness tests did, printed at the end of the run: the figures the issue asks for.
TALLY: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, count in sorted(TALLY.items()):
        terminalreporter.write_line(f"robustness: {name}: {count}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for this run: safe to stop, crash and restart."""
    bindir = postgres_bindir()
    if bindir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the fault and load tests")
        pytest.skip(reason)
    cluster = PostgresCluster(bindir)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def pg_database(pg_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database on the private cluster with the tasks table; its URL."""
    name = "robust_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    # NullPool: a connection kept across a test that restarts the cluster would be dead.
    admin = create_engine(pg_cluster.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(pg_cluster.url(name))
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    try:
        yield pg_cluster.url(name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
