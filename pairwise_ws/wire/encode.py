"""From the domain to the wire: each event's message, in the envelope, as JSON text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pairwise_ws.clock import format_time
from pairwise_ws.domain import session as events
from pairwise_ws.domain.models import Attendee, Rejection
from pairwise_ws.domain.session import SessionState
from pairwise_ws.wire.converter import converter, omit_ref_if_none
from pairwise_ws.wire.server_messages import (
    MESSAGE_TYPES,
    AttendeeJoinedData,
    AttendeeLeftData,
    AttendeeView,
    ComparisonsImpliedData,
    ComparisonUpdateData,
    ComparisonView,
    ConsensusLostData,
    ConsensusReachedData,
    ErrorData,
    FeatureView,
    ImpliedView,
    LeaveReason,
    LiveComparisonView,
    MessageType,
    NoticeEvent,
    ProgressData,
    ServerData,
    SessionStateData,
    SessionView,
    SystemNoticeData,
    TimerData,
    VoteReceivedData,
    YouView,
)


def encode(data: ServerData, *, session_id: int, attendee_id: int, now: datetime) -> str:
    """One server message as JSON text, in the envelope (docs/protocol.md).

    `attendee_id` is the attendee who caused the event, 0 for the system.
    """
    data_json = dumps(converter.unstructure(data))
    return envelope(MESSAGE_TYPES[type(data)], session_id, attendee_id, data_json, now)


def envelope(
    kind: MessageType, session_id: int, attendee_id: int, data_json: str, now: datetime
) -> str:
    # The envelope, key order and all, with `data` already JSON.
    return (
        f'{{"type":"{kind.value}","session_id":{int(session_id)},'
        f'"attendee_id":{int(attendee_id)},"data":{data_json},"timestamp":"{format_time(now)}"}}'
    )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error(rejection: Rejection, ref: str | int | None = None) -> ErrorData:
    return ErrorData(code=rejection.code, message=rejection.message, ref=ref)


omit_ref_if_none(ErrorData)
omit_ref_if_none(VoteReceivedData, "retracted")


NOTICE_TEXT: Mapping[NoticeEvent, str] = {
    NoticeEvent.SESSION_COMPLETED: "Every comparison is settled: the session is complete.",
    NoticeEvent.SESSION_CLOSED: "The session was closed by the facilitator.",
    NoticeEvent.SERVER_SHUTDOWN: "The server is shutting down.",
    NoticeEvent.SESSION_REOPENED: "A comparison was reopened: the session is active again.",
    NoticeEvent.REGISTRATION_OPENED: "New attendees can now join with the session's join link.",
    NoticeEvent.REGISTRATION_CLOSED: "The session's join link is closed to new attendees.",
}


def notice(event: NoticeEvent) -> SystemNoticeData:
    return SystemNoticeData(event=event, message=NOTICE_TEXT[event])


def session_state_data(state: SessionState, you: YouView) -> SessionStateData:
    return build_session_state_data(state, you, with_attendees=True, with_votes=True)


def attendee_view(attendee: Attendee, *, online: bool) -> AttendeeView:
    return AttendeeView(
        attendee_id=attendee.id, name=attendee.name, online=online, role=attendee.role
    )


def build_session_state_data(
    state: SessionState, you: YouView, *, with_attendees: bool, with_votes: bool
) -> SessionStateData:
    features = state.features
    return SessionStateData(
        session=SessionView.of(state.session),
        you=you,
        features=tuple(
            FeatureView(id=f.id, title=f.title, description=f.description)
            for f in features.values()
        ),
        comparisons=tuple(
            LiveComparisonView.of(
                c,
                features,
                state.votes_on(c.id).values() if with_votes else (),
                voters_expected=state.expected_voter_count(c.id),
            )
            for c in state.comparisons.values()
        ),
        attendees=tuple(
            attendee_view(a, online=a.id in state.online) for a in state.attendees.values()
        )
        if with_attendees
        else (),
        current_comparison_id=state.current_comparison_id,
        progress=ProgressData.of(state.progress),
        timer=TimerData.of(state.timer),
    )


def _notice_event(
    event: events.SessionCompleted
    | events.SessionClosed
    | events.SessionReopened
    | events.RegistrationChanged,
) -> NoticeEvent:
    match event:
        case events.SessionCompleted():
            return NoticeEvent.SESSION_COMPLETED
        case events.SessionClosed():
            return NoticeEvent.SESSION_CLOSED
        case events.SessionReopened():
            return NoticeEvent.SESSION_REOPENED
        case events.RegistrationChanged(enabled=enabled):
            return NoticeEvent.REGISTRATION_OPENED if enabled else NoticeEvent.REGISTRATION_CLOSED


def event_data(  # noqa: PLR0912 - one case per event type is the point
    event: events.Event,
    state: SessionState,
    *,
    leave_reason: LeaveReason = LeaveReason.DISCONNECTED,
) -> ServerData | None:
    """The server message for a domain event, seen in `state` (after the event).

    None for the events that are only stored (`VotesCleared`: the
    `comparison_update` that follows it says the comparison was reset).
    """
    features = state.features
    match event:
        case events.VoteRecorded(vote=vote):
            return VoteReceivedData(
                comparison_id=vote.comparison_id,
                attendee_id=vote.attendee_id,
                attendee_name=state.attendees[vote.attendee_id].name,
                preferred_feature_id=vote.choice.preferred_feature_id,
                is_tie_vote=vote.choice.is_tie,
                votes_received=event.votes_received,
                voters_expected=event.voters_expected,
            )
        case events.VoteRetracted(comparison_id=comparison_id, attendee_id=attendee_id):
            return VoteReceivedData(
                comparison_id=comparison_id,
                attendee_id=attendee_id,
                attendee_name=state.attendees[attendee_id].name,
                preferred_feature_id=None,
                is_tie_vote=None,
                votes_received=event.votes_received,
                voters_expected=event.voters_expected,
                retracted=True,
            )
        case events.ConsensusReached(comparison=c):
            return ConsensusReachedData(
                comparison_id=c.id,
                winner_id=c.winner_id,
                is_tie=c.is_tie,
                feature_a_title=features[c.feature_a_id].title,
                feature_b_title=features[c.feature_b_id].title,
                winner_title=None if c.winner_id is None else features[c.winner_id].title,
            )
        case events.ConsensusLost(comparison=c):
            return ConsensusLostData(
                comparison_id=c.id,
                feature_a_title=features[c.feature_a_id].title,
                feature_b_title=features[c.feature_b_id].title,
            )
        case events.ProgressChanged(progress=progress):
            return ProgressData.of(progress)
        case events.CurrentComparisonMoved(comparison=c, current_comparison_id=current):
            return ComparisonUpdateData(
                comparison=ComparisonView.of(c, features), current_comparison_id=current
            )
        case events.ComparisonChanged(comparison=c, current_comparison_id=current, action=action):
            return ComparisonUpdateData(
                comparison=ComparisonView.of(c, features),
                current_comparison_id=current,
                action=action,
            )
        case (
            events.SessionCompleted()
            | events.SessionClosed()
            | events.SessionReopened()
            | events.RegistrationChanged()
        ):
            return notice(_notice_event(event))
        case events.AttendeeCameOnline(attendee=a, online_count=count):
            return AttendeeJoinedData(attendee_id=a.id, attendee_name=a.name, online_count=count)
        case events.AttendeeWentOffline(attendee=a, online_count=count):
            return AttendeeLeftData(
                attendee_id=a.id, attendee_name=a.name, reason=leave_reason, online_count=count
            )
        case events.TimerChanged(timer=timer):
            return TimerData.of(timer)
        case events.ComparisonsImplied(comparisons=implied):
            return ComparisonsImpliedData(
                tuple(ImpliedView(c.id, c.winner_id, c.is_tie, c.implied_by) for c in implied)
            )
        case events.VotesCleared():
            return None
    raise AssertionError(f"no message for {event!r}")  # pragma: no cover
