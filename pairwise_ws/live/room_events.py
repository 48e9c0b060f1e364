"""What a room's inbox carries: joins, leaves, client messages and the hub's notices."""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import trio

from pairwise_ws.clock import now_utc
from pairwise_ws.domain.models import TimerState
from pairwise_ws.domain.session import AttendeeWentOffline, Event, SessionState
from pairwise_ws.live.connection import Connection
from pairwise_ws.wire import ClientMessage, LeaveReason, VoteRetracted, VoteSubmitted
from pairwise_ws.wire.close_codes import CLOSE_INTERNAL


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


def answer_unhandled(event: RoomEvent) -> None:
    """An event a failed room will never handle: a join is refused (1011), a message freed."""
    if isinstance(event, Join):
        event.client.close(CLOSE_INTERNAL, LeaveReason.DISCONNECTED, "internal error")
        event.client.joined.set()
    elif isinstance(event, Inbound):
        event.client.inflight.release()


def drain(inbox: trio.MemoryReceiveChannel[RoomEvent]) -> list[RoomEvent]:
    """Everything waiting in a room's inbox now."""
    events: list[RoomEvent] = []
    while True:
        try:
            events.append(inbox.receive_nowait())
        except trio.WouldBlock:
            return events


def timer_due_at(state: SessionState | None) -> float:
    """When, on trio's clock, the session's running timer ends (inf if none runs)."""
    timer = None if state is None else state.timer
    if timer is None or timer.state is not TimerState.RUNNING or timer.ends_at is None:
        return math.inf
    return trio.current_time() + max(0.0, (timer.ends_at - now_utc()).total_seconds())


def is_vote(event: RoomEvent) -> bool:
    """A vote, or a vote taken back: these go in runs, committed together."""
    return isinstance(event, Inbound) and isinstance(event.message, VoteSubmitted | VoteRetracted)


def presence_of(events: Sequence[Event]) -> list[Event]:
    """The departures among `events` (what is broadcast when nothing else could be stored)."""
    return [e for e in events if isinstance(e, AttendeeWentOffline)]
