"""The links people are given: attendee pages, session pages, WebSockets."""

from __future__ import annotations

from urllib.parse import urlencode

from pairwise_ws.config import Config
from pairwise_ws.domain.models import Session


def join_url(config: Config, project_id: int, attendee_id: int, token: str) -> str:
    """The browser page that joins this attendee (the token stays in the fragment)."""
    return f"{config.base_url}/projects/{project_id}/attendee#{join_fragment(attendee_id, token)}"


def join_fragment(attendee_id: int, token: str) -> str:
    """The attendee page's credentials: in the fragment, never sent to a server or logged."""
    return urlencode({"attendee_id": attendee_id, "token": token})


def session_page_url(
    config: Config, project_id: int, session_id: int, page: str, **query: str
) -> str:
    """A session's page: "join" (self-registration), "facilitator" or "projector".

    The facilitator's pages take `facilitator_token=` (else they ask for it).
    """
    url = f"{config.base_url}/projects/{project_id}/sessions/{session_id}/{page}"
    return f"{url}?{urlencode(query)}" if query else url


def registration_url(config: Config, session: Session) -> str | None:
    """The session's self-registration link, with its join code (what the QR code says).

    None while self-registration is off: there is no link that works.
    """
    if not session.self_registration:
        return None
    return join_page_url(config.base_url, session)


def join_page_url(base_url: str, session: Session) -> str:
    """The join page of the session, with its code, under `base_url`."""
    path = f"/projects/{session.project_id}/sessions/{session.id}/join"
    return f"{base_url}{path}?{urlencode({'code': session.join_code})}"


def websocket_url(
    config: Config, project_id: int, session_id: int, query: dict[str, str | int]
) -> str:
    base = config.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return f"{base}/projects/{project_id}/sessions/{session_id}/ws?{urlencode(query)}"
