"""A room's changes committed: what the store said, counted and logged."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Sequence

from pairwise_ws import logs
from pairwise_ws.domain.models import SessionStatus
from pairwise_ws.domain.session import Event, VoteRecorded
from pairwise_ws.metrics import Metrics
from pairwise_ws.storage import STORED_EVENTS
from pairwise_ws.storage.writer import AsyncStore

log = logging.getLogger(__name__)


class Stored(enum.Enum):
    OK = "ok"
    NOT_ACTIVE = "not_active"  # closed in the database meanwhile: nothing was written
    FAILED = "failed"


async def commit(
    store: AsyncStore,
    session_id: int,
    events: Sequence[Event],
    metrics: Metrics,
    *,
    expect: SessionStatus = SessionStatus.ACTIVE,
) -> Stored:
    """Store those of `events` that change the database (if any), in one transaction.

    Failures are logged and counted, never raised: the room answers them.
    """
    events = [e for e in events if isinstance(e, STORED_EVENTS)]
    if not events:
        return Stored.OK
    started = time.perf_counter()
    try:
        ok = await store.record(session_id, events, expect=expect)
    except Exception:
        metrics.internal_errors["storage"].inc()
        log.exception(
            logs.event("could not store changes", session_id=session_id, changes=len(events))
        )
        return Stored.FAILED
    metrics.commit_seconds.observe(time.perf_counter() - started)
    if not ok:
        return Stored.NOT_ACTIVE
    votes = sum(1 for e in events if isinstance(e, VoteRecorded))
    if votes:
        metrics.votes_committed.inc(votes)
    return Stored.OK
