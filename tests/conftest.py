"""Shared fixtures: a workshop in a temporary database and the real daemon on a free port.

End-to-end tests talk to the daemon over real sockets with a real WebSocket
client (trio-websocket's). Every wait is bounded (`RECEIVE_TIMEOUT_S`): a test
waits for the message it expects, never for a fixed time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import pytest
import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection, wrap_client_stream

from pairwise_ws.app import operations
from pairwise_ws.config import Config
from pairwise_ws.net.server import Server, serve
from pairwise_ws.storage import Store

RECEIVE_TIMEOUT_S = 5.0


@attrs.frozen
class Person:
    id: int
    name: str
    token: str


@attrs.frozen
class Pair:
    id: int
    a: int
    b: int


@attrs.frozen
class Workshop:
    db_path: str
    project_id: int
    facilitator_token: str
    feature_ids: tuple[int, ...]
    attendees: tuple[Person, ...]
    session_id: int
    comparisons: tuple[Pair, ...]  # in position order
    join_code: str = ""  # the session's: its join link carries it

    @property
    def comparison_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.comparisons)


def make_workshop(
    db_path: str,
    *,
    features: int = 4,
    attendees: int = 3,
    **session_options: Any,
) -> Workshop:
    store = Store.open(db_path)
    try:
        project, facilitator_token = operations.create_project(store, "Test project")
        feature_ids = tuple(
            operations.add_feature(store, project.id, f"Feature {chr(65 + i)}").id
            for i in range(features)
        )
        people = []
        for i in range(attendees):
            attendee, token = operations.add_attendee(store, project.id, f"Attendee {i + 1}")
            people.append(Person(attendee.id, attendee.name, token))
        session, comparisons = operations.create_session(store, project.id, **session_options)
    finally:
        store.close()
    return Workshop(
        db_path=db_path,
        project_id=project.id,
        facilitator_token=facilitator_token,
        feature_ids=feature_ids,
        attendees=tuple(people),
        session_id=session.id,
        comparisons=tuple(Pair(c.id, c.feature_a_id, c.feature_b_id) for c in comparisons),
        join_code=session.join_code,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "pairwise.db")


@pytest.fixture
def workshop(db_path: str, request: pytest.FixtureRequest) -> Workshop:
    """A workshop; `@pytest.mark.workshop(features=2, rule="majority", ...)` shapes it."""
    marker = request.node.get_closest_marker("workshop")
    return make_workshop(db_path, **(marker.kwargs if marker else {}))


def stored_results(workshop: Workshop) -> operations.Results:
    """The session's results as `pairwise-ws results` reads them, from its own connection."""
    store = Store.open(workshop.db_path)
    try:
        return operations.results(store, workshop.session_id)
    finally:
        store.close()


def make_config(db_path: str, **sections: dict[str, Any]) -> Config:
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0},
        "database": {"path": db_path, "synchronous": "normal", "poll_interval": 0.05},
        "logging": {"level": "debug"},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return Config.from_mapping(raw)


@pytest.fixture
def config(db_path: str) -> Config:
    return make_config(db_path)


@pytest.fixture
async def server(
    nursery: trio.Nursery, config: Config, workshop: Workshop
) -> AsyncIterator[Server]:
    running: Server = await nursery.start(serve, config)
    yield running
    await running.aclose()
    assert running.hub.room_failures == 0, "a room died of a bug (see the log)"


class Peer:
    """A real WebSocket client with bounded, typed receives."""

    def __init__(self, ws: WebSocketConnection, stream: trio.SocketStream) -> None:
        self.ws = ws
        self.stream = stream

    async def send(self, type_: str, data: dict[str, Any] | None = None, **extra: Any) -> None:
        message: dict[str, Any] = {"type": type_, "data": data or {}, **extra}
        await self.ws.send_message(json.dumps(message))

    async def vote(self, comparison_id: int, feature_id: int | None = None) -> None:
        vote: dict[str, Any] = {"comparison_id": comparison_id}
        if feature_id is None:
            vote["is_tie_vote"] = True
        else:
            vote["preferred_feature_id"] = feature_id
            vote["is_tie_vote"] = False
        await self.send("vote_submitted", {"vote": vote})

    async def receive(self) -> dict[str, Any]:
        with trio.fail_after(RECEIVE_TIMEOUT_S):
            message = await self.ws.get_message()
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    async def expect(self, type_: str) -> dict[str, Any]:
        """The next message, which must be of `type_`."""
        message = await self.receive()
        assert message["type"] == type_, f"expected {type_}, got {message}"
        return message

    async def next_of(self, type_: str) -> dict[str, Any]:
        """The next message of `type_`, skipping others."""
        while True:
            message = await self.receive()
            if message["type"] == type_:
                return message

    async def closed(self) -> CloseReason:
        """Wait until the server has closed the connection; why it did."""
        with trio.fail_after(RECEIVE_TIMEOUT_S):
            while True:
                try:
                    await self.ws.get_message()
                except ConnectionClosed as exc:
                    reason = exc.reason
                    break
        assert reason is not None
        return reason

    async def aclose(self) -> None:
        with trio.move_on_after(1):
            await self.ws.aclose()
        await trio.aclose_forcefully(self.stream)


class Clients:
    """Connects real WebSocket clients to the test server; closes them all at the end."""

    def __init__(self, nursery: trio.Nursery, server: Server, workshop: Workshop) -> None:
        self.nursery = nursery
        self.server = server
        self.workshop = workshop
        self.peers: list[Peer] = []

    def url(self, person: Person | None = None, **query: Any) -> str:
        return ws_url(self.server, self.workshop, person, **query)

    async def connect(self, person: Person | None = None, **query: Any) -> Peer:
        """Open a WebSocket as `person` (or with `query` alone); raises if refused."""
        return await self.connect_url(self.url(person, **query))

    async def connect_url(self, url: str) -> Peer:
        """Open the WebSocket at `url` (on the test server's port)."""
        stream = await trio.open_tcp_stream("127.0.0.1", self.server.port)
        resource = url.split(f":{self.server.port}", 1)[1]
        try:
            with trio.fail_after(RECEIVE_TIMEOUT_S):
                ws = await wrap_client_stream(
                    self.nursery, stream, f"127.0.0.1:{self.server.port}", resource
                )
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        peer = Peer(ws, stream)
        self.peers.append(peer)
        return peer

    async def join(self, person: Person) -> tuple[Peer, dict[str, Any]]:
        """Connect an attendee; returns the peer and its session_state."""
        peer = await self.connect(person)
        state = await peer.expect("session_state")
        return peer, state

    async def join_first(self, count: int) -> list[Peer]:
        """The workshop's first `count` attendees, connected, their session_state read."""
        return [(await self.join(person))[0] for person in self.workshop.attendees[:count]]

    async def facilitator(self) -> tuple[Peer, dict[str, Any]]:
        peer = await self.connect(facilitator_token=self.workshop.facilitator_token)
        return peer, await peer.expect("session_state")

    async def aclose(self) -> None:
        for peer in self.peers:
            await peer.aclose()


def ws_url(server: Server, workshop: Workshop, person: Person | None = None, **query: Any) -> str:
    if person is not None:
        query = {"attendee_id": person.id, "token": person.token, **query}
    return (
        f"ws://127.0.0.1:{server.port}/projects/{workshop.project_id}"
        f"/sessions/{workshop.session_id}/ws?{urlencode(query)}"
    )


@pytest.fixture
async def clients(
    nursery: trio.Nursery, server: Server, workshop: Workshop
) -> AsyncIterator[Clients]:
    connected = Clients(nursery, server, workshop)
    yield connected
    await connected.aclose()


@asynccontextmanager
async def serving(config: Config, workshop: Workshop) -> AsyncIterator[Clients]:
    """The daemon with a special `config`, and a client factory for it (`.server`)."""
    async with running(config) as server, trio.open_nursery() as nursery:
        clients = Clients(nursery, server, workshop)
        try:
            yield clients
        finally:
            await clients.aclose()


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Server]:
    """The daemon with a special `config`, stopped gracefully at the end."""
    async with trio.open_nursery() as nursery:
        started: Server = await nursery.start(serve, config)
        try:
            yield started
        finally:
            await started.aclose()
        assert started.hub.room_failures == 0, "a room died of a bug (see the log)"


class LogWatcher(logging.Handler):
    """Lets a test wait for a log line of the daemon instead of guessing a time."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, *fragments: str) -> str:
        """The first line (seen or to come) containing any of `fragments`."""
        with trio.fail_after(RECEIVE_TIMEOUT_S):
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if any(fragment in line for fragment in fragments):
                        return line
                seen = len(self.lines)
                await self._changed.wait()


@pytest.fixture
def daemon_log() -> Iterator[LogWatcher]:
    watcher = LogWatcher()
    logger = logging.getLogger("pairwise_ws")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(watcher)
    yield watcher
    logger.removeHandler(watcher)
    logger.setLevel(level)
