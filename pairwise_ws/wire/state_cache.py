"""session_state, every connection's first message, built from fragments a room keeps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pairwise_ws.domain.models import Vote
from pairwise_ws.domain.session import SessionState
from pairwise_ws.wire.converter import converter
from pairwise_ws.wire.encode import attendee_view, build_session_state_data, dumps, envelope
from pairwise_ws.wire.server_messages import MessageType, YouView, vote_views


def encode_session_state(
    state: SessionState,
    you: YouView,
    *,
    session_id: int,
    attendee_id: int,
    now: datetime,
    cache: SessionStateCache,
) -> str:
    """`encode(session_state_data(state, you), ...)`, the same text, made faster.

    session_state is every connection's first message, and in a large session
    it is mostly the `attendees` list and the comparisons' votes. Joins
    change neither (only who is online), so `cache` keeps each attendee's JSON
    and each comparison's votes as JSON until those votes change, instead of a
    view and a dump per attendee and per vote on every join.
    """
    data = build_session_state_data(state, you, with_attendees=False, with_votes=False)
    parts = []
    for key, value in converter.unstructure(data).items():
        if key == "attendees":
            text = cache.attendees_json(state)
        elif key == "comparisons":
            text = "[" + ",".join(cache.comparisons_json(state, value)) + "]"
        else:
            text = dumps(value)
        parts.append(f"{dumps(key)}:{text}")
    data_json = "{" + ",".join(parts) + "}"
    return envelope(MessageType.SESSION_STATE, session_id, attendee_id, data_json, now)


class SessionStateCache:
    """A room's JSON fragments of session_state, kept between joins."""

    _NO_VOTES = '"votes":[]'

    def __init__(self) -> None:
        # attendee id -> (its name, its JSON offline, its JSON online)
        self._attendees: dict[int, tuple[str, str, str]] = {}
        # comparison id -> (its votes mapping, those votes as JSON): a new vote
        # makes a new mapping (the state is immutable), so `is` tells a change.
        self._votes: dict[int, tuple[Mapping[int, Vote], str]] = {}

    def attendees_json(self, state: SessionState) -> str:
        fragments = self._attendees
        if len(fragments) > 2 * len(state.attendees) + 64:
            fragments.clear()  # attendees removed: start again
        online = state.online
        parts = []
        for attendee_id, attendee in state.attendees.items():
            entry = fragments.get(attendee_id)
            if entry is None or entry[0] != attendee.name:
                entry = fragments[attendee_id] = (
                    attendee.name,
                    dumps(converter.unstructure(attendee_view(attendee, online=False))),
                    dumps(converter.unstructure(attendee_view(attendee, online=True))),
                )
            parts.append(entry[2] if attendee_id in online else entry[1])
        return "[" + ",".join(parts) + "]"

    def comparisons_json(self, state: SessionState, views: list[dict[str, Any]]) -> list[str]:
        """Each comparison (unstructured without its votes) as JSON, votes put in."""
        texts = []
        for comparison_id, view in zip(state.comparisons, views, strict=True):
            votes = state.votes_on(comparison_id)
            entry = self._votes.get(comparison_id)
            if entry is None or entry[0] is not votes:
                views_of_votes = converter.unstructure(vote_views(votes.values()))
                entry = self._votes[comparison_id] = (votes, dumps(views_of_votes))
            # The only "votes" key is the view's own: inside a JSON string a
            # quote is always escaped, so the text can't occur in one.
            texts.append(dumps(view).replace(self._NO_VOTES, f'"votes":{entry[1]}', 1))
        return texts
