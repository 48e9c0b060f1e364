"""The storage layer: schema, hashed tokens, sessions, atomic event batches, parameters."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from pairwise_ws import tokens
from pairwise_ws.domain import ordering
from pairwise_ws.domain.models import (
    Choice,
    Comparison,
    ComparisonStatus,
    ConsensusSettings,
    Criterion,
    Outcome,
    Progress,
    Quorum,
    Rule,
    SessionStatus,
    Vote,
)
from pairwise_ws.domain.session import (
    ConsensusLost,
    ConsensusReached,
    Event,
    ProgressChanged,
    SessionClosed,
    SessionCompleted,
    VoteRecorded,
)
from pairwise_ws.storage import (
    MIGRATIONS,
    Conflict,
    NotFound,
    RecordRequest,
    StorageError,
    Store,
)
from pairwise_ws.storage.writer import AsyncStore

T0 = datetime(2026, 11, 25, 21, 3, 4, 123456, tzinfo=UTC)
T1 = datetime(2026, 11, 25, 21, 4, 5, 654321, tzinfo=UTC)
TABLES = ("projects", "features", "attendees", "sessions", "comparisons", "votes", "vote_history")


@attrs.frozen
class Setup:
    project_id: int
    feature_ids: tuple[int, ...]
    attendee_ids: tuple[int, ...]
    session_id: int
    comparisons: tuple[Comparison, ...]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "x.db"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    opened = Store.open(path)
    yield opened
    opened.close()


def populate(store: Store, *, features: int = 3, attendees: int = 2) -> Setup:
    project, _ = store.create_project("Project")
    feature_ids = tuple(store.add_feature(project.id, f"Feature {i}").id for i in range(features))
    attendee_ids = tuple(
        store.add_attendee(project.id, f"Attendee {i}")[0].id for i in range(attendees)
    )
    session, comparisons = store.create_session(
        project.id, Criterion.VALUE, ConsensusSettings(), ordering.order_pairs
    )
    return Setup(project.id, feature_ids, attendee_ids, session.id, tuple(comparisons))


@pytest.fixture
def setup(store: Store) -> Setup:
    return populate(store)


def vote_event(
    comparison: Comparison, attendee_id: int, option: int | None, at: datetime = T0
) -> VoteRecorded:
    choice = Choice.tie() if option is None else Choice.feature(option)
    vote = Vote(comparison_id=comparison.id, attendee_id=attendee_id, choice=choice, voted_at=at)
    return VoteRecorded(vote=vote, votes_received=1, voters_expected=2)


def decided(comparison: Comparison, option: int | None) -> ConsensusReached:
    return ConsensusReached(comparison.with_outcome(Outcome.of(option)))


def scalar(store: Store, sql: str) -> object:
    return store.db.execute(sql).fetchone()[0]


def count(store: Store, table: str) -> int:
    value = scalar(store, f"SELECT count(*) FROM {table}")
    assert isinstance(value, int)
    return value


# --- opening and the schema -----------------------------------------------------


def test_open_sets_wal_foreign_keys_and_schema_version(store: Store) -> None:
    assert scalar(store, "PRAGMA journal_mode") == "wal"
    assert scalar(store, "PRAGMA foreign_keys") == 1
    assert scalar(store, "PRAGMA user_version") == len(MIGRATIONS)
    assert set(TABLES) <= set(store.db.table_names())


def test_reopening_is_idempotent(path: Path) -> None:
    first = Store.open(path)
    project, _ = first.create_project("Kept")
    first.close()
    for _ in range(2):
        again = Store.open(path)
        try:
            assert scalar(again, "PRAGMA user_version") == len(MIGRATIONS)
            assert scalar(again, "PRAGMA journal_mode") == "wal"
            assert scalar(again, "PRAGMA foreign_keys") == 1
            assert again.projects() == [project]
            assert sorted(t for t in again.db.table_names() if t in TABLES) == sorted(TABLES)
        finally:
            again.close()


def test_open_refuses_a_newer_schema(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        Store.open(path)


def test_open_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        Store.open(tmp_path / "no" / "such" / "x.db")
    assert not (tmp_path / "no").exists()


def test_open_refuses_a_file_that_is_not_a_database(path: Path) -> None:
    path.write_bytes(b"this is definitely not an SQLite database file" * 100)
    with pytest.raises(StorageError, match="cannot open database"):
        Store.open(path)


def test_open_refuses_an_unknown_synchronous_mode(path: Path) -> None:
    with pytest.raises(StorageError, match="synchronous"):
        Store.open(path, synchronous="sometimes")


# --- tokens -----------------------------------------------------------------------


def database_bytes(path: Path) -> bytes:
    """The database file and any WAL/shared-memory files next to it."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_tokens_are_stored_only_hashed(path: Path) -> None:
    store = Store.open(path)
    project, facilitator_token = store.create_project("Project")
    attendee, attendee_token = store.add_attendee(project.id, "Ada")
    facilitator = store.facilitator_credentials(project.id)
    credentials = store.attendee_credentials(attendee.id)
    store.close()

    assert facilitator is not None
    assert facilitator.token_hash == tokens.hash_token(facilitator_token)
    assert credentials is not None
    assert credentials.token_hash == tokens.hash_token(attendee_token)
    assert credentials.attendee == attendee

    data = database_bytes(path)
    for token in (facilitator_token, attendee_token):
        assert token.encode() not in data
        # The search can find things: the hash itself is in there.
        assert tokens.hash_token(token).encode() in data


def test_rotated_tokens_replace_the_stored_hash(store: Store) -> None:
    project, old_facilitator = store.create_project("Project")
    attendee, old_attendee = store.add_attendee(project.id, "Ada")

    new_facilitator = store.rotate_facilitator_token(project.id)
    rotated, new_attendee = store.rotate_attendee_token(attendee.id)

    facilitator = store.facilitator_credentials(project.id)
    credentials = store.attendee_credentials(attendee.id)
    assert facilitator is not None
    assert credentials is not None
    assert rotated == attendee
    assert new_facilitator != old_facilitator
    assert new_attendee != old_attendee
    assert tokens.token_matches(new_facilitator, facilitator.token_hash)
    assert not tokens.token_matches(old_facilitator, facilitator.token_hash)
    assert tokens.token_matches(new_attendee, credentials.token_hash)
    assert not tokens.token_matches(old_attendee, credentials.token_hash)


def test_rotating_an_unknown_token_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.rotate_facilitator_token(999)
    with pytest.raises(NotFound):
        store.rotate_attendee_token(999)
    assert store.facilitator_credentials(999) is None
    assert store.attendee_credentials(999) is None


# --- sessions ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_create_session_makes_every_pair_once(store: Store, n: int) -> None:
    project, _ = store.create_project("Project")
    ids = [store.add_feature(project.id, f"F{i}").id for i in range(n)]
    settings = ConsensusSettings(
        rule=Rule.SUPERMAJORITY, threshold=0.8, min_votes=3, quorum=Quorum.ALL
    )

    session, comparisons = store.create_session(
        project.id, Criterion.COMPLEXITY, settings, ordering.order_pairs
    )

    assert len(comparisons) == n * (n - 1) // 2
    assert [c.position for c in comparisons] == list(range(1, len(comparisons) + 1))
    pairs = [frozenset(c.feature_ids) for c in comparisons]
    assert sorted(pairs, key=sorted) == sorted(
        (frozenset(p) for p in itertools.combinations(ids, 2)), key=sorted
    )
    assert all(c.status is ComparisonStatus.OPEN for c in comparisons)
    assert all(c.winner_id is None and not c.is_tie for c in comparisons)
    assert all(c.session_id == session.id for c in comparisons)
    assert session.status is SessionStatus.ACTIVE
    assert session.criterion is Criterion.COMPLEXITY
    assert session.settings == settings
    assert store.session(session.id) == session
    assert store.comparisons(session.id) == comparisons


@pytest.mark.parametrize("n", [0, 1])
def test_create_session_needs_two_features(store: Store, n: int) -> None:
    project, _ = store.create_project("Project")
    for i in range(n):
        store.add_feature(project.id, f"F{i}")
    with pytest.raises(Conflict, match="at least 2"):
        store.create_session(project.id, Criterion.VALUE, ConsensusSettings(), ordering.order_pairs)
    assert store.sessions(project.id) == []
    assert count(store, "sessions") == 0


def test_create_session_for_an_unknown_project(store: Store) -> None:
    with pytest.raises(NotFound, match="project 999"):
        store.create_session(999, Criterion.VALUE, ConsensusSettings(), ordering.order_pairs)
    assert count(store, "sessions") == 0


def test_unknown_rows_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="project 5"):
        store.project(5)
    with pytest.raises(NotFound, match="project 5"):
        store.add_feature(5, "Title")
    with pytest.raises(NotFound, match="project 5"):
        store.add_attendee(5, "Name")
    with pytest.raises(NotFound, match="attendee 5"):
        store.attendee(5)
    with pytest.raises(NotFound, match="session 5"):
        store.session(5)
    with pytest.raises(NotFound, match="session 5"):
        store.close_session(5)
    with pytest.raises(NotFound, match="session 5"):
        store.load_session(5)
    assert store.session_status(5) is None


def test_close_session_is_idempotent(store: Store, setup: Setup) -> None:
    first = store.close_session(setup.session_id)
    second = store.close_session(setup.session_id)
    assert first.status is SessionStatus.CLOSED
    assert second == first
    assert store.session_status(setup.session_id) is SessionStatus.CLOSED


# --- record() -------------------------------------------------------------------------


def test_a_second_vote_replaces_the_first_and_both_stay_in_history(
    store: Store, setup: Setup
) -> None:
    c = setup.comparisons[0]
    ada, bob = setup.attendee_ids

    assert store.record(setup.session_id, [vote_event(c, ada, c.feature_a_id, T0)])
    assert store.record(setup.session_id, [vote_event(c, bob, c.feature_b_id, T0)])
    assert store.record(setup.session_id, [vote_event(c, ada, None, T1)])

    assert store.votes(setup.session_id) == [
        Vote(c.id, ada, Choice.tie(), T1),
        Vote(c.id, bob, Choice.feature(c.feature_b_id), T0),
    ]
    history = store.vote_history(setup.session_id)
    assert [(h.attendee_id, h.choice, h.voted_at) for h in history] == [
        (ada, Choice.feature(c.feature_a_id), T0),
        (bob, Choice.feature(c.feature_b_id), T0),
        (ada, Choice.tie(), T1),
    ]
    assert count(store, "votes") == 2
    assert count(store, "vote_history") == 3


@pytest.mark.parametrize("winner", ["a", "b", "tie"])
def test_consensus_reached_then_lost_updates_the_comparison(
    store: Store, setup: Setup, winner: str
) -> None:
    c = setup.comparisons[1]
    option = {"a": c.feature_a_id, "b": c.feature_b_id, "tie": None}[winner]

    assert store.record(setup.session_id, [decided(c, option)])
    stored = store.comparisons(setup.session_id)[1]
    assert stored.id == c.id
    assert stored.status is ComparisonStatus.DECIDED
    assert stored.winner_id == option
    assert stored.is_tie is (option is None)
    # The others are untouched.
    assert [x for x in store.comparisons(setup.session_id) if x.id != c.id] == [
        x for x in setup.comparisons if x.id != c.id
    ]

    assert store.record(setup.session_id, [ConsensusLost(c.with_outcome(None))])
    assert store.comparisons(setup.session_id)[1] == c


@pytest.mark.parametrize(
    ("event", "status"),
    [(SessionCompleted(), SessionStatus.COMPLETED), (SessionClosed(), SessionStatus.CLOSED)],
)
def test_session_events_set_the_status(
    store: Store, setup: Setup, event: Event, status: SessionStatus
) -> None:
    assert store.record(setup.session_id, [event])
    assert store.session_status(setup.session_id) is status
    assert store.session(setup.session_id).status is status


def test_derived_events_are_not_stored(store: Store, setup: Setup) -> None:
    before = store.load_session(setup.session_id)
    progress = Progress(total_comparisons=3, completed_comparisons=1)
    assert store.record(setup.session_id, [])
    assert store.record(setup.session_id, [ProgressChanged(progress=progress)])
    assert store.load_session(setup.session_id) == before


@pytest.mark.parametrize("how", ["closed", "completed"])
def test_record_writes_nothing_once_the_session_is_not_active(
    store: Store, setup: Setup, how: str
) -> None:
    if how == "closed":
        store.close_session(setup.session_id)
    else:
        assert store.record(setup.session_id, [SessionCompleted()])
    before = store.load_session(setup.session_id)
    c = setup.comparisons[0]
    ada = setup.attendee_ids[0]

    stored = store.record(
        setup.session_id,
        [vote_event(c, ada, c.feature_a_id), decided(c, c.feature_a_id), SessionClosed()],
    )

    assert stored is False
    assert store.load_session(setup.session_id) == before
    assert count(store, "votes") == 0
    assert count(store, "vote_history") == 0


def test_record_for_an_unknown_session_writes_nothing(store: Store, setup: Setup) -> None:
    c = setup.comparisons[0]
    assert store.record(999, [vote_event(c, setup.attendee_ids[0], c.feature_a_id)]) is False
    assert count(store, "votes") == 0


def test_a_batch_is_atomic(store: Store, setup: Setup) -> None:
    c = setup.comparisons[0]
    ada, bob = setup.attendee_ids
    before = store.load_session(setup.session_id)
    bad = VoteRecorded(
        vote=Vote(c.id, bob, Choice.feature(987_654), T0), votes_received=2, voters_expected=2
    )

    with pytest.raises(sqlite3.IntegrityError):
        store.record(
            setup.session_id,
            [vote_event(c, ada, c.feature_a_id), decided(c, c.feature_a_id), bad],
        )

    assert store.load_session(setup.session_id) == before
    assert count(store, "votes") == 0
    assert count(store, "vote_history") == 0
    assert store.db.conn.in_transaction is False
    # The connection is still usable afterwards.
    assert store.record(setup.session_id, [vote_event(c, ada, c.feature_b_id)])
    assert store.votes(setup.session_id) == [Vote(c.id, ada, Choice.feature(c.feature_b_id), T0)]


# --- schema constraints ------------------------------------------------------------


@pytest.mark.parametrize("table", ["votes", "vote_history"])
@pytest.mark.parametrize(
    ("preferred", "is_tie_vote", "accepted"),
    [
        ("a", 1, False),  # both a feature and a tie
        (None, 0, False),  # neither
        ("a", 0, True),
        (None, 1, True),
    ],
)
def test_check_constraints_refuse_half_written_votes(
    store: Store,
    setup: Setup,
    table: str,
    preferred: str | None,
    is_tie_vote: int,
    accepted: bool,
) -> None:
    c = setup.comparisons[0]
    row = (c.id, setup.attendee_ids[0], c.feature_a_id if preferred else None, is_tie_vote, "t")
    sql = (
        f"INSERT INTO {table} "
        "(comparison_id, attendee_id, preferred_feature_id, is_tie_vote, voted_at) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    if accepted:
        store.db.conn.execute(sql, row)
        store.db.conn.commit()
        assert count(store, table) == 1
    else:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            store.db.conn.execute(sql, row)
        store.db.conn.rollback()
        assert count(store, table) == 0


def test_foreign_keys_are_enforced(store: Store, setup: Setup) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.db.conn.execute(
            "INSERT INTO features (project_id, title, created_at) VALUES (?, ?, ?)",
            (12345, "Orphan", "t"),
        )
    store.db.conn.rollback()


# --- load_session -------------------------------------------------------------------


def test_load_session_returns_the_snapshot(store: Store, setup: Setup) -> None:
    # Another project's rows must not leak into the snapshot.
    populate(store, features=2, attendees=1)
    c0, c1 = setup.comparisons[0], setup.comparisons[2]
    ada, bob = setup.attendee_ids
    store.record(
        setup.session_id,
        [
            vote_event(c1, bob, None, T1),
            vote_event(c0, ada, c0.feature_b_id, T0),
            decided(c0, c0.feature_b_id),
        ],
    )

    snapshot = store.load_session(setup.session_id)

    assert snapshot.session == store.session(setup.session_id)
    assert snapshot.session.project_id == setup.project_id
    assert [f.id for f in snapshot.features] == list(setup.feature_ids)
    assert [f.title for f in snapshot.features] == ["Feature 0", "Feature 1", "Feature 2"]
    assert [a.id for a in snapshot.attendees] == list(setup.attendee_ids)
    assert [a.name for a in snapshot.attendees] == ["Attendee 0", "Attendee 1"]
    assert [c.position for c in snapshot.comparisons] == [1, 2, 3]
    assert [c.id for c in snapshot.comparisons] == [c.id for c in setup.comparisons]
    assert snapshot.comparisons[0].status is ComparisonStatus.DECIDED
    assert snapshot.comparisons[0].winner_id == c0.feature_b_id
    assert snapshot.votes == (
        Vote(c0.id, ada, Choice.feature(c0.feature_b_id), T0),
        Vote(c1.id, bob, Choice.tie(), T1),
    )


# --- data_version ---------------------------------------------------------------------


def test_data_version_changes_for_other_connections_commits(path: Path) -> None:
    mine = Store.open(path)
    other = Store.open(path)
    try:
        project, _ = mine.create_project("Mine")
        start = mine.data_version()

        mine.add_feature(project.id, "My own commit")
        assert mine.data_version() == start

        other.add_feature(project.id, "Someone else's commit")
        changed = mine.data_version()
        assert changed != start

        assert mine.data_version() == changed  # nothing new since
    finally:
        other.close()
        mine.close()


# --- parameters, not string building ----------------------------------------------------

NASTY = [
    "x'); DROP TABLE projects; --",
    "Robert'); DROP TABLE attendees;--",
    '"; DELETE FROM features WHERE "1"="1',
    "' OR '1'='1",
    ":name ? %s {0} $1",
]


@pytest.mark.parametrize("text", NASTY)
def test_text_with_sql_is_stored_verbatim(store: Store, text: str) -> None:
    project, _ = store.create_project(text)
    feature = store.add_feature(project.id, text, description=text)
    attendee, _ = store.add_attendee(project.id, text)

    assert store.project(project.id).name == text
    assert store.projects() == [project]
    assert store.features(project.id) == [feature]
    assert store.features(project.id)[0].title == text
    assert store.features(project.id)[0].description == text
    assert store.attendee(attendee.id).name == text
    assert store.attendees(project.id) == [attendee]
    assert set(TABLES) <= set(store.db.table_names())
    assert store.integrity_check() == "ok"


# --- AsyncStore ---------------------------------------------------------------------------


async def test_async_store_runs_in_worker_threads(tmp_path: Path) -> None:
    async_store = AsyncStore.open(tmp_path / "async.db", synchronous="normal")
    main_thread = threading.get_ident()
    try:

        def create(store: Store, name: str, *, suffix: str) -> tuple[int, str]:
            project, _ = store.create_project(name + suffix)
            return threading.get_ident(), project.name

        thread, name = await async_store.write(create, "Async", suffix=" project")
        assert thread != main_thread
        assert name == "Async project"
        # The reading connection sees what the writing one committed.
        assert [p.name for p in await async_store.read(Store.projects)] == ["Async project"]
        feature = await async_store.write(Store.add_feature, 1, "Title", description="Words")
        assert feature.description == "Words"
        assert await async_store.read(Store.features, 1) == [feature]
        # data_version on the writer moves only for other connections' commits.
        before = await async_store.write(Store.data_version)
        await async_store.write(Store.add_feature, 1, "Another")
        assert await async_store.write(Store.data_version) == before
    finally:
        async_store.close()


async def test_async_store_propagates_exceptions(tmp_path: Path) -> None:
    async_store = AsyncStore.open(tmp_path / "async.db", synchronous="normal")
    try:
        with pytest.raises(NotFound, match="project 42"):
            await async_store.read(Store.project, 42)

        def boom(store: Store) -> None:
            raise RuntimeError("inside the worker")

        with pytest.raises(RuntimeError, match="inside the worker"):
            await async_store.write(boom)
        # Still usable after a failure.
        assert await async_store.read(Store.projects) == []
    finally:
        async_store.close()


# --- group commit across rooms ------------------------------------------------------


def second_session(store: Store, setup: Setup) -> tuple[int, Comparison]:
    session, comparisons = store.create_session(
        setup.project_id, Criterion.COMPLEXITY, ConsensusSettings(), ordering.order_pairs
    )
    return session.id, comparisons[0]


def test_record_many_keeps_each_request_all_or_nothing(store: Store, setup: Setup) -> None:
    c = setup.comparisons[0]
    ada, bob = setup.attendee_ids
    other_id, other = second_session(store, setup)
    closed_id, closed = second_session(store, setup)
    store.close_session(closed_id)
    half_written = VoteRecorded(
        vote=Vote(c.id, bob, Choice.feature(987_654), T0), votes_received=2, voters_expected=2
    )

    outcomes = store.record_many(
        [
            RecordRequest(setup.session_id, [vote_event(c, ada, c.feature_a_id), half_written]),
            RecordRequest(other_id, [vote_event(other, ada, other.feature_b_id)]),
            RecordRequest(closed_id, [vote_event(closed, ada, closed.feature_a_id)]),
        ]
    )

    assert isinstance(outcomes[0], sqlite3.IntegrityError)
    assert outcomes[1:] == [True, False]
    assert store.votes(setup.session_id) == []  # the failed request left nothing behind
    assert store.votes(other_id) == [Vote(other.id, ada, Choice.feature(other.feature_b_id), T0)]
    assert store.votes(closed_id) == []
    assert store.db.conn.in_transaction is False


class CountingStore(Store):
    """Counts the transactions `record_many` makes."""

    batches: list[int]

    def record_many(self, requests: Sequence[RecordRequest]) -> list[bool | Exception]:
        self.batches.append(len(requests))
        return super().record_many(requests)


def counting_async_store(path: Path) -> AsyncStore:
    writer = CountingStore.open(path, synchronous="normal")
    assert isinstance(writer, CountingStore)
    writer.batches = []
    return AsyncStore(writer, Store.open(path, synchronous="normal"))


async def test_concurrent_records_share_commits(path: Path) -> None:
    store = Store.open(path)
    setup = populate(store, features=3, attendees=20)
    store.close()
    async_store = counting_async_store(path)
    c = setup.comparisons[0]
    outcomes: list[bool] = []

    async def vote(attendee_id: int) -> None:
        event = vote_event(c, attendee_id, c.feature_a_id)
        outcomes.append(await async_store.record(setup.session_id, [event]))

    try:
        async with trio.open_nursery() as nursery:
            for attendee_id in setup.attendee_ids:
                nursery.start_soon(vote, attendee_id)
        assert outcomes == [True] * 20
        # The first commit runs alone; the 19 that came meanwhile share the next.
        assert isinstance(async_store.writer, CountingStore)
        assert async_store.writer.batches == [1, 19]
        assert len(await async_store.read(Store.votes, setup.session_id)) == 20
    finally:
        async_store.close()


async def test_a_cancelled_committer_leaves_the_others_to_the_next_and_drops_its_own(
    path: Path,
) -> None:
    store = Store.open(path)
    setup = populate(store)
    store.close()
    async_store = counting_async_store(path)
    c = setup.comparisons[0]
    ada, bob = setup.attendee_ids
    gate = threading.Event()

    def hold(_: Store) -> None:
        gate.wait(5)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(async_store.write, hold)  # holds the writer
            await trio.testing.wait_all_tasks_blocked()

            async def ada_votes(*, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
                with trio.CancelScope() as scope:
                    task_status.started(scope)
                    await async_store.record(setup.session_id, [vote_event(c, ada, c.feature_a_id)])

            first = await nursery.start(ada_votes)
            await trio.testing.wait_all_tasks_blocked()  # Ada's commit waits for the writer
            second = trio.Event()
            outcome: list[bool] = []

            async def bob_votes() -> None:
                outcome.append(
                    await async_store.record(setup.session_id, [vote_event(c, bob, c.feature_b_id)])
                )
                second.set()

            nursery.start_soon(bob_votes)
            await trio.testing.wait_all_tasks_blocked()
            first.cancel()
            gate.set()
            with trio.fail_after(5):
                await second.wait()
        assert outcome == [True]
        # Ada's task was cancelled before its transaction began: nobody will tell
        # her, so her vote is dropped, not committed later by Bob's.
        stored = {v.attendee_id for v in await async_store.read(Store.votes, setup.session_id)}
        assert stored == {bob}
        assert isinstance(async_store.writer, CountingStore)
        assert async_store.writer.batches == [1]
    finally:
        gate.set()
        async_store.close()


def test_sessions_made_before_join_codes_get_one_each(path: Path) -> None:
    """A database of schema version 2 (before join codes): each session gets its own code."""
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO projects VALUES (1, 'P', 'hash', 't')")
    for session_id in (1, 2):
        conn.execute(
            "INSERT INTO sessions (id, project_id, criterion, status, rule, threshold,"
            " min_votes, quorum, created_at, updated_at)"
            " VALUES (?, 1, 'value', 'active', 'unanimous', 0.75, 2, 'present', 't', 't')",
            [session_id],
        )
    conn.close()

    store = Store.open(path)
    try:
        codes = [store.session(session_id).join_code for session_id in (1, 2)]
    finally:
        store.close()
    assert all(len(code) == 18 for code in codes)
    assert codes[0] != codes[1]
