"""Who may open a session's WebSocket or call a project's endpoints.

`authenticate` and `authenticate_project` run in the database thread;
`origin_allowed` and `credentials` are pure.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import attrs

from pairwise_ws import tokens
from pairwise_ws.domain.models import Attendee, Role, Session, SessionStatus
from pairwise_ws.domain.validation import MAX_ID
from pairwise_ws.storage import NotFound, Store

# Compared against when the attendee does not exist, so that an unknown id
# costs the same hash and comparison as a wrong token.
_NO_HASH = tokens.hash_token("")


@attrs.frozen
class ProjectIdentity:
    project_id: int
    attendee: Attendee | None  # None: the project's facilitator or its projector
    token_hash: str = ""  # of the token it authenticated with (rotation ends it)
    role: Role = Role.FACILITATOR

    @property
    def is_facilitator(self) -> bool:
        return self.role is Role.FACILITATOR


@attrs.frozen
class Identity:
    project_id: int
    session_id: int
    attendee: Attendee | None  # None: the project's facilitator or its projector
    token_hash: str = ""  # of the token it authenticated with (rotation ends it)
    role: Role = Role.FACILITATOR


CREDENTIAL_KEYS = ("attendee_id", "token", "facilitator_token", "projector_token")
# `Authorization: Bearer T`: the facilitator's token or the projector's.
BEARER = "bearer"
_ROLES_OF = {
    "facilitator_token": (Role.FACILITATOR,),
    "projector_token": (Role.PROJECTOR,),
    BEARER: (Role.FACILITATOR, Role.PROJECTOR),
}
_NAMES_OF = {
    "facilitator_token": "facilitator",
    "projector_token": "projector",
    BEARER: "facilitator or projector",
}


def credentials(query: Mapping[str, str], authorization: str | None) -> dict[str, str]:
    """The credentials a request carries, in its query or its Authorization header.

    A WebSocket can only carry them in the query (browsers set no header on
    one). A plain request carries them in the header: `Bearer T` for the
    facilitator's or the projector's token, `Basic base64(attendee_id:token)`
    for an attendee. What the query says wins.
    """
    found = {k: v for k, v in query.items() if k in CREDENTIAL_KEYS}
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if found or not value:
        return found
    if scheme.lower() == "bearer":
        return {BEARER: value}
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return {"attendee_id": "", "token": ""}  # refused: "attendee_id and token ..."
        attendee_id, _, token = decoded.partition(":")
        return {"attendee_id": attendee_id, "token": token}
    return found


def authenticate(
    store: Store, project_id: int, session_id: int, query: Mapping[str, str]
) -> Identity | str:
    """The connection's identity, or the reason it is refused (for the 401)."""
    who = authenticate_project(store, project_id, query)
    if isinstance(who, str):
        return who
    if session_id > MAX_ID:
        return "session not found"
    try:
        session = store.session(session_id)
    except NotFound:
        return "session not found"
    if session.project_id != project_id:
        return "session does not belong to this project"
    if session.status is not SessionStatus.ACTIVE:
        return f"session is not active (it is {session.status})"
    return Identity(
        project_id=project_id,
        session_id=session_id,
        attendee=who.attendee,
        token_hash=who.token_hash,
        role=who.role,
    )


def authenticate_project(
    store: Store, project_id: int, query: Mapping[str, str]
) -> ProjectIdentity | str:
    """A facilitator, projector or attendee of the project, or the reason to refuse (the 401)."""
    if project_id > MAX_ID:
        return "project not found"
    attendee: Attendee | None = None
    role = Role.ATTENDEE
    project_token = next(
        (
            (key, query[key])
            for key in ("facilitator_token", "projector_token", BEARER)
            if key in query
        ),
        None,
    )
    if project_token is not None:
        key, given = project_token
        project = store.facilitator_credentials(project_id)
        if project is None:
            tokens.token_matches(given, _NO_HASH)
            return "project not found"
        stored = {
            Role.FACILITATOR: project.token_hash,
            Role.PROJECTOR: project.projector_token_hash,
        }
        given_hash = tokens.hash_token(given)
        matched = [
            r
            for r in _ROLES_OF[key]
            if (h := stored[r]) is not None and tokens.hashes_match(given_hash, h)
        ]
        if not matched:
            return f"invalid {_NAMES_OF[key]} token"
        role = matched[0]
        token_hash = stored[role] or ""
    else:
        raw_id, token = query.get("attendee_id"), query.get("token")
        if not raw_id or token is None:
            return "attendee_id and token are required"
        if not raw_id.isascii() or not raw_id.isdigit() or not 1 <= int(raw_id) <= MAX_ID:
            return "attendee_id must be a positive integer"
        found = store.attendee_credentials(int(raw_id))
        if found is None:
            tokens.token_matches(token, _NO_HASH)
            return "attendee not found"
        if not tokens.token_matches(token, found.token_hash):
            return "invalid token"
        if found.removed:
            return "this attendee was removed from the project"
        if found.project_id != project_id:
            return "attendee does not belong to this project"
        attendee, token_hash = found.attendee, found.token_hash
    return ProjectIdentity(
        project_id=project_id, attendee=attendee, token_hash=token_hash, role=role
    )


def join_code_matches(query: Mapping[str, str], session: Session) -> bool:
    """The request carries the session's join code (`?code=`)."""
    code = query.get("code")
    return code is not None and tokens.codes_match(code, session.join_code)


def origin_allowed(origin: str | None, host: str | None, allowed: Sequence[str]) -> bool:
    """The Origin rule (docs/protocol.md, "Connecting").

    With `allowed_origins` configured, only a listed Origin passes. With none
    configured, requests without Origin (not from a browser page) and pages of
    this daemon itself (Origin host and port equal to the Host header) pass.
    Anything else, the opaque origin "null" included, gets 403.
    """
    if allowed:
        if origin is None:
            return False
        return _normalized(origin) in {_normalized(a) for a in allowed}
    if origin is None:
        return True
    parts = urlsplit(_normalized(origin))
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == (host or "").lower()


def _normalized(origin: str) -> str:
    return origin.strip().lower().rstrip("/")
