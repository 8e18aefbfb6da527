"""The one escaping every log line goes through, and the text formatter that applies it."""

import logging
import sys

import pytest

from src.logs import JsonFormatter, TextFormatter, escape

C0, C1 = range(0x20), range(0x80, 0xA0)


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("".join(map(chr, C0)), "".join(f"\\x{code:02x}" for code in C0)),
        ("\x7f", "\\x7f"),
        ("".join(map(chr, C1)), "".join(f"\\u{code:04x}" for code in C1)),
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("a\\x1b", "a\\\\x1b"),
        (b"caf\xc3\xa9 \xff\xc3(", "café \\xff\\xc3("),
        ("\ud800", "\\ud800"),
        ("plain /api/alice%0A/tasks é 日本", "plain /api/alice%0A/tasks é 日本"),
    ],
    ids=["c0", "del", "c1", "separators", "backslash", "invalid-utf8", "lone-surrogate", "safe"],
)  # fmt: skip
def test_escape_writes_each_unsafe_character_as_an_escape(value: str | bytes, logged: str) -> None:
    assert escape(value) == logged


def _record_with_exception(message: str) -> logging.LogRecord:
    try:
        raise ValueError(message)
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("\x1b[2J",), None)
        record.exc_info = sys.exc_info()
    record.request_id = "-"
    return record


def test_text_traceback_lines_are_escaped_and_indented_so_none_forges_a_record() -> None:
    record = _record_with_exception("boom\n2026-01-01 00:00:00,000 INFO forged\u2028")

    lines = TextFormatter().format(record).split("\n")

    assert lines[0].endswith("ERROR x [-]: failed \\x1b[2J")
    assert all(line.startswith("    ") for line in lines[1:])
    assert lines[-2:] == [
        "    ValueError: boom",
        "    2026-01-01 00:00:00,000 INFO forged\\u2028",
    ]


def test_json_exception_keeps_its_lines_and_escapes_each() -> None:
    record = _record_with_exception("boom\x85")

    line = JsonFormatter().format(record)

    assert line.count("\n") == 0
    assert escape("\x1b") in line
    assert "ValueError: boom\\\\u0085" in line
