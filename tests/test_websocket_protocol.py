"""WebSocket-level behaviour over real sockets: sizes, close codes, bad frames.

These also pin two behaviours trio-websocket's server connection got wrong
and the daemon's own (pairwise_ws/wsconn.py, client.py) must keep: a Close
frame before the TCP close on a protocol error, and no crash on a Ping after
our Close frame (trio-websocket issue #184).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest

from pairwise_ws.net.server import Server
from tests.conftest import Clients, Person, Workshop
from tests.http_client import request
from tests.raw_ws import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, RawClient, frame


def path_for(workshop: Workshop, person: Person) -> str:
    query = urlencode({"attendee_id": person.id, "token": person.token})
    return f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws?{query}"


async def raw_join(server: Server, workshop: Workshop, person: Person) -> RawClient:
    client = await RawClient.connect(server.port, path_for(workshop, person))
    first = await client.read_until(OP_TEXT)
    assert json.loads(first.payload)["type"] == "session_state"
    return client


@pytest.mark.parametrize(
    "text",
    [
        "x" * 4097,  # too many characters
        "€" * 1500,  # 1500 characters, 4500 bytes: the limit counts bytes
        '{"type": "join_session", "data": {"pad": "' + "é" * 2100 + '"}}',
    ],
    ids=["chars", "euro-bytes", "json-bytes"],
)
async def test_messages_over_the_byte_limit_close_with_1009(
    clients: Clients, workshop: Workshop, text: str
) -> None:
    peer, _ = await clients.join(workshop.attendees[0])
    assert len(text) <= 4097
    await peer.ws.send_message(text)
    reason = await peer.closed()
    assert reason.code == 1009


async def test_a_message_at_the_limit_is_accepted(clients: Clients, workshop: Workshop) -> None:
    peer, _ = await clients.join(workshop.attendees[0])
    message = '{"type": "join_session", "data": {}, "pad": "'
    message += "x" * (4096 - len(message) - 2) + '"}'
    assert len(message.encode()) == 4096
    await peer.ws.send_message(message)
    await peer.next_of("session_state")


async def test_binary_frames_get_invalid_message_and_the_connection_stays(
    clients: Clients, workshop: Workshop
) -> None:
    peer, _ = await clients.join(workshop.attendees[0])
    await peer.ws.send_message(b'{"type": "join_session"}')
    error = await peer.next_of("error")
    assert error["data"]["code"] == "invalid_message"
    await peer.send("join_session")
    await peer.next_of("session_state")


@pytest.mark.parametrize(
    ("bad_frame", "code"),
    [
        (frame(OP_TEXT, b'{"type": "join_session"}', masked=False), 1002),  # unmasked
        (bytes([0x80 | 0x40 | OP_TEXT, 0x80]) + b"\0\0\0\0", 1002),  # reserved bit set
        (frame(0x3, b"x"), 1002),  # reserved opcode
        (frame(OP_PING, b"x" * 126), 1002),  # control frame too long
        (frame(OP_TEXT, b"\xff\xfe\xfd"), 1007),  # invalid UTF-8
        (frame(OP_TEXT, b'{"a": "\xed\xa0\x80"}'), 1007),  # UTF-8-encoded surrogate
    ],
    ids=["unmasked", "reserved-bit", "reserved-opcode", "long-ping", "bad-utf8", "surrogate"],
)
async def test_protocol_errors_get_a_close_frame_before_the_tcp_close(
    server: Server, workshop: Workshop, bad_frame: bytes, code: int
) -> None:
    client = await raw_join(server, workshop, workshop.attendees[0])
    try:
        await client.send(bad_frame)
        close = await client.read_until(OP_CLOSE)
        assert close.close_code == code
        assert await client.closed_by_server()
    finally:
        await client.aclose()
    assert (await request(server.port, "/healthz")).status == 200


async def test_a_ping_after_the_servers_close_frame_is_harmless(
    server: Server, clients: Clients, workshop: Workshop, caplog: pytest.LogCaptureFixture
) -> None:
    """trio-websocket issue #184: this crashed its reader task. No Pong is owed after our Close."""
    bystander, _ = await clients.join(workshop.attendees[1])
    client = await raw_join(server, workshop, workshop.attendees[0])
    try:
        await client.send_text('{"type": "leave_session"}')
        close = await client.read_until(OP_CLOSE)
        assert close.close_code == 1000
        await client.send(frame(OP_PING, b"late"))  # before answering the Close
        await client.send(frame(OP_CLOSE, close.payload[:2]))
        assert await client.closed_by_server()
    finally:
        await client.aclose()
    left = await bystander.next_of("attendee_left")
    assert left["data"]["reason"] == "left"
    await bystander.send("join_session")
    await bystander.next_of("session_state")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_fragmented_messages_are_reassembled(server: Server, workshop: Workshop) -> None:
    client = await raw_join(server, workshop, workshop.attendees[0])
    try:
        await client.send(frame(OP_TEXT, b'{"type": "join', fin=False))
        await client.send(frame(0x0, b'_session"}'))
        while True:
            received = await client.read_until(OP_TEXT)
            if json.loads(received.payload)["type"] == "session_state":
                break
    finally:
        await client.aclose()


async def test_raw_binary_frame_over_raw_socket(server: Server, workshop: Workshop) -> None:
    client = await raw_join(server, workshop, workshop.attendees[0])
    try:
        await client.send(frame(OP_BINARY, b"\x00\x01\x02"))
        while True:
            received = await client.read_until(OP_TEXT)
            message = json.loads(received.payload)
            if message["type"] == "error":
                assert message["data"]["code"] == "invalid_message"
                break
    finally:
        await client.aclose()
