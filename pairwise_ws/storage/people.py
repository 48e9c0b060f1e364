"""Projects, their features and their attendees, and the tokens that stand for them."""

from __future__ import annotations

from pairwise_ws import tokens
from pairwise_ws.clock import format_time, now_utc
from pairwise_ws.domain.models import Attendee, Feature, Project, SessionStatus
from pairwise_ws.storage import rows
from pairwise_ws.storage.errors import Conflict, NotFound, RegistrationClosed
from pairwise_ws.storage.records import Credentials
from pairwise_ws.storage.tables import Tables

# An attendee that `attendee remove` removed keeps its row (its votes stay in
# the history and the results) with `removed_at` set; nothing else sees it.


class People(Tables):
    # --- projects ---------------------------------------------------------

    def create_project(self, name: str) -> tuple[Project, str]:
        token = tokens.new_token()
        with self._immediate():
            table = self.db.table("projects").insert(
                {
                    "name": name,
                    "facilitator_token_hash": tokens.hash_token(token),
                    "created_at": format_time(now_utc()),
                }
            )
        return Project(id=rows.pk(table.last_pk), name=name), token

    def project(self, project_id: int) -> Project:
        row = self._row("SELECT id, name FROM projects WHERE id = ?", project_id)
        if row is None:
            raise NotFound("project", project_id)
        return Project(id=row["id"], name=row["name"])

    def projects(self) -> list[Project]:
        return [
            Project(id=r["id"], name=r["name"])
            for r in self.db.query("SELECT id, name FROM projects ORDER BY id")
        ]

    def rotate_facilitator_token(self, project_id: int) -> str:
        token = tokens.new_token()
        with self._immediate():
            self.project(project_id)
            self.db.execute(
                "UPDATE projects SET facilitator_token_hash = ? WHERE id = ?",
                [tokens.hash_token(token), project_id],
            )
        return token

    def rotate_projector_token(self, project_id: int) -> str:
        """A new read-only projector token; the previous one stops working."""
        token = tokens.new_token()
        with self._immediate():
            self.project(project_id)
            self.db.execute(
                "UPDATE projects SET projector_token_hash = ? WHERE id = ?",
                [tokens.hash_token(token), project_id],
            )
        return token

    def facilitator_credentials(self, project_id: int) -> Credentials | None:
        """The project's token hashes: the facilitator's, and the projector's if issued."""
        row = self._row(
            "SELECT facilitator_token_hash, projector_token_hash FROM projects WHERE id = ?",
            project_id,
        )
        if row is None:
            return None
        return Credentials(
            project_id=project_id,
            token_hash=row["facilitator_token_hash"],
            projector_token_hash=row["projector_token_hash"],
        )

    # --- features ---------------------------------------------------------

    def add_feature(self, project_id: int, title: str, description: str = "") -> Feature:
        with self._immediate():
            self.project(project_id)
            table = self.db.table("features").insert(
                {
                    "project_id": project_id,
                    "title": title,
                    "description": description,
                    "created_at": format_time(now_utc()),
                }
            )
        return Feature(
            id=rows.pk(table.last_pk), project_id=project_id, title=title, description=description
        )

    def features(self, project_id: int) -> list[Feature]:
        return [
            rows.feature(r)
            for r in self.db.query(
                "SELECT * FROM features WHERE project_id = ? ORDER BY id", [project_id]
            )
        ]

    # --- attendees --------------------------------------------------------

    def add_attendee(
        self, project_id: int, name: str, *, observer: bool = False
    ) -> tuple[Attendee, str]:
        """A new attendee and its token; names are unique in a project (ignoring case)."""
        with self._immediate():
            self.project(project_id)
            return self._insert_attendee(project_id, name, observer=observer)

    def register_attendee(
        self, session_id: int, name: str, join_code: str, limit: int
    ) -> tuple[Attendee, str]:
        """Self-registration through a session's join page: the code, open, under `limit`."""
        with self._immediate():
            row = self._row(
                "SELECT project_id, status, self_registration, join_code FROM sessions"
                " WHERE id = ?",
                session_id,
            )
            if row is None:
                raise NotFound("session", session_id)
            if not tokens.codes_match(join_code, row["join_code"]):
                raise RegistrationClosed(
                    "this join link is not valid (its code is wrong or was changed); "
                    "ask the facilitator for the current one"
                )
            if row["status"] != SessionStatus.ACTIVE.value:
                raise Conflict(f"session {session_id} is not active (it is {row['status']})")
            if not row["self_registration"]:
                raise RegistrationClosed("self-registration is closed for this session")
            registered = self._scalar(
                "SELECT count(*) FROM attendees WHERE registered_in = ? AND removed_at IS NULL",
                session_id,
            )
            if registered >= limit:
                raise RegistrationClosed(
                    f"this session has reached its limit of {limit} self-registrations; "
                    "ask the facilitator"
                )
            return self._insert_attendee(row["project_id"], name, registered_in=session_id)

    def _insert_attendee(
        self,
        project_id: int,
        name: str,
        *,
        registered_in: int | None = None,
        observer: bool = False,
    ) -> tuple[Attendee, str]:
        taken = self._row(
            "SELECT 1 FROM attendees WHERE project_id = ? AND name = ? COLLATE NOCASE"
            " AND removed_at IS NULL",
            project_id,
            name,
        )
        if taken is not None:
            raise Conflict(f"the name {name!r} is already taken in project {project_id}")
        token = tokens.new_token()
        table = self.db.table("attendees").insert(
            {
                "project_id": project_id,
                "name": name,
                "token_hash": tokens.hash_token(token),
                "created_at": format_time(now_utc()),
                "registered_in": registered_in,
                "role": "observer" if observer else "voter",
            }
        )
        added = Attendee(rows.pk(table.last_pk), project_id, name, observer=observer)
        return added, token

    def attendee(self, attendee_id: int) -> Attendee:
        row = self._row(
            "SELECT id, project_id, name, role FROM attendees WHERE id = ? AND removed_at IS NULL",
            attendee_id,
        )
        if row is None:
            raise NotFound("attendee", attendee_id)
        return rows.attendee(row)

    def attendees(self, project_id: int) -> list[Attendee]:
        """The project's attendees (not the removed ones), by id."""
        return [
            rows.attendee(r)
            for r in self.db.query(
                "SELECT id, project_id, name, role FROM attendees"
                " WHERE project_id = ? AND removed_at IS NULL ORDER BY id",
                [project_id],
            )
        ]

    def removed_attendees(self, project_id: int) -> list[Attendee]:
        """The attendees `remove_attendee` removed (their votes stay in the results)."""
        return [
            rows.attendee(r)
            for r in self.db.query(
                "SELECT id, project_id, name, role FROM attendees"
                " WHERE project_id = ? AND removed_at IS NOT NULL ORDER BY id",
                [project_id],
            )
        ]

    def rotate_attendee_token(self, attendee_id: int) -> tuple[Attendee, str]:
        token = tokens.new_token()
        with self._immediate():
            attendee = self.attendee(attendee_id)
            self.db.execute(
                "UPDATE attendees SET token_hash = ? WHERE id = ?",
                [tokens.hash_token(token), attendee_id],
            )
        return attendee, token

    def remove_attendee(self, attendee_id: int) -> Attendee:
        """The attendee's token stops working and it stops counting; its history stays.

        Its current votes on comparisons still open are withdrawn (the history
        keeps them): they were the votes of someone no longer expected to vote.
        Its votes on decided comparisons stay, as the decisions they made.
        """
        with self._immediate():
            attendee = self.attendee(attendee_id)
            self.db.execute(
                "UPDATE attendees SET removed_at = ? WHERE id = ?",
                [format_time(now_utc()), attendee_id],
            )
            self.db.execute(
                "DELETE FROM votes WHERE attendee_id = ? AND comparison_id IN"
                " (SELECT id FROM comparisons WHERE status IN ('open', 'waiting', 'implied'))",
                [attendee_id],
            )
        return attendee

    def attendee_credentials(self, attendee_id: int) -> Credentials | None:
        row = self._row(
            "SELECT id, project_id, name, role, token_hash, removed_at FROM attendees WHERE id = ?",
            attendee_id,
        )
        if row is None:
            return None
        return Credentials(
            project_id=row["project_id"],
            token_hash=row["token_hash"],
            attendee=rows.attendee(row),
            removed=row["removed_at"] is not None,
        )
