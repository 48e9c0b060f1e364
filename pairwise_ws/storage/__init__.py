"""All state behind one interface; the only package that touches SQL.

`Store` (store.py) is synchronous and owns one SQLite connection, through
sqlite-utils: the CLI's commands use it through the application layer. The
daemon runs every call in a worker thread (`writer.AsyncStore`, imported from
its own module because it needs trio), so the event loop never waits on the
disk. A second backend implements the same `Store` methods and the values of
records.py; nothing outside this package sees a connection, a row or a
statement.
"""

from __future__ import annotations

from pairwise_ws.storage.errors import (
    Conflict,
    DatabaseError,
    NotFound,
    RegistrationClosed,
    StorageError,
)
from pairwise_ws.storage.records import (
    STORED_EVENTS,
    Credentials,
    RecordRequest,
    RoomRefresh,
    SessionSnapshot,
)
from pairwise_ws.storage.schema import (
    MIGRATIONS,
    VOTE_ROWS_PER_STATEMENT,
    vote_history_insert_sql,
    votes_upsert_sql,
)
from pairwise_ws.storage.store import (
    BUSY_TIMEOUT_S,
    DAEMON_BUSY_TIMEOUT_S,
    SYNCHRONOUS_MODES,
    Store,
)

__all__ = [
    "BUSY_TIMEOUT_S",
    "DAEMON_BUSY_TIMEOUT_S",
    "MIGRATIONS",
    "STORED_EVENTS",
    "SYNCHRONOUS_MODES",
    "VOTE_ROWS_PER_STATEMENT",
    "Conflict",
    "Credentials",
    "DatabaseError",
    "NotFound",
    "RecordRequest",
    "RegistrationClosed",
    "RoomRefresh",
    "SessionSnapshot",
    "StorageError",
    "Store",
    "vote_history_insert_sql",
    "votes_upsert_sql",
]
