"""Security: one test per rule of the contract (section 2) and the issue.

* tokens are random, with at least 128 bits from the OS's CSPRNG;
* they are stored only hashed (not in any table, not in the database file);
* they are compared in constant time (hmac.compare_digest of fixed-length
  digests, on every path, the unknown attendee included);
* they are never written to the log, whatever the request looks like;
* an attendee can't vote as another attendee, in another session or in
  another project; only the facilitator token can send facilitator_action;
* Origin is checked as the contract says;
* every SQL statement is parameterized (an AST walk over the package).
"""

from __future__ import annotations

import ast
import base64
import hmac
import logging
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import pairwise_ws
from pairwise_ws import storage, tokens
from pairwise_ws.app import auth, operations
from pairwise_ws.net.server import Server
from pairwise_ws.storage import StorageError, Store
from tests.conftest import Clients, Person, Workshop, make_config, make_workshop, running
from tests.daemon import SIGTERM, daemon, serve_args
from tests.http_client import raw_exchange, request, upgrade_headers

PACKAGE = Path(pairwise_ws.__file__).parent


def ws_path(
    workshop: Workshop, query: str, *, project: int | None = None, session: int | None = None
) -> str:
    project_id = workshop.project_id if project is None else project
    session_id = workshop.session_id if session is None else session
    return f"/projects/{project_id}/sessions/{session_id}/ws?{query}"


def attendee_query(person: Person) -> str:
    return f"attendee_id={person.id}&token={person.token}"


async def handshake_status(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    """The status a WebSocket handshake to `path` gets (101 when accepted)."""
    all_headers = {"host": f"127.0.0.1:{port}", **upgrade_headers(), **(headers or {})}
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all((head + "\r\n").encode())
        received = b""
        with trio.fail_after(5):
            while b"\r\n" not in received:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                received += chunk
    status = re.match(rb"HTTP/1\.1 (\d{3}) ", received)
    assert status, received
    return int(status[1])


# --- tokens ---------------------------------------------------------------------------------


def test_tokens_are_random_with_at_least_128_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[int] = []
    real = secrets.token_bytes

    def spy(nbytes: int | None = None) -> bytes:
        requested.append(nbytes or 0)
        return real(nbytes)

    monkeypatch.setattr(secrets, "token_bytes", spy)
    drawn = [tokens.new_token() for _ in range(2000)]
    # Drawn from the OS's CSPRNG (secrets), at least 16 bytes each time.
    assert len(requested) == len(drawn)
    assert min(requested) >= 16
    raw = [base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)) for t in drawn]
    assert min(len(r) for r in raw) >= 16
    assert len(set(drawn)) == len(drawn)
    # Every bit position is a coin toss: 2000 draws, each position set 1000 +- 5 sigma.
    bits = len(raw[0]) * 8
    for position in range(bits):
        ones = sum((int.from_bytes(r, "big") >> position) & 1 for r in raw)
        assert 1000 - 5 * 22.4 < ones < 1000 + 5 * 22.4, (position, ones)


def test_issued_tokens_are_distinct_and_long(db_path: str) -> None:
    """What the commands print: project, attendee and rotated tokens."""
    store = Store.open(db_path)
    try:
        project, facilitator = operations.create_project(store, "P")
        issued = [facilitator, store.rotate_facilitator_token(project.id)]
        for i in range(20):
            attendee, token = operations.add_attendee(store, project.id, f"A{i}")
            issued += [token, store.rotate_attendee_token(attendee.id)[1]]
    finally:
        store.close()
    assert len(set(issued)) == len(issued)
    for token in issued:
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 16


def test_tokens_are_stored_only_as_hashes(db_path: str) -> None:
    workshop = make_workshop(db_path, attendees=5)
    secrets_issued = [workshop.facilitator_token, *(p.token for p in workshop.attendees)]
    store = Store.open(db_path)
    try:
        _, rotated = store.rotate_attendee_token(workshop.attendees[0].id)
        secrets_issued.append(rotated)
        secrets_issued.append(store.rotate_facilitator_token(workshop.project_id))
    finally:
        store.close()
    with sqlite3.connect(db_path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells = [
            str(value)
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')  # names from sqlite_master
            for value in row
        ]
        hashes = [r[0] for r in db.execute("SELECT token_hash FROM attendees")]
        hashes += [r[0] for r in db.execute("SELECT facilitator_token_hash FROM projects")]
    db.close()
    for token in secrets_issued:
        assert not [cell for cell in cells if token in cell]
        assert not [cell for cell in cells if token[:12] in cell]  # no part of it either
    # Nowhere in the file either (the WAL and freed pages included).
    raw = b"".join(p.read_bytes() for p in Path(db_path).parent.glob(Path(db_path).name + "*"))
    for token in secrets_issued:
        assert token.encode() not in raw
    # What is stored is a fixed-length digest.
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def test_tokens_are_compared_in_constant_time(
    db_path: str, compare_calls: list[tuple[Any, Any]]
) -> None:
    workshop = make_workshop(db_path)
    ada, bob = workshop.attendees[:2]
    other = make_workshop(db_path)
    queries: list[tuple[int, dict[str, str], bool]] = [
        (workshop.project_id, {"attendee_id": str(ada.id), "token": ada.token}, True),
        (workshop.project_id, {"attendee_id": str(ada.id), "token": bob.token}, False),
        (workshop.project_id, {"attendee_id": str(ada.id), "token": ada.token[:-1]}, False),
        (workshop.project_id, {"attendee_id": str(ada.id), "token": ""}, False),
        (workshop.project_id, {"attendee_id": "99999", "token": ada.token}, False),
        (workshop.project_id, {"facilitator_token": workshop.facilitator_token}, True),
        (workshop.project_id, {"facilitator_token": other.facilitator_token}, False),
        (99999, {"facilitator_token": workshop.facilitator_token}, False),
    ]
    store = Store.open(db_path)
    try:
        for project_id, query, accepted in queries:
            compare_calls.clear()
            identity = auth.authenticate(store, project_id, workshop.session_id, query)
            assert isinstance(identity, auth.Identity) is accepted, (query, identity)
            # Every path compares once, with hmac.compare_digest, two digests of equal
            # length: how long it takes says nothing about the token (the unknown
            # attendee and project included, which cost the same hash and compare).
            assert len(compare_calls) == 1, query
            (a, b) = compare_calls[0]
            assert len(a) == len(b) == 64
    finally:
        store.close()


def test_no_token_or_hash_is_compared_with_eq() -> None:
    """Nothing in the package compares a token or a hash with == or !=."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
                continue
            names = [ast.unparse(side) for side in (node.left, *node.comparators)]
            if any(re.search(r"token|hash|digest|secret", n, re.IGNORECASE) for n in names):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)


class LogCapture(logging.Handler):
    """Every record of every logger, formatted as the daemon's log line would be."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(level)


def leaked(lines: list[str], secrets_used: list[str]) -> list[str]:
    return [line for line in lines if any(s in line for s in secrets_used)]


async def test_tokens_never_reach_the_log(
    nursery: trio.Nursery, db_path: str, all_logs: LogCapture
) -> None:
    workshop = make_workshop(db_path)
    ada, bob = workshop.attendees[:2]
    wrong = tokens.new_token()
    used = [ada.token, bob.token, workshop.facilitator_token, wrong]
    config = make_config(db_path, limits={"handshake_timeout": 0.3})
    async with running(config) as server:
        clients = Clients(nursery, server, workshop)
        try:
            peer, _ = await clients.join(ada)
            pair = workshop.comparisons[0]
            await peer.vote(pair.id, pair.a)
            await peer.next_of("vote_received")
            await clients.facilitator()
            await peer.send("leave_session")
            await peer.closed()
        finally:
            await clients.aclose()
        good = ws_path(workshop, attendee_query(ada))
        refused = [
            ws_path(workshop, f"attendee_id={ada.id}&token={wrong}"),  # wrong token
            ws_path(workshop, f"attendee_id={ada.id}&token={bob.token}"),  # someone else's
            ws_path(workshop, f"attendee_id=99999&token={ada.token}"),  # unknown attendee
            ws_path(workshop, f"facilitator_token={wrong}"),
            ws_path(workshop, f"facilitator_token={workshop.facilitator_token}", project=999),
            ws_path(workshop, attendee_query(ada), session=999),
        ]
        for path in refused:
            assert await handshake_status(server.port, path) == 401
        assert await handshake_status(server.port, good, {"origin": "http://evil.example"}) == 403
        assert (await request(server.port, good)).status == 426  # not an upgrade
        assert (await request(server.port, f"/nope?token={ada.token}")).status == 404
        head = f"GET {good} HTTP/1.1\r\nhost: x\r\nx-pad: {'a' * 20000}\r\n\r\n"
        assert (await raw_exchange(server.port, head.encode())).startswith(b"HTTP/1.1 431 ")
        # A head cut short by the handshake timeout.
        assert await raw_exchange(server.port, f"GET {good} HTTP/1.1\r\n".encode()) == b""
    assert all_logs.lines  # the log was captured at DEBUG
    assert not leaked(all_logs.lines, used)


@pytest.mark.parametrize(
    "line",
    [
        "GET {path} HTTP/1.1 extra",  # a stray space, as an unencoded query value gives
        "GET {path}",  # HTTP/0.9 style
        "GET {path} HTTP/1.1\tx",
    ],
)
async def test_a_malformed_request_line_does_not_log_its_token(
    db_path: str, all_logs: LogCapture, line: str
) -> None:
    workshop = make_workshop(db_path)
    ada = workshop.attendees[0]
    async with running(make_config(db_path)) as server:
        head = line.format(path=ws_path(workshop, attendee_query(ada))) + "\r\nhost: x\r\n\r\n"
        answer = await raw_exchange(server.port, head.encode())
        assert answer.startswith(b"HTTP/1.1 400 ")
    assert not leaked(all_logs.lines, [ada.token])


async def test_the_real_daemons_debug_log_has_no_tokens(
    nursery: trio.Nursery, tmp_path: Path, db_path: str
) -> None:
    """The CLI's own logging set-up, at its most talkative level."""
    workshop = make_workshop(db_path)
    config = tmp_path / "debug.toml"
    config.write_text('[logging]\nlevel = "debug"\n', encoding="utf-8")
    async with daemon(db_path, "--config", str(config), *serve_args()) as process:
        port = await process.wait_listening()

        class Port:
            def __init__(self, port: int) -> None:
                self.port = port

        clients = Clients(nursery, Port(port), workshop)  # type: ignore[arg-type]
        try:
            peer, _ = await clients.join(workshop.attendees[0])
            pair = workshop.comparisons[0]
            await peer.vote(pair.id, pair.b)
            await peer.next_of("vote_received")
            await clients.facilitator()
            bad = ws_path(workshop, f"attendee_id={workshop.attendees[1].id}&token=x")
            assert await handshake_status(port, bad) == 401
        finally:
            await clients.aclose()
        process.signal(SIGTERM)
        assert await process.wait(5) == 0
    log = process.stderr.decode()
    assert "DEBUG" in log
    used = [workshop.facilitator_token, *(p.token for p in workshop.attendees)]
    assert not leaked(log.splitlines(), used)


# --- who may act where --------------------------------------------------------------------------


@pytest.mark.workshop(attendees=3)
async def test_an_attendee_cannot_vote_as_another_attendee(
    clients: Clients, server: Server, workshop: Workshop
) -> None:
    ada, bob, _ = workshop.attendees
    pair = workshop.comparisons[0]
    # Ada's id with Bob's token, or Bob's id with Ada's: refused at the door.
    for query in (
        f"attendee_id={ada.id}&token={bob.token}",
        f"attendee_id={bob.id}&token={ada.token}",
    ):
        assert await handshake_status(server.port, ws_path(workshop, query)) == 401
    peer, _ = await clients.join(ada)
    # Envelope ids are ignored: the vote is Ada's.
    await peer.send(
        "vote_submitted",
        {"vote": {"comparison_id": pair.id, "preferred_feature_id": pair.a}},
        attendee_id=bob.id,
        session_id=workshop.session_id,
    )
    received = await peer.next_of("vote_received")
    assert received["attendee_id"] == ada.id
    assert received["data"]["attendee_id"] == ada.id
    # An attendee id inside the vote is refused, not obeyed.
    await peer.send(
        "vote_submitted",
        {"vote": {"comparison_id": pair.id, "preferred_feature_id": pair.b, "attendee_id": bob.id}},
    )
    assert (await peer.next_of("error"))["data"]["code"] == "invalid_message"
    with sqlite3.connect(workshop.db_path) as db:
        rows = db.execute("SELECT attendee_id, preferred_feature_id FROM votes").fetchall()
        history = db.execute("SELECT attendee_id FROM vote_history").fetchall()
    db.close()
    assert rows == [(ada.id, pair.a)]
    assert history == [(ada.id,)]


async def test_an_attendee_cannot_vote_in_another_session(
    clients: Clients, workshop: Workshop
) -> None:
    store = Store.open(workshop.db_path)
    try:
        other_session, other = operations.create_session(store, workshop.project_id)
    finally:
        store.close()
    ada = workshop.attendees[0]
    peer, _ = await clients.join(ada)
    for comparison in other:
        # Even naming the other session in the envelope changes nothing.
        await peer.send(
            "vote_submitted",
            {
                "vote": {
                    "comparison_id": comparison.id,
                    "preferred_feature_id": comparison.feature_a_id,
                }
            },
            session_id=other_session.id,
        )
        assert (await peer.next_of("error"))["data"]["code"] == "invalid_vote"
    with sqlite3.connect(workshop.db_path) as db:
        assert db.execute("SELECT count(*) FROM votes").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM vote_history").fetchone() == (0,)
    db.close()


async def test_an_attendee_cannot_act_in_another_project(
    clients: Clients, server: Server, workshop: Workshop
) -> None:
    other = make_workshop(workshop.db_path)
    ada, stranger = workshop.attendees[0], other.attendees[0]
    # At the door: every mix of the two projects' ids and credentials is refused.
    mixes = [
        ws_path(other, attendee_query(ada)),  # Ada in the other project's session
        ws_path(workshop, attendee_query(ada), project=other.project_id),
        ws_path(workshop, attendee_query(ada), session=other.session_id),
        ws_path(workshop, attendee_query(stranger)),  # the stranger in Ada's session
        ws_path(workshop, f"facilitator_token={other.facilitator_token}"),
        ws_path(other, f"facilitator_token={workshop.facilitator_token}"),
        ws_path(
            workshop, f"facilitator_token={ada.token}"
        ),  # an attendee token is no facilitator's
    ]
    for path in mixes:
        assert await handshake_status(server.port, path) == 401, path
    # Inside: the other project's comparisons and features are not votable.
    peer, _ = await clients.join(ada)
    foreign = other.comparisons[0]
    await peer.vote(foreign.id, foreign.a)
    assert (await peer.next_of("error"))["data"]["code"] == "invalid_vote"
    own = workshop.comparisons[0]
    await peer.vote(own.id, foreign.a)  # a foreign feature in an own comparison
    assert (await peer.next_of("error"))["data"]["code"] == "invalid_vote"
    with sqlite3.connect(workshop.db_path) as db:
        assert db.execute("SELECT count(*) FROM vote_history").fetchone() == (0,)
    db.close()


ACTIONS: list[dict[str, Any]] = [
    {"action": "reset_comparison", "comparison_id": 0},
    {"action": "decide", "comparison_id": 0, "winner_id": -1},
    {"action": "decide", "comparison_id": 0, "is_tie": True},
    {"action": "skip", "comparison_id": 0},
    {"action": "close_session"},
]


def snapshot(db_path: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT id, status, winner_id, is_tie FROM comparisons ORDER BY id"
        ).fetchall()
        rows += db.execute("SELECT id, status FROM sessions ORDER BY id").fetchall()
        rows += db.execute("SELECT * FROM votes ORDER BY comparison_id, attendee_id").fetchall()
    db.close()
    return rows


async def test_only_the_facilitator_token_can_send_facilitator_action(
    clients: Clients, workshop: Workshop
) -> None:
    pair = workshop.comparisons[0]
    a, b = await clients.join_first(2)
    await a.vote(pair.id, pair.a)
    await a.next_of("vote_received")
    before = snapshot(workshop.db_path)
    for action in ACTIONS:
        data = {**action}
        if "comparison_id" in data:
            data["comparison_id"] = pair.id
        if data.get("winner_id") == -1:
            data["winner_id"] = pair.a
        for peer in (a, b):
            await peer.send("facilitator_action", data)
            error = await peer.next_of("error")
            assert error["data"]["code"] == "forbidden", (data, error)
    assert snapshot(workshop.db_path) == before  # nothing happened
    # The facilitator's token is what makes the difference.
    facilitator, _ = await clients.facilitator()
    await facilitator.send("facilitator_action", {"action": "skip", "comparison_id": pair.id})
    answer = await facilitator.receive()
    assert not (answer["type"] == "error" and answer["data"]["code"] == "forbidden"), answer


# --- Origin --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "origin", "status"),
    [
        ([], None, 101),  # a program, not a browser page
        ([], "http://127.0.0.1:{port}", 101),  # the daemon's own pages
        ([], "HTTP://127.0.0.1:{port}/", 101),  # origins compare case- and slash-blind
        ([], "http://127.0.0.1:1", 403),  # another port is another origin
        ([], "https://127.0.0.1:{port}", 101),  # same host and port behind TLS
        ([], "http://localhost:{port}", 403),  # another name is another origin
        ([], "http://evil.example", 403),
        ([], "null", 403),  # sandboxed frames, file:// pages
        ([], "", 403),
        (["http://pages.example:8080"], "http://pages.example:8080", 101),
        (["http://pages.example:8080"], "http://pages.example:8081", 403),
        (["http://pages.example:8080"], "http://pages.example:8080.evil.example", 403),
        (["http://pages.example:8080"], None, 403),  # a list is strict
        (["http://pages.example:8080"], "http://127.0.0.1:{port}", 403),
        (["http://pages.example:8080"], "null", 403),
    ],
)
async def test_origin_is_checked_as_the_contract_says(
    db_path: str, workshop: Workshop, allowed: list[str], origin: str | None, status: int
) -> None:
    config = make_config(db_path, security={"allowed_origins": allowed})
    async with running(config) as server:
        headers = {} if origin is None else {"origin": origin.format(port=server.port)}
        path = ws_path(workshop, attendee_query(workshop.attendees[0]))
        assert await handshake_status(server.port, path, headers) == status


# --- SQL ---------------------------------------------------------------------------------------

SQL_METHODS = {"execute", "executemany", "executescript", "query", "execute_returning_dicts"}
# Non-literal SQL the package may build, and why it is safe. PRAGMA values can't
# be bound as parameters.
ALLOWED_DYNAMIC_SQL = {
    # synchronous is checked against SYNCHRONOUS_MODES first (see the test below)
    "f'PRAGMA synchronous = {synchronous.upper()}'",
    # an int() of a loop counter
    "f'PRAGMA user_version = {int(number)}'",
    # one statement of the constant MIGRATIONS scripts
    "statement",
    # a fixed statement with `n` rows of placeholders (test below)
    "votes_upsert_sql(len(chunk))",
    "vote_history_insert_sql(len(chunk))",
}


def test_the_many_row_vote_statements_hold_only_placeholders() -> None:
    for rows in (1, 2, storage.VOTE_ROWS_PER_STATEMENT):
        for sql in (storage.votes_upsert_sql(rows), storage.vote_history_insert_sql(rows)):
            assert sql.count("?") == 5 * rows
            assert "'" not in sql
            assert '"' not in sql


def _sql_calls(tree: ast.AST) -> Iterator[tuple[ast.Call, ast.FunctionDef | None]]:
    def visit(
        node: ast.AST, function: ast.FunctionDef | None
    ) -> Iterator[tuple[ast.Call, ast.FunctionDef | None]]:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef) else function
            if isinstance(child, ast.Call):
                yield child, function
            yield from visit(child, inner)

    yield from visit(tree, None)


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def test_every_sql_statement_is_parameterized() -> None:
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in PACKAGE.rglob("*.py")}
    sinks = set(SQL_METHODS)
    # Helpers that pass a parameter on as SQL (Store._row, Store._scalar) are sinks too.
    forwarders: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for call, function in _sql_calls(tree):
                if _callee(call) not in sinks or not call.args or function is None:
                    continue
                first = call.args[0]
                params = [a.arg for a in function.args.args]
                if (
                    isinstance(first, ast.Name)
                    and first.id in params
                    and function.name not in sinks
                ):
                    forwarders[function.name] = first.id
                    sinks.add(function.name)
                    changed = True
    problems = []
    statements = 0
    for path, tree in trees.items():
        for call, function in _sql_calls(tree):
            name = _callee(call)
            if name not in sinks or not call.args:
                continue
            first = call.args[0]
            where = f"{path.relative_to(PACKAGE)}:{call.lineno}"
            if function is not None and forwarders.get(function.name) == ast.unparse(first):
                continue  # the forwarder itself; its callers are checked
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                statements += 1
                sql = first.value
                placeholders = re.search(r"\?|:[a-z_]+\b", sql)
                if placeholders and len(call.args) + len(call.keywords) < 2:
                    problems.append(f"{where}: placeholders but no parameters: {sql!r}")
                # Values belong in parameters: a quoted literal must be a fixed word.
                for literal in re.findall(r"'([^']*)'", sql):
                    if not re.fullmatch(r"[a-z_]*", literal):
                        problems.append(f"{where}: literal {literal!r} in SQL")
                continue
            if ast.unparse(first) in ALLOWED_DYNAMIC_SQL:
                continue
            problems.append(f"{where}: SQL built from {ast.unparse(first)}")
        # sqlite-utils table names must be literals too (values go through insert()).
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _callee(node) == "table" and node.args:
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    problems.append(f"{path.name}:{node.lineno}: table({ast.unparse(first)})")
    assert statements >= 20, "the walk found too few statements: is it still looking?"
    assert not problems, "\n".join(problems)


def test_the_dynamic_pragmas_are_safe(tmp_path: Path) -> None:
    # The migrations are constant SQL text.
    assert all(isinstance(script, str) for script in storage.MIGRATIONS)
    with pytest.raises(StorageError):
        Store.open(str(tmp_path / "x.db"), synchronous="FULL; DROP TABLE votes")


async def test_hostile_text_is_stored_verbatim(db_path: str) -> None:
    """Quotes and SQL in names are data: parameters keep them so."""
    hostile = ["Robert'); DROP TABLE votes;--", 'x" OR "1"="1', "%s %d {0}", "\\'; --"]
    store = Store.open(db_path)
    try:
        project, _ = operations.create_project(store, hostile[0])
        for name in hostile:
            operations.add_feature(store, project.id, name)
            operations.add_attendee(store, project.id, name)
        features = [f.title for f in store.features(project.id)]
        attendees = [a.name for a in store.attendees(project.id)]
        assert store.project(project.id).name == hostile[0]
    finally:
        store.close()
    assert features == hostile
    assert attendees == hostile
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM votes").fetchone() == (0,)  # still there
    db.close()
