"""Hostile messages: generated client frames at a live daemon, each checked against the contract.

The frames come from hypothesis strategies (tests/fuzzing.py); the oracle
there says, from the contract alone, which answers each frame may get. The
daemon must give one of them for every frame, stay up, store exactly the votes
it acknowledged and keep serving a bystander in the same session.

`make test` sends a few thousand frames with a fixed seed (deterministic);
`python -m soak.fuzz` sends 100,000 and more. PAIRWISE_FUZZ_FRAMES and
PAIRWISE_FUZZ_SEED override both here.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from pairwise_ws.config import Config
from tests.conftest import Clients, Pair, Peer, Person, Workshop, make_config, running
from tests.fuzzing import World, generate, history_count, make_world, replay, stored_votes

FRAMES = int(os.environ.get("PAIRWISE_FUZZ_FRAMES", "2000"))
SEED = int(os.environ.get("PAIRWISE_FUZZ_SEED", "20261125"))


def fuzz_config(db_path: str, **sections: dict[str, Any]) -> Config:
    """Rate limits out of the way (they have their own tests); no keepalive pings."""
    return make_config(
        db_path,
        limits={"rate_burst": 100_000, "rate_per_second": 100_000.0},
        keepalive={"ping_interval": 3600.0},
        **sections,
    )


def as_workshop(world: World) -> Workshop:
    people = (*world.fuzzers, world.control, world.absent)
    return Workshop(
        db_path=world.db_path,
        project_id=world.project_id,
        facilitator_token=world.facilitator_token,
        feature_ids=world.feature_ids,
        attendees=tuple(Person(m.id, m.name, m.token) for m in people),
        session_id=world.session_id,
        comparisons=tuple(Pair(c, a, b) for c, (a, b) in world.comparisons.items()),
    )


class Bystander:
    """A well-behaved attendee in the fuzzed session that reads everything, all along."""

    def __init__(self, peer: Peer, attendee_id: int) -> None:
        self.peer = peer
        self.attendee_id = attendee_id
        self.received = 0
        self.closed: str | None = None
        self.own_votes: list[dict[str, Any]] = []
        self._voted = trio.Event()

    async def read(self) -> None:
        try:
            while True:
                message = json.loads(await self.peer.ws.get_message())
                self.received += 1
                data = message["data"]
                if message["type"] == "vote_received" and data["attendee_id"] == self.attendee_id:
                    self.own_votes.append(data)
                    self._voted.set()
        except ConnectionClosed as exc:
            self.closed = repr(exc.reason)

    async def vote_and_wait(self, comparison_id: int, feature_id: int) -> dict[str, Any]:
        await self.peer.vote(comparison_id, feature_id)
        with trio.fail_after(5):
            await self._voted.wait()
        return self.own_votes[-1]


async def test_generated_hostile_frames_get_the_contracts_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(str(tmp_path / "fuzz.db"))
    cases = generate(world, FRAMES, SEED)  # before the daemon starts: no event loop to block
    assert len(cases) == FRAMES
    caplog.set_level(logging.WARNING, logger="pairwise_ws")
    async with running(fuzz_config(world.db_path)) as server, trio.open_nursery() as nursery:
        clients = Clients(nursery, server, as_workshop(world))
        try:
            control = world.control
            peer, _ = await clients.join(Person(control.id, control.name, control.token))
            bystander = Bystander(peer, control.id)
            nursery.start_soon(bystander.read)

            tally = await replay(server.port, world, cases)

            # The daemon still serves the bystander, who heard the fuzzers' votes.
            comparison_id = world.votable[0]
            feature_id = world.comparisons[comparison_id][0]
            ack = await bystander.vote_and_wait(comparison_id, feature_id)
            assert ack["comparison_id"] == comparison_id
            assert ack["preferred_feature_id"] == feature_id
            assert bystander.closed is None
            assert bystander.received > tally.acks
            nursery.cancel_scope.cancel()
        finally:
            await clients.aclose()

    report = "\n".join(str(m) for m in tally.mismatches[:20])
    assert not tally.mismatches, (
        f"{len(tally.mismatches)} of {tally.sent} frames got an answer the contract does not "
        f"allow (PAIRWISE_FUZZ_SEED={SEED}, PAIRWISE_FUZZ_FRAMES={FRAMES}):\n{report}"
    )
    assert tally.sent + tally.skipped == FRAMES
    # The generator reached every kind of frame and the daemon every kind of answer.
    assert set(tally.kinds) >= {"message", "vote", "text", "deep", "binary", "size", "utf8"}
    assert {
        "error invalid_message",
        "error unknown_type",
        "error invalid_vote",
        "error forbidden",
        "vote_received",
        "session_state",
        "close 1007",
        "close 1009",
    } <= set(tally.answers)
    # Exactly the acknowledged votes are stored: no refused vote slipped in.
    assert stored_votes(world) == tally.acknowledged
    assert history_count(world) == tally.acks + 1  # + the bystander's
    with sqlite3.connect(world.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[:5]
