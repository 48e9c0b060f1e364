"""`ref`: a client's reference for a message, carried back by the answers to it.

An `error` answering a message with a ref carries it as `data.ref`; so does
the voter's own copy of `vote_received`, and no other copy. Without a ref the
answers have no `ref` key. A ref of another type is `invalid_message`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pairwise_ws import wire
from pairwise_ws.domain.models import ErrorCode, Rejection
from tests.conftest import Clients, Workshop, make_config, serving


@pytest.mark.parametrize("ref", ["v-12", "", "x" * 64, 0, 7, -3, 2**53 - 1])
def test_a_valid_ref_rides_on_the_message(ref: str | int) -> None:
    message = wire.decode(f'{{"type": "join_session", "ref": {json.dumps(ref)}}}')
    assert message == wire.JoinSession(ref=ref)
    assert wire.ref_of(f'{{"ref": {json.dumps(ref)}, "type": "nope"}}') == ref


@pytest.mark.parametrize("ref", ["true", "false", "1.5", "2.0", '"' + "x" * 65 + '"', "[]", "{}"])
def test_a_ref_of_another_kind_is_invalid(ref: str) -> None:
    decoded = wire.decode(f'{{"type": "join_session", "ref": {ref}}}')
    assert isinstance(decoded, Rejection)
    assert decoded.code is ErrorCode.INVALID_MESSAGE
    assert "ref" in decoded.message
    assert wire.ref_of(f'{{"type": "join_session", "ref": {ref}}}') is None


def test_no_ref_and_a_null_ref_are_the_same() -> None:
    assert wire.decode('{"type": "join_session"}') == wire.JoinSession()
    assert wire.decode('{"type": "join_session", "ref": null}') == wire.JoinSession()


def vote(comparison_id: int, feature_id: int) -> dict[str, Any]:
    return {"vote": {"comparison_id": comparison_id, "preferred_feature_id": feature_id}}


async def test_the_voters_own_copy_carries_its_ref_and_no_other(
    clients: Clients, workshop: Workshop
) -> None:
    ada, grace = workshop.attendees[:2]
    a, _ = await clients.join(ada)
    g, _ = await clients.join(grace)
    await a.next_of("attendee_joined")  # its own
    pair = workshop.comparisons[0]
    await a.send("vote_submitted", vote(pair.id, pair.a), ref="c1")
    own = await a.next_of("vote_received")
    seen = await g.next_of("vote_received")
    assert own["data"]["ref"] == "c1"
    assert "ref" not in seen["data"]
    assert {k: v for k, v in own["data"].items() if k != "ref"} == seen["data"]
    # A vote without a ref: no ref anywhere.
    await a.send("vote_submitted", vote(workshop.comparisons[1].id, workshop.comparisons[1].a))
    assert "ref" not in (await a.next_of("vote_received"))["data"]
    assert "ref" not in (await g.next_of("vote_received"))["data"]


async def test_errors_carry_the_ref_of_what_they_answer(
    clients: Clients, workshop: Workshop
) -> None:
    a, _ = await clients.join(workshop.attendees[0])
    pair = workshop.comparisons[0]
    await a.send("vote_submitted", vote(999_999, pair.a), ref=41)  # the room refuses it
    refused = await a.next_of("error")
    assert (refused["data"]["code"], refused["data"]["ref"]) == ("invalid_vote", 41)
    await a.send("no_such_type", ref="t")  # the connection refuses it
    unknown = await a.expect("error")
    assert (unknown["data"]["code"], unknown["data"]["ref"]) == ("unknown_type", "t")
    await a.send("facilitator_action", {"action": "skip", "comparison_id": pair.id}, ref=9)
    forbidden = await a.expect("error")
    assert (forbidden["data"]["code"], forbidden["data"]["ref"]) == ("forbidden", 9)
    await a.send("join_session", ref=True)  # a ref of another type
    invalid = await a.expect("error")
    assert invalid["data"]["code"] == "invalid_message"
    assert "ref" not in invalid["data"]
    await a.send("vote_submitted", vote(999_999, pair.a))  # no ref: none in the answer
    assert "ref" not in (await a.expect("error"))["data"]


async def test_a_rate_limited_message_gets_its_ref_back(db_path: str, workshop: Workshop) -> None:
    config = make_config(db_path, limits={"rate_burst": 1, "rate_per_second": 0.001})
    async with serving(config, workshop) as clients:
        peer, _ = await clients.join(workshop.attendees[0])
        await peer.next_of("attendee_joined")  # the peer itself
        await peer.send("join_session", ref="first")
        await peer.send("join_session", ref="second")
        answers = [await peer.receive() for _ in range(2)]
        error = next(a for a in answers if a["type"] == "error")
        assert (error["data"]["code"], error["data"]["ref"]) == ("rate_limited", "second")
