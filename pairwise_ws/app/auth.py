"""Who may open a session's WebSocket or call a project's endpoints.

`authenticate` and `authenticate_project` run in the database thread;
`origin_allowed` and `credentials` are pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import attrs

from pairwise_ws import tokens
from pairwise_ws.domain.models import Attendee, SessionStatus
from pairwise_ws.domain.validation import MAX_ID
from pairwise_ws.storage import NotFound, Store

# Compared against when the attendee does not exist, so that an unknown id
# costs the same hash and comparison as a wrong token.
_NO_HASH = tokens.hash_token("")


@attrs.frozen
class ProjectIdentity:
    project_id: int
    attendee: Attendee | None  # None: the project's facilitator
    token_hash: str = ""  # of the token it authenticated with (rotation ends it)

    @property
    def is_facilitator(self) -> bool:
        return self.attendee is None


@attrs.frozen
class Identity:
    project_id: int
    session_id: int
    attendee: Attendee | None  # None: the project's facilitator
    token_hash: str = ""  # of the token it authenticated with (rotation ends it)


def credentials(query: Mapping[str, str], authorization: str | None) -> dict[str, str]:
    """The query's credentials; `Authorization: Bearer T` counts as a facilitator token."""
    found = {k: v for k, v in query.items() if k in ("attendee_id", "token", "facilitator_token")}
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip() and "attendee_id" not in found:
        found.setdefault("facilitator_token", value.strip())
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
    )


def authenticate_project(
    store: Store, project_id: int, query: Mapping[str, str]
) -> ProjectIdentity | str:
    """A facilitator or attendee of the project, or the reason to refuse (for the 401)."""
    if project_id > MAX_ID:
        return "project not found"
    attendee: Attendee | None = None
    facilitator_token = query.get("facilitator_token")
    if facilitator_token is not None:
        project = store.facilitator_credentials(project_id)
        if not tokens.token_matches(facilitator_token, project.token_hash if project else _NO_HASH):
            return "project not found" if project is None else "invalid facilitator token"
        if project is None:  # (an empty token hashes to _NO_HASH)
            return "project not found"
        token_hash = project.token_hash
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
        if found.project_id != project_id:
            return "attendee does not belong to this project"
        attendee, token_hash = found.attendee, found.token_hash
    return ProjectIdentity(project_id=project_id, attendee=attendee, token_hash=token_hash)


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
