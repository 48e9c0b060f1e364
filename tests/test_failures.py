"""Failure paths: each time, nothing acknowledged is lost, the client is told, the room goes on.

* a commit the CLI's write lock holds past the busy timeout;
* a full disk (SQLite's own "database or disk is full", through `max_page_count`);
* an exception that is not a DatabaseError in one room's part of a group commit;
* a read error while a room refreshes;
* a join handed to a room that just failed;
* a `record` cancelled while it waits, before a commit took it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import pytest
import trio
import trio.testing

from pairwise_ws.app import operations
from pairwise_ws.clock import now_utc
from pairwise_ws.domain import session as domain
from pairwise_ws.domain.models import Choice, Vote
from pairwise_ws.domain.session import VoteRecorded
from pairwise_ws.live.connection import Connection
from pairwise_ws.live.room import Room
from pairwise_ws.live.room_events import Join
from pairwise_ws.net.server import Server
from pairwise_ws.storage import RecordRequest, Store, changes
from pairwise_ws.storage.writer import AsyncStore
from tests.conftest import Clients, Peer, Workshop, make_config, make_workshop, running

LIMITS = {"rate_burst": 100_000, "rate_per_second": 100_000.0}


def stored_votes(db_path: str) -> set[tuple[int, int]]:
    with sqlite3.connect(db_path) as db:
        return set(db.execute("SELECT comparison_id, attendee_id FROM votes").fetchall())


async def vote(peer: Peer, comparison_id: int, feature_id: int, ref: int) -> dict[str, Any]:
    """Vote with `ref`; the answer to it: its vote_received, or its error."""
    await peer.send(
        "vote_submitted",
        {"vote": {"comparison_id": comparison_id, "preferred_feature_id": feature_id}},
        ref=ref,
    )
    while True:
        message = await peer.receive()
        if message["type"] in ("vote_received", "error") and message["data"].get("ref") == ref:
            return message


async def test_a_commit_the_cli_blocks_is_refused_then_the_next_goes_through(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    ada, grace = workshop.attendees[:2]
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    first, second = workshop.comparisons[:2]
    cli = sqlite3.connect(workshop.db_path, isolation_level=None, timeout=0)
    try:
        cli.execute("BEGIN IMMEDIATE")  # a CLI command holding the write lock
        with trio.fail_after(10):  # the daemon's busy timeout is 2 s
            refused = await vote(a, first.id, first.a, ref=1)
    finally:
        cli.execute("ROLLBACK")
        cli.close()
    assert refused["type"] == "error"
    assert refused["data"]["code"] == "internal_error"
    assert (first.id, ada.id) not in stored_votes(workshop.db_path)

    accepted = await vote(a, second.id, second.a, ref=2)
    assert accepted["type"] == "vote_received"
    assert (second.id, ada.id) in stored_votes(workshop.db_path)
    seen = await g.next_of("vote_received")  # the others saw only what was stored
    assert seen["data"]["comparison_id"] == second.id


@pytest.mark.workshop(features=30, attendees=2)
async def test_a_full_disk_refuses_votes_and_the_room_goes_on(
    db_path: str, workshop: Workshop, nursery: trio.Nursery
) -> None:
    async with running(make_config(db_path, limits=LIMITS)) as server:
        clients = Clients(nursery, server, workshop)
        a, _ = await clients.join(workshop.attendees[0])

        def full(store: Store) -> None:
            pages = store.db.execute("PRAGMA page_count").fetchone()[0]
            store.db.execute(f"PRAGMA max_page_count = {int(pages)}")

        await server.store.write(full)
        acknowledged: set[int] = set()
        refused = None
        for ref, pair in enumerate(workshop.comparisons, start=1):
            answer = await vote(a, pair.id, pair.a, ref)
            if answer["type"] == "error":
                refused = answer
                break
            acknowledged.add(pair.id)
        assert refused is not None, "the database never filled up"
        assert refused["data"]["code"] == "internal_error"

        await server.store.write(lambda s: s.db.execute("PRAGMA max_page_count = 1073741823"))
        pair = workshop.comparisons[-1]
        assert (await vote(a, pair.id, pair.a, ref=10_000))["type"] == "vote_received"
        acknowledged.add(pair.id)
        await clients.aclose()
        assert server.hub.room_failures == 0
    ada = workshop.attendees[0].id
    assert {c for c, who in stored_votes(db_path) if who == ada} == acknowledged


def test_a_bug_in_one_rooms_changes_costs_no_other_room_its_commit(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = make_workshop(db_path), make_workshop(db_path)
    real = changes.record_events

    def buggy(db: Any, session_id: int, events: Iterable[Any]) -> None:
        if session_id == one.session_id:
            raise RuntimeError("a bug in this room's changes")
        real(db, session_id, events)

    monkeypatch.setattr(changes, "record_events", buggy)
    store = Store.open(db_path)
    try:
        requests = [
            RecordRequest(w.session_id, [recorded(w.comparisons[0].id, w.attendees[0].id, w)])
            for w in (one, two)
        ]
        outcomes = store.record_many(requests)
    finally:
        store.close()
    assert isinstance(outcomes[0], RuntimeError)
    assert outcomes[1] is True
    assert stored_votes(db_path) == {(two.comparisons[0].id, two.attendees[0].id)}


def recorded(comparison_id: int, attendee_id: int, workshop: Workshop) -> VoteRecorded:
    pair = next(c for c in workshop.comparisons if c.id == comparison_id)
    choice = Choice(preferred_feature_id=pair.a, is_tie=False)
    return VoteRecorded(
        Vote(comparison_id, attendee_id, choice, now_utc()),
        votes_received=1,
        voters_expected=1,
    )


async def test_a_refresh_that_cannot_read_keeps_everyone_and_is_tried_again(
    server: Server, workshop: Workshop, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, grace = workshop.attendees[:2]
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    failures = trio.Semaphore(0)
    real = Store.room_refresh
    broken = [2]  # the next two refreshes fail to read

    def flaky(store: Store, session_id: int, project_id: int) -> Any:
        if broken[0]:
            broken[0] -= 1
            trio.from_thread.run_sync(failures.release)
            raise sqlite3.OperationalError("disk I/O error")
        return real(store, session_id, project_id)

    monkeypatch.setattr(Store, "room_refresh", flaky)
    store = Store.open(workshop.db_path)
    try:
        operations.rotate_attendee_token(store, ada.id)  # a change the room must see
    finally:
        store.close()
    for _ in range(2):
        with trio.fail_after(5):
            await failures.acquire()
    reason = await a.closed()  # seen once a refresh could read again
    assert (reason.code, reason.reason) == (1008, "token rotated")
    assert not g.ws.closed  # nobody else was dropped
    pair = workshop.comparisons[0]
    assert (await vote(g, pair.id, pair.a, ref=1))["type"] == "vote_received"
    assert server.hub.room_failures == 0


async def test_after_a_room_fails_a_join_is_answered_at_once(
    server: Server, workshop: Workshop, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, grace = workshop.attendees[:2]
    a, _ = await clients.join(ada)
    real = domain.cast_vote
    calls = [0]

    def buggy_once(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("a bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(domain, "cast_vote", buggy_once)
    pair = workshop.comparisons[0]
    await a.vote(pair.id, pair.a)
    reason = await a.closed()
    assert reason.code == 1011  # the room died of the bug, and said so
    # A join now gets a fresh room at once, not a wait for the keepalive.
    with trio.fail_after(5):
        g, state = await clients.join(grace)
    assert state["data"]["you"]["attendee_id"] == grace.id
    assert (await vote(g, pair.id, pair.a, ref=1))["type"] == "vote_received"
    assert server.hub.room_failures == 1
    server.hub.room_failures = 0  # (expected here: the fixture checks there was no other)


async def test_a_join_posted_to_a_failed_room_is_refused_not_left_waiting(
    db_path: str, workshop: Workshop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(store: Store, session_id: int) -> Any:
        raise RuntimeError("a bug while loading")

    monkeypatch.setattr(Store, "load_session", broken)
    store = await trio.to_thread.run_sync(lambda: AsyncStore.open(db_path, synchronous="normal"))
    failed = trio.Event()
    room = Room(
        workshop.session_id, store, on_idle=lambda r: None, on_failure=lambda r: failed.set()
    )
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(room.run)
            with trio.fail_after(5):
                await failed.wait()
            late = Connection(
                project_id=workshop.project_id,
                session_id=workshop.session_id,
                attendee=None,
                peer="test",
                limits=make_config(db_path).limits,
            )
            room.post(Join(late))
            assert late.joined.is_set()
            assert late.closing
    finally:
        store.close()


async def test_a_record_cancelled_before_its_commit_is_never_committed(
    db_path: str, workshop: Workshop
) -> None:
    store = await trio.to_thread.run_sync(lambda: AsyncStore.open(db_path, synchronous="normal"))
    ada, grace = workshop.attendees[:2]
    first, second = workshop.comparisons[:2]
    cli = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    outcomes: list[bool] = []
    try:
        async with trio.open_nursery() as nursery:
            cli.execute("BEGIN IMMEDIATE")  # the first commit waits for the lock

            async def record(comparison_id: int, attendee_id: int) -> None:
                event = recorded(comparison_id, attendee_id, workshop)
                outcomes.append(await store.record(workshop.session_id, [event]))

            waiter = trio.CancelScope()

            async def cancelled_record() -> None:
                with waiter:
                    await record(second.id, grace.id)

            nursery.start_soon(record, first.id, ada.id)
            await trio.testing.wait_all_tasks_blocked()  # committing, behind the lock
            nursery.start_soon(cancelled_record)
            await trio.testing.wait_all_tasks_blocked()  # queued for the next commit
            waiter.cancel()  # e.g. its room is shutting down
            await trio.testing.wait_all_tasks_blocked()
            cli.execute("ROLLBACK")  # the first commit goes through
        # A later commit takes whatever is queued: the cancelled vote must not be there.
        third = workshop.comparisons[2]
        await record(third.id, ada.id)
    finally:
        cli.close()
        store.close()
    assert outcomes == [True, True]
    assert stored_votes(db_path) == {(first.id, ada.id), (third.id, ada.id)}
