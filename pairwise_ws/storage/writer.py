"""The daemon's door to the database: worker threads, and one group commit for every room."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import attrs
import trio

from pairwise_ws.domain.models import SessionStatus
from pairwise_ws.domain.session import Event
from pairwise_ws.storage.errors import StorageError
from pairwise_ws.storage.records import RecordRequest
from pairwise_ws.storage.store import DAEMON_BUSY_TIMEOUT_S, Store

P = ParamSpec("P")
T = TypeVar("T")


def _record_many(store: Store, requests: Sequence[RecordRequest]) -> list[bool | Exception]:
    return store.record_many(requests)


@attrs.define(eq=False)  # (compared by identity: two rooms may ask the same)
class _Queued:
    request: RecordRequest
    outcome: bool | Exception | None = None


class AsyncStore:
    """The daemon's door to the database, without blocking the event loop.

    Two connections, each used by one worker thread at a time: `write` for
    everything that changes the database (and for `data_version`, which only
    moves for other processes' commits on the connection that asks), `read` for
    authentication, loading rooms and refreshing them, so a handshake never
    queues behind a commit (WAL lets readers and the writer run together).

    A call that has started is never abandoned: cancelling the caller waits for
    the transaction to finish, so a vote is either committed or not, never
    half-written.
    """

    def __init__(self, writer: Store, reader: Store) -> None:
        self.writer = writer
        self.reader = reader
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        # Group commit across rooms: requests wait here while a commit runs.
        self._queued: list[_Queued] = []
        self._committing = False
        self._committed = trio.Event()

    @classmethod
    def open(cls, path: str | Path, *, synchronous: str) -> AsyncStore:
        """Both connections (blocking: call it in a thread)."""
        writer = Store.open(path, synchronous=synchronous, busy_timeout=DAEMON_BUSY_TIMEOUT_S)
        try:
            reader = Store.open(path, synchronous=synchronous, busy_timeout=DAEMON_BUSY_TIMEOUT_S)
        except BaseException:
            writer.close()
            raise
        return cls(writer, reader)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()

    async def record(
        self,
        session_id: int,
        events: Sequence[Event],
        *,
        expect: SessionStatus = SessionStatus.ACTIVE,
    ) -> bool:
        """`Store.record`, committed together with every other room's waiting changes.

        The database commits (and syncs) one transaction at a time; whatever
        rooms hand in while one runs goes into the next, so a busy daemon
        makes few, larger commits instead of queueing one per room. Each
        room's changes are still all or nothing, and each caller returns
        only once its own are committed. The first waiter whose changes
        aren't committed yet runs the next commit.
        """
        queued = _Queued(RecordRequest(session_id, events, expect))
        self._queued.append(queued)
        try:
            while queued.outcome is None:
                if self._committing:
                    await self._committed.wait()
                    continue
                await self._commit_queued()
        except trio.Cancelled:
            if queued in self._queued:  # not taken by a commit: it never will be
                self._queued.remove(queued)
                raise
            # In a commit that is running: it will be committed (or not) whatever
            # the caller does, so the caller waits for the outcome and acts on it
            # (its next checkpoint delivers the cancellation). Bounded by one
            # commit, itself bounded by the busy timeout.
            with trio.CancelScope(shield=True):
                while queued.outcome is None:
                    if any(q is queued for q in self._queued):
                        # Its committer was cancelled before the transaction
                        # began and handed the batch back: it won't be committed.
                        self._queued.remove(queued)
                        raise
                    await self._committed.wait()
        outcome = queued.outcome
        if isinstance(outcome, Exception):
            raise StorageError(f"could not store: {outcome}") from outcome
        assert outcome is not None
        return outcome

    async def _commit_queued(self) -> None:
        """Commit every request waiting now, in one transaction; give each its outcome."""
        self._committing = True
        batch, self._queued = self._queued, []
        outcomes: list[bool | Exception] | None = None
        try:
            outcomes = await self._run(
                self.writer, self._write_limiter, _record_many, [q.request for q in batch]
            )
        except Exception as exc:  # the commit itself failed: nothing of the batch is stored
            outcomes = [exc] * len(batch)
        finally:
            if outcomes is None:
                # Cancelled before the transaction started: the next one takes them.
                self._queued[:0] = batch
            else:
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    waiting.outcome = outcome
            self._committing = False
            committed, self._committed = self._committed, trio.Event()
            committed.set()

    async def write(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self.writer, self._write_limiter, fn, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self.reader, self._read_limiter, fn, *args, **kwargs)

    @staticmethod
    async def _run(
        store: Store,
        limiter: trio.CapacityLimiter,
        fn: Callable[Concatenate[Store, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        def call() -> T:
            return fn(store, *args, **kwargs)

        return await trio.to_thread.run_sync(call, limiter=limiter)
