"""Rotated tokens take effect at once: their connections are closed within 1 s.

`attendee token` and `project token` (here through the application layer, as
the CLI calls it, from another database connection) end every connection
that authenticated with the old token; nobody else's.
"""

from __future__ import annotations

import time

import attrs
import trio

from pairwise_ws.app import operations
from pairwise_ws.storage import Store
from tests.conftest import Clients, Workshop


async def test_a_rotated_attendee_token_closes_its_connections(
    clients: Clients, workshop: Workshop, db_path: str
) -> None:
    ada, grace = workshop.attendees[:2]
    old_tab, _ = await clients.join(ada)
    other_tab, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    store = Store.open(db_path)
    try:
        started = time.perf_counter()
        _, token = operations.rotate_attendee_token(store, ada.id)
    finally:
        store.close()
    for tab in (old_tab, other_tab):
        reason = await tab.closed()
        assert (reason.code, reason.reason) == (1008, "token rotated")
    assert time.perf_counter() - started < 1.0
    left = await g.next_of("attendee_left")
    assert left["data"]["attendee_id"] == ada.id
    # Grace stays; the new token works, the old one is refused.
    pair = workshop.comparisons[0]
    await g.vote(pair.id, pair.a)
    await g.next_of("vote_received")
    again, _ = await clients.join(attrs.evolve(ada, token=token))
    assert not again.ws.closed


async def test_a_rotated_facilitator_token_closes_the_dashboards(
    clients: Clients, workshop: Workshop, db_path: str
) -> None:
    dashboard, _ = await clients.facilitator()
    ada, _ = await clients.join(workshop.attendees[0])
    store = Store.open(db_path)
    try:
        token = operations.rotate_facilitator_token(store, workshop.project_id)
    finally:
        store.close()
    reason = await dashboard.closed()
    assert (reason.code, reason.reason) == (1008, "token rotated")
    with trio.fail_after(5):
        fresh = await clients.connect(facilitator_token=token)
    assert (await fresh.expect("session_state"))["data"]["you"]["role"] == "facilitator"
    assert not ada.ws.closed
