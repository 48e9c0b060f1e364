"""The hub and a room driven directly, with real storage and socket-less clients.

These pin down interleavings that sockets can't produce on demand: a gate on
the room's database reads holds the room still while the test lines events
up, then lets it go one step at a time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from pairwise_ws.config import LimitsConfig
from pairwise_ws.domain import session as domain
from pairwise_ws.domain.models import Attendee, Choice
from pairwise_ws.live.connection import MAX_INFLIGHT_MESSAGES, Connection
from pairwise_ws.live.hub import Hub
from pairwise_ws.live.pacing import MAX_FLUSH_DELAY_S, FlushPacer
from pairwise_ws.live.room import Room
from pairwise_ws.live.room_events import Inbound, Leave, Refresh
from pairwise_ws.storage import Store
from pairwise_ws.storage.writer import AsyncStore
from pairwise_ws.wire import JoinSession, LeaveReason, VoteSubmitted
from tests.conftest import Workshop


class GatedStore(AsyncStore):
    """A room's refresh reads wait at a gate until the test lets one through."""

    def __init__(self, writer: Store, reader: Store) -> None:
        super().__init__(writer, reader)
        self._permits = trio.Semaphore(0)
        self.arrivals = 0
        self._arrived = trio.Event()

    def release(self) -> None:
        self._permits.release()

    async def wait_arrivals(self, count: int) -> None:
        """Until `count` reads have reached the gate in all."""
        with trio.fail_after(5):
            while self.arrivals < count:
                await self._arrived.wait()

    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if fn is Store.room_refresh:
            self.arrivals += 1
            self._arrived.set()
            self._arrived = trio.Event()
            await self._permits.acquire()
        return await super().read(fn, *args, **kwargs)


@pytest.fixture
async def gated(workshop: Workshop, tmp_path: Path) -> AsyncIterator[GatedStore]:
    plain = AsyncStore.open(workshop.db_path, synchronous="normal")
    store = GatedStore(plain.writer, plain.reader)
    yield store
    store.close()


@pytest.fixture
async def hub(nursery: trio.Nursery, gated: GatedStore) -> Hub:
    started = Hub(gated, poll_interval=3600)
    await nursery.start(started.run)
    return started


def client_for(workshop: Workshop, index: int) -> Connection:
    person = workshop.attendees[index]
    return Connection(
        project_id=workshop.project_id,
        session_id=workshop.session_id,
        attendee=Attendee(person.id, workshop.project_id, person.name),
        peer="test",
        limits=LimitsConfig(),
    )


def frames_of(data: bytes | bytearray) -> list[str]:
    """The messages in server frames (unmasked, FIN), back to back: a Close frame as "close"."""
    messages = []
    while data:
        assert data[0] in (0x81, 0x88), data[:2]
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(data[2:4]), 4
        elif length == 127:
            length, start = int.from_bytes(data[2:10]), 10
        is_close = data[0] == 0x88
        messages.append("close" if is_close else data[start : start + length].decode())
        data = data[start + length :]
    return messages


def sent(client: Connection) -> list[str]:
    """The types of the messages waiting in a client's outbox (taken out of it)."""
    types = [m if m == "close" else json.loads(m)["type"] for m in frames_of(client._outbox)]
    client._taken(len(client._outbox))  # as a write to the socket would
    return types


async def held_room(hub: Hub, gated: GatedStore, first: Connection) -> Room:
    """`first`'s room, parked inside a refresh that waits at the gate."""
    hub.register(first)
    await first.joined.wait()
    room = hub.rooms[first.session_id]
    room.post(Refresh())
    await gated.wait_arrivals(gated.arrivals + 1)
    return room


async def test_a_join_behind_the_last_leave_keeps_the_room_alive(
    hub: Hub, gated: GatedStore, workshop: Workshop
) -> None:
    a, b = client_for(workshop, 0), client_for(workshop, 1)
    room = await held_room(hub, gated, a)

    # One batch: the last member leaves, a refresh, a newcomer joins.
    room.post(Leave(a, LeaveReason.LEFT))
    room.post(Refresh())
    hub.register(b)
    await trio.testing.wait_all_tasks_blocked()  # the hub has passed Join(b) on
    gated.release()  # the first refresh ends; the batch starts; the second refresh waits
    await gated.wait_arrivals(2)
    await trio.testing.wait_all_tasks_blocked()  # the hub has seen the room report idle
    # The room reported itself idle after the leave, but a join is on its way:
    # the hub must keep it.
    assert hub.rooms.get(workshop.session_id) is room
    gated.release()
    with trio.fail_after(5):
        await b.joined.wait()
    assert sent(b) == ["session_state", "attendee_joined"]

    # And the room still answers b.
    pair = workshop.comparisons[0]
    await b.inflight.acquire()
    b.detached_flush = trio.Event()
    room.post(Inbound(b, VoteSubmitted(pair.id, Choice.feature(pair.a))))
    with trio.fail_after(5):
        await b.detached_flush.wait()  # flushed after the commit
    assert sent(b) == ["vote_received"]
    assert hub.room_failures == 0


async def test_a_failing_room_answers_everything_it_had_taken(
    hub: Hub, gated: GatedStore, workshop: Workshop, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = client_for(workshop, 0), client_for(workshop, 1)
    room = await held_room(hub, gated, a)

    room.post(Refresh())
    hub.register(b)
    await a.inflight.acquire()
    room.post(Inbound(a, JoinSession()))
    await trio.testing.wait_all_tasks_blocked()  # the hub has passed Join(b) on
    gated.release()  # the batch [Refresh, Join(b), Inbound(a)] starts and waits again
    await gated.wait_arrivals(2)

    def broken(*_: object) -> domain.Transition:
        raise RuntimeError("a bug in the room")

    monkeypatch.setattr(domain, "replace_attendees", broken)
    gated.release()
    with trio.fail_after(5):
        await b.joined.wait()  # answered, not left hanging
        await hub.wait_for_room_count(0)
    assert b.closing
    assert a.closing
    assert a.inflight.value == MAX_INFLIGHT_MESSAGES  # the taken message was released
    assert hub.room_failures == 1

    # The session gets a fresh room for the next connection.
    monkeypatch.undo()
    c = client_for(workshop, 2)
    hub.register(c)
    with trio.fail_after(5):
        await c.joined.wait()
    assert sent(c)[0] == "session_state"


def test_a_costly_flush_puts_the_next_off_by_three_times_its_cost() -> None:
    # Times in powers of two, so that every sum below is exact.
    pacer = FlushPacer()
    assert pacer.due(0.0)  # never flushed: at once
    pacer.flushed(now=10.0, took=2**-8)
    assert not pacer.due(10.0 + 3 * 2**-8 - 2**-12)
    assert pacer.due(10.0 + 3 * 2**-8)
    pacer.flushed(now=20.0, took=2**-16)  # a small room's flush: hardly any wait
    assert pacer.due(20.0 + 2**-12)
    pacer.flushed(now=32.0, took=1.0)  # never more than MAX_FLUSH_DELAY_S
    assert not pacer.due(32.0 + MAX_FLUSH_DELAY_S - 2**-12)
    assert pacer.due(32.0 + MAX_FLUSH_DELAY_S)


async def test_a_put_off_flush_goes_out_when_its_time_comes(hub: Hub, workshop: Workshop) -> None:
    a = client_for(workshop, 0)
    hub.register(a)
    with trio.fail_after(5):
        await a.joined.wait()
    room = hub.rooms[a.session_id]
    room._members.pacer = FlushPacer(
        spacing=1e9, max_delay=0.2
    )  # every flush puts the next off 0.2 s
    sent(a)
    pair = workshop.comparisons[0]

    a.detached_flush = trio.Event()
    await a.inflight.acquire()
    room.post(Inbound(a, VoteSubmitted(pair.id, Choice.feature(pair.a))))
    with trio.fail_after(5):
        await a.detached_flush.wait()  # the first one: at once
    assert sent(a) == ["vote_received"]

    started = trio.current_time()
    a.detached_flush = trio.Event()
    await a.inflight.acquire()
    room.post(Inbound(a, VoteSubmitted(pair.id, Choice.feature(pair.b))))
    with trio.fail_after(5):
        await a.detached_flush.wait()  # put off, and then sent with nothing else happening
    assert trio.current_time() - started >= 0.1
    assert sent(a) == ["vote_received"]
