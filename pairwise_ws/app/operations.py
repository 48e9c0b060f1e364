"""What the command line and the pages can do: setup, registration and results.

Each operation validates what people typed (domain.validation), applies the
domain's rules and stores the outcome. The CLI only parses and prints.
"""

from __future__ import annotations

from urllib.parse import urlencode

import attrs

from pairwise_ws.config import Config
from pairwise_ws.domain import ordering, ranking, validation
from pairwise_ws.domain.models import (
    Attendee,
    Comparison,
    ComparisonStatus,
    Criterion,
    Feature,
    Project,
    Session,
    SessionStatus,
    Vote,
)
from pairwise_ws.storage import SessionSnapshot, Store


def create_project(store: Store, name: str) -> tuple[Project, str]:
    """A new project and its facilitator token (shown once: only its hash is kept)."""
    return store.create_project(validation.clean_name(name, "project name"))


def add_feature(store: Store, project_id: int, title: str, description: str = "") -> Feature:
    return store.add_feature(
        project_id, validation.clean_title(title), validation.clean_description(description)
    )


def add_attendee(store: Store, project_id: int, name: str) -> tuple[Attendee, str]:
    """A new attendee and its token (shown once: only its hash is kept)."""
    return store.add_attendee(project_id, validation.clean_name(name, "attendee name"))


def register_attendee(store: Store, session_id: int, name: str) -> tuple[Attendee, str]:
    """Self-registration through a session's join page (if the session allows it)."""
    return store.register_attendee(session_id, validation.clean_name(name, "name"))


def set_self_registration(store: Store, session_id: int, enabled: bool) -> Session:
    """Open or close the session's join page. A running daemon notices within a second."""
    return store.set_self_registration(session_id, enabled)


def create_session(
    store: Store,
    project_id: int,
    *,
    criterion: str = "value",
    rule: str = "unanimous",
    threshold: float = 0.75,
    min_votes: int = 2,
    quorum: str = "present",
    self_registration: bool = True,
) -> tuple[Session, list[Comparison]]:
    settings = validation.consensus_settings(
        rule=rule, threshold=threshold, min_votes=min_votes, quorum=quorum
    )
    return store.create_session(
        project_id,
        validation.criterion(criterion),
        settings,
        ordering.order_pairs,
        self_registration=self_registration,
    )


def close_session(store: Store, session_id: int) -> Session:
    """Close the session (idempotent). A running daemon notices within a second."""
    return store.close_session(session_id)


@attrs.frozen
class Combined:
    """Value weight over complexity weight, from one session of each criterion."""

    value_session_id: int
    complexity_session_id: int
    rows: tuple[ranking.CombinedStanding, ...]


@attrs.frozen
class Results:
    session: Session
    features: tuple[Feature, ...]
    comparisons: tuple[Comparison, ...]
    votes: tuple[Vote, ...]
    ranking: ranking.Ranking
    combined: Combined | None = None
    attendees: tuple[Attendee, ...] = ()


def results(store: Store, session_id: int) -> Results:
    """A session's ranking, and the combined view when the project has a partner session.

    The partner is the project's latest session of the other criterion with
    at least one decided comparison.
    """
    snapshot = store.load_session(session_id)
    session = snapshot.session
    own = ranking.rank(snapshot.features, snapshot.comparisons)
    combined = None
    partner = _partner(store, session)
    if partner is not None:
        by_criterion = {
            session.criterion: (session.id, own),
            partner.session.criterion: (
                partner.session.id,
                ranking.rank(partner.features, partner.comparisons),
            ),
        }
        (value_id, value), (complexity_id, complexity) = (
            by_criterion[Criterion.VALUE],
            by_criterion[Criterion.COMPLEXITY],
        )
        combined = Combined(value_id, complexity_id, ranking.combine(value, complexity))
    return Results(
        session=session,
        features=snapshot.features,
        comparisons=snapshot.comparisons,
        votes=snapshot.votes,
        ranking=own,
        combined=combined,
        attendees=snapshot.attendees,
    )


def _partner(store: Store, session: Session) -> SessionSnapshot | None:
    """The project's latest session of the other criterion with a decided comparison."""
    for candidate in reversed(store.sessions(session.project_id)):
        if candidate.criterion is session.criterion:
            continue
        snapshot = store.load_session(candidate.id)
        if any(c.status is ComparisonStatus.DECIDED for c in snapshot.comparisons):
            return snapshot
    return None


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


def open_sessions(store: Store) -> list[Session]:
    """Every active session, of every project."""
    return [
        s
        for project in store.projects()
        for s in store.sessions(project.id)
        if s.status is SessionStatus.ACTIVE
    ]


def websocket_url(
    config: Config, project_id: int, session_id: int, query: dict[str, str | int]
) -> str:
    base = config.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return f"{base}/projects/{project_id}/sessions/{session_id}/ws?{urlencode(query)}"


# --- the demo workshop (make run) ---------------------------------------------

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
    projector_url: str
    registration_url: str  # the self-registration page (the QR code)
    facilitator_websocket_url: str
    links: tuple[DemoLink, ...]


def prepare_demo(store: Store, config: Config) -> Demo:
    """The demo workshop, created on first use, with fresh tokens for its links.

    Tokens are stored hashed, so links can't be shown again: each run issues
    new ones (the old links stop working). A finished demo session is replaced.
    """
    project = next((p for p in store.projects() if p.name == DEMO_PROJECT), None)
    if project is None:
        project, _ = create_project(store, DEMO_PROJECT)
        for title, description in DEMO_FEATURES:
            add_feature(store, project.id, title, description)
        for name in DEMO_ATTENDEES:
            add_attendee(store, project.id, name)
    session = next(
        (s for s in store.sessions(project.id) if s.status is SessionStatus.ACTIVE), None
    )
    if session is None:
        session, _ = create_session(store, project.id, rule="majority", min_votes=2)
    facilitator_token = store.rotate_facilitator_token(project.id)
    links = []
    for listed in store.attendees(project.id):
        attendee, token = store.rotate_attendee_token(listed.id)
        links.append(
            DemoLink(
                attendee=attendee,
                join_url=join_url(config, project.id, attendee.id, token),
                websocket_url=websocket_url(
                    config, project.id, session.id, {"attendee_id": attendee.id, "token": token}
                ),
            )
        )
    return Demo(
        project=project,
        session=session,
        facilitator_token=facilitator_token,
        facilitator_url=session_page_url(
            config, project.id, session.id, "facilitator", facilitator_token=facilitator_token
        ),
        projector_url=session_page_url(
            config, project.id, session.id, "projector", facilitator_token=facilitator_token
        ),
        registration_url=registration_url(config, project.id, session.id),
        facilitator_websocket_url=websocket_url(
            config, project.id, session.id, {"facilitator_token": facilitator_token}
        ),
        links=tuple(links),
    )
