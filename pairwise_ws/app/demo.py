"""The demo workshops of `make run`: created on first use, with links that outlive a restart.

Two projects: the workshop (six features, every pair asked) and a backlog of
twelve features on the adaptive schedule.

Tokens are stored hashed, so a link can't be printed again from the
database. The demo keeps the tokens of its own links in a file beside the
database (`demo.db.links.json`, readable by its owner only); on the next
start the links it prints are the same ones, as long as each token still
matches (rotate one with the CLI and the demo issues a new link for it).
Attendees who joined through the join link are never touched: their pages
keep working across restarts.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import attrs

from pairwise_ws import tokens
from pairwise_ws.app.links import join_url, registration_url, session_page_url, websocket_url
from pairwise_ws.app.operations import add_attendee, add_feature, create_project, create_session
from pairwise_ws.config import Config
from pairwise_ws.domain.models import Attendee, Project, Session, SessionStatus
from pairwise_ws.storage import Store

DEMO_PROJECT = "Demo workshop: mobile app roadmap"
DEMO_FEATURES = (
    ("Offline mode", "Use the app without a connection; sync when back online."),
    ("Dark theme", "A dark colour scheme that follows the system setting."),
    ("Single sign-on", "Log in with the company account (SAML / OpenID Connect)."),
    ("Push notifications", "Alerts for mentions, deadlines and replies."),
    ("CSV export", "Download any list as a spreadsheet."),
    ("In-app search", "Search across projects, tasks and comments."),
)
DEMO_ATTENDEES = ("Ada", "Grace", "Linus", "Margaret")
# The second demo: a backlog large enough that the adaptive schedule shows
# what it saves (66 pairs; at most 30 asked of a consistent group).
ADAPTIVE_PROJECT = "Demo backlog: 12 features, adaptive schedule"
ADAPTIVE_FEATURES = (
    ("Offline mode", "Use the app without a connection."),
    ("Dark theme", "Follows the system setting."),
    ("Single sign-on", "SAML / OpenID Connect."),
    ("Push notifications", "Mentions, deadlines, replies."),
    ("CSV export", "Any list as a spreadsheet."),
    ("In-app search", "Projects, tasks and comments."),
    ("Calendar sync", "Deadlines in your calendar."),
    ("Two-factor login", "A code from an app."),
    ("Comment reactions", "A quick 👍 instead of a reply."),
    ("Bulk edit", "Change many tasks at once."),
    ("Audit log", "Who changed what, and when."),
    ("Public API", "Automate with scripts."),
)


@attrs.frozen
class DemoLink:
    attendee: Attendee
    join_url: str
    websocket_url: str


@attrs.frozen
class Demo:
    project: Project
    session: Session
    facilitator_token: str
    facilitator_url: str  # the dashboard, signed in
    projector_url: str  # read-only: with the projector token, never the facilitator's
    registration_url: str | None  # the self-registration page (the QR code), if open
    facilitator_websocket_url: str
    links: tuple[DemoLink, ...]
    links_file: Path | None  # where the links' tokens are kept between starts


@attrs.frozen
class Demos:
    """The demo workshop, and the second one on the adaptive schedule."""

    main: Demo
    adaptive: Demo
    links_file: Path | None


def links_file(database_path: str) -> Path | None:
    """Where the demo keeps its links' tokens (None for an in-memory database)."""
    return None if database_path == ":memory:" else Path(f"{database_path}.links.json")


def prepare_demo(store: Store, config: Config) -> Demos:
    """Both demo workshops, created on first use; their links as they were, where they work.

    A finished demo session is replaced by a new one.
    """
    path = links_file(config.database.path)
    kept = _read_kept(path)
    main, kept_main = _prepare(
        store, config, kept, DEMO_PROJECT, DEMO_FEATURES, rule="majority", min_votes=2
    )
    adaptive, kept_adaptive = _prepare(
        store,
        config,
        kept,
        ADAPTIVE_PROJECT,
        ADAPTIVE_FEATURES,
        rule="majority",
        min_votes=2,
        schedule="adaptive",
    )
    _write_kept(path, [kept_main, kept_adaptive])
    return Demos(main=main, adaptive=adaptive, links_file=path)


def _prepare(
    store: Store,
    config: Config,
    kept: dict[int, _Kept],
    name: str,
    features: tuple[tuple[str, str], ...],
    **session_options: Any,
) -> tuple[Demo, _Kept]:
    project = next((p for p in store.projects() if p.name == name), None)
    if project is None:
        project, _ = create_project(store, name)
        for title, description in features:
            add_feature(store, project.id, title, description)
        for attendee_name in DEMO_ATTENDEES:
            add_attendee(store, project.id, attendee_name)
    session = next(
        (s for s in store.sessions(project.id) if s.status is SessionStatus.ACTIVE), None
    )
    if session is None:
        session, _ = create_session(store, project.id, **session_options)
    mine = kept.get(project.id, _Kept(project.id))
    credentials = store.facilitator_credentials(project.id)
    assert credentials is not None
    facilitator_token = mine.valid("facilitator", credentials.token_hash)
    if facilitator_token is None:
        facilitator_token = store.rotate_facilitator_token(project.id)
    projector_token = mine.valid("projector", credentials.projector_token_hash)
    if projector_token is None:
        projector_token = store.rotate_projector_token(project.id)
    attendee_tokens: dict[str, str] = {}
    links = []
    for listed in store.attendees(project.id):
        if listed.name not in DEMO_ATTENDEES:
            continue  # joined through the join link: their page has its own token
        found = store.attendee_credentials(listed.id)
        token = mine.valid(f"attendee {listed.id}", found.token_hash if found else None)
        if token is None:
            _, token = store.rotate_attendee_token(listed.id)
        attendee_tokens[str(listed.id)] = token
        links.append(
            DemoLink(
                attendee=listed,
                join_url=join_url(config, project.id, listed.id, token),
                websocket_url=websocket_url(
                    config, project.id, session.id, {"attendee_id": listed.id, "token": token}
                ),
            )
        )
    demo = Demo(
        project=project,
        session=session,
        facilitator_token=facilitator_token,
        facilitator_url=session_page_url(
            config, project.id, session.id, "facilitator", facilitator_token=facilitator_token
        ),
        projector_url=session_page_url(
            config, project.id, session.id, "projector", projector_token=projector_token
        ),
        registration_url=registration_url(config, session),
        facilitator_websocket_url=websocket_url(
            config, project.id, session.id, {"facilitator_token": facilitator_token}
        ),
        links=tuple(links),
        links_file=links_file(config.database.path),
    )
    return demo, _Kept(project.id, facilitator_token, projector_token, attendee_tokens)


@attrs.frozen
class _Kept:
    """The demo's tokens as the links file holds them."""

    project_id: int
    facilitator: str | None = None
    projector: str | None = None
    attendees: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, project_id: int, data: Any) -> _Kept:
        """One project's entry of the links file (nothing if it is malformed)."""
        if not isinstance(data, dict):
            return cls(project_id)
        attendees = data.get("attendees")
        return cls(
            project_id,
            _text(data.get("facilitator")),
            _text(data.get("projector")),
            {
                str(k): v
                for k, v in (attendees.items() if isinstance(attendees, dict) else ())
                if isinstance(v, str)
            },
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "facilitator": self.facilitator,
            "projector": self.projector,
            "attendees": self.attendees,
        }

    def valid(self, which: str, stored_hash: str | None) -> str | None:
        """The kept token for `which`, if the database still accepts it."""
        if which == "facilitator":
            token = self.facilitator
        elif which == "projector":
            token = self.projector
        else:
            token = self.attendees.get(which.removeprefix("attendee "))
        if token is None or stored_hash is None or not tokens.token_matches(token, stored_hash):
            return None
        return token


def _read_kept(path: Path | None) -> dict[int, _Kept]:
    """The links file's entries by project; nothing if it is missing or unreadable."""
    if path is None:
        return {}
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    projects = data.get("projects") if isinstance(data, dict) else None
    if not isinstance(projects, dict):
        return {}
    return {
        int(key): _Kept.of(int(key), value)
        for key, value in projects.items()
        if isinstance(key, str) and key.isdigit()
    }


def _write_kept(path: Path | None, entries: list[_Kept]) -> None:
    """Replace the file at once (write beside it, then rename), readable by its owner only."""
    if path is None:
        return
    data = {"projects": {str(e.project_id): e.as_json() for e in entries}}
    partial = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
    partial.replace(path)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
