"""Client frames in: decoded into small frozen messages, or a `Rejection` naming the error code."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.v import format_exception as cattrs_format_exception

from pairwise_ws.domain.models import Choice, ErrorCode, Rejection
from pairwise_ws.domain.session import FacilitatorActionName
from pairwise_ws.wire.converter import WireId, _FieldError, converter

# A client's own reference for a message, echoed in the answers to it.
Ref = str | int
MAX_REF_CHARS = 64
MAX_REF_INT = 2**53 - 1  # what a JavaScript number holds exactly


@attrs.frozen
class JoinSession:
    ref: Ref | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class LeaveSession:
    ref: Ref | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class VoteSubmitted:
    comparison_id: int
    choice: Choice
    ref: Ref | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class VoteRetracted:
    comparison_id: int
    ref: Ref | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class FacilitatorAction:
    action: FacilitatorActionName
    comparison_id: int | None = None
    winner_id: int | None = None
    is_tie: bool = False
    text: str | None = None  # a note's
    seconds: int | None = None  # a timer's
    ref: Ref | None = attrs.field(default=None, kw_only=True)


ClientMessage = JoinSession | LeaveSession | VoteSubmitted | VoteRetracted | FacilitatorAction


@attrs.frozen
class _VoteWire:
    comparison_id: WireId
    preferred_feature_id: WireId | None = None
    is_tie_vote: bool = False


@attrs.frozen
class _VoteSubmittedWire:
    vote: _VoteWire


@attrs.frozen
class _FacilitatorActionWire:
    action: FacilitatorActionName
    comparison_id: WireId | None = None
    winner_id: WireId | None = None
    is_tie: bool = False
    text: str | None = None
    seconds: WireId | None = None


@attrs.frozen
class _VoteRetractedWire:
    comparison_id: WireId


def _format_error(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, _FieldError):
        return str(exc)
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown field(s): {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required field missing"
    if attrs.has(type_):
        return "expected a JSON object"
    if getattr(type_, "__origin__", None) is Literal:
        return "expected one of " + ", ".join(repr(v) for v in type_.__args__)
    return cattrs_format_exception(exc, type_)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def decode(frame: str | bytes) -> ClientMessage | Rejection:
    """A client frame as a message, or the `error` it deserves."""
    decoded = _decode(frame)
    if isinstance(decoded, Rejection):
        # The message may quote the client's input, lone surrogates included;
        # it goes back in a text frame, which must be valid UTF-8.
        text = decoded.message.encode("utf-8", "backslashreplace").decode("utf-8")
        return Rejection(decoded.code, text)
    return decoded


def _decode(frame: str | bytes) -> ClientMessage | Rejection:
    if isinstance(frame, bytes):
        return _invalid("binary frames are not accepted: send JSON text")
    try:
        raw = json.loads(frame, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return _invalid(f"not valid JSON: {str(exc)[:120]}")
    if not isinstance(raw, dict):
        return _invalid("a message must be a JSON object")
    ref = raw.get("ref")
    if ref is not None and not _is_ref(ref):
        return _invalid(f"ref must be a string of at most {MAX_REF_CHARS} characters or an integer")
    kind = raw.get("type")
    if kind is None:
        return _invalid("required field missing @ type")
    if not isinstance(kind, str):
        return _invalid("type must be a string")
    data = raw.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return _invalid("data must be a JSON object")
    handler = _DECODERS.get(kind)
    if handler is None:
        return Rejection(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:64]!r}")
    try:
        message = handler(data)
    except Exception as exc:  # cattrs groups every problem it found
        errors = cattrs.transform_error(exc, path="data", format_exception=_format_error)
        return _invalid("; ".join(errors)[:400])
    if ref is None or isinstance(message, Rejection):
        return message
    return attrs.evolve(message, ref=ref)


def _is_ref(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_REF_CHARS
    return type(value) is int and abs(value) <= MAX_REF_INT  # not a bool, not a float


def ref_of(frame: str | bytes) -> Ref | None:
    """The valid `ref` of a frame, if it has one: for the error that answers it.

    Only on the error path (a message refused or not processed), so parsing
    the frame once more costs nothing that matters.
    """
    if isinstance(frame, bytes) or not frame.lstrip().startswith("{"):
        return None
    try:
        raw = json.loads(frame, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    ref = raw.get("ref") if isinstance(raw, dict) else None
    return ref if ref is not None and _is_ref(ref) else None


def _decode_vote(data: dict[str, Any]) -> ClientMessage | Rejection:
    vote = converter.structure(data, _VoteSubmittedWire).vote
    if vote.is_tie_vote and vote.preferred_feature_id is not None:
        return Rejection(ErrorCode.INVALID_VOTE, "a vote is for a feature or a tie, not both")
    if not vote.is_tie_vote and vote.preferred_feature_id is None:
        return Rejection(
            ErrorCode.INVALID_VOTE,
            "a vote needs preferred_feature_id, or is_tie_vote: true",
        )
    choice = Choice.tie() if vote.is_tie_vote else Choice.feature(vote.preferred_feature_id or 0)
    return VoteSubmitted(comparison_id=vote.comparison_id, choice=choice)


def _decode_action(data: dict[str, Any]) -> ClientMessage:
    wire = converter.structure(data, _FacilitatorActionWire)
    return FacilitatorAction(
        action=wire.action,
        comparison_id=wire.comparison_id,
        winner_id=wire.winner_id,
        is_tie=wire.is_tie,
        text=wire.text,
        seconds=wire.seconds,
    )


_DECODERS: Mapping[str, Callable[[dict[str, Any]], ClientMessage | Rejection]] = {
    "join_session": lambda _: JoinSession(),
    "leave_session": lambda _: LeaveSession(),
    "vote_submitted": _decode_vote,
    "vote_retracted": lambda data: VoteRetracted(
        converter.structure(data, _VoteRetractedWire).comparison_id
    ),
    "facilitator_action": _decode_action,
}


def _invalid(message: str) -> Rejection:
    return Rejection(ErrorCode.INVALID_MESSAGE, message)
