"""The wire: what goes over a WebSocket, as pure functions (no trio, no sqlite).

JSON messages: client frames are decoded into small frozen messages, or a
`Rejection` naming the error code (`client_messages`); server messages are
attrs data classes (`server_messages`) in the envelope, serialized once per
broadcast (`encode`, `state_cache`). One cattrs converter does both directions
(`converter`). The protocol is described in docs/protocol.md.

Frames: `rfc6455` is the server side of RFC 6455 over wsproto, and
`close_codes` every close code the daemon sends. Import those from their
modules; this package's names are the JSON protocol's.
"""

from __future__ import annotations

from pairwise_ws.wire.client_messages import (
    MAX_REF_CHARS,
    ClientMessage,
    FacilitatorAction,
    JoinSession,
    LeaveSession,
    Ref,
    VoteRetracted,
    VoteSubmitted,
    decode,
    ref_of,
)
from pairwise_ws.wire.converter import (
    WireId,
    converter,
)
from pairwise_ws.wire.encode import (
    NOTICE_TEXT,
    attendee_view,
    build_session_state_data,
    dumps,
    encode,
    envelope,
    error,
    event_data,
    notice,
    session_state_data,
)
from pairwise_ws.wire.server_messages import (
    MESSAGE_TYPES,
    AttendeeJoinedData,
    AttendeeLeftData,
    AttendeeView,
    ComparisonsImpliedData,
    ComparisonUpdateData,
    ComparisonView,
    ComparisonWithVotesView,
    ConsensusLostData,
    ConsensusReachedData,
    ConsensusView,
    ErrorData,
    FeatureView,
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
    VoteView,
    YouView,
    vote_views,
)
from pairwise_ws.wire.state_cache import (
    SessionStateCache,
    encode_session_state,
)

__all__ = [
    "MAX_REF_CHARS",
    "MESSAGE_TYPES",
    "NOTICE_TEXT",
    "AttendeeJoinedData",
    "AttendeeLeftData",
    "AttendeeView",
    "ClientMessage",
    "ComparisonUpdateData",
    "ComparisonView",
    "ComparisonWithVotesView",
    "ComparisonsImpliedData",
    "ConsensusLostData",
    "ConsensusReachedData",
    "ConsensusView",
    "ErrorData",
    "FacilitatorAction",
    "FeatureView",
    "JoinSession",
    "LeaveReason",
    "LeaveSession",
    "LiveComparisonView",
    "MessageType",
    "NoticeEvent",
    "ProgressData",
    "Ref",
    "ServerData",
    "SessionStateCache",
    "SessionStateData",
    "SessionView",
    "SystemNoticeData",
    "TimerData",
    "VoteReceivedData",
    "VoteRetracted",
    "VoteSubmitted",
    "VoteView",
    "WireId",
    "YouView",
    "attendee_view",
    "build_session_state_data",
    "converter",
    "decode",
    "dumps",
    "encode",
    "encode_session_state",
    "envelope",
    "error",
    "event_data",
    "notice",
    "ref_of",
    "session_state_data",
    "vote_views",
]
