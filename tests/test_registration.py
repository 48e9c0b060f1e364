"""Who may come in: join codes, the self-registration cap, removing an attendee, the projector.

Each over the real daemon: HTTP for the join page, WebSockets for what the
room does, and the application layer (as the CLI calls it, on its own
database connection) for the facilitator's commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import trio

from pairwise_ws.app import operations
from pairwise_ws.net.server import Server
from pairwise_ws.storage import Store
from tests.conftest import Clients, Peer, Workshop, make_config, running
from tests.http_client import request
from tests.test_pages import bearer, join_path, session_path

T = TypeVar("T")


def from_cli(workshop: Workshop, operation: Callable[..., T], *args: Any) -> T:
    """Run an application operation on a database connection of its own, as the CLI does."""
    store = Store.open(workshop.db_path)
    try:
        return operation(store, *args)
    finally:
        store.close()


async def votes_seen(peer: Peer, count: int) -> None:
    """Read `peer`'s messages until a vote_received says `count` votes are in."""
    while (await peer.next_of("vote_received"))["data"]["votes_received"] < count:
        pass


def attendee_count(workshop: Workshop) -> int:
    return len(from_cli(workshop, operations.attendees, workshop.project_id))


# --- join codes ---------------------------------------------------------------------


@pytest.mark.parametrize("code", [None, "", "wrong", "%C3%A9" * 12])
async def test_a_wrong_or_missing_code_gets_403_and_creates_nothing(
    server: Server, workshop: Workshop, code: str | None
) -> None:
    path = session_path(workshop, "join") if code is None else join_path(workshop, code=code)

    page = await request(server.port, path)
    posted = await request(server.port, path, json_body={"name": "Mallory"})

    assert page.status == 403
    assert b"<!doctype html>" in page.body[:200].lower()  # the page says why
    assert posted.status == 403
    assert "join link is not valid" in posted.json()["error"]
    assert attendee_count(workshop) == len(workshop.attendees)


async def test_rotating_the_code_ends_the_old_link_not_who_registered(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    first = await request(server.port, join_path(workshop), json_body={"name": "Zoë"})
    assert first.status == 201

    rotated = from_cli(workshop, operations.set_self_registration, workshop.session_id, "rotate")

    assert rotated.join_code != workshop.join_code
    old = await request(server.port, join_path(workshop), json_body={"name": "Yann"})
    assert old.status == 403
    new = await request(
        server.port, join_path(workshop, code=rotated.join_code), json_body={"name": "Yann"}
    )
    assert new.status == 201
    zoe = first.json()
    peer = await clients.connect(attendee_id=zoe["attendee_id"], token=zoe["token"])
    assert (await peer.expect("session_state"))["data"]["you"]["name"] == "Zoë"


async def test_the_dashboard_rotates_the_code(server: Server, workshop: Workshop) -> None:
    path = session_path(workshop, "registration")

    reply = await request(server.port, path, json_body={"rotate": True}, headers=bearer(workshop))
    refused = await request(
        server.port, path, json_body={"rotate": False}, headers=bearer(workshop)
    )

    assert reply.status == 200
    assert reply.json()["open"] is True
    assert workshop.join_code not in reply.json()["join_url"]
    assert "?code=" in reply.json()["join_url"]
    assert refused.status == 400


async def test_self_registrations_are_capped_and_a_removal_frees_a_place(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(db_path, security={"max_self_registrations": 2})
    async with running(config) as server:
        replies = [
            await request(server.port, join_path(workshop), json_body={"name": f"New {i}"})
            for i in range(3)
        ]
        assert [r.status for r in replies] == [201, 201, 403]
        assert "limit of 2 self-registrations" in replies[2].json()["error"]
        from_cli(workshop, operations.remove_attendee, replies[0].json()["attendee_id"])
        again = await request(server.port, join_path(workshop), json_body={"name": "New 3"})
        assert again.status == 201
        # The facilitator's own attendees don't count against the cap.
        assert attendee_count(workshop) == len(workshop.attendees) + 2


# --- removing an attendee -------------------------------------------------------------


@pytest.mark.workshop(features=2, attendees=3, quorum="all", rule="majority", min_votes=1)
async def test_removing_an_attendee_closes_them_and_withdraws_their_open_votes(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    ada, grace, stray = workshop.attendees
    [pair] = workshop.comparisons
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    s, _ = await clients.join(stray)
    for peer, choice in ((s, pair.b), (a, pair.a), (g, None)):  # B, A, tie: split
        await peer.vote(pair.id, choice)
    for peer in (a, g, s):
        await votes_seen(peer, 3)

    started = time.perf_counter()
    from_cli(workshop, operations.remove_attendee, stray.id)

    reason = await s.closed()
    assert (reason.code, reason.reason) == (1008, "removed")
    assert time.perf_counter() - started < 1.0
    left = await a.next_of("attendee_left")
    assert (left["data"]["attendee_id"], left["data"]["reason"]) == (stray.id, "removed")
    state = (await a.next_of("session_state"))["data"]
    assert stray.id not in {x["attendee_id"] for x in state["attendees"]}
    [comparison] = state["comparisons"]
    assert {v["attendee_id"] for v in comparison["votes"]} == {ada.id, grace.id}
    assert comparison["status"] == "open"
    # Two expected voters now: Grace's A makes it 2 of 2.
    await g.vote(pair.id, pair.a)
    assert (await g.next_of("vote_received"))["data"]["voters_expected"] == 2
    reached = await a.next_of("consensus_reached")
    assert reached["data"]["comparison_id"] == pair.id
    # The stray's token no longer opens anything; its vote stays in the history.
    refused = await request(
        server.port,
        f"/projects/{workshop.project_id}/sessions?attendee_id={stray.id}&token={stray.token}",
    )
    assert refused.json() == {
        "error": "Authentication failed: this attendee was removed from the project"
    }
    history = from_cli(workshop, Store.vote_history, workshop.session_id)
    assert stray.id in {v.attendee_id for v in history}
    current = from_cli(workshop, Store.votes, workshop.session_id)
    assert stray.id not in {v.attendee_id for v in current}


@pytest.mark.workshop(features=2, attendees=3, quorum="all", rule="unanimous", min_votes=1)
async def test_a_removed_stray_no_longer_blocks_a_unanimous_pair(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    ada, grace, stray = workshop.attendees  # the stray never connects
    [pair] = workshop.comparisons
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    await a.vote(pair.id, pair.a)
    await g.vote(pair.id, pair.a)
    assert (await a.next_of("vote_received"))["data"]["voters_expected"] == 3
    await a.next_of("vote_received")

    from_cli(workshop, operations.remove_attendee, stray.id)

    reached = await a.next_of("consensus_reached")
    assert reached["data"]["comparison_id"] == pair.id
    assert (await g.next_of("consensus_reached"))["data"]["comparison_id"] == pair.id
    results = from_cli(workshop, operations.results, workshop.session_id)
    assert [c.status.value for c in results.comparisons] == ["decided"]
    assert stray.id in {a.id for a in results.removed}


async def test_a_removed_name_can_be_used_again(workshop: Workshop) -> None:
    stray = workshop.attendees[2]
    from_cli(workshop, operations.remove_attendee, stray.id)

    again, _ = from_cli(workshop, operations.add_attendee, workshop.project_id, stray.name)

    assert again.id != stray.id
    with pytest.raises(LookupError, match=f"attendee {stray.id} not found"):
        from_cli(workshop, operations.remove_attendee, stray.id)


# --- the projector ----------------------------------------------------------------------


async def test_the_projector_token_watches_but_cannot_act(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    token = from_cli(workshop, operations.rotate_projector_token, workshop.project_id)
    projector = await clients.connect(projector_token=token)
    state = await projector.expect("session_state")
    assert state["data"]["you"] == {"role": "projector", "attendee_id": None, "name": None}
    ada, _ = await clients.join(workshop.attendees[0])
    pair = workshop.comparisons[0]

    await ada.vote(pair.id, pair.a)
    seen = await projector.next_of("vote_received")
    assert seen["data"]["attendee_id"] == workshop.attendees[0].id
    await projector.send("facilitator_action", {"action": "skip", "comparison_id": pair.id}, ref=1)
    refused = await projector.next_of("error")
    assert (refused["data"]["code"], refused["data"]["ref"]) == ("forbidden", 1)
    await projector.vote(pair.id, pair.a)
    assert (await projector.next_of("error"))["data"]["code"] == "forbidden"

    # Over HTTP: the sessions and the results, not the facilitator's changes.
    headers = {"authorization": f"Bearer {token}"}
    sessions = await request(
        server.port, f"/projects/{workshop.project_id}/sessions", headers=headers
    )
    assert sessions.json()["you"] == {"role": "projector"}
    results = await request(server.port, session_path(workshop, "results"), headers=headers)
    assert results.status == 200
    change = await request(
        server.port,
        session_path(workshop, "registration"),
        json_body={"open": False},
        headers=headers,
    )
    assert change.status == 403
    # The facilitator's token doesn't open a projector socket, nor the projector's a dashboard.
    wrong = await request(
        server.port,
        f"/projects/{workshop.project_id}/sessions?projector_token={workshop.facilitator_token}",
    )
    assert wrong.json() == {"error": "Authentication failed: invalid projector token"}


async def test_a_new_projector_token_replaces_the_old_one(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    old = from_cli(workshop, operations.rotate_projector_token, workshop.project_id)
    projector = await clients.connect(projector_token=old)
    await projector.expect("session_state")
    dashboard, _ = await clients.facilitator()

    new = from_cli(workshop, operations.rotate_projector_token, workshop.project_id)

    reason = await projector.closed()
    assert (reason.code, reason.reason) == (1008, "token rotated")
    with trio.fail_after(5):
        fresh = await clients.connect(projector_token=new)
    assert (await fresh.expect("session_state"))["data"]["you"]["role"] == "projector"
    assert not dashboard.ws.closed


async def test_a_rotated_code_is_announced_to_the_dashboard(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    dashboard, _ = await clients.facilitator()

    from_cli(workshop, operations.set_self_registration, workshop.session_id, "rotate")

    notice = await dashboard.next_of("system_notice")
    assert notice["data"]["event"] == "registration_opened"


async def test_the_dashboard_issues_the_projector_token(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    path = f"/projects/{workshop.project_id}/projector_token"
    ada = workshop.attendees[0]

    reply = await request(server.port, path, json_body={}, headers=bearer(workshop))
    as_attendee = await request(
        server.port, f"{path}?attendee_id={ada.id}&token={ada.token}", json_body={}
    )

    assert reply.status == 200
    assert set(reply.json()) == {"id", "projector_token"}
    projector = await clients.connect(projector_token=reply.json()["projector_token"])
    assert (await projector.expect("session_state"))["data"]["you"]["role"] == "projector"
    assert as_attendee.status == 403
