"""The links people are given: attendee pages, session pages, WebSockets."""

from __future__ import annotations

from urllib.parse import urlencode

from pairwise_ws.config import Config


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


def registration_url(config: Config, project_id: int, session_id: int) -> str:
    """The session's self-registration page (what the QR code says)."""
    return session_page_url(config, project_id, session_id, "join")


def websocket_url(
    config: Config, project_id: int, session_id: int, query: dict[str, str | int]
) -> str:
    base = config.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return f"{base}/projects/{project_id}/sessions/{session_id}/ws?{urlencode(query)}"
