"""Every WebSocket close code the daemon sends (RFC 6455 section 7.4.1), in one place."""

from __future__ import annotations

CLOSE_NORMAL = 1000  # left, the session closed
CLOSE_GOING_AWAY = 1001  # the server is shutting down, the room ended
CLOSE_PROTOCOL_ERROR = 1002  # the peer broke RFC 6455
CLOSE_INVALID_DATA = 1007  # a text message that is not UTF-8
CLOSE_POLICY = 1008  # rate abuse, a slow consumer
CLOSE_TOO_BIG = 1009  # a message over max_message_bytes
CLOSE_INTERNAL = 1011  # the room failed
