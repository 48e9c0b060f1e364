"""Facilitation, part one (contract section 11): notes on comparisons, taking a vote back."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from pairwise_ws.app import operations
from pairwise_ws.app.reports import results_json
from pairwise_ws.net.server import Server
from pairwise_ws.storage import Store
from tests.conftest import Clients, Workshop, stored_results

# --- notes --------------------------------------------------------------------------------


async def test_a_note_is_broadcast_kept_and_in_the_results(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    dashboard, _ = await clients.facilitator()
    ada, _ = await clients.join(workshop.attendees[0])
    pair = workshop.comparisons[0]
    text = "Offline first: field teams lose signal all day. — decided by the room"

    await dashboard.send(
        "facilitator_action", {"action": "note", "comparison_id": pair.id, "text": text}
    )

    update = await ada.next_of("comparison_update")
    assert update["data"]["action"] == "note"
    assert update["data"]["comparison"]["id"] == pair.id
    assert update["data"]["comparison"]["note"] == text
    _, state = await clients.join(workshop.attendees[1])
    noted = next(c for c in state["data"]["comparisons"] if c["id"] == pair.id)
    assert noted["note"] == text
    exported = results_json(stored_results(workshop))
    assert next(c for c in exported["comparisons"] if c["id"] == pair.id)["note"] == text


async def test_notes_are_the_facilitators_and_bounded(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    dashboard, _ = await clients.facilitator()
    ada, _ = await clients.join(workshop.attendees[0])
    pair = workshop.comparisons[0]
    note = {"action": "note", "comparison_id": pair.id}

    await ada.send("facilitator_action", {**note, "text": "mine"}, ref="a")
    assert (await ada.next_of("error"))["data"] == {
        "code": "forbidden",
        "message": "only the facilitator can do that",
        "ref": "a",
    }
    await dashboard.send("facilitator_action", {**note, "text": "x" * 1001}, ref=1)
    too_long = await dashboard.next_of("error")
    assert (too_long["data"]["code"], too_long["data"]["ref"]) == ("invalid_message", 1)
    await dashboard.send("facilitator_action", {**note, "text": "x" * 1000})
    assert (await dashboard.next_of("comparison_update"))["data"]["comparison"][
        "note"
    ] == "x" * 1000
    await dashboard.send("facilitator_action", {**note, "text": ""})  # clears it
    assert (await dashboard.next_of("comparison_update"))["data"]["comparison"]["note"] == ""


# --- taking a vote back --------------------------------------------------------------------


async def test_a_vote_taken_back_is_gone_for_everyone_and_kept_in_the_history(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    ada, grace = workshop.attendees[:2]
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    pair = workshop.comparisons[0]
    await a.vote(pair.id, pair.a)
    await a.next_of("vote_received")
    await g.next_of("vote_received")

    await a.send("vote_retracted", {"comparison_id": pair.id}, ref="undo-1")

    mine = await a.next_of("vote_received")
    theirs = await g.next_of("vote_received")
    assert mine["data"]["ref"] == "undo-1"
    for message in (mine, theirs):
        data = message["data"]
        assert data["retracted"] is True
        assert (data["attendee_id"], data["preferred_feature_id"], data["is_tie_vote"]) == (
            ada.id,
            None,
            None,
        )
        assert data["votes_received"] == 0
    assert "ref" not in theirs["data"]
    with sqlite3.connect(workshop.db_path) as db:
        assert db.execute("SELECT count(*) FROM votes").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM vote_history").fetchone() == (1,)
    # An ordinary vote says nothing about retraction.
    await a.vote(pair.id, pair.b)
    again = await a.next_of("vote_received")
    assert "retracted" not in again["data"]


async def test_only_a_vote_on_an_open_pair_can_be_taken_back(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    ada, grace = workshop.attendees[:2]
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    first, second = workshop.comparisons[:2]

    await a.send("vote_retracted", {"comparison_id": first.id}, ref=1)
    nothing = await a.next_of("error")
    assert (nothing["data"]["code"], nothing["data"]["ref"]) == ("invalid_vote", 1)
    for peer in (a, g):  # unanimous: decided
        await peer.vote(first.id, first.a)
    await a.next_of("consensus_reached")
    await a.send("vote_retracted", {"comparison_id": first.id}, ref=2)
    closed = await a.next_of("error")
    assert (closed["data"]["code"], closed["data"]["ref"]) == ("comparison_closed", 2)
    await a.send("vote_retracted", {"comparison_id": "x"}, ref=3)
    bad = await a.next_of("error")
    assert (bad["data"]["code"], bad["data"]["ref"]) == ("invalid_message", 3)
    # The other pair is untouched.
    assert stored_results(workshop).comparisons[1].id == second.id


# --- observers ------------------------------------------------------------------------------


async def test_an_observer_is_present_never_waited_for_and_cannot_vote(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    store = Store.open(workshop.db_path)
    try:
        watcher, token = operations.add_attendee(
            store, workshop.project_id, "Watcher", observer=True
        )
    finally:
        store.close()
    ada, grace = workshop.attendees[:2]
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    w = await clients.connect(attendee_id=watcher.id, token=token)
    state = (await w.expect("session_state"))["data"]
    roles = {x["attendee_id"]: x["role"] for x in state["attendees"]}
    assert roles[watcher.id] == "observer"
    assert roles[ada.id] == "voter"
    pair = workshop.comparisons[0]

    await w.vote(pair.id, pair.a)
    refused = await w.next_of("error")
    assert refused["data"] == {"code": "forbidden", "message": "observers do not vote"}
    await a.vote(pair.id, pair.a)
    received = await a.next_of("vote_received")
    assert received["data"]["voters_expected"] == 2  # Ada and Grace, not the observer
    await g.vote(pair.id, pair.a)
    reached = await w.next_of("consensus_reached")  # decided without the observer
    assert reached["data"]["comparison_id"] == pair.id


# --- the timer ------------------------------------------------------------------------------


async def test_the_timer_runs_stops_and_runs_out_for_everyone(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    dashboard, state = await clients.facilitator()
    assert state["data"]["timer"] == {"state": "stopped", "seconds": 0, "ends_at": None}
    ada, _ = await clients.join(workshop.attendees[0])

    await dashboard.send("facilitator_action", {"action": "start_timer", "seconds": 90})
    running = (await ada.next_of("timer"))["data"]
    assert (running["state"], running["seconds"]) == ("running", 90)
    ends_at = datetime.fromisoformat(running["ends_at"].replace("Z", "+00:00"))
    assert 88 <= (ends_at - datetime.now(UTC)).total_seconds() <= 91
    _, late = await clients.join(workshop.attendees[1])
    assert late["data"]["timer"] == running  # the same object in session_state

    await dashboard.send("facilitator_action", {"action": "stop_timer"})
    assert (await ada.next_of("timer"))["data"] == {
        "state": "stopped",
        "seconds": 90,
        "ends_at": None,
    }

    await dashboard.send("facilitator_action", {"action": "start_timer", "seconds": 1})
    assert (await ada.next_of("timer"))["data"]["state"] == "running"
    expired = await ada.next_of("timer")  # the server says so itself
    assert expired["data"] == {"state": "expired", "seconds": 1, "ends_at": None}


async def test_only_the_facilitator_starts_a_timer_of_1_to_3600_seconds(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    dashboard, _ = await clients.facilitator()
    ada, _ = await clients.join(workshop.attendees[0])

    await ada.send("facilitator_action", {"action": "start_timer", "seconds": 30}, ref=1)
    assert (await ada.next_of("error"))["data"]["code"] == "forbidden"
    for ref, seconds in enumerate((0, 3601, "30", True, None), start=2):
        data: dict[str, object] = {"action": "start_timer"}
        if seconds is not None:
            data["seconds"] = seconds
        await dashboard.send("facilitator_action", data, ref=ref)
        refused = await dashboard.next_of("error")
        assert (refused["data"]["code"], refused["data"]["ref"]) == ("invalid_message", ref)
