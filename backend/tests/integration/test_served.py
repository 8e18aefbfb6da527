"""The app as deployed: `python -m src.server` with two workers, JSON logs, shared metrics."""

import json
import os
import queue
import re
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET, make_token

BACKEND_DIR = Path(__file__).resolve().parents[2]
WORKERS = 2
STARTUP_SECONDS = 60


@dataclass
class Served:
    url: str
    lines: "queue.Queue[str]"
    seen: list[str]

    def next_line(self) -> str:
        line = self.lines.get(timeout=STARTUP_SECONDS)
        self.seen.append(line)
        return line

    def access_line(self, request_id: str) -> dict[str, object]:
        # Lines of both workers interleave; read on until this request's line arrives.
        while True:
            line = self.next_line()
            if request_id in line and '"src.access"' in line:
                parsed: dict[str, object] = json.loads(line)
                return parsed


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The test run's database, served; what these tests read needs no particular rows."""
    tmp = tmp_path_factory.mktemp("served")
    (tmp / "prometheus").mkdir()
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BETTER_AUTH_SECRET": TEST_SECRET,
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        # A developer's .env must not change what these tests expect.
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "JWT_JWKS_URL": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
    }
    process = subprocess.Popen(  # noqa: S603  # fixed argv: our interpreter, a port we chose
        [
            sys.executable,
            "-m",
            "src.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
        ],
        cwd=BACKEND_DIR,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process, lines), daemon=True)
    reader.start()
    server = Served(f"http://127.0.0.1:{port}", lines, [])
    try:
        started = 0
        while started < WORKERS:
            started += "Application startup complete" in server.next_line()
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)
        reader.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pump(process: "subprocess.Popen[str]", lines: "queue.Queue[str]") -> None:
    if process.stderr is not None:
        for line in process.stderr:
            lines.put(line.rstrip("\n"))


def test_json_access_lines_carry_request_user_and_timing_but_no_token(served: Served) -> None:
    token = make_token("alice")

    response = httpx.get(
        f"{served.url}/api/alice/tasks",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "served-1"},
    )

    line = served.access_line("served-1")
    assert response.headers["X-Request-ID"] == "served-1"
    assert {key: line[key] for key in ("level", "method", "path", "status", "user_id")} == {
        "level": "INFO",
        "method": "GET",
        "path": "/api/alice/tasks",
        "status": 200,
        "user_id": "alice",
    }
    assert line["client_ip"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float)
    assert all(token not in seen for seen in served.seen)


def test_every_line_after_startup_is_json(served: Served) -> None:
    httpx.get(f"{served.url}/no-such-page", headers={"X-Request-ID": "served-2"})
    served.access_line("served-2")

    after_startup = served.seen[served.seen.index(_last_startup(served)) + 1 :]
    assert after_startup
    assert all(isinstance(json.loads(line), dict) for line in after_startup)


def _last_startup(served: Served) -> str:
    return [line for line in served.seen if "Application startup complete" in line][-1]


def test_metrics_add_up_across_worker_processes(served: Served) -> None:
    pids: set[object] = set()
    sent = 0
    # New connections until both workers have answered at least once (bounded).
    while len(pids) < WORKERS and sent < 400:
        sent += 1
        httpx.get(f"{served.url}/health", headers={"X-Request-ID": f"m-{sent}"})
        pids.add(served.access_line(f"m-{sent}")["pid"])

    text = httpx.get(f"{served.url}/metrics").text

    assert len(pids) == WORKERS
    counted = [
        line
        for line in text.splitlines()
        if line.startswith("http_requests_total{")
        and 'route="/health"' in line
        and 'status="200"' in line
    ]
    assert [float(line.rsplit(" ", 1)[1]) for line in counted] == [sent]


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        (
            {"X-Padding": "a" * 64 * 1024},
            "Request headers too large: at most 16384 bytes in all; send fewer or smaller "
            "headers (large cookies are the usual cause)",
        ),
        (
            {f"X-Header-{n}": "1" for n in range(200)},
            "Too many request headers: at most 100; send fewer",
        ),
    ],
    ids=["one-64-KiB-header", "200-headers"],
)
def test_oversized_request_head_is_refused_431_and_the_server_stays_healthy(
    served: Served, headers: dict[str, str], detail: str
) -> None:
    response = httpx.get(f"{served.url}/health", headers=headers)
    health = httpx.get(f"{served.url}/health")

    assert response.status_code == 431, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": detail}
    assert health.status_code == 200, health.text


def test_header_line_that_never_ends_is_refused_before_much_of_it_is_read(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: ")
        # One endless header, as an attacker would send 64 MiB of it, until the server answers.
        while sent < 64 * 1024 * 1024 and not select.select([connection], [], [], 0)[0]:
            connection.sendall(b"a" * 16 * 1024)
            sent += 16 * 1024
        answer = connection.recv(4096)

    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer
    # The bound plus at most one read of the server (256 KiB) and what the sockets buffer.
    assert sent < 4 * 1024 * 1024
    assert httpx.get(f"{served.url}/health").status_code == 200


def test_pipelined_request_after_a_large_body_is_not_refused(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    body = b"x" * 40 * 1024  # larger than the head limit, in the same write as the next head
    first = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    second = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(first + second)
        while chunk := connection.recv(65536):
            answer += chunk

    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"405", b"200"], answer
