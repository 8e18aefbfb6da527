"""Servers started the production way, on a free loopback port, and stopped for certain."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.checkout import CURRENT, Checkout

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
LAUNCHED_APP = "src.main:app"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    workers: int
    log: Path
    _worker_pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def peak_rss_mib(self) -> list[float]:
        """Each worker's peak resident set so far (VmHWM), in MiB."""
        return self._memory_mib("VmHWM:")

    def rss_mib(self) -> float:
        """Its workers' resident sets now (VmRSS), summed, in MiB."""
        return sum(self._memory_mib("VmRSS:"))

    def _memory_mib(self, field: str) -> list[float]:
        sizes = []
        for pid in self._worker_pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue  # the worker is gone, and its memory with it
            sizes += [
                int(line.split()[1]) / 1024
                for line in status.splitlines()
                if line.startswith(field)
            ]
        return sizes

    def cpu_seconds(self) -> float:
        """CPU time its workers have used so far, user and system."""
        return sum(process_cpu_seconds(pid) for pid in self._worker_pids)

    def stop(self) -> None:
        """SIGTERM to the server's own process group (its workers too), then SIGKILL."""
        if self.process.poll() is not None:
            return
        _signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start(
    name: str,
    app: str,
    workers: int,
    env: dict[str, str],
    log_dir: Path,
    ready_path: str = "/",
    checkout: Checkout = CURRENT,
) -> Server:
    """`app` served the production way; returns once every worker answers `ready_path`."""
    port = free_port()
    options = [
        *("--host", HOST, "--port", str(port), "--workers", str(workers)),
        *("--loop", "uvloop", "--no-access-log", "--log-level", "warning"),
    ]
    command = [*_server(app, checkout), *options]
    log = log_dir / f"{name}.log"
    with log.open("wb") as output:
        # A session of its own: Ctrl-C reaches the driver only, which then stops the server.
        process = subprocess.Popen(
            command, cwd=checkout.backend_dir, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(name, process, port, workers, log)
    try:
        _wait_until_ready(server, ready_path)
    except BaseException:
        server.stop()
        raise
    return server


def _server(app: str, checkout: Checkout) -> list[str]:
    # The Task API starts as every deployment does, through its launcher (which sets the httptools
    # protocol, bounded); the bench's own apps, and a baseline from before the launcher, through
    # uvicorn with the same protocol unbounded.
    if app == LAUNCHED_APP and (checkout.backend_dir / "src" / "server.py").is_file():
        return [checkout.tool("python"), "-m", "src.server"]
    return [checkout.tool("uvicorn"), app, "--http", "httptools"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} server exited; see {server.log}")
        # uvicorn serves one worker in its own process, and more from child processes.
        pid = server.process.pid
        server._worker_pids = _workers_of(pid) if server.workers > 1 else [pid]
        if len(server._worker_pids) >= server.workers and _answers(server.port, path):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} server not ready in {START_TIMEOUT_SECONDS:.0f} s")


def _answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _workers_of(parent: int) -> list[int]:
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # The parent pid is the second field after the parenthesised command name.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"resource_tracker" not in command:
            workers.append(int(entry.name))
    return sorted(workers)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, signum)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (0 once it is gone)."""
    try:
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU time used so far by every PostgreSQL process on this machine (the bench's server)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        total += process_cpu_seconds(int(comm.parent.name))
    return total
