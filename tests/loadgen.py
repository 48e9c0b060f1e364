"""Many WebSocket clients at once, and what to measure while they come and go.

`LoadClient` is one real WebSocket client (trio-websocket) that always reads:
whatever it is doing, a task drains its messages, so it never becomes a slow
consumer by accident. It votes with `vote()` (which waits for its own
`vote_received`) and ends in one of the ways real clients end (`drop`).

`Presence` follows attendee_joined/attendee_left on a connection that sees the
whole room. `Resources` is a snapshot of a process: trio tasks, file
descriptors, resident memory and live objects of the daemon's classes.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import attrs
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

TIMEOUT_S = 10.0  # generous: these tests share two cores with everything else


class Gone(Exception):
    """The connection ended before the vote was acknowledged."""


DropMode = Literal["rst", "fin", "close", "leave"]
DROP_MODES: tuple[DropMode, ...] = ("rst", "fin", "close", "leave")

Choice = int | None  # a feature id, or None for a tie


def vote_message(comparison_id: int, choice: Choice) -> str:
    vote: dict[str, Any] = {"comparison_id": comparison_id}
    if choice is None:
        vote["is_tie_vote"] = True
    else:
        vote["preferred_feature_id"] = choice
    return json.dumps({"type": "vote_submitted", "data": {"vote": vote}})


class LoadClient:
    """One connection; `run` it in a nursery with `nursery.start`."""

    def __init__(
        self,
        port: int,
        resource: str,
        attendee_id: int,
        *,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        local_address: str | None = None,
    ) -> None:
        self.port = port
        self.local_address = local_address
        self.resource = resource
        self.attendee_id = attendee_id  # 0 for a facilitator
        self.on_message = on_message
        self.state: dict[str, Any] | None = None
        self.ws: WebSocketConnection | None = None
        self.stream: trio.SocketStream | None = None
        self.closed_reason: Any = None
        self.received = 0
        self.notices: list[str] = []
        self.notice_at: dict[str, float] = {}  # event -> time.perf_counter() when it came
        self.closed_at: float | None = None
        self.sent: list[tuple[int, Choice]] = []
        self.acked: list[tuple[int, Choice]] = []
        self._pending: deque[tuple[int, Choice]] = deque()
        self._ack = trio.Event()
        self._closed = trio.Event()
        self._scope = trio.CancelScope()
        # A Close handshake of ours in progress: trio-websocket's reader (in our
        # nursery) must live until it has read the server's answer.
        self._closing: trio.Event | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[LoadClient] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, read session_state, report ready, then read until the connection ends."""
        with self._scope:
            self.stream = await trio.open_tcp_stream(
                "127.0.0.1", self.port, local_address=self.local_address
            )
            try:
                async with trio.open_nursery() as nursery:
                    with trio.fail_after(TIMEOUT_S):
                        self.ws = await wrap_client_stream(
                            nursery, self.stream, f"127.0.0.1:{self.port}", self.resource
                        )
                        first = json.loads(await self.ws.get_message())
                    assert first["type"] == "session_state", first
                    self.state = first["data"]
                    task_status.started(self)
                    try:
                        while True:
                            self._handle(json.loads(await self.ws.get_message()))
                    except ConnectionClosed as exc:
                        self.closed_reason = exc.reason
                    if self._closing is not None:
                        await self._closing.wait()
                    nursery.cancel_scope.cancel()
            finally:
                self.closed_at = time.perf_counter()
                self._closed.set()
                self._ack.set()  # a voter waiting for its acknowledgement: it won't come
                await trio.aclose_forcefully(self.stream)

    def _handle(self, message: dict[str, Any]) -> None:
        self.received += 1
        data = message["data"]
        kind = message["type"]
        if kind == "vote_received" and data["attendee_id"] == self.attendee_id and self._pending:
            if (data["comparison_id"], data["preferred_feature_id"]) == self._pending[0]:
                self.acked.append(self._pending.popleft())
                self._ack.set()
        elif kind == "system_notice":
            self.notices.append(data["event"])
            self.notice_at.setdefault(data["event"], time.perf_counter())
        elif kind == "error":
            raise AssertionError(f"error to attendee {self.attendee_id}: {data}")
        if self.on_message is not None:
            self.on_message(message)

    async def send(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send_message(text)

    async def vote(self, comparison_id: int, choice: Choice) -> None:
        """Vote and wait for the acknowledgement (the voter's own vote_received).

        Raises `Gone` if the connection ends first.
        """
        if self._closed.is_set():
            raise Gone
        acked = len(self.acked)
        self._ack = trio.Event()
        self._pending.append((comparison_id, choice))
        self.sent.append((comparison_id, choice))
        try:
            await self.send(vote_message(comparison_id, choice))
        except ConnectionClosed:
            raise Gone from None
        with trio.fail_after(TIMEOUT_S):
            await self._ack.wait()
        if len(self.acked) == acked:
            raise Gone

    async def wait_closed(self) -> None:
        with trio.fail_after(TIMEOUT_S):
            await self._closed.wait()

    async def drop(self, mode: DropMode) -> None:
        """End the connection: TCP reset, TCP close without a Close frame, a Close
        handshake, or leave_session."""
        assert self.stream is not None
        assert self.ws is not None
        if mode == "rst":
            self.stream.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self._scope.cancel()
        elif mode == "fin":
            self._scope.cancel()
        elif mode == "close":
            self._closing = trio.Event()
            try:
                with trio.fail_after(TIMEOUT_S):
                    await self.ws.aclose()
            finally:
                self._closing.set()
        else:
            with contextlib.suppress(ConnectionClosed):
                await self.send('{"type": "leave_session", "data": {}}')
        await self.wait_closed()


@attrs.define
class Presence:
    """Who is online, as the room announces it."""

    online: set[int] = attrs.Factory(set)
    online_count: int = 0
    reasons: list[tuple[int, str]] = attrs.Factory(list)
    left_at: dict[int, float] = attrs.Factory(
        dict
    )  # attendee -> time.perf_counter() of its last departure
    _changed: trio.Event = attrs.Factory(trio.Event)

    def __call__(self, message: dict[str, Any]) -> None:
        data = message["data"]
        if message["type"] == "attendee_joined":
            self.online.add(data["attendee_id"])
        elif message["type"] == "attendee_left":
            self.online.discard(data["attendee_id"])
            self.reasons.append((data["attendee_id"], data["reason"]))
            self.left_at[data["attendee_id"]] = time.perf_counter()
        else:
            return
        self.online_count = data["online_count"]
        assert self.online_count == len(self.online), (data, self.online)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, expected: set[int], timeout: float = TIMEOUT_S) -> None:
        with trio.fail_after(timeout):
            while self.online != expected:
                await self._changed.wait()

    async def wait_for_reason(self, attendee_id: int, timeout: float = TIMEOUT_S) -> str:
        with trio.fail_after(timeout):
            while True:
                for who, reason in self.reasons:
                    if who == attendee_id:
                        return reason
                await self._changed.wait()


# --- resources ----------------------------------------------------------------------------


def count_tasks() -> int:
    """Every task of the running trio loop."""
    count = 0
    root = trio.lowlevel.current_root_task()
    assert root is not None
    stack = [root]
    while stack:
        task = stack.pop()
        count += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


def count_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def settled_fds() -> int:
    """This process's file descriptors once every task is blocked (in-process daemon:
    connections it is still closing are done)."""
    with trio.fail_after(TIMEOUT_S):
        await trio.testing.wait_all_tasks_blocked(cushion=0.01)
    return count_fds()


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover


def live_objects(*names: str) -> dict[str, int]:
    """How many objects of these classes (by qualified name) are alive, after a collection.

    Connection objects (the daemon's `Connection`s; a `FrameReader` lives as long as its
    connection reads) are
    counted apart once ended (`name (ended)`): ended ones may stay referenced for
    a while (the hub's and a room's last events, trio's deadline heap, another
    test's leftovers in the same process): bounded, not a leak. Open ones are
    connections, and must be exactly those the test still has.
    """
    gc.collect()
    counts = dict.fromkeys(names, 0)
    for obj in gc.get_objects():
        kind = type(obj)
        name = f"{kind.__module__}.{kind.__qualname__}"
        if name in counts:
            ended = getattr(obj, "finished", False) is True  # a Connection
            if ended:
                name += ENDED
                counts.setdefault(name, 0)
            counts[name] += 1
    return counts


DAEMON_CLASSES = (
    "pairwise_ws.live.connection.Connection",
    "pairwise_ws.live.room.Room",
    "pairwise_ws.wire.rfc6455.FrameReader",
)
ENDED = " (ended)"
OPEN_CLIENTS = "pairwise_ws.live.connection.Connection"
FINISHED_CLIENTS = OPEN_CLIENTS + ENDED
OPEN_WEBSOCKETS = "pairwise_ws.wire.rfc6455.FrameReader"  # one per connection reading


def fd_targets(pid: int | str = "self") -> list[str]:
    """What each open file descriptor is (socket:[inode], a path, anon_inode:[eventpoll])."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            continue
    return sorted(targets)


@attrs.frozen
class Resources:
    tasks: int
    fds: int
    rss_kib: int
    objects: dict[str, int]
    # Memory blocks the interpreter holds (sys.getallocatedblocks, after a collection):
    # unlike the RSS, it goes down again when objects are freed, so growth here is a leak.
    allocated_blocks: int = 0
    fd_kinds: tuple[str, ...] = ()

    @classmethod
    async def measure(cls) -> Resources:
        """In this process, at a moment when every task is blocked (none is half-way
        through something). Periodic tasks must sleep longer than 10 ms."""
        with trio.fail_after(TIMEOUT_S):
            await trio.testing.wait_all_tasks_blocked(cushion=0.01)
        return cls(
            tasks=count_tasks(),
            fds=count_fds(),
            rss_kib=rss_kib(),
            objects=live_objects(*DAEMON_CLASSES),
            allocated_blocks=sys.getallocatedblocks(),
            fd_kinds=tuple(t.split(":")[0] for t in fd_targets()),
        )
