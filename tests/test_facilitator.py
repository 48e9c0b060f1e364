"""The facilitator's actions over the real WebSocket, against the real daemon.

Contract section 8: reset_comparison, decide, skip and close_session, each
followed by the broadcasts a vote would cause, to every connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pairwise_ws.net.server import Server
from pairwise_ws.storage import Store
from tests.conftest import Clients, Peer, Workshop
from tests.http_client import request


@contextmanager
def stored(workshop: Workshop) -> Iterator[Store]:
    store = Store.open(workshop.db_path)
    try:
        yield store
    finally:
        store.close()


async def act(facilitator: Peer, action: str, **fields: Any) -> None:
    await facilitator.send("facilitator_action", {"action": action, **fields})


async def types_until(peer: Peer, last: str) -> list[dict[str, Any]]:
    """Messages up to and including the first of type `last`."""
    seen = []
    while True:
        message = await peer.receive()
        seen.append(message)
        if message["type"] == last:
            return seen


@pytest.mark.workshop(features=3, attendees=2)
async def test_decide_is_broadcast_like_a_vote(clients: Clients, workshop: Workshop) -> None:
    ada, bo = await clients.join_first(2)
    await ada.expect("attendee_joined")
    facilitator, _ = await clients.facilitator()
    first = workshop.comparisons[0]

    await act(facilitator, "decide", comparison_id=first.id, winner_id=first.b)

    for peer in (ada, bo, facilitator):
        reached, progress, update = (await types_until(peer, "comparison_update"))[-3:]
        assert reached["type"] == "consensus_reached"
        assert reached["attendee_id"] == 0  # the system, not an attendee
        assert (reached["data"]["comparison_id"], reached["data"]["winner_id"]) == (
            first.id,
            first.b,
        )
        assert progress["type"] == "session_progress"
        assert progress["data"]["completed_comparisons"] == 1
        comparison = update["data"]["comparison"]
        assert (comparison["id"], comparison["status"]) == (first.id, "decided")
        assert comparison["decided_by_facilitator"] is True
        assert update["data"]["action"] == "decide"
        assert update["data"]["current_comparison_id"] == workshop.comparisons[1].id


@pytest.mark.workshop(features=3, attendees=2)
async def test_a_decision_holds_and_reset_reopens_with_votes_cleared(
    clients: Clients, workshop: Workshop
) -> None:
    ada, bo = await clients.join_first(2)
    await ada.expect("attendee_joined")
    facilitator, _ = await clients.facilitator()
    first = workshop.comparisons[0]
    await act(facilitator, "decide", comparison_id=first.id, winner_id=first.a)
    await ada.next_of("comparison_update")

    # Both vote for B: stored and acknowledged, the facilitator's A holds.
    await ada.vote(first.id, first.b)
    await bo.vote(first.id, first.b)
    assert (await ada.next_of("vote_received"))["data"]["attendee_id"] == ada_id(workshop)
    assert (await ada.next_of("vote_received"))["data"]["votes_received"] == 2
    await act(facilitator, "reset_comparison", comparison_id=first.id)

    lost, progress, update = (await types_until(ada, "comparison_update"))[-3:]
    assert lost["type"] == "consensus_lost"
    assert progress["data"]["completed_comparisons"] == 0
    assert update["data"]["comparison"]["status"] == "open"
    assert update["data"]["action"] == "reset_comparison"
    assert update["data"]["current_comparison_id"] == first.id
    await ada.send("join_session")
    state = (await ada.next_of("session_state"))["data"]
    assert state["comparisons"][0]["votes"] == []  # cleared
    with stored(workshop) as store:
        history = store.vote_history(workshop.session_id)
    assert len(history) == 2  # ... and kept in the history


def ada_id(workshop: Workshop) -> int:
    return workshop.attendees[0].id


@pytest.mark.workshop(features=2, attendees=2)
async def test_skipping_the_last_comparison_completes_the_session(
    clients: Clients, workshop: Workshop
) -> None:
    (ada,) = await clients.join_first(1)
    facilitator, _ = await clients.facilitator()
    only = workshop.comparisons[0]

    await act(facilitator, "skip", comparison_id=only.id)

    progress, update, notice = (await types_until(ada, "system_notice"))[-3:]
    assert progress["data"]["is_complete"] is True
    assert update["data"]["comparison"]["status"] == "skipped"
    assert update["data"]["current_comparison_id"] is None
    assert notice["data"]["event"] == "session_completed"
    await ada.vote(only.id, only.a)
    assert (await ada.expect("error"))["data"]["code"] == "session_not_active"

    # A reset reopens the completed session.
    await act(facilitator, "reset_comparison", comparison_id=only.id)
    progress, update, notice = (await types_until(ada, "system_notice"))[-3:]
    assert progress["data"]["is_complete"] is False
    assert update["data"]["current_comparison_id"] == only.id
    assert notice["data"]["event"] == "session_reopened"
    await ada.vote(only.id, only.a)
    assert (await ada.expect("vote_received"))["data"]["comparison_id"] == only.id


@pytest.mark.workshop(attendees=1)
async def test_close_session_closes_everyone(clients: Clients, workshop: Workshop) -> None:
    (ada,) = await clients.join_first(1)
    facilitator, _ = await clients.facilitator()

    await act(facilitator, "close_session")

    for peer in (ada, facilitator):
        notice = await peer.next_of("system_notice")
        assert notice["data"]["event"] == "session_closed"
        assert (await peer.closed()).code == 1000
    with stored(workshop) as store:
        assert store.session(workshop.session_id).status == "closed"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"action": "skip"}, "invalid_message"),  # no comparison_id
        ({"action": "explode", "comparison_id": 1}, "invalid_message"),
        ({"action": "skip", "comparison_id": 9999}, "invalid_vote"),
        ({"action": "decide", "comparison_id": "FIRST"}, "invalid_vote"),  # neither winner nor tie
        (
            {"action": "decide", "comparison_id": "FIRST", "winner_id": "A", "is_tie": True},
            "invalid_vote",
        ),
        ({"action": "decide", "comparison_id": "FIRST", "winner_id": 9999}, "invalid_vote"),
    ],
)
async def test_bad_actions_get_an_error_and_change_nothing(
    clients: Clients, workshop: Workshop, data: dict[str, Any], code: str
) -> None:
    facilitator, _ = await clients.facilitator()
    first = workshop.comparisons[0]
    fields = {k: {"FIRST": first.id, "A": first.a}.get(v, v) for k, v in data.items()}

    await act(facilitator, **fields)

    assert (await facilitator.expect("error"))["data"]["code"] == code
    await facilitator.send("join_session")
    state = (await facilitator.expect("session_state"))["data"]
    assert all(c["status"] == "open" for c in state["comparisons"])


async def test_attendees_may_not_act(clients: Clients, workshop: Workshop) -> None:
    (ada,) = await clients.join_first(1)
    await ada.expect("attendee_joined")

    await act(ada, "skip", comparison_id=workshop.comparisons[0].id)

    assert (await ada.expect("error"))["data"]["code"] == "forbidden"


async def test_registration_changes_reach_the_room(
    clients: Clients, server: Server, workshop: Workshop
) -> None:
    facilitator, state = await clients.facilitator()
    assert state["data"]["session"]["self_registration"] is True
    path = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/registration"
    auth = {"authorization": f"Bearer {workshop.facilitator_token}"}

    reply = await request(server.port, path, headers=auth, json_body={"open": False})

    assert reply.status == 200
    assert reply.json()["open"] is False
    notice = await facilitator.next_of("system_notice")
    assert notice["data"]["event"] == "registration_closed"
    await facilitator.send("join_session")
    state = await facilitator.next_of("session_state")
    assert state["data"]["session"]["self_registration"] is False
