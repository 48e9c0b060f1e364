"""Structured logs (pairwise_ws.logs): one line per event, as text or JSON.

The formatter is tested on hand-made records; the daemon's own log through
the real `pairwise-ws serve` (the CLI's logging set-up), in both formats.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from pairwise_ws import logs
from pairwise_ws.logs import LogFormatter, event
from pairwise_ws.net.server import Server
from pairwise_ws.wire import LeaveReason
from tests.conftest import Clients, LogWatcher, Workshop, make_workshop
from tests.daemon import SIGTERM, daemon, serve_args
from tests.http_client import raw_exchange, request, upgrade_headers

# 2026-11-25T21:03:04.123Z
CREATED = calendar.timegm((2026, 11, 25, 21, 3, 4, 0, 0, 0)) + 0.1234
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: \S"
)
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(
    msg: object,
    *args: object,
    level: int = logging.INFO,
    name: str = "pairwise_ws.net.server",
    exc_info: Any = None,
    **extra: Any,
) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, msg, args or None, exc_info)
    made.created = CREATED
    made.msecs = 123.0
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def closed_event() -> logs.Event:
    return event(
        "websocket closed",
        peer="127.0.0.1:5000",
        session_id=1,
        attendee_id=None,  # left out
        reason=LeaveReason.LEFT,
        seconds=1.2,
    )


# --- text --------------------------------------------------------------------------------


def test_text_line() -> None:
    line = LogFormatter("text").format(record(closed_event()))
    assert line == (
        "2026-11-25T21:03:04.123Z INFO net.server: websocket closed "
        "peer=127.0.0.1:5000 session_id=1 reason=left seconds=1.2"
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("tab\there", '"tab\\there"'),
        ("Zoë", "Zoë"),
        (True, "true"),
        (3, "3"),
        (0.25, "0.25"),
    ],
)
def test_text_values_are_quoted_when_they_must_be(value: object, rendered: str) -> None:
    line = LogFormatter("text").format(record(event("e", key=value)))
    assert line.endswith(f" e key={rendered}")
    assert "\n" not in line


def test_the_message_itself_is_the_text_rendering() -> None:
    # Any handler (pytest's, an embedding program's) shows the fields too.
    assert record(closed_event()).getMessage() == (
        "websocket closed peer=127.0.0.1:5000 session_id=1 reason=left seconds=1.2"
    )


def test_plain_messages_and_extra_fields_are_events_too() -> None:
    text = LogFormatter("text")
    plain = record("attendee %d registered itself", 7, name="pairwise_ws.net.routes")
    assert text.format(plain).endswith(" INFO net.routes: attendee 7 registered itself")
    extra = record("vote stored", fields={"session_id": 3, "who": "a b"})
    assert text.format(extra).endswith(' INFO net.server: vote stored session_id=3 who="a b"')
    other = record("hello\nworld", name="trio", level=logging.WARNING)
    assert text.format(other).endswith(" WARNING trio: hello\\nworld")  # one line


def fail(message: str) -> None:
    raise RuntimeError(message)


def test_text_puts_a_traceback_on_the_following_lines() -> None:
    try:
        fail("a bug of ours")
    except RuntimeError:
        failed = record(event("connection failed", peer="p"), exc_info=sys.exc_info())
    lines = LogFormatter("text").format(failed).splitlines()
    assert lines[0].endswith(" INFO net.server: connection failed peer=p")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: a bug of ours"


# --- json --------------------------------------------------------------------------------


def test_json_line() -> None:
    line = LogFormatter("json").format(record(closed_event()))
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2026-11-25T21:03:04.123Z",
        "level": "info",
        "logger": "pairwise_ws.net.server",
        "event": "websocket closed",
        "peer": "127.0.0.1:5000",
        "session_id": 1,
        "reason": "left",
        "seconds": 1.2,
    }


def test_json_keeps_the_traceback_on_the_same_line() -> None:
    try:
        fail("a bug\nof ours")
    except RuntimeError:
        failed = record(
            event("room failed", session_id=2), level=logging.ERROR, exc_info=sys.exc_info()
        )
    line = LogFormatter("json").format(failed)
    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["level"], parsed["event"], parsed["session_id"]) == ("error", "room failed", 2)
    assert parsed["traceback"].startswith("Traceback (most recent call last):\n")
    assert parsed["traceback"].endswith("RuntimeError: a bug\nof ours")


def test_json_fields_cannot_replace_the_envelope_and_odd_values_become_text() -> None:
    line = LogFormatter("json").format(
        record(event("e", event="x", level="x", ts="x", path=Path("/a b"), error=OSError("no")))
    )
    parsed = json.loads(line)
    assert (parsed["event"], parsed["level"]) == ("e", "info")
    assert parsed["ts"] == "2026-11-25T21:03:04.123Z"
    assert (parsed["path"], parsed["error"]) == ("/a b", "no")


def test_plain_messages_in_json() -> None:
    line = LogFormatter("json").format(record("%s received: shutting down", "SIGTERM"))
    assert json.loads(line)["event"] == "SIGTERM received: shutting down"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_lone_surrogate_from_a_peer_can_still_be_written(log_format: logs.LogFormat) -> None:
    line = LogFormatter(log_format).format(record(event("bad request", error="x\udcff")))
    line.encode("utf-8")  # would raise on a lone surrogate
    assert "udcff" in line


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert logs.timestamp(CREATED) == "2026-11-25T21:03:04.123Z"
    assert logs.timestamp(CREATED - 0.1234 + 0.9999) == "2026-11-25T21:03:04.999Z"


# --- the daemon's log lines --------------------------------------------------------------


@pytest.mark.workshop(attendees=2)
async def test_an_error_sent_is_one_line_with_its_code(
    clients: Clients, workshop: Workshop, daemon_log: LogWatcher
) -> None:
    peer, _ = await clients.join(workshop.attendees[0])
    await peer.send("vote_submitted", {"vote": {"comparison_id": 999_999, "is_tie_vote": True}})
    await peer.next_of("error")
    line = await daemon_log.wait_for("error sent code=invalid_vote")
    attendee = workshop.attendees[0].id
    assert f"session_id={workshop.session_id} attendee_id={attendee}" in line
    await peer.send("what")
    await peer.next_of("error")
    await daemon_log.wait_for("error sent code=unknown_type")


async def test_a_closed_websocket_is_one_line_with_its_reason(
    clients: Clients, server: Server, workshop: Workshop, daemon_log: LogWatcher
) -> None:
    peer, _ = await clients.join(workshop.attendees[0])
    await peer.send("leave_session")
    await peer.closed()
    line = await daemon_log.wait_for("websocket closed")
    assert re.search(
        rf"websocket closed conn=\d+ peer=127\.0\.0\.1:\d+ session_id={workshop.session_id} "
        rf"attendee_id={workshop.attendees[0].id} reason=left seconds=[\d.]+$",
        line,
    ), line


class _Port:
    def __init__(self, port: int) -> None:
        self.port = port


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_the_real_daemons_log_is_one_event_per_line_without_tokens(
    nursery: trio.Nursery, tmp_path: Path, db_path: str, log_format: str
) -> None:
    workshop = make_workshop(db_path, attendees=2)
    ada, bob = workshop.attendees
    config = tmp_path / "config.toml"
    config.write_text(f'[logging]\nlevel = "debug"\nformat = "{log_format}"\n', encoding="utf-8")
    session = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}"
    wrong = "Wr0ngT0kenWr0ngT0kenWr0ngT0ken"
    used = [workshop.facilitator_token, ada.token, bob.token, wrong]
    async with daemon(db_path, "--config", str(config), *serve_args()) as process:
        port = await process.wait_listening()
        clients = Clients(nursery, _Port(port), workshop)  # type: ignore[arg-type]
        try:
            facilitator, _ = await clients.facilitator()
            a, _ = await clients.join(ada)
            b, _ = await clients.join(bob)
            pair = workshop.comparisons[0]
            await a.vote(pair.id, pair.a)
            await b.vote(pair.id, pair.a)
            await facilitator.next_of("consensus_reached")
            await a.send("vote_submitted", {"vote": {"comparison_id": 999_999, "is_tie_vote": 1}})
            await a.next_of("error")
            # A bad token, at the door.
            bad = f"GET {session}/ws?attendee_id={ada.id}&token={wrong} HTTP/1.1\r\nhost: x\r\n"
            bad += "".join(f"{k}: {v}\r\n" for k, v in upgrade_headers().items()) + "\r\n"
            assert (await raw_exchange(port, bad.encode())).startswith(b"HTTP/1.1 401 ")
            # Self-registration hands out a token: it is not logged either.
            used.append(workshop.join_code)
            joined = await request(
                port, f"{session}/join?code={workshop.join_code}", json_body={"name": "Zoë"}
            )
            assert joined.status == 201
            zoe = joined.json()
            used.append(zoe["token"])
            newcomer = await clients.connect(attendee_id=zoe["attendee_id"], token=zoe["token"])
            await newcomer.expect("session_state")
            assert (await request(port, "/metrics")).status == 200
            await a.send("leave_session")
            await a.closed()
            process.signal(SIGTERM)  # with the others still connected
            notice = await newcomer.next_of("system_notice")
            assert notice["data"]["event"] == "server_shutdown"
            assert await process.wait(5) == 0
        finally:
            await clients.aclose()
    lines = process.stderr.decode().splitlines()
    assert not [line for line in lines if any(secret in line for secret in used)]
    if log_format == "json":
        parsed = [json.loads(line) for line in lines]  # every line is one JSON object
        for entry in parsed:
            assert TS.fullmatch(entry["ts"]), entry
            assert entry["level"] in ("debug", "info", "warning", "error")
            assert isinstance(entry["logger"], str)  # ours, and trio-websocket's at debug
            assert isinstance(entry["event"], str)
        events = {(e["event"], e.get("reason") or e.get("code") or e.get("status")) for e in parsed}
        assert {
            ("websocket closed", "left"),
            ("websocket closed", "server_shutdown"),
            ("error sent", "invalid_message"),
            ("websocket refused", "invalid token"),
            ("http request", 201),
            ("http request", 200),
            ("stopped", None),
        } <= events
        assert any(e["event"] == f"listening on http://127.0.0.1:{port}" for e in parsed)
        closed = next(e for e in parsed if e["event"] == "websocket closed")
        assert {"conn", "peer", "session_id", "reason", "seconds"} <= closed.keys()
    else:
        assert lines
        for line in lines:
            assert TEXT_LINE.match(line), line
        text = "\n".join(lines)
        assert " INFO net.server: websocket closed conn=" in text
        assert " INFO live.connection: error sent code=invalid_message " in text
        http_line = r" INFO net.server: http request peer=\S+ method=POST path=\S+/join "
        assert re.search(http_line, text)
