"""The demo workshop of `make run`: created on first use, with fresh links each start."""

from __future__ import annotations

import attrs

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
