"""Unit tests of `pairwise_ws.wire.rfc6455`: the sans-IO RFC 6455 parser and the frame builders.

Client frames are built here by hand (masked, as a client must send them), so
the tests depend on the RFC, not on the parser's own framing code.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol

from pairwise_ws.wire.close_codes import CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG
from pairwise_ws.wire.rfc6455 import (
    Closed,
    Failed,
    FrameReader,
    Message,
    Ping,
    Pong,
    accept_token,
    close_frame,
    ping_frame,
    pong_frame,
    text_frame,
)

CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

MASK = b"\x37\xfa\x21\x3d"
LIMIT = 1 << 20


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = MASK
) -> bytes:
    """One client frame: FIN/opcode, length (7 bit, 16 bit or 64 bit), mask key, payload."""
    header = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length < 126:
        header.append(mask_bit | length)
    elif length < 1 << 16:
        header.append(mask_bit | 126)
        header += length.to_bytes(2, "big")
    else:
        header.append(mask_bit | 127)
        header += length.to_bytes(8, "big")
    if mask is None:
        return bytes(header) + payload
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes(header) + mask + masked


def text(message: str, *, fin: bool = True) -> bytes:
    return frame(TEXT, message.encode("utf-8"), fin=fin)


def close(code: int | None = None, reason: str = "") -> bytes:
    if code is None:
        return frame(CLOSE)
    return frame(CLOSE, code.to_bytes(2, "big") + reason.encode("utf-8"))


def protocol(limit: int = LIMIT) -> FrameReader:
    return FrameReader(max_message_bytes=limit)


# --- messages ------------------------------------------------------------------------


def test_text_message() -> None:
    assert protocol().receive(text("hello")) == [Message("hello")]


def test_several_messages_in_one_receive_come_out_in_order() -> None:
    data = text("one") + frame(PING, b"p") + text("two") + frame(PONG, b"q")
    assert protocol().receive(data) == [Message("one"), Ping(b"p"), Message("two"), Pong(b"q")]


@pytest.mark.parametrize("size", [125, 126, 200, 65535, 65536, 70000])
def test_extended_payload_lengths(size: int) -> None:
    message = "x" * size
    assert protocol().receive(text(message)) == [Message(message)]


def test_message_fed_one_byte_at_a_time() -> None:
    message = "héllo wörld, ✓ — 😀 " * 10  # 16-bit length, multi-byte characters
    data = text(message)
    parser = protocol()
    events = []
    for i in range(len(data)):
        events += parser.receive(data[i : i + 1])
    assert events == [Message(message)]


@pytest.mark.parametrize("cut", range(1, 20))
def test_message_split_at_every_boundary(cut: int) -> None:
    message = "aé😀z"  # 1 + 2 + 4 + 1 bytes
    data = text(message) + text("next")
    assert len(data) > cut
    parser = protocol()
    events = parser.receive(data[:cut]) + parser.receive(data[cut:])
    assert events == [Message(message), Message("next")]


def test_fragmented_message_with_a_ping_between_fragments() -> None:
    data = (
        text("Hel", fin=False)
        + frame(CONTINUATION, b"lo, ", fin=False)
        + frame(PING, b"keepalive")
        + frame(CONTINUATION, b"world", fin=False)
        + frame(CONTINUATION, b"!")
    )
    assert protocol().receive(data) == [Ping(b"keepalive"), Message("Hello, world!")]


def test_fragmented_message_fragments_in_separate_receives() -> None:
    parser = protocol()
    assert parser.receive(text("Hel", fin=False)) == []
    assert parser.receive(frame(CONTINUATION, b"lo", fin=False)) == []
    assert parser.receive(frame(PING, b"1")) == [Ping(b"1")]
    assert parser.receive(frame(CONTINUATION, b"!")) == [Message("Hello!")]
    assert parser.receive(text("again")) == [Message("again")]


def test_binary_message_is_bytes() -> None:
    events = protocol().receive(frame(BINARY, b"\x00\x01\xff"))
    assert events == [Message(b"\x00\x01\xff")]
    [message] = events
    assert isinstance(message, Message)
    assert type(message.data) is bytes


def test_fragmented_binary_message_is_bytes() -> None:
    data = (
        frame(BINARY, b"\x00\x01", fin=False)
        + frame(CONTINUATION, b"", fin=False)
        + frame(CONTINUATION, b"\xfe\xff")
    )
    events = protocol().receive(data)
    assert events == [Message(b"\x00\x01\xfe\xff")]
    assert isinstance(events[0], Message)
    assert type(events[0].data) is bytes


def test_multibyte_utf8_split_across_fragments() -> None:
    encoded = "é😀✓".encode()  # c3 a9 | f0 9f 98 80 | e2 9c 93
    data = (
        frame(TEXT, encoded[:1], fin=False)  # half of é
        + frame(CONTINUATION, encoded[1:4], fin=False)  # rest of é, half of 😀
        + frame(CONTINUATION, encoded[4:7], fin=False)  # rest of 😀, a third of ✓
        + frame(CONTINUATION, encoded[7:])
    )
    assert protocol().receive(data) == [Message("é😀✓")]


def test_empty_text_message() -> None:
    assert protocol().receive(text("")) == [Message("")]


# --- the size limit ------------------------------------------------------------------


def test_message_exactly_at_the_limit_is_accepted() -> None:
    assert protocol(10).receive(text("x" * 10)) == [Message("x" * 10)]


def test_message_one_byte_over_the_limit_fails() -> None:
    [event] = protocol(10).receive(text("x" * 11))
    assert isinstance(event, Failed)
    assert event.code == CLOSE_TOO_BIG == 1009


def test_limit_counts_utf8_bytes_not_characters() -> None:
    assert protocol(10).receive(text("é" * 5)) == [Message("é" * 5)]  # 10 bytes
    [event] = protocol(10).receive(text("é" * 5 + "a"))  # 11 bytes, 6 characters
    assert isinstance(event, Failed)
    assert event.code == CLOSE_TOO_BIG
    [event] = protocol(10).receive(text("é" * 6))  # 12 bytes, 6 characters
    assert isinstance(event, Failed)
    assert event.code == CLOSE_TOO_BIG


def test_fragmented_message_at_the_limit_is_accepted_and_one_over_fails() -> None:
    fragments = text("é" * 2, fin=False) + frame(CONTINUATION, "é".encode() * 3)
    assert protocol(10).receive(fragments) == [Message("é" * 5)]
    over = text("é" * 2, fin=False) + frame(CONTINUATION, "é".encode() * 3 + b"a")
    [event] = protocol(10).receive(over)
    assert isinstance(event, Failed)
    assert event.code == CLOSE_TOO_BIG


def test_limit_applies_to_binary_messages() -> None:
    assert protocol(4).receive(frame(BINARY, b"1234")) == [Message(b"1234")]
    [event] = protocol(4).receive(frame(BINARY, b"12345"))
    assert isinstance(event, Failed)
    assert event.code == CLOSE_TOO_BIG


def test_after_too_big_the_rest_is_skipped_and_close_is_reported() -> None:
    parser = protocol(10)
    events = parser.receive(
        text("x" * 8, fin=False)
        + frame(CONTINUATION, b"x" * 8, fin=False)  # over the limit here
        + frame(PING, b"between")
        + frame(CONTINUATION, b"x" * 8, fin=False)
        + frame(CONTINUATION, b"x" * 8)
    )
    assert len(events) == 2
    assert isinstance(events[0], Failed)
    assert events[0].code == CLOSE_TOO_BIG
    assert events[1] == Ping(b"between")
    assert not parser.ended
    assert parser.receive(close(1009, "too big")) == [Closed(1009, "too big")]
    assert parser.ended


def test_after_too_big_the_next_message_is_parsed() -> None:
    parser = protocol(10)
    events = parser.receive(
        text("x" * 11, fin=False) + frame(CONTINUATION, b"y" * 5) + text("small")
    )
    assert len(events) == 2
    assert isinstance(events[0], Failed)
    assert events[0].code == CLOSE_TOO_BIG
    assert events[1] == Message("small")
    # The count starts again: a message at the limit is still fine.
    assert parser.receive(text("z" * 10)) == [Message("z" * 10)]


def test_too_big_reported_once_when_fed_byte_by_byte() -> None:
    parser = protocol(10)
    data = text("x" * 40) + text("ok")
    events = []
    for i in range(len(data)):
        events += parser.receive(data[i : i + 1])
    assert len(events) == 2
    assert isinstance(events[0], Failed)
    assert events[0].code == CLOSE_TOO_BIG
    assert events[1] == Message("ok")


# --- protocol errors -----------------------------------------------------------------


def test_invalid_utf8_fails_with_1007_and_ends() -> None:
    parser = protocol()
    [event] = parser.receive(frame(TEXT, b"ok \xff\xfe"))
    assert isinstance(event, Failed)
    assert event.code == 1007
    assert parser.ended
    assert parser.receive(text("more")) == []
    assert parser.receive(close(1000)) == []


def test_invalid_utf8_across_fragments_fails_with_1007() -> None:
    parser = protocol()
    # A truncated 2-byte sequence at the end of the message.
    data = frame(TEXT, b"ab", fin=False) + frame(CONTINUATION, b"\xc3")
    [event] = parser.receive(data)
    assert isinstance(event, Failed)
    assert event.code == 1007
    assert parser.ended


def test_events_before_a_failure_are_kept() -> None:
    parser = protocol()
    events = parser.receive(text("fine") + frame(TEXT, b"\xff"))
    assert len(events) == 2
    assert events[0] == Message("fine")
    assert isinstance(events[1], Failed)
    assert events[1].code == 1007


def test_unmasked_client_frame_fails_with_1002() -> None:
    parser = protocol()
    [event] = parser.receive(frame(TEXT, b"hi", mask=None))
    assert isinstance(event, Failed)
    assert event.code == CLOSE_PROTOCOL_ERROR == 1002
    assert event.reason
    assert parser.ended
    assert parser.receive(text("hi")) == []


def test_unexpected_continuation_fails_with_1002() -> None:
    [event] = protocol().receive(frame(CONTINUATION, b"x"))
    assert isinstance(event, Failed)
    assert event.code == CLOSE_PROTOCOL_ERROR


# --- Close ---------------------------------------------------------------------------


def test_close_without_payload() -> None:
    parser = protocol()
    assert parser.receive(close()) == [Closed(None, "")]
    assert parser.ended


def test_close_with_code_and_reason() -> None:
    assert protocol().receive(close(1000, "bye ✓")) == [Closed(1000, "bye ✓")]


def test_nothing_after_closed() -> None:
    parser = protocol()
    events = parser.receive(text("before") + close(1001) + text("after") + frame(PING, b"x"))
    assert events == [Message("before"), Closed(1001, "")]
    assert parser.ended
    assert parser.receive(text("later")) == []
    assert parser.receive(b"\xff\xff\xff") == []


# --- frames we send ------------------------------------------------------------------


def test_accept_token_rfc6455_example() -> None:
    assert accept_token("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_text_frame_bytes() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    assert text_frame("é") == b"\x81\x02\xc3\xa9"
    assert text_frame("") == b"\x81\x00"
    assert text_frame("x" * 126) == b"\x81\x7e\x00\x7e" + b"x" * 126


def test_close_frame_bytes() -> None:
    assert close_frame(None) == b"\x88\x00"
    assert close_frame(1005) == b"\x88\x00"
    assert close_frame(1000) == b"\x88\x02\x03\xe8"
    assert close_frame(1009, "big") == b"\x88\x05\x03\xf1big"


def test_ping_and_pong_frame_bytes() -> None:
    assert ping_frame(b"ab") == b"\x89\x02ab"
    assert ping_frame(b"") == b"\x89\x00"
    assert pong_frame(b"ab") == b"\x8a\x02ab"
    payload = (7).to_bytes(8, "big")
    assert ping_frame(payload) == b"\x89\x08" + payload


@pytest.mark.parametrize("reason", ["x" * 300, "é" * 100, "😀" * 40, "a" + "é" * 70])
def test_close_frame_truncates_a_long_reason(reason: str) -> None:
    data = close_frame(1000, reason)
    assert data[0] == 0x88
    length = data[1]
    assert length <= 125
    assert len(data) == 2 + length
    assert data[2:4] == b"\x03\xe8"
    kept = data[4:].decode("utf-8")  # valid UTF-8: no character cut in half
    assert reason.startswith(kept)
    assert len(kept.encode()) > 125 - 2 - 4  # cut no more than one character


# --- property: framing and chunking do not matter ------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(st.text(st.characters(codec="utf-8"), max_size=300), max_size=8),
    mask=st.binary(min_size=4, max_size=4),
    data=st.data(),
)
def test_any_chunking_parses_back_to_the_messages(
    messages: list[str], mask: bytes, data: st.DataObject
) -> None:
    stream = b"".join(frame(TEXT, m.encode("utf-8"), mask=mask) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=20)))
    bounds = [0, *cuts, len(stream)]
    parser = protocol()
    events = []
    for start, end in itertools.pairwise(bounds):
        events += parser.receive(stream[start:end])
    assert events == [Message(m) for m in messages]
    assert not parser.ended


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("char", ["a", "é", "😀"])
def test_text_frame_is_the_frame_wsproto_makes(size: int, char: str) -> None:
    message = char * size
    framer = FrameProtocol(client=False, extensions=[])
    assert text_frame(message) == bytes(framer.send_data(message, fin=True))
