"""Keepalive for every connection, from one task.

Each connection gets a Ping every `ping_interval` seconds, and is dropped
(reason `timeout`) when the Pong for it has not come `pong_timeout` seconds
later. One task does it for all of them, instead of a task per connection
sleeping its interval away: thousands of idle connections cost a deque entry
each, not a task.

Every connection is scheduled `ping_interval` (or `pong_timeout`) after the
moment it is scheduled, so both queues are in time order by construction: the
task only ever looks at their heads.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import weakref
from typing import Protocol

import trio

from pairwise_ws.config import KeepaliveConfig
from pairwise_ws.logs import event
from pairwise_ws.wire import LeaveReason

log = logging.getLogger(__name__)


class Pingable(Protocol):
    """What the keepalive needs of a connection (`connection.Connection`)."""

    @property
    def closing(self) -> bool: ...

    @property
    def awaiting_pong(self) -> bytes | None: ...

    def send_ping(self, payload: bytes) -> None: ...

    def abort(self, reason: LeaveReason) -> None: ...

    def log_fields(self) -> dict[str, object]: ...


Ref = weakref.ref[Pingable]


class Keepalive:
    def __init__(self, config: KeepaliveConfig) -> None:
        self._config = config
        # Weak references: a connection that ended is not kept alive until its
        # next turn here, it is gone at once (and skipped then).
        self._pings: collections.deque[tuple[float, Ref]] = collections.deque()
        self._pongs: collections.deque[tuple[float, Ref, bytes]] = collections.deque()
        self._payloads = itertools.count(1)
        self._added = trio.Event()

    def add(self, connection: Pingable) -> None:
        """Ping `connection` from now on, until it is closing."""
        due = trio.current_time() + self._config.ping_interval
        self._pings.append((due, weakref.ref(connection)))
        self._added.set()

    def __len__(self) -> int:
        """Connections scheduled (closed ones leave at their next turn)."""
        return len(self._pings)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            heads = [q[0][0] for q in (self._pings, self._pongs) if q]
            # Until the first thing due, or a new connection (whose ping may
            # come before a pong deadline already waited for).
            with trio.move_on_at(min(heads, default=math.inf)):
                await self._added.wait()
            self._added = trio.Event()
            self._due(trio.current_time())

    def _due(self, now: float) -> None:
        """Send the pings that are due and drop the connections whose pong is late."""
        config = self._config
        while self._pongs and self._pongs[0][0] <= now:
            _, ref, payload = self._pongs.popleft()
            connection = ref()
            if connection is None or connection.closing:
                continue
            if connection.awaiting_pong == payload:
                log.info(event("no pong in time: dropping", **connection.log_fields()))
                connection.abort(LeaveReason.TIMEOUT)
        while self._pings and self._pings[0][0] <= now:
            _, ref = self._pings.popleft()
            connection = ref()
            if connection is None or connection.closing:
                continue  # forgotten
            self._pings.append((now + config.ping_interval, ref))
            if connection.awaiting_pong is not None:
                continue  # the last one is still unanswered: its deadline decides
            payload = next(self._payloads).to_bytes(8, "big")
            connection.send_ping(payload)
            self._pongs.append((now + config.pong_timeout, ref, payload))
