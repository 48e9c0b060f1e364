"""What the storage raises, whatever the backend."""

from __future__ import annotations

import sqlite3


class StorageError(Exception):
    """The database can't be used: the message says why, in one line."""


class NotFound(LookupError):
    """No such project, feature, attendee or session."""

    def __init__(self, what: str, id_: int) -> None:
        super().__init__(f"{what} {id_} not found")
        self.what = what
        self.id = id_


class Conflict(ValueError):
    """The request contradicts the stored state (for example: too few features)."""


class RegistrationClosed(PermissionError):
    """The session does not take self-registrations (now)."""


# A database the backend could not use at all (corrupt, locked, unreadable).
DatabaseError = sqlite3.Error
