"""Shared fixtures: one PostgreSQL per run (embedded, and TEST_DATABASE_URL when set), a clean
database per test."""

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from fastapi.testclient import TestClient
from psycopg.rows import DictRow, dict_row
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

TEST_SECRET = "test-secret-for-the-suite-only-0123456789abcdef"
# Importing src.main builds the served app, which needs a secret; never a real one in tests.
os.environ.setdefault("BETTER_AUTH_SECRET", TEST_SECRET)

from alembic import command  # noqa: E402
from src import embedded_db  # noqa: E402
from src.config import Settings  # noqa: E402
from src.db import Database, sqlalchemy_url  # noqa: E402
from src.embedded_db import embedded_server  # noqa: E402
from src.main import create_app  # noqa: E402
from src.tokens import create_token  # noqa: E402

# A test that forgets to name its database must fail, not use `make run`'s data.
embedded_db.DATA_DIR = Path("/nonexistent/task-api-tests-name-their-database")
EMBEDDED = "embedded"
# The embedded server always; the server named by TEST_DATABASE_URL too, when it is set.
DATABASES = [EMBEDDED, *filter(None, [os.environ.get("TEST_DATABASE_URL")])]
# No database of its own: tests that serve requests take `settings`, which names the test one.
TEST_SETTINGS = Settings(
    better_auth_secret=TEST_SECRET,
    environment="test",
    db_pool_size=2,  # the suite's pools open per test; two connections serve any one test
    _env_file=None,
)

AuthHeaders = Callable[[str], dict[str, str]]
SqlConnection = psycopg.Connection[DictRow]
_databases_run: set[str] = set()


def database_name(url: str) -> str:
    return EMBEDDED if url == EMBEDDED else "TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def embedded_server_url() -> Iterator[str]:
    """This run's own embedded PostgreSQL, in a temporary folder deleted afterwards."""
    # Not under pytest's temporary root: each pytest run that starts resets that root's
    # permissions, which would lock the server's own user out of a concurrent run's data.
    root = Path(tempfile.mkdtemp(prefix="task-api-test-pg-"))
    server = embedded_server(root / "data", keep_data=False)
    url: str = server.get_uri()
    yield url
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", params=DATABASES, ids=database_name)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database migrated to head (tables, indexes, triggers) as in production, for the run."""
    url = request.param
    if url == EMBEDDED:
        url = request.getfixturevalue("embedded_server_url")
    url = Settings(better_auth_secret=TEST_SECRET, database_url=url, _env_file=None).database_url
    assert url is not None
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.connect() as connection:
        drop_schema(connection)
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
    _databases_run.add(database_name(request.param))
    yield url
    with engine.connect() as connection:
        drop_schema(connection)
    engine.dispose()


BACKEND_DIR = Path(__file__).resolve().parents[1]


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, migrating through `connection` (alembic/env.py reads it)."""
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    return config


def drop_schema(connection: Connection) -> None:
    """Whatever a run or an earlier version of the suite left: tables, triggers, versions."""
    SQLModel.metadata.drop_all(connection)
    connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    connection.execute(text("DROP FUNCTION IF EXISTS count_tasks() CASCADE"))
    connection.commit()


@pytest.fixture
def clean_database(database_url: str) -> str:
    # Each test starts from empty tables. TRUNCATE fires no row trigger: task_counts goes too.
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "TRUNCATE tasks, idempotency_keys, task_counts, task_events RESTART IDENTITY"
        )
    return database_url


@pytest.fixture
def sql(clean_database: str) -> Iterator[SqlConnection]:
    """A plain connection to the test's database, for arranging and checking rows directly."""
    with psycopg.connect(clean_database, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture
def settings(clean_database: str) -> Settings:
    return TEST_SETTINGS.model_copy(update={"database_url": clean_database})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def opened_database(settings: Settings, **changes: object) -> AsyncIterator[Database]:
    """The app's pool on the test's database, `changes` made to its settings, every connection
    open."""
    changed = settings.model_copy(update=changes)
    assert changed.database_url is not None
    database = Database(changed.database_url, changed)
    await database.open()
    try:
        await database.pool.wait()
        yield database
    finally:
        await database.close()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The app's own pool on the test's database, for an async test."""
    async with opened_database(settings) as database:
        yield database


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def unreachable_client() -> Iterator[TestClient]:
    # A port nothing listens on: the database is down from the service's point of view.
    dead = TEST_SETTINGS.model_copy(
        update={
            "database_url": "postgresql://nobody@127.0.0.1:1/none",
            "db_connect_timeout": 1,
            "db_pool_timeout": 1.0,
        }
    )
    with TestClient(create_app(dead)) as client:
        yield client


def make_token(
    user_id: str, *, expires_in: int = 3600, secret: str = TEST_SECRET, **claims: object
) -> str:
    return create_token(user_id, secret, expires_in=expires_in, **claims)


@pytest.fixture
def auth_headers() -> AuthHeaders:
    def headers(user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(user_id)}"}

    return headers


@pytest.fixture
def create_task(client: TestClient, auth_headers: AuthHeaders) -> Callable[..., dict[str, object]]:
    def create(user_id: str, title: str = "Buy milk", **fields: object) -> dict[str, object]:
        response = client.post(
            f"/api/{user_id}/tasks", json={"title": title, **fields}, headers=auth_headers(user_id)
        )
        assert response.status_code == 201, response.text
        body: dict[str, object] = response.json()
        return body

    return create


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = ", ".join(sorted(_databases_run)) or "none"
    terminalreporter.write_line(f"databases exercised: {ran}")
    if "TEST_DATABASE_URL" not in _databases_run:
        terminalreporter.write_line(
            "(set TEST_DATABASE_URL=postgresql://... to run on another PostgreSQL too)"
        )
