"""Workshops for the benchmarks, written straight into a fresh SQLite file.

Built with `pairwise_ws.app.operations` and the `Store`, as the command line
does, but in one process and with `synchronous=OFF` while setting up (the
daemon opens the file afterwards with its own, durable, setting). Tokens are
returned at creation: only their hashes are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pairwise_ws.app import operations
from pairwise_ws.storage import Store

FEATURE_TITLES = (
    "Offline mode",
    "Dark theme",
    "Single sign-on",
    "Push notifications",
    "CSV export",
    "In-app search",
    "Two-factor login",
    "Audit log",
)


@dataclass(frozen=True)
class Member:
    attendee_id: int
    token: str


@dataclass(frozen=True)
class RoomFixture:
    """One session and the attendees who will connect to it."""

    key: str
    project_id: int
    session_id: int
    comparisons: tuple[tuple[int, int, int], ...]  # (id, feature_a_id, feature_b_id)
    members: tuple[Member, ...]
    facilitator_token: str

    def target(self, member: Member) -> str:
        return (
            f"/projects/{self.project_id}/sessions/{self.session_id}/ws"
            f"?attendee_id={member.attendee_id}&token={member.token}"
        )

    def facilitator_target(self) -> str:
        return (
            f"/projects/{self.project_id}/sessions/{self.session_id}/ws"
            f"?facilitator_token={self.facilitator_token}"
        )


def build(
    db_path: Path,
    *,
    projects: int,
    attendees_per_project: int,
    sessions_per_project: int = 1,
    features: int = len(FEATURE_TITLES),
) -> list[RoomFixture]:
    """`projects` projects, each with its attendees spread evenly over its sessions.

    Every session uses the default consensus settings (unanimous, quorum
    present, at least 2 votes).
    """
    store = Store.open(db_path, synchronous="OFF")
    rooms: list[RoomFixture] = []
    try:
        for p in range(projects):
            project, facilitator_token = operations.create_project(
                store, f"Benchmark project {p + 1}"
            )
            for title in FEATURE_TITLES[:features]:
                operations.add_feature(store, project.id, title)
            members: list[Member] = []
            for i in range(attendees_per_project):
                attendee, token = operations.add_attendee(store, project.id, f"Attendee {i + 1}")
                members.append(Member(attendee.id, token))
            for s in range(sessions_per_project):
                session, comparisons = operations.create_session(store, project.id)
                share = members[s::sessions_per_project]
                rooms.append(
                    RoomFixture(
                        key=f"s{session.id}",
                        project_id=project.id,
                        session_id=session.id,
                        comparisons=tuple(
                            (c.id, c.feature_a_id, c.feature_b_id) for c in comparisons
                        ),
                        members=tuple(share),
                        facilitator_token=facilitator_token,
                    )
                )
    finally:
        store.close()
    return rooms


def count_votes(db_path: Path, session_ids: list[int]) -> tuple[int, int]:
    """(current votes, vote history rows) stored for these sessions."""
    store = Store.open(db_path, synchronous="OFF")
    try:
        marks = ",".join("?" * len(session_ids))
        current = store.db.execute(
            f"SELECT count(*) FROM votes v JOIN comparisons c ON c.id = v.comparison_id "  # noqa: S608
            f"WHERE c.session_id IN ({marks})",
            session_ids,
        ).fetchone()[0]
        history = store.db.execute(
            f"SELECT count(*) FROM vote_history h JOIN comparisons c ON c.id = h.comparison_id "  # noqa: S608
            f"WHERE c.session_id IN ({marks})",
            session_ids,
        ).fetchone()[0]
    finally:
        store.close()
    return int(current), int(history)
