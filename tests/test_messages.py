"""Every message of the contract, end to end against the real daemon.

The default workshop has 4 features (6 comparisons), 3 attendees and a
unanimous session with min_votes 2 and quorum `present`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from pairwise_ws.app import operations
from pairwise_ws.storage import Store
from tests.conftest import Clients, Pair, Peer, Workshop


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


async def receive(peer: Peer, count: int) -> list[dict[str, Any]]:
    return [await peer.receive() for _ in range(count)]


async def nothing_pending(peer: Peer) -> None:
    """Prove `peer` has no message waiting.

    The room handles messages in order, so the answer to an invalid vote sent
    now comes after anything the room had already queued for `peer`.
    """
    await peer.vote(999_999, 1)
    marker = await peer.receive()
    assert marker["type"] == "error", f"unexpected {marker}"
    assert marker["data"]["code"] == "invalid_vote"


# --- session_state ---------------------------------------------------------------


async def test_session_state_is_the_first_message(clients: Clients, workshop: Workshop) -> None:
    ada = workshop.attendees[0]
    _, state = await clients.join(ada)
    assert state["session_id"] == workshop.session_id
    assert state["attendee_id"] == ada.id
    data = state["data"]
    assert set(data) == {
        "session",
        "you",
        "features",
        "comparisons",
        "attendees",
        "current_comparison_id",
        "progress",
        "timer",
    }
    assert data["session"] == {
        "id": workshop.session_id,
        "project_id": workshop.project_id,
        "criterion": "value",
        "status": "active",
        "consensus": {"rule": "unanimous", "threshold": 0.75, "min_votes": 2, "quorum": "present"},
        "self_registration": True,
        "schedule": "all",
    }
    assert data["you"] == {"role": "attendee", "attendee_id": ada.id, "name": ada.name}
    assert [f["id"] for f in data["features"]] == list(workshop.feature_ids)
    assert [c["id"] for c in data["comparisons"]] == list(workshop.comparison_ids)
    first = data["comparisons"][0]
    assert first["status"] == "open"
    assert first["votes"] == []
    assert first["winner_id"] is None
    assert first["is_tie"] is False
    assert {a["attendee_id"]: a["online"] for a in data["attendees"]} == {
        p.id: p is ada for p in workshop.attendees
    }
    assert data["current_comparison_id"] == workshop.comparison_ids[0]
    assert data["progress"] == {
        "total_comparisons": 6,
        "completed_comparisons": 0,
        "progress_percentage": 0.0,
        "is_complete": False,
    }


async def test_join_session_answers_session_state_with_the_votes(
    clients: Clients, workshop: Workshop
) -> None:
    ada = workshop.attendees[0]
    peer, _ = await clients.join(ada)
    pair = workshop.comparisons[0]
    await peer.vote(pair.id, pair.b)
    await peer.next_of("vote_received")
    await peer.send("join_session")
    state = await peer.next_of("session_state")
    votes = state["data"]["comparisons"][0]["votes"]
    assert len(votes) == 1
    assert votes[0]["attendee_id"] == ada.id
    assert votes[0]["preferred_feature_id"] == pair.b
    assert votes[0]["is_tie_vote"] is False


# --- presence ----------------------------------------------------------------------


async def test_presence_counts_attendees_not_connections(
    clients: Clients, workshop: Workshop
) -> None:
    ada, bob = workshop.attendees[0], workshop.attendees[1]
    observer, _ = await clients.join(bob)
    await observer.expect("attendee_joined")  # bob himself

    first, _ = await clients.join(ada)
    joined = await observer.expect("attendee_joined")
    assert joined["attendee_id"] == ada.id
    assert joined["data"] == {"attendee_id": ada.id, "attendee_name": ada.name, "online_count": 2}

    second, state = await clients.join(ada)  # a second tab: still one attendee
    assert {a["attendee_id"] for a in state["data"]["attendees"] if a["online"]} == {ada.id, bob.id}
    await first.send("leave_session")
    assert (await first.closed()).code == 1000
    # Neither the second connection nor the first one's end changed presence.
    await nothing_pending(observer)

    await second.send("leave_session")
    left = await observer.expect("attendee_left")
    assert left["data"] == {
        "attendee_id": ada.id,
        "attendee_name": ada.name,
        "reason": "left",
        "online_count": 1,
    }


async def test_a_vanished_connection_is_reported_as_disconnected(
    clients: Clients, workshop: Workshop
) -> None:
    observer, _ = await clients.join(workshop.attendees[1])
    peer, _ = await clients.join(workshop.attendees[0])
    await observer.next_of("attendee_joined")
    await observer.next_of("attendee_joined")
    await peer.stream.aclose()  # no Close frame: the TCP connection just ends
    left = await observer.next_of("attendee_left")
    assert left["data"]["reason"] == "disconnected"
    assert left["data"]["online_count"] == 1


async def test_facilitator_is_not_present_and_cannot_vote(
    clients: Clients, workshop: Workshop
) -> None:
    ada = workshop.attendees[0]
    attendee, _ = await clients.join(ada)
    await attendee.expect("attendee_joined")
    facilitator, state = await clients.facilitator()
    assert state["data"]["you"] == {"role": "facilitator", "attendee_id": None, "name": None}
    assert state["attendee_id"] == 0
    assert [a["attendee_id"] for a in state["data"]["attendees"] if a["online"]] == [ada.id]

    pair = workshop.comparisons[0]
    await facilitator.vote(pair.id, pair.a)
    error = await facilitator.expect("error")
    assert error["data"]["code"] == "forbidden"

    # The facilitator still sees everything that happens in the room.
    await attendee.vote(pair.id, pair.a)
    received = await facilitator.expect("vote_received")
    assert received["data"]["attendee_id"] == ada.id
    # ...and joining as facilitator announced nobody.
    assert (await attendee.expect("vote_received"))["data"]["votes_received"] == 1


async def test_facilitator_action_from_an_attendee_is_forbidden(
    clients: Clients, workshop: Workshop
) -> None:
    peer, _ = await clients.join(workshop.attendees[0])
    await peer.send(
        "facilitator_action", {"action": "skip", "comparison_id": workshop.comparison_ids[0]}
    )
    assert (await peer.next_of("error"))["data"]["code"] == "forbidden"


# --- votes and consensus -----------------------------------------------------------


async def test_vote_received_comes_after_the_vote_is_committed(
    clients: Clients, workshop: Workshop
) -> None:
    ada = workshop.attendees[0]
    peer, _ = await clients.join(ada)
    pair = workshop.comparisons[2]
    await peer.vote(pair.id, pair.a)
    received = await peer.next_of("vote_received")
    assert received["attendee_id"] == ada.id
    # Read back through an independent connection: it is in the database now.
    with sqlite3.connect(workshop.db_path) as db:
        rows = db.execute(
            "SELECT attendee_id, preferred_feature_id, is_tie_vote FROM votes"
            " WHERE comparison_id = ?",
            (pair.id,),
        ).fetchall()
    assert rows == [(ada.id, pair.a, 0)]


async def test_a_deciding_vote_broadcasts_in_the_contracts_order(
    clients: Clients, workshop: Workshop
) -> None:
    ada, bob = workshop.attendees[0], workshop.attendees[1]
    a, _ = await clients.join(ada)
    b, _ = await clients.join(bob)
    first, second = workshop.comparisons[0], workshop.comparisons[1]
    await a.vote(first.id, first.a)
    await b.vote(first.id, first.a)
    await b.next_of("vote_received")  # ada's
    messages = await receive(b, 4)
    assert types(messages) == [
        "vote_received",
        "consensus_reached",
        "session_progress",
        "comparison_update",
    ]
    vote, reached, progress, update = (m["data"] for m in messages)
    assert all(m["attendee_id"] == bob.id for m in messages)  # bob's vote caused them
    assert vote == {
        "comparison_id": first.id,
        "attendee_id": bob.id,
        "attendee_name": bob.name,
        "preferred_feature_id": first.a,
        "is_tie_vote": False,
        "votes_received": 2,
        "voters_expected": 2,
    }
    assert reached == {
        "comparison_id": first.id,
        "winner_id": first.a,
        "is_tie": False,
        "feature_a_title": title(workshop, first.a),
        "feature_b_title": title(workshop, first.b),
        "winner_title": title(workshop, first.a),
    }
    assert progress == {
        "total_comparisons": 6,
        "completed_comparisons": 1,
        "progress_percentage": 16.67,
        "is_complete": False,
    }
    assert update["current_comparison_id"] == second.id
    assert update["comparison"]["id"] == first.id
    assert update["comparison"]["status"] == "decided"
    assert update["comparison"]["winner_id"] == first.a
    # ada, who voted first, sees the same four messages.
    assert types(await receive(a, 7))[-4:] == types(messages)  # after 2 joins, 1 vote


def title(workshop: Workshop, feature_id: int) -> str:
    return f"Feature {chr(65 + workshop.feature_ids.index(feature_id))}"


async def decide(a: Peer, b: Peer, pair: Pair, feature_id: int | None) -> None:
    await a.vote(pair.id, feature_id)
    await b.vote(pair.id, feature_id)
    await b.next_of("consensus_reached")
    await a.next_of("consensus_reached")


async def test_changing_a_vote_on_a_decided_comparison_loses_consensus(
    clients: Clients, workshop: Workshop
) -> None:
    a, b = await clients.join_first(2)
    first = workshop.comparisons[0]
    await decide(a, b, first, first.a)
    await b.next_of("comparison_update")

    await a.vote(first.id, first.b)
    messages = await receive(b, 4)
    assert types(messages) == [
        "vote_received",
        "consensus_lost",
        "session_progress",
        "comparison_update",
    ]
    assert messages[1]["data"] == {
        "comparison_id": first.id,
        "feature_a_title": title(workshop, first.a),
        "feature_b_title": title(workshop, first.b),
    }
    assert messages[2]["data"]["completed_comparisons"] == 0
    update = messages[3]["data"]
    assert update["current_comparison_id"] == first.id
    assert update["comparison"]["status"] == "open"

    await b.vote(first.id, first.b)  # agreement again, on the other feature
    reached = await b.next_of("consensus_reached")
    assert reached["data"]["winner_id"] == first.b


async def test_a_unanimous_tie_decides_a_tie(clients: Clients, workshop: Workshop) -> None:
    a, b = await clients.join_first(2)
    pair = workshop.comparisons[0]
    await a.vote(pair.id, None)
    await b.vote(pair.id, None)
    reached = (await b.next_of("consensus_reached"))["data"]
    assert reached["is_tie"] is True
    assert reached["winner_id"] is None
    assert reached["winner_title"] is None


async def test_a_split_does_not_decide_under_unanimity(
    clients: Clients, workshop: Workshop
) -> None:
    a, b = await clients.join_first(2)
    pair = workshop.comparisons[0]
    await a.vote(pair.id, pair.a)
    await b.vote(pair.id, pair.b)
    await b.next_of("vote_received")
    assert (await b.receive())["type"] == "vote_received"
    await nothing_pending(b)


@pytest.mark.workshop(attendees=3, rule="majority")
async def test_majority_waits_for_every_present_voter(clients: Clients, workshop: Workshop) -> None:
    peers = await clients.join_first(len(workshop.attendees))
    pair = workshop.comparisons[0]
    await peers[0].vote(pair.id, pair.a)
    await peers[1].vote(pair.id, pair.a)
    second = await peers[2].next_of("vote_received")
    second = await peers[2].next_of("vote_received")
    assert second["data"]["votes_received"] == 2
    assert second["data"]["voters_expected"] == 3  # two of three is not everyone
    await peers[2].vote(pair.id, pair.b)
    messages = await receive(peers[2], 2)
    assert types(messages) == ["vote_received", "consensus_reached"]
    assert messages[1]["data"]["winner_id"] == pair.a  # 2 of 3 > 0.5


@pytest.mark.parametrize(
    "decided",
    [
        pytest.param(True, marks=pytest.mark.workshop(attendees=4, rule="supermajority")),
        pytest.param(
            False, marks=pytest.mark.workshop(attendees=4, rule="supermajority", threshold=0.8)
        ),
    ],
    ids=["3-of-4-meets-0.75", "3-of-4-misses-0.8"],
)
async def test_supermajority_threshold(clients: Clients, workshop: Workshop, decided: bool) -> None:
    peers = await clients.join_first(len(workshop.attendees))
    pair = workshop.comparisons[0]
    for peer, choice in zip(peers, [pair.a, pair.a, pair.a, pair.b], strict=True):
        await peer.vote(pair.id, choice)
    last = peers[3]
    for _ in range(4):
        await last.next_of("vote_received")
    if decided:
        reached = await last.expect("consensus_reached")
        assert reached["data"]["winner_id"] == pair.a
    else:
        await nothing_pending(last)


@pytest.mark.workshop(attendees=3, min_votes=3)
async def test_min_votes_holds_the_decision_until_enough_votes(
    clients: Clients, workshop: Workshop
) -> None:
    a, b = await clients.join_first(2)
    pair = workshop.comparisons[0]
    await a.vote(pair.id, pair.a)
    await b.vote(pair.id, pair.a)
    await b.next_of("vote_received")
    await b.next_of("vote_received")
    await nothing_pending(b)  # both present voters agreed, but 2 < min_votes 3
    c, _ = await clients.join(workshop.attendees[2])
    await c.vote(pair.id, pair.a)
    assert (await b.next_of("consensus_reached"))["data"]["winner_id"] == pair.a


@pytest.mark.workshop(attendees=3, quorum="all")
async def test_quorum_all_waits_for_absent_attendees(clients: Clients, workshop: Workshop) -> None:
    a, b = await clients.join_first(2)
    pair = workshop.comparisons[0]
    await a.vote(pair.id, pair.a)
    await b.vote(pair.id, pair.a)
    await b.next_of("vote_received")
    received = await b.next_of("vote_received")
    assert received["data"]["voters_expected"] == 3
    await nothing_pending(b)
    c, _ = await clients.join(workshop.attendees[2])
    await c.vote(pair.id, pair.a)
    assert (await b.next_of("consensus_reached"))["data"]["winner_id"] == pair.a


async def test_a_departure_can_decide_open_comparisons(
    clients: Clients, workshop: Workshop
) -> None:
    a, b, c = await clients.join_first(3)
    pair = workshop.comparisons[0]
    await a.vote(pair.id, pair.b)
    await b.vote(pair.id, pair.b)
    await b.next_of("vote_received")
    received = await b.next_of("vote_received")
    assert received["data"]["voters_expected"] == 3
    await c.send("leave_session")  # carol never voted: the others now decide
    messages = await receive(b, 4)
    assert types(messages) == [
        "attendee_left",
        "consensus_reached",
        "session_progress",
        "comparison_update",
    ]
    assert all(m["attendee_id"] == workshop.attendees[2].id for m in messages)
    assert messages[1]["data"]["winner_id"] == pair.b


async def test_a_decided_comparison_stays_decided_when_someone_joins(
    clients: Clients, workshop: Workshop
) -> None:
    a, b = await clients.join_first(2)
    pair = workshop.comparisons[0]
    await decide(a, b, pair, pair.a)
    await b.next_of("comparison_update")
    _, state = await clients.join(workshop.attendees[2])
    assert state["data"]["comparisons"][0]["status"] == "decided"
    assert (await b.expect("attendee_joined"))["attendee_id"] == workshop.attendees[2].id
    await nothing_pending(b)


@pytest.mark.workshop(features=2)
async def test_the_last_decision_completes_the_session(
    clients: Clients, workshop: Workshop
) -> None:
    a, b = await clients.join_first(2)
    (pair,) = workshop.comparisons
    await a.vote(pair.id, pair.b)
    await b.vote(pair.id, pair.b)
    await b.next_of("vote_received")
    messages = await receive(b, 5)
    assert types(messages) == [
        "vote_received",
        "consensus_reached",
        "session_progress",
        "comparison_update",
        "system_notice",
    ]
    assert messages[2]["data"]["is_complete"] is True
    assert messages[2]["data"]["progress_percentage"] == 100.0
    assert messages[3]["data"]["current_comparison_id"] is None
    assert messages[4]["data"]["event"] == "session_completed"
    assert messages[4]["data"]["message"]

    await a.vote(pair.id, pair.a)
    error = await a.next_of("error")
    assert error["data"]["code"] == "session_not_active"
    with sqlite3.connect(workshop.db_path) as db:
        assert db.execute("SELECT status FROM sessions").fetchone() == ("completed",)


async def test_client_sent_ids_in_the_envelope_are_ignored(
    clients: Clients, workshop: Workshop
) -> None:
    ada, bob = workshop.attendees[0], workshop.attendees[1]
    peer, _ = await clients.join(ada)
    pair = workshop.comparisons[0]
    await peer.send(
        "vote_submitted",
        {"vote": {"comparison_id": pair.id, "preferred_feature_id": pair.a}},
        session_id=999,
        attendee_id=bob.id,
    )
    received = await peer.next_of("vote_received")
    assert received["session_id"] == workshop.session_id
    assert received["attendee_id"] == ada.id
    assert received["data"]["attendee_id"] == ada.id


# --- errors --------------------------------------------------------------------------


def vote_frame(comparison_id: Any, **fields: Any) -> str:
    return json.dumps(
        {"type": "vote_submitted", "data": {"vote": {"comparison_id": comparison_id, **fields}}}
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_message"),
        ("[1, 2]", "invalid_message"),
        ('{"data": {}}', "invalid_message"),
        ('{"type": 7}', "invalid_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "vote_submitted", "data": []}', "invalid_message"),
        ('{"type": "vote_submitted", "data": {}}', "invalid_message"),
        (vote_frame("1", preferred_feature_id=1), "invalid_message"),
        (vote_frame(1.5, preferred_feature_id=1), "invalid_message"),
        (vote_frame(True, preferred_feature_id=1), "invalid_message"),
        (vote_frame(10**30, preferred_feature_id=1), "invalid_message"),
        (vote_frame(999, preferred_feature_id=1), "invalid_vote"),
        (vote_frame("FIRST", preferred_feature_id=999), "invalid_vote"),
        (vote_frame("FIRST", preferred_feature_id="A", is_tie_vote=True), "invalid_vote"),
        (vote_frame("FIRST"), "invalid_vote"),
        (vote_frame("FIRST", is_tie_vote=False), "invalid_vote"),
    ],
)
async def test_bad_messages_get_an_error_with_the_contracts_code(
    clients: Clients, workshop: Workshop, frame: str, code: str
) -> None:
    pair = workshop.comparisons[0]
    frame = frame.replace('"FIRST"', str(pair.id)).replace('"A"', str(pair.a))
    peer, _ = await clients.join(workshop.attendees[0])
    await peer.ws.send_message(frame)
    error = await peer.next_of("error")
    assert error["data"]["code"] == code
    assert error["data"]["message"]
    # The connection stays open and usable.
    await peer.vote(pair.id, pair.a)
    assert (await peer.next_of("vote_received"))["data"]["comparison_id"] == pair.id


async def test_a_vote_for_another_sessions_comparison_is_invalid(
    clients: Clients, workshop: Workshop
) -> None:
    store = Store.open(workshop.db_path)
    try:
        _, other = operations.create_session(store, workshop.project_id)
    finally:
        store.close()
    peer, _ = await clients.join(workshop.attendees[0])
    await peer.vote(other[0].id, other[0].feature_a_id)
    assert (await peer.next_of("error"))["data"]["code"] == "invalid_vote"


async def test_a_vote_on_a_skipped_comparison_is_comparison_closed(
    clients: Clients, workshop: Workshop
) -> None:
    pair = workshop.comparisons[1]
    with sqlite3.connect(workshop.db_path) as db:
        db.execute("UPDATE comparisons SET status = 'skipped' WHERE id = ?", (pair.id,))
    peer, state = await clients.join(workshop.attendees[0])
    assert state["data"]["comparisons"][1]["status"] == "skipped"
    await peer.vote(pair.id, pair.a)
    assert (await peer.next_of("error"))["data"]["code"] == "comparison_closed"
