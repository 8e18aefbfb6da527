"""Log lines of a served process, text and JSON, hold no control character a client sent.

Requests go over raw sockets, so the path reaches the server exactly as written here.
"""

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import TEST_SECRET, make_token

BACKEND_DIR = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60

C0 = "".join(chr(code) for code in range(0x20))
C1 = "".join(chr(code) for code in range(0x80, 0xA0))
CONTROLS = C0 + "\x7f" + C1 + "\u2028\u2029"
# What must never reach a log line raw: a terminal or a log viewer acts on each of them.
RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escaped(text: str) -> str:
    """The documented escapes: \\xNN for C0 and DEL, \\uNNNN for C1 and U+2028/9, \\\\ for \\."""
    out = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0x80 <= code < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


@dataclass
class Served:
    port: int
    format: str
    lines: "queue.Queue[str]"

    def ask(self, request_id: str, path: bytes, headers: bytes = b"") -> tuple[int, list[str]]:
        """Status, and every log line written up to this request's access line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=STARTUP_SECONDS) as conn:
            conn.sendall(
                b"GET " + path + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
                b"X-Request-ID: " + request_id.encode() + b"\r\n" + headers + b"\r\n"
            )
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        status = int(answer.split(b" ", 2)[1])
        written = []
        while True:
            line = self.lines.get(timeout=STARTUP_SECONDS)
            written.append(line)
            if request_id in line and "src.access" in line:
                return status, written

    def field(self, line: str, name: str) -> object:
        assert self.format == "json"
        return json.loads(line)[name]

    def message(self, line: str) -> str:
        if self.format == "json":
            message: str = json.loads(line)["message"]
            return message
        return line.split("]: ", 1)[1]


@pytest.fixture(scope="module", params=["text", "json"])
def served(database_url: str, request: pytest.FixtureRequest) -> Iterator[Served]:
    # Bound here, so requests queue until the server accepts them: no start-up race.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BETTER_AUTH_SECRET": TEST_SECRET,
        "DATABASE_URL": database_url,
        "LOG_FORMAT": request.param,
        "LOG_LEVEL": "INFO",
        "JWT_ISSUER": "",
        "JWT_AUDIENCE": "",
        "JWT_JWKS_URL": "",
    }
    argv = [sys.executable, "-m", "uvicorn", "src.main:app", "--fd", str(listener.fileno())]
    process = subprocess.Popen(  # noqa: S603  # fixed argv: our interpreter, a socket we bound
        argv,
        cwd=BACKEND_DIR,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        pass_fds=(listener.fileno(),),
    )
    listener.close()
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process, lines), daemon=True)
    reader.start()
    try:
        while "Application startup complete" not in lines.get(timeout=STARTUP_SECONDS):
            pass
        yield Served(port, request.param, lines)
    finally:
        process.terminate()
        process.wait(timeout=20)
        reader.join(timeout=5)


def _pump(process: "subprocess.Popen[str]", lines: "queue.Queue[str]") -> None:
    if process.stderr is not None:
        for line in process.stderr:
            lines.put(line.rstrip("\n"))


def _of(request_id: str, written: list[str], logger: str) -> str:
    [line] = [line for line in written if request_id in line and logger in line]
    return line


def test_logged_path_is_the_path_as_sent_whatever_it_encodes(served: Served) -> None:
    # Every control, U+2028/U+2029 and bytes that are not UTF-8, percent-encoded as a client
    # sends them, and a backslash, which the log doubles so that no escape can be faked.
    sent = "/api/" + quote(CONTROLS, safe="") + "%FF%C3%28" + "\\" + "/tasks"

    status, written = served.ask("esc-path", sent.encode("ascii"))

    assert status == 401
    assert [line for line in written if RAW_CONTROL.search(line)] == []
    logged = sent.replace("\\", "\\\\")
    warning = served.message(_of("esc-path", written, "src.middleware.jwt"))
    assert warning == (
        f"auth 401: GET {logged} from 127.0.0.1: "
        "Missing Authorization header; send 'Authorization: Bearer <token>'"
    )
    access = _of("esc-path", written, "src.access")
    assert served.message(access).startswith(f"GET {logged} 401 ")
    if served.format == "json":
        assert served.field(access, "path") == logged


def test_forwarded_client_address_is_logged_escaped(served: Served) -> None:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; header bytes arrive as Latin-1,
    # so 0x80-0x9F become C1 controls. Tab is the one C0 control a header may carry.
    forwarded = "10.0.0.1\t" + C1 + "\\x"
    headers = b"X-Forwarded-For: " + forwarded.encode("latin-1") + b"\r\n"

    status, written = served.ask("esc-client", b"/api/alice/tasks", headers)

    assert status == 401
    assert [line for line in written if RAW_CONTROL.search(line)] == []
    warning = served.message(_of("esc-client", written, "src.middleware.jwt"))
    assert warning.startswith(f"auth 401: GET /api/alice/tasks from {escaped(forwarded)}: ")
    if served.format == "json":
        access = _of("esc-client", written, "src.access")
        assert served.field(access, "client_ip") == escaped(forwarded)


def test_token_subject_is_logged_escaped(served: Served) -> None:
    # PostgreSQL text cannot hold NUL, so a subject with one is refused before it is logged.
    subject = "bob" + CONTROLS.replace("\x00", "") + "\\x1b"
    headers = f"Authorization: Bearer {make_token(subject)}\r\n".encode()

    status, written = served.ask("esc-user", b"/api/alice/tasks", headers)

    assert status == 403
    assert [line for line in written if RAW_CONTROL.search(line)] == []
    if served.format == "json":
        access = _of("esc-user", written, "src.access")
        assert served.field(access, "user_id") == escaped(subject)
