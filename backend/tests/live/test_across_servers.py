"""Two server processes on one database, as two replicas: a write through one reaches a stream
on the other, through PostgreSQL alone."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from socket import socket

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.live.conftest import LiveServer

BACKEND_DIR = Path(__file__).resolve().parents[2]


def _serve(database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    listener = socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    env = os.environ | {
        "BETTER_AUTH_SECRET": TEST_SECRET,
        "DATABASE_URL": database_url,
        # Set when the suite runs behind PgBouncer (.ci/test-pgbouncer); never a developer's.
        "DATABASE_DIRECT_URL": os.environ.get("DATABASE_DIRECT_URL", ""),
        "LOG_LEVEL": "WARNING",
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "JWT_JWKS_URL": "",
    }
    argv = [sys.executable, "-m", "uvicorn", "src.main:app", "--fd", str(listener.fileno())]
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed argv
            argv, cwd=BACKEND_DIR, env=env, pass_fds=[listener.fileno()], stdout=out, stderr=out
        )
    listener.close()
    return process, url


@pytest.fixture
def replicas(clean_database: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    started = [_serve(clean_database, tmp_path / f"server-{n}.log") for n in (1, 2)]
    try:
        for _, url in started:
            assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        yield LiveServer(started[0][1]), LiveServer(started[1][1])
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=10)


def test_a_write_through_one_server_reaches_a_stream_on_the_other(
    replicas: tuple[LiveServer, LiveServer],
) -> None:
    writer, reader = replicas

    with reader.stream("alice") as stream:
        created = writer.send("POST", "alice", title="from the other server").json()
        [event] = stream.events(1)

    assert (event.id, event.event, json.loads(event.data or "")) == (1, "created", created)
