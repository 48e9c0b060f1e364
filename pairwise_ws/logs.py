"""Structured logs: one line per event, as text for people or JSON for machines.

A log call names its event and passes its details as fields:

    log.info(event("websocket closed", peer=client.peer, reason=reason, seconds=1.2))

`event(...)` is the record's message. Any handler can print it (`str()` renders
`websocket closed peer=127.0.0.1:5000 reason=left seconds=1.2`, so pytest's
caplog and an embedding program's own logging show everything), and the
daemon's `LogFormatter` renders it as one text line:

    2026-11-25T21:03:04.123Z INFO server: websocket closed peer=127.0.0.1:5000 reason=left

or as one JSON object per line:

    {"ts": "2026-11-25T21:03:04.123Z", "level": "info", "logger": "pairwise_ws.net.server",
     "event": "websocket closed", "peer": "127.0.0.1:5000", "reason": "left"}

Records of other code (plain %-style messages) become an event without
fields. Fields whose value is None are left out. A traceback (`log.exception`)
follows the text line as usual, and is a "traceback" field in JSON.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any, Literal

LogFormat = Literal["text", "json"]

# Keys the JSON line always has; a field of the same name can't replace them.
RESERVED = ("ts", "level", "logger", "event", "traceback")
_PREFIX = "pairwise_ws."
# A text value that needs quoting: empty, or with spaces, quotes, '=' or control characters.
_NEEDS_QUOTES = re.compile(r'[\s"=\\]|[\x00-\x1f\x7f]|^$')


class Event:
    """A log message with fields; `str()` is its text rendering (without time and level)."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: Mapping[str, object]) -> None:
        self.name = name
        self.fields = fields

    def __str__(self) -> str:
        return _text_line(self.name, self.fields)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {dict(self.fields)!r})"


def event(name: str, **fields: object) -> Event:
    """The message of a log call: `log.info(event("websocket closed", peer=...))`."""
    return Event(name, fields)


def record_event(record: logging.LogRecord) -> tuple[str, Mapping[str, object]]:
    """A record's event name and fields, whatever way it was logged."""
    if isinstance(record.msg, Event) and not record.args:
        return record.msg.name, record.msg.fields
    fields = getattr(record, "fields", None)  # log.info("...", extra={"fields": {...}})
    return record.getMessage(), fields if isinstance(fields, Mapping) else {}


class LogFormatter(logging.Formatter):
    """One line per record: `text` (key=value) or `json` (one object)."""

    def __init__(self, log_format: LogFormat = "text") -> None:
        super().__init__()
        self.log_format = log_format

    def format(self, record: logging.LogRecord) -> str:
        name, fields = record_event(record)
        traceback = self._traceback(record)
        if self.log_format == "json":
            line = _json_line(record, name, fields, traceback)
        else:
            logger = record.name.removeprefix(_PREFIX)
            head = f"{timestamp(record.created)} {record.levelname} {logger}: "
            line = head + _text_line(name, fields)
            if traceback:
                line += "\n" + traceback
        # Lone surrogates (from a peer's bytes) can't be written as UTF-8: escape them.
        return line.encode("utf-8", "backslashreplace").decode("utf-8")

    def _traceback(self, record: logging.LogRecord) -> str:
        text = ""
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            text = record.exc_text
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}".lstrip("\n")
        return text


def timestamp(created: float) -> str:
    """UTC with milliseconds: 2026-11-25T21:03:04.123Z."""
    seconds = int(created)
    millis = min(999, int((created - seconds) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _json_line(
    record: logging.LogRecord, name: str, fields: Mapping[str, object], traceback: str
) -> str:
    line: dict[str, Any] = {
        "ts": timestamp(record.created),
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": name,
    }
    for key, value in fields.items():
        if value is not None and key not in RESERVED:
            line[key] = _json_value(value)
    if traceback:
        line["traceback"] = traceback
    return json.dumps(line, ensure_ascii=False, default=str)


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # enums render as their value, everything else as text


def _text_line(name: str, fields: Mapping[str, object]) -> str:
    # The event text is ours, but a plain message may quote a peer's input:
    # keep it on one line.
    parts = [name.replace("\r", "\\r").replace("\n", "\\n")]
    for key, value in fields.items():
        if value is not None:
            parts.append(f"{key}={_text_value(value)}")
    return " ".join(parts)


def _text_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if _NEEDS_QUOTES.search(text):
        return json.dumps(text, ensure_ascii=False)
    return text


def configure(level: str, log_format: LogFormat, stream: Any) -> None:
    """The daemon's logging: every record to `stream` through `LogFormatter`.

    Like `logging.basicConfig`, does nothing if the root logger already has a
    handler (an embedding program's, or pytest's).
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler])
