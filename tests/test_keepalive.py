"""Unit tests of `pairwise_ws.live.keepalive`, on trio's autojumping mock clock.

Every test runs in virtual time: each takes pytest-trio's `autojump_clock`
fixture as an argument (pytest-trio uses a clock only when the test itself asks
for it), so a sleep of the test or a deadline of the keepalive jumps the clock
as soon as every task is blocked: the recorded times are exact, nothing waits.
Times are sums of binary fractions from 0.0, exact in floating point.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from pairwise_ws.config import KeepaliveConfig
from pairwise_ws.live.keepalive import Keepalive, Pingable
from pairwise_ws.wire import LeaveReason

BOUND_S = 10_000.0  # virtual seconds: a bound on every test


class FakeConnection:
    """A `Pingable` that records its pings and aborts, and answers pongs or not."""

    def __init__(self, *, answers: bool, name: str = "fake") -> None:
        self.answers = answers
        self.name = name
        self.closing = False
        self.awaiting_pong: bytes | None = None
        self.pings: list[float] = []
        self.payloads: list[bytes] = []
        self.aborts: list[tuple[float, LeaveReason]] = []

    def send_ping(self, payload: bytes) -> None:
        assert not self.closing, "pinged while closing"
        self.pings.append(trio.current_time())
        self.payloads.append(payload)
        self.awaiting_pong = None if self.answers else payload

    def answer(self) -> None:
        """The pong for the last ping arrives."""
        self.awaiting_pong = None

    def abort(self, reason: LeaveReason) -> None:
        self.aborts.append((trio.current_time(), reason))
        self.closing = True

    def log_fields(self) -> dict[str, object]:
        return {"connection": self.name}


def _pingable(connection: FakeConnection) -> Pingable:
    return connection  # mypy checks the fake against the protocol here


@contextlib.asynccontextmanager
async def running(settings: KeepaliveConfig) -> AsyncIterator[Keepalive]:
    """A Keepalive whose task runs for the block (bounded by BOUND_S of mock time)."""
    keepalive = Keepalive(settings)
    with trio.fail_after(BOUND_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(keepalive.run)
            yield keepalive
            nursery.cancel_scope.cancel()


def config(ping_interval: float, pong_timeout: float) -> KeepaliveConfig:
    return KeepaliveConfig(ping_interval=ping_interval, pong_timeout=pong_timeout)


def every(interval: float, count: int, start: float = 0.0) -> list[float]:
    """`count` times `interval` apart after `start`, summed as the keepalive sums them."""
    times = []
    t = start
    for _ in range(count):
        t += interval
        times.append(t)
    return times


async def test_clock_starts_at_zero(autojump_clock: MockClock) -> None:
    # The exact times below assume it.
    assert trio.current_time() == 0.0


async def test_pings_every_interval(autojump_clock: MockClock) -> None:
    connection = FakeConnection(answers=True)
    async with running(config(2.0, 1.0)) as keepalive:
        keepalive.add(_pingable(connection))
        await trio.sleep_until(20.5)
    assert connection.pings == every(2.0, 10)
    assert len(set(connection.payloads)) == 10  # a fresh payload for every ping
    assert all(len(payload) == 8 for payload in connection.payloads)
    assert connection.aborts == []


async def test_pings_every_interval_for_each_connection_from_when_it_was_added(
    autojump_clock: MockClock,
) -> None:
    first = FakeConnection(answers=True)
    second = FakeConnection(answers=True)
    async with running(config(1.0, 0.5)) as keepalive:
        keepalive.add(_pingable(first))
        await trio.sleep_until(0.25)
        keepalive.add(_pingable(second))
        await trio.sleep_until(5.5)
    assert first.pings == every(1.0, 5)
    assert second.pings == every(1.0, 5, start=0.25)


@pytest.mark.parametrize(("ping_interval", "pong_timeout"), [(2.0, 1.0), (1.0, 1.0), (1.0, 5.0)])
async def test_unanswered_connection_is_aborted_once_with_timeout(
    ping_interval: float, pong_timeout: float, autojump_clock: MockClock
) -> None:
    connection = FakeConnection(answers=False)
    async with running(config(ping_interval, pong_timeout)) as keepalive:
        keepalive.add(_pingable(connection))
        await trio.sleep_until(50.5)
    assert connection.pings == [ping_interval]
    assert connection.aborts == [(ping_interval + pong_timeout, LeaveReason.TIMEOUT)]


async def test_answering_connection_is_never_aborted(autojump_clock: MockClock) -> None:
    connection = FakeConnection(answers=True)
    async with running(config(1.0, 0.5)) as keepalive:
        keepalive.add(_pingable(connection))
        await trio.sleep_until(200.5)
    assert connection.pings == every(1.0, 200)
    assert connection.aborts == []
    assert not connection.closing


async def test_answer_before_the_deadline_keeps_the_connection(autojump_clock: MockClock) -> None:
    # pong_timeout > ping_interval: the ping at 1.0 is answered at 3.5, late for
    # the pings at 2.0 and 3.0 (skipped) but within its deadline 6.0.
    connection = FakeConnection(answers=False)
    async with running(config(1.0, 5.0)) as keepalive:
        keepalive.add(_pingable(connection))
        await trio.sleep_until(3.5)
        assert connection.pings == [1.0]
        connection.answer()
        await trio.sleep_until(20.5)
    # Pinged again at 4.0, never answered: dropped at 4.0 + 5.0.
    assert connection.pings == [1.0, 4.0]
    assert connection.aborts == [(9.0, LeaveReason.TIMEOUT)]


async def test_closing_connection_is_no_longer_pinged(autojump_clock: MockClock) -> None:
    connection = FakeConnection(answers=True)
    async with running(config(2.0, 1.0)) as keepalive:
        keepalive.add(_pingable(connection))
        await trio.sleep_until(4.5)
        assert len(keepalive) == 1
        connection.closing = True
        await trio.sleep_until(30.5)
        assert len(keepalive) == 0  # forgotten at its next turn
    assert connection.pings == [2.0, 4.0]
    assert connection.aborts == []


async def test_closing_connection_with_a_pong_due_is_not_aborted(autojump_clock: MockClock) -> None:
    connection = FakeConnection(answers=False)
    async with running(config(2.0, 1.0)) as keepalive:
        keepalive.add(_pingable(connection))
        await trio.sleep_until(2.5)  # pinged at 2.0, its pong due at 3.0
        connection.closing = True
        await trio.sleep_until(30.5)
    assert connection.pings == [2.0]
    assert connection.aborts == []


async def test_connection_added_to_an_idle_keepalive_is_pinged_on_time(
    autojump_clock: MockClock,
) -> None:
    connection = FakeConnection(answers=True)
    async with running(config(1.0, 5.0)) as keepalive:
        await trio.sleep_until(2.5)  # the keepalive waits with nothing due
        keepalive.add(_pingable(connection))
        await trio.sleep_until(6.75)
    assert connection.pings == [3.5, 4.5, 5.5, 6.5]


async def test_connection_added_while_waiting_for_a_pong_deadline_is_pinged_on_time(
    autojump_clock: MockClock,
) -> None:
    silent = FakeConnection(answers=False, name="silent")
    late = FakeConnection(answers=True, name="late")
    async with running(config(1.0, 5.0)) as keepalive:
        keepalive.add(_pingable(silent))
        await trio.sleep_until(1.5)  # `silent` pinged at 1.0: its pong is due at 6.0
        silent.closing = True  # forgotten at 2.0: only the deadline 6.0 is left
        await trio.sleep_until(3.0)
        assert len(keepalive) == 0
        await trio.testing.wait_all_tasks_blocked()
        keepalive.add(_pingable(late))  # due at 4.0, before the deadline
        await trio.sleep_until(7.5)
    assert silent.pings == [1.0]
    assert silent.aborts == []  # closing: not dropped again
    assert late.pings == [4.0, 5.0, 6.0, 7.0]


async def test_garbage_collected_connection_is_skipped(autojump_clock: MockClock) -> None:
    kept = FakeConnection(answers=True, name="kept")
    before_ping = FakeConnection(answers=True, name="before")
    pong_due = FakeConnection(answers=False, name="pong due")
    async with running(config(1.0, 0.5)) as keepalive:
        keepalive.add(_pingable(kept))
        keepalive.add(_pingable(before_ping))
        keepalive.add(_pingable(pong_due))
        assert len(keepalive) == 3

        # Dropped before its first ping.
        before_ref = weakref.ref(before_ping)
        del before_ping
        gc.collect()
        assert before_ref() is None

        await trio.sleep_until(1.25)  # `pong_due` pinged at 1.0, its pong due at 1.5
        assert pong_due.pings == [1.0]
        pong_ref = weakref.ref(pong_due)
        del pong_due
        gc.collect()
        assert pong_ref() is None

        await trio.sleep_until(10.5)
        assert len(keepalive) == 1
    assert kept.pings == every(1.0, 10)
    assert kept.aborts == []


async def test_no_second_ping_while_the_first_is_unanswered(autojump_clock: MockClock) -> None:
    connection = FakeConnection(answers=False)
    async with running(config(1.0, 5.0)) as keepalive:
        keepalive.add(_pingable(connection))
        await trio.sleep_until(5.75)  # past the turns at 2.0 .. 5.0
        assert connection.pings == [1.0]
        assert connection.aborts == []
        await trio.sleep_until(30.5)
    assert connection.pings == [1.0]
    assert connection.aborts == [(6.0, LeaveReason.TIMEOUT)]


async def test_abort_of_one_connection_leaves_the_others_alone(autojump_clock: MockClock) -> None:
    silent = FakeConnection(answers=False, name="silent")
    lively = FakeConnection(answers=True, name="lively")
    async with running(config(1.0, 0.5)) as keepalive:
        keepalive.add(_pingable(silent))
        keepalive.add(_pingable(lively))
        await trio.sleep_until(5.25)
    assert silent.pings == [1.0]
    assert silent.aborts == [(1.5, LeaveReason.TIMEOUT)]
    assert lively.pings == every(1.0, 5)
    assert lively.aborts == []
