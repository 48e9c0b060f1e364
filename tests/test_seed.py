"""The seed's own test (TestWebSocketHub_VoteProcessing), end to end over real sockets."""

from __future__ import annotations

from tests.conftest import Clients, Workshop


async def test_vote_reaches_the_other_attendee(clients: Clients, workshop: Workshop) -> None:
    # Two attendees in one session.
    ada, bob = workshop.attendees[0], workshop.attendees[1]
    client1, _ = await clients.join(ada)
    client2, _ = await clients.join(bob)
    await client1.next_of("attendee_joined")  # bob arriving

    # Attendee 1 votes, in the seed's exact shape (2.0: JSON numbers may be floats).
    comparison = workshop.comparisons[0]
    await client1.ws.send_message(
        '{"type": "vote_submitted", "session_id": 1, "data": {"vote": {"comparison_id": '
        f'{comparison.id}, "preferred_feature_id": {comparison.a}.0, "is_tie_vote": false}}}}}}'
    )

    # Attendee 2 receives vote_received for that comparison.
    received = await client2.next_of("vote_received")
    assert received["data"]["comparison_id"] == comparison.id
    assert received["data"]["preferred_feature_id"] == comparison.a
    assert received["attendee_id"] == ada.id
    assert received["session_id"] == workshop.session_id
