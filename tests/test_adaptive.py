"""An adaptive session over the real daemon: one pair at a time, the rest by transitivity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
from click.testing import CliRunner

from pairwise_ws.cli import cli
from pairwise_ws.domain import facilitation
from pairwise_ws.domain import session as s
from pairwise_ws.domain.models import (
    Attendee,
    Choice,
    Comparison,
    ComparisonStatus,
    ConsensusSettings,
    Criterion,
    Feature,
    Outcome,
    Schedule,
    Session,
    SessionStatus,
    Vote,
)
from pairwise_ws.domain.schedule import binary_insertion_bound
from pairwise_ws.net.server import Server
from pairwise_ws.storage import Store
from tests.conftest import Clients, Peer, Workshop, make_config, running, stored_results

ADAPTIVE = pytest.mark.workshop(features=5, attendees=2, schedule="adaptive", min_votes=2)


def open_ids(state: dict[str, Any]) -> list[int]:
    return [c["id"] for c in state["comparisons"] if c["status"] == "open"]


async def decide_by_votes(peers: list[Peer], comparison: dict[str, Any], winner: int) -> None:
    for peer in peers:
        await peer.vote(comparison["id"], winner)


async def run_to_completion(
    peers: list[Peer], watcher: Peer, state: dict[str, Any], better: Any
) -> tuple[int, list[dict[str, Any]]]:
    """Everyone votes as `better` says on each pair the server opens; (decisions, implied msgs)."""
    comparisons = {c["id"]: c for c in state["comparisons"]}
    current = state["current_comparison_id"]
    decisions, implied = 0, []
    while current is not None:
        pair = comparisons[current]
        await decide_by_votes(peers, pair, better(pair["feature_a_id"], pair["feature_b_id"]))
        decisions += 1
        while True:
            message = await watcher.receive()
            kind, data = message["type"], message["data"]
            if kind == "comparisons_implied":
                implied.append(data)
            elif kind == "comparison_update":
                comparisons[data["comparison"]["id"]] = data["comparison"]
                if data["comparison"]["status"] == "open":
                    current = data["comparison"]["id"]
                    break
            elif kind == "system_notice" and data["event"] == "session_completed":
                current = None
                break
    return decisions, implied


@ADAPTIVE
async def test_a_consistent_group_decides_only_what_the_order_needs(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    ada, grace = workshop.attendees
    a, state = await clients.join(ada)
    g, _ = await clients.join(grace)
    watcher, _ = await clients.facilitator()
    data = state["data"]
    assert data["session"]["schedule"] == "adaptive"
    assert len(open_ids(data)) == 1
    assert data["current_comparison_id"] == open_ids(data)[0]
    waiting = [c for c in data["comparisons"] if c["status"] == "waiting"]
    assert len(waiting) == len(data["comparisons"]) - 1
    # A waiting pair takes no vote.
    await a.vote(waiting[0]["id"], waiting[0]["feature_a_id"])
    refused = await a.next_of("error")
    assert refused["data"]["code"] == "comparison_closed"

    decisions, implied = await run_to_completion([a, g], watcher, data, min)  # lower id wins
    assert decisions <= binary_insertion_bound(5)  # 8, of 10 pairs
    assert implied, "nothing was implied"
    for message in implied:
        for item in message["comparisons"]:
            assert set(item) == {"id", "winner_id", "is_tie", "implied_by"}
            assert item["implied_by"]

    results = stored_results(workshop)
    statuses = {c.status.value for c in results.comparisons}
    assert statuses <= {"decided", "implied"}
    assert [s.feature_id for s in results.ranking.standings] == sorted(workshop.feature_ids)
    assert results.ranking.cycles == ()


@ADAPTIVE
async def test_an_implied_pair_can_be_asked_and_overruled_into_a_flagged_cycle(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    a, g, watcher = await completed(clients, workshop)
    implied = next(c for c in await current_comparisons(watcher) if c["status"] == "implied")

    await watcher.send(
        "facilitator_action", {"action": "reset_comparison", "comparison_id": implied["id"]}
    )
    update = await watcher.next_of("comparison_update")
    assert (update["data"]["comparison"]["id"], update["data"]["comparison"]["status"]) == (
        implied["id"],
        "open",
    )
    loser = max(implied["feature_a_id"], implied["feature_b_id"])
    await decide_by_votes([a, g], implied, loser)  # contrary to the chain
    reached = await watcher.next_of("consensus_reached")
    assert reached["data"]["winner_id"] == loser

    results = stored_results(workshop)
    assert results.ranking.cycles  # the overrule made a cycle, and it is flagged


@ADAPTIVE
async def test_resetting_a_decision_returns_what_it_implied_to_waiting(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    *_, watcher = await completed(clients, workshop)
    before = await current_comparisons(watcher)
    implied = next(c for c in before if c["status"] == "implied")
    behind = implied["implied_by"][0]
    resting = [c["id"] for c in before if c["status"] == "implied" and behind in c["implied_by"]]

    await watcher.send(
        "facilitator_action", {"action": "reset_comparison", "comparison_id": behind}
    )
    await watcher.next_of("comparison_update")

    after = {c["id"]: c for c in await current_comparisons(watcher)}
    assert after[behind]["status"] == "open"
    for comparison_id in resting:  # nothing is implied through the reset decision any more
        assert behind not in after[comparison_id]["implied_by"]
        assert after[comparison_id]["status"] in ("waiting", "implied")
    assert any(after[i]["status"] == "waiting" for i in resting)


async def completed(clients: Clients, workshop: Workshop) -> tuple[Peer, Peer, Peer]:
    """Both attendees and a dashboard, after the group settled every pair (lower id wins)."""
    ada, grace = workshop.attendees
    a, state = await clients.join(ada)
    g, _ = await clients.join(grace)
    watcher, _ = await clients.facilitator()
    await run_to_completion([a, g], watcher, state["data"], min)
    return a, g, watcher


async def current_comparisons(peer: Peer) -> list[dict[str, Any]]:
    await peer.send("join_session")
    comparisons: list[dict[str, Any]] = (await peer.next_of("session_state"))["data"]["comparisons"]
    return comparisons


def test_the_command_line_makes_adaptive_sessions_and_marks_implied_results(
    db_path: str, workshop: Workshop
) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--db", db_path, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    created = json.loads(
        run("session", "create", str(workshop.project_id), "--schedule", "adaptive", "--json")
    )
    assert created["schedule"] == "adaptive"
    store = Store.open(db_path)
    try:
        session, comparisons = store.session(created["id"]), store.comparisons(created["id"])
    finally:
        store.close()
    assert session.schedule.value == "adaptive"
    assert [c.status.value for c in comparisons].count("open") == 1
    assert [c.status.value for c in comparisons].count("waiting") == len(comparisons) - 1
    assert (
        run("results", str(created["id"]), "--format", "csv").splitlines()[0].endswith(",implied")
    )
    assert "Adaptive schedule: 0 decided by the group" in run("results", str(created["id"]))
    refused = CliRunner().invoke(
        cli, ["--db", db_path, "session", "create", str(workshop.project_id), "--schedule", "some"]
    )
    assert refused.exit_code != 0


@ADAPTIVE
async def test_a_restart_keeps_where_the_schedule_was(
    db_path: str, workshop: Workshop, nursery: trio.Nursery
) -> None:
    config = make_config(db_path)
    states = []
    for start in range(2):
        async with running(config) as server:
            clients = Clients(nursery, server, workshop)
            a, state = await clients.join(workshop.attendees[0])
            g, _ = await clients.join(workshop.attendees[1])
            data = state["data"]
            if start == 0:
                for _ in range(3):  # three decisions, lower id wins
                    pair = next(
                        c for c in data["comparisons"] if c["id"] == data["current_comparison_id"]
                    )
                    await decide_by_votes(
                        [a, g], pair, min(pair["feature_a_id"], pair["feature_b_id"])
                    )
                    data = await current_state(a)
            states.append(
                {
                    "current": data["current_comparison_id"],
                    "comparisons": [
                        (c["id"], c["status"], c["winner_id"], c["is_tie"], c["implied_by"])
                        for c in data["comparisons"]
                    ],
                }
            )
            await clients.aclose()
    assert states[0] == states[1]
    assert any(status == "implied" for _, status, *_ in states[1]["comparisons"])


async def current_state(peer: Peer) -> dict[str, Any]:
    """The session as it is after the last decision settled (its next pair open)."""
    while True:
        message = await peer.receive()
        if (
            message["type"] == "comparison_update"
            and message["data"]["comparison"]["status"] == "open"
        ):
            break
        if message["type"] == "system_notice" and message["data"]["event"] == "session_completed":
            break
    await peer.send("join_session")
    state: dict[str, Any] = (await peer.next_of("session_state"))["data"]
    return state


def test_a_comparison_that_becomes_implied_loses_its_current_votes() -> None:
    """Were it asked again (a reset behind it), its old votes would decide it unseen."""
    session = Session(
        1, 1, Criterion.VALUE, SessionStatus.ACTIVE, ConsensusSettings(), schedule=Schedule.ADAPTIVE
    )
    features = [Feature(f, 1, f"F{f}") for f in (1, 2, 3)]
    comparisons = [
        Comparison(10, 1, 1, 1, 2),
        Comparison(11, 1, 2, 2, 3),
        Comparison(12, 1, 3, 1, 3),  # open, with a vote on it
    ]
    vote = Vote(12, 7, Choice.feature(1), datetime(2026, 12, 8, tzinfo=UTC))
    state = s.new_state(session, features, [Attendee(7, 1, "Ada")], comparisons, [vote])
    first = facilitation.decide(state, 10, Outcome(1, False))
    assert isinstance(first, s.Transition)
    second = facilitation.decide(first.state, 11, Outcome(2, False))
    assert isinstance(second, s.Transition)

    implied = second.state.comparisons[12]
    assert implied.status is ComparisonStatus.IMPLIED
    assert implied.implied_by == (10, 11)
    assert second.state.votes_on(12) == {}
    assert s.VotesCleared(12) in second.events
