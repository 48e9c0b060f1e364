"""The hub: one task that owns the session rooms.

Connections register with the hub through its inbox (a memory channel); the
hub finds or starts the session's room, a task in the hub's nursery, and
hands the connection over. Rooms report when they become idle and the hub
forgets them. The hub also watches the database for changes made by the
command line and tells the rooms to look again.
"""

from __future__ import annotations

import logging
import math

import attrs
import trio

from pairwise_ws.live.connection import Connection
from pairwise_ws.live.room import Room
from pairwise_ws.live.room_events import Join, Refresh, Shutdown, Stop
from pairwise_ws.logs import event
from pairwise_ws.metrics import Metrics
from pairwise_ws.storage import DatabaseError, Store
from pairwise_ws.storage.writer import AsyncStore
from pairwise_ws.wire import LeaveReason
from pairwise_ws.wire.close_codes import CLOSE_GOING_AWAY

log = logging.getLogger(__name__)


@attrs.frozen
class Register:
    client: Connection


@attrs.frozen
class RoomIdle:
    room: Room


@attrs.frozen
class RoomFailed:
    room: Room


@attrs.frozen
class DatabaseChanged:
    pass


@attrs.frozen
class RetryRefresh:
    """A room's refresh could not read the database: each poll asks it again."""


@attrs.frozen
class ShutdownAll:
    pass


HubEvent = Register | RoomIdle | RoomFailed | DatabaseChanged | RetryRefresh | ShutdownAll


class Hub:
    def __init__(
        self, store: AsyncStore, *, poll_interval: float, metrics: Metrics | None = None
    ) -> None:
        self._store = store
        self.metrics = metrics or Metrics()
        self._poll_interval = poll_interval
        self.rooms: dict[int, Room] = {}
        # Unbounded in type, bounded in fact: one Register per accepted connection
        # (capped by max_connections) and one RoomIdle per room.
        self._inbox_send, self._inbox_recv = trio.open_memory_channel[HubEvent](math.inf)
        self._shutting_down = False
        # Rooms that died of a bug. Also a test seam: the suite asserts it stays 0.
        self.room_failures = 0
        self._rooms_changed = trio.Event()

    async def wait_for_room_count(self, count: int) -> None:
        """Wait until exactly `count` rooms are open (0: every session is idle).

        A test seam (the suite waits on it instead of sleeping); the daemon never calls it.
        """
        while len(self.rooms) != count:
            await self._rooms_changed.wait()

    def register(self, client: Connection) -> None:
        self._inbox_send.send_nowait(Register(client))

    def refresh(self) -> None:
        """The daemon itself changed the database outside a room: every room looks again."""
        self._inbox_send.send_nowait(DatabaseChanged())

    def shutdown(self) -> None:
        """Every room says goodbye and closes its connections (1001)."""
        self._inbox_send.send_nowait(ShutdownAll())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_database)
            task_status.started()
            async for event in self._inbox_recv:
                self._handle(event, nursery)

    def _handle(self, event: HubEvent, nursery: trio.Nursery) -> None:
        rooms_before = len(self.rooms)
        self._dispatch(event, nursery)
        if len(self.rooms) != rooms_before:
            self._rooms_changed.set()
            self._rooms_changed = trio.Event()

    def _dispatch(self, event: HubEvent, nursery: trio.Nursery) -> None:
        match event:
            case Register(client=client):
                self._register(client, nursery)
            case RoomIdle(room=room):
                if self.rooms.get(room.session_id) is room and room.is_idle():
                    del self.rooms[room.session_id]
                    room.post(Stop())
            case RoomFailed(room=room):
                self.room_failures += 1
                if self.rooms.get(room.session_id) is room:
                    del self.rooms[room.session_id]
            case DatabaseChanged():
                for room in self.rooms.values():
                    room.post(Refresh())
            case RetryRefresh():
                for room in self.rooms.values():
                    if room.needs_refresh:
                        room.post(Refresh())
            case ShutdownAll():
                self._shutting_down = True
                for room in self.rooms.values():
                    room.post(Shutdown())

    def _register(self, client: Connection, nursery: trio.Nursery) -> None:
        """Hand the connection to its session's room, started if need be."""
        if client.finished:
            return  # gone before we got to it
        if self._shutting_down:
            client.close(CLOSE_GOING_AWAY, LeaveReason.SERVER_SHUTDOWN)
            client.joined.set()
            return
        room = self.rooms.get(client.session_id)
        if room is None or room.failed:  # (a failed one: the hub hears of it next)
            room = Room(
                client.session_id,
                self._store,
                on_idle=self._room_idle,
                on_failure=self._room_failed,
                metrics=self.metrics,
            )
            self.rooms[client.session_id] = room
            nursery.start_soon(room.run)
        room.post(Join(client))
        client.room = room

    def _room_idle(self, room: Room) -> None:
        self._inbox_send.send_nowait(RoomIdle(room))

    def _room_failed(self, room: Room) -> None:
        self._inbox_send.send_nowait(RoomFailed(room))

    async def _watch_database(self) -> None:
        """Notice commits by other processes (PRAGMA data_version) within one poll."""
        last = await self._store.write(Store.data_version)
        while True:
            await trio.sleep(self._poll_interval)
            try:
                version = await self._store.write(Store.data_version)
            except DatabaseError as exc:
                log.warning(event("could not poll the database", error=exc))
                continue
            if version != last:
                last = version
                self._inbox_send.send_nowait(DatabaseChanged())
            elif any(room.needs_refresh for room in self.rooms.values()):
                self._inbox_send.send_nowait(RetryRefresh())
