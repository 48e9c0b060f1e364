"""What a room's inbox carries: joins, leaves, client messages and the hub's notices."""

from __future__ import annotations

import attrs

from pairwise_ws.live.connection import Connection
from pairwise_ws.wire import ClientMessage, LeaveReason


@attrs.frozen
class Join:
    client: Connection


@attrs.frozen
class Leave:
    client: Connection
    reason: LeaveReason


@attrs.frozen
class Inbound:
    client: Connection
    message: ClientMessage


@attrs.frozen
class Refresh:
    """The database changed outside the daemon (the CLI): look again."""


@attrs.frozen
class Shutdown:
    """The server is stopping: tell everyone and close."""


@attrs.frozen
class Stop:
    """The hub forgot this idle room: end the task."""


RoomEvent = Join | Leave | Inbound | Refresh | Shutdown | Stop
