"""What the command line and the pages can do: setup, registration and results.

Each operation validates what people typed (domain.validation), applies the
domain's rules and stores the outcome. The CLI only parses and prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from pairwise_ws.config import Config, ConfigError
from pairwise_ws.domain import ordering, ranking, schedule, validation
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
from pairwise_ws.domain.validation import ValidationError
from pairwise_ws.storage import (
    Conflict,
    NotFound,
    SessionSnapshot,
    StorageError,
    Store,
)
from pairwise_ws.storage import DatabaseError as DatabaseError  # noqa: PLC0414  (for the CLI)

# What a person can get wrong: the message is for them, in one line.
USER_ERRORS = (ConfigError, StorageError, NotFound, ValidationError, Conflict)


@contextmanager
def opened(config: Config) -> Iterator[Store]:
    """The configured database, open for one command (created and migrated if new)."""
    store = Store.open(config.database.path, synchronous=config.database.synchronous)
    try:
        yield store
    finally:
        store.close()


def projects(store: Store) -> list[Project]:
    return store.projects()


def rotate_facilitator_token(store: Store, project_id: int) -> str:
    """A new facilitator token for the project; the old one stops working."""
    return store.rotate_facilitator_token(project_id)


def rotate_projector_token(store: Store, project_id: int) -> str:
    """A new read-only projector token for the project; the previous one stops working."""
    return store.rotate_projector_token(project_id)


def features(store: Store, project_id: int) -> list[Feature]:
    store.project(project_id)  # NotFound for an unknown project
    return store.features(project_id)


def attendees(store: Store, project_id: int) -> list[Attendee]:
    store.project(project_id)
    return store.attendees(project_id)


def rotate_attendee_token(store: Store, attendee_id: int) -> tuple[Attendee, str]:
    """A new token for the attendee; the old one stops working."""
    return store.rotate_attendee_token(attendee_id)


def remove_attendee(store: Store, attendee_id: int) -> Attendee:
    """The attendee's token stops working and it no longer counts; its history stays."""
    return store.remove_attendee(attendee_id)


def sessions(store: Store, project_id: int) -> list[Session]:
    store.project(project_id)
    return store.sessions(project_id)


def create_project(store: Store, name: str) -> tuple[Project, str]:
    """A new project and its facilitator token (shown once: only its hash is kept)."""
    return store.create_project(validation.clean_name(name, "project name"))


def add_feature(store: Store, project_id: int, title: str, description: str = "") -> Feature:
    return store.add_feature(
        project_id, validation.clean_title(title), validation.clean_description(description)
    )


def add_attendee(
    store: Store, project_id: int, name: str, *, observer: bool = False
) -> tuple[Attendee, str]:
    """A new attendee (a voter, or an observer) and its token (shown once)."""
    return store.add_attendee(
        project_id, validation.clean_name(name, "attendee name"), observer=observer
    )


def register_attendee(
    store: Store, session_id: int, name: str, join_code: str, limit: int
) -> tuple[Attendee, str]:
    """Self-registration through a session's join link: its code, while open, under `limit`."""
    return store.register_attendee(
        session_id, validation.clean_name(name, "name"), join_code, limit
    )


REGISTRATION_STATES = ("on", "off", "rotate")


def set_self_registration(store: Store, session_id: int, state: str) -> Session:
    """Open or close the session's join page, or give it a new code (the old link dies).

    A running daemon notices within a second.
    """
    if state == "rotate":
        return store.rotate_join_code(session_id)
    if state not in ("on", "off"):
        raise ValidationError(f"registration must be one of {', '.join(REGISTRATION_STATES)}")
    return store.set_self_registration(session_id, state == "on")


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
    schedule: str = "all",
) -> tuple[Session, list[Comparison]]:
    """A new session: every pair (`all`), or the pairs the order needs (`adaptive`)."""
    settings = validation.consensus_settings(
        rule=rule, threshold=threshold, min_votes=min_votes, quorum=quorum
    )
    return store.create_session(
        project_id,
        validation.criterion(criterion),
        settings,
        ordering.order_pairs,
        self_registration=self_registration,
        schedule=validation.schedule(schedule),
    )


def adaptive_bound(features: int) -> int:
    """The most pairs an adaptive session asks a consistent group (merge insertion's)."""
    return schedule.merge_insertion_bound(features)


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
    removed: tuple[Attendee, ...] = ()  # removed attendees: their votes stay in the results


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
        removed=tuple(store.removed_attendees(session.project_id)),
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


def open_sessions(store: Store) -> list[Session]:
    """Every active session, of every project."""
    return [
        s
        for project in store.projects()
        for s in store.sessions(project.id)
        if s.status is SessionStatus.ACTIVE
    ]
