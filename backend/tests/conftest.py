"""Shared fixtures: one engine per database backend, a clean database per test."""

import os
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session, SQLModel

TEST_SECRET = "test-secret-for-the-suite-only-0123456789abcdef"
# Importing src.main builds the served app, which needs a secret; never a real one in tests.
os.environ.setdefault("BETTER_AUTH_SECRET", TEST_SECRET)

from src.config import DatabaseSettings, Settings  # noqa: E402
from src.db import create_db_engine  # noqa: E402
from src.main import create_app  # noqa: E402
from src.tokens import create_token  # noqa: E402

BACKENDS = ["sqlite://", *filter(None, [os.environ.get("TEST_DATABASE_URL")])]
TEST_SETTINGS = Settings(
    better_auth_secret=TEST_SECRET,
    database_url="sqlite://",
    environment="test",
    _env_file=None,
)

AuthHeaders = Callable[[str], dict[str, str]]
_backends_run: set[str] = set()


def backend_name(url: str) -> str:
    return url.split(":")[0].split("+")[0]


@pytest.fixture(scope="session", params=BACKENDS, ids=backend_name)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = create_db_engine(DatabaseSettings(database_url=request.param, _env_file=None))
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    _backends_run.add(backend_name(request.param))
    yield engine
    SQLModel.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def clean_engine(engine: Engine) -> Engine:
    # Each test starts from an empty table on either backend.
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # TRUNCATE fires no row trigger: task_counts goes with tasks.
            connection.execute(
                text("TRUNCATE tasks, idempotency_keys, task_counts RESTART IDENTITY")
            )
        else:
            connection.execute(text("DELETE FROM tasks"))
            connection.execute(text("DELETE FROM idempotency_keys"))
            connection.execute(text("DELETE FROM task_counts"))
    return engine


@pytest.fixture
def session(clean_engine: Engine) -> Iterator[Session]:
    with Session(clean_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def settings() -> Settings:
    return TEST_SETTINGS


@pytest.fixture
def client(clean_engine: Engine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, engine=clean_engine)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def unreachable_client(settings: Settings) -> Iterator[TestClient]:
    # A port nothing listens on: the database is down from the service's point of view.
    dead: Engine = create_engine(
        "postgresql+psycopg2://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    with TestClient(create_app(settings, engine=dead)) as client:
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
    ran = ", ".join(sorted(_backends_run)) or "none"
    terminalreporter.write_line(f"database backends exercised: {ran}")
    if "postgresql" not in _backends_run:
        terminalreporter.write_line(
            "(set TEST_DATABASE_URL=postgresql://... to run on PostgreSQL too)"
        )
