"""A load generator: one process, one asyncio loop, many lean WebSocket clients.

The orchestrator (`benchmarks.run`) starts a few of these with
`multiprocessing` and drives them through a pipe, one command at a time:

    Connect   open every connection, wait for each one's first message
    Quiet     wait until nothing has arrived for a while (joins settled)
    RunFixed  send votes on a fixed schedule shared by every generator
    RunClosed every voter keeps `window` votes in flight until a deadline
    Expect    wait until every connection has every vote_received of the phase
    Status    connections still open, pings answered
    Stop      close everything and exit

Every reply is one picklable dataclass. Matching a delivery to its vote needs
no id on the wire: the server handles one connection's messages in order and
broadcasts in that order, so the k-th `vote_received` caused by attendee A at
any recipient is A's k-th vote of the phase. Send and receive times are
`time.monotonic_ns()`, one clock for every process on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import signal
import sys
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass
from multiprocessing.connection import Connection

from benchmarks.wsclient import LeanWebSocket

VOTE_PREFIX = b'{"type":"vote_received"'
TYPE_RE = re.compile(rb'"type"\s*:\s*"([a-z_]+)"')
CAUSE_RE = re.compile(rb'"attendee_id"\s*:\s*(\d+)')
VOTE_FRAME = (
    b'{"type":"vote_submitted","data":{"vote":{"comparison_id":%d,'
    b'"preferred_feature_id":%d,"is_tie_vote":false}}}'
)


# --- what the orchestrator sends ------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    attendee_id: int
    target: str  # path and query of the WebSocket URL
    room: str  # the session this connection joins
    voter_index: int = -1  # position in the global voter list; -1: only listens
    parity: int = 0  # 0 votes for feature A, 1 for feature B (votes never agree)
    source: str = "127.0.0.1"  # local address to connect from (each attendee has its own device)


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    host: str
    port: int
    clients: tuple[ClientSpec, ...]
    # room -> its comparisons as (comparison_id, feature_a_id, feature_b_id)
    comparisons: dict[str, tuple[tuple[int, int, int], ...]]
    connect_concurrency: int = 16  # handshakes in progress at once


@dataclass(frozen=True)
class Connect:
    """Open every connection; each must get its first message before `timeout` from now."""

    timeout: float


@dataclass(frozen=True)
class Quiet:
    quiet_s: float
    timeout: float


@dataclass(frozen=True)
class RunFixed:
    """Vote j goes at t0 + j/rate, from voter j % voters; latency of every delivery recorded."""

    t0_ns: int
    rate: float
    count: int
    voters: int


@dataclass(frozen=True)
class RunClosed:
    """From t0, every voter keeps `window` votes unacknowledged until t0 + duration."""

    t0_ns: int
    duration_s: float
    window: int


@dataclass(frozen=True)
class Expect:
    totals: dict[str, int]  # room -> vote_received every member must get this phase
    timeout: float


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Stop:
    pass


Command = Connect | Quiet | RunFixed | RunClosed | Expect | Status | Stop


# --- what it answers --------------------------------------------------------------------


@dataclass
class Connected:
    name: str
    ok: int
    failed: int
    failures: list[str]
    seconds: float
    cpu_s: float
    nofile: int


@dataclass
class QuietReply:
    name: str
    quiet: bool
    messages: int


@dataclass
class Sent:
    name: str
    per_room: dict[str, int]
    max_lag_ms: float  # how late the fixed schedule ran at worst (client saturation)
    refused: int  # votes not sent because the connection was gone


@dataclass
class PhaseResult:
    name: str
    clients: int
    open_clients: int
    close_codes: dict[str, int]
    expected: int
    received: int
    missing: int
    incomplete_clients: int
    errors: int
    error_samples: list[str]
    kinds: dict[str, int]
    sent: int
    acks: int
    first_send_ns: int
    last_recv_ns: int
    last_ack_ns: int
    cpu_s: float
    wall_s: float
    ack_latency_ns: array[int]
    # fixed schedule only: every delivery as (cause, k, received_ns), and our voters' sends
    lat_cause: array[int]
    lat_k: array[int]
    lat_t: array[int]
    send_times: dict[tuple[int, int], int]


@dataclass
class StatusReply:
    name: str
    clients: int
    open_clients: int
    pings: int
    clients_pinged: int
    close_codes: dict[str, int]
    errors: int


Reply = Connected | QuietReply | Sent | PhaseResult | StatusReply


# --- one connection ----------------------------------------------------------------------


class Client:
    __slots__ = (
        "attendee_id",
        "gen",
        "inflight",
        "joined",
        "phase_k",
        "received",
        "room",
        "seq",
        "spec",
        "vote_k",
        "ws",
    )

    def __init__(self, spec: ClientSpec, gen: Generator) -> None:
        self.spec = spec
        self.gen = gen
        self.attendee_id = spec.attendee_id
        self.room = spec.room
        self.ws: LeanWebSocket | None = None
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received = 0  # vote_received this phase
        self.seq: dict[int, int] = {}  # cause -> vote_received from it this phase
        self.vote_k = 0  # votes sent, ever (picks the comparison)
        self.phase_k = 0  # votes sent this phase
        self.inflight: deque[int] = deque()  # send times of unacknowledged votes

    def on_text(self, ws: LeanWebSocket, payload: bytes, now: int) -> None:
        gen = self.gen
        gen.last_frame_ns = now
        if payload.startswith(VOTE_PREFIX):
            found = CAUSE_RE.search(payload)
            if found is None:
                gen.note_error(b"vote_received without attendee_id: " + payload[:200])
                return
            cause = int(found[1])
            self.received += 1
            gen.last_recv_ns = now
            if gen.record_latency:
                k = self.seq.get(cause, 0)
                self.seq[cause] = k + 1
                gen.lat_cause.append(cause)
                gen.lat_k.append(k)
                gen.lat_t.append(now)
            if cause == self.attendee_id and self.inflight:
                gen.on_ack(self, now)
            return
        found = TYPE_RE.search(payload)
        kind = found[1].decode("ascii") if found else "?"
        gen.kinds[kind] += 1
        if not self.joined.done():
            self.joined.set_result(None)
        if kind == "error":
            gen.note_error(payload[:300])

    def send_vote(self) -> bool:
        gen = self.gen
        comparisons = gen.comparisons[self.room]
        comparison_id, feature_a, feature_b = comparisons[self.vote_k % len(comparisons)]
        preferred = feature_a if self.spec.parity == 0 else feature_b
        ws = self.ws
        sent_at = time.monotonic_ns()
        if ws is None or not ws.send_text(VOTE_FRAME % (comparison_id, preferred)):
            gen.refused += 1
            return False
        self.inflight.append(sent_at)
        if gen.record_latency:
            gen.send_times[(self.attendee_id, self.phase_k)] = sent_at
        if gen.first_send_ns == 0:
            gen.first_send_ns = sent_at
        self.vote_k += 1
        self.phase_k += 1
        gen.sent_per_room[self.room] += 1
        return True


# --- the generator ------------------------------------------------------------------------


class Generator:
    def __init__(self, spec: GeneratorSpec, pipe: Connection) -> None:
        self.spec = spec
        self.pipe = pipe
        self.comparisons = spec.comparisons
        self.clients: list[Client] = []
        self.voters: dict[int, Client] = {}
        self.kinds: Counter[str] = Counter()
        self.errors = 0
        self.error_samples: list[str] = []
        self.last_frame_ns = 0
        self._reset_phase()

    def _reset_phase(self) -> None:
        self.record_latency = False
        self.closed_loop_until = 0
        self.lat_cause: array[int] = array("q")
        self.lat_k: array[int] = array("q")
        self.lat_t: array[int] = array("q")
        self.send_times: dict[tuple[int, int], int] = {}
        self.ack_latency: array[int] = array("q")
        self.sent_per_room: Counter[str] = Counter()
        self.refused = 0
        self.acks = 0
        self.first_send_ns = 0
        self.last_recv_ns = 0
        self.last_ack_ns = 0
        self.kinds = Counter()
        self.errors = 0
        self.error_samples = []
        self.phase_cpu = time.process_time()
        self.phase_wall = time.monotonic()
        for client in self.clients:
            client.received = 0
            client.seq = {}
            client.phase_k = 0
            client.inflight.clear()

    def note_error(self, payload: bytes) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(payload.decode("utf-8", "replace"))

    def on_ack(self, client: Client, now: int) -> None:
        sent_at = client.inflight.popleft()
        self.ack_latency.append(now - sent_at)
        self.acks += 1
        self.last_ack_ns = now
        if self.closed_loop_until and now < self.closed_loop_until:
            client.send_vote()

    # --- commands ------------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[Command] = asyncio.Queue()

        def readable() -> None:
            try:
                while self.pipe.poll():
                    commands.put_nowait(self.pipe.recv())
            except (EOFError, OSError):
                loop.remove_reader(self.pipe.fileno())
                commands.put_nowait(Stop())  # the orchestrator is gone

        loop.add_reader(self.pipe.fileno(), readable)
        try:
            while True:
                command = await commands.get()
                if isinstance(command, Stop):
                    return
                reply = await self.handle(command)
                self.pipe.send(reply)
        finally:
            for client in self.clients:
                if client.ws is not None:
                    client.ws.abort()

    async def handle(self, command: Command) -> Reply:
        match command:
            case Connect():
                return await self.connect(command)
            case Quiet():
                return await self.quiet(command)
            case RunFixed():
                return await self.run_fixed(command)
            case RunClosed():
                return await self.run_closed(command)
            case Expect():
                return await self.expect(command)
            case Status():
                return self.status()
        raise ValueError(f"unknown command {command!r}")

    async def connect(self, command: Connect) -> Connected:
        loop = asyncio.get_running_loop()
        spec = self.spec
        started, cpu = time.monotonic(), time.process_time()
        deadline = started + command.timeout
        gate = asyncio.Semaphore(spec.connect_concurrency)
        failures: list[str] = []

        async def one(client: Client) -> None:
            async with gate:
                try:
                    async with asyncio.timeout_at(loop.time() + deadline - time.monotonic()):
                        _, ws = await loop.create_connection(
                            lambda: LeanWebSocket(
                                spec.host, spec.port, client.spec.target, client.on_text
                            ),
                            spec.host,
                            spec.port,
                            local_addr=(client.spec.source, 0),
                        )
                        client.ws = ws
                        await ws.opened
                        if ws.failure:
                            failures.append(ws.failure)
                            return
                        # The first message (session_state) says the server has joined us.
                        await asyncio.wait(
                            [client.joined, ws.closed], return_when=asyncio.FIRST_COMPLETED
                        )
                        if not client.joined.done():
                            failures.append(
                                f"attendee {client.attendee_id}: closed before its first "
                                f"message (close code {ws.close_code} {ws.close_reason!r})"
                            )
                except TimeoutError:
                    failures.append(f"attendee {client.attendee_id}: not joined in time")
                except OSError as exc:
                    failures.append(f"attendee {client.attendee_id}: {exc!r}")

        self.clients = [Client(c, self) for c in spec.clients]
        self.voters = {c.spec.voter_index: c for c in self.clients if c.spec.voter_index >= 0}
        await asyncio.gather(*(one(c) for c in self.clients))
        ok = sum(1 for c in self.clients if c.joined.done() and c.ws is not None and c.ws.is_open)
        return Connected(
            name=spec.name,
            ok=ok,
            failed=len(self.clients) - ok,
            failures=failures[:5],
            seconds=time.monotonic() - started,
            cpu_s=time.process_time() - cpu,
            nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        )

    async def quiet(self, command: Quiet) -> QuietReply:
        deadline = time.monotonic() + command.timeout
        quiet_ns = int(command.quiet_s * 1e9)
        while time.monotonic() < deadline:
            if time.monotonic_ns() - self.last_frame_ns >= quiet_ns:
                return QuietReply(self.spec.name, True, sum(self.kinds.values()))
            await asyncio.sleep(command.quiet_s / 4)
        return QuietReply(self.spec.name, False, sum(self.kinds.values()))

    async def run_fixed(self, command: RunFixed) -> Sent:
        self._reset_phase()
        self.record_latency = True
        mine = [
            (j, self.voters[j % command.voters])
            for j in range(command.count)
            if j % command.voters in self.voters
        ]
        interval = 1e9 / command.rate
        max_lag = 0
        for j, client in mine:
            due = command.t0_ns + int(j * interval)
            delay = due - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            max_lag = max(max_lag, time.monotonic_ns() - due)
            client.send_vote()
        return Sent(self.spec.name, dict(self.sent_per_room), max_lag / 1e6, self.refused)

    async def run_closed(self, command: RunClosed) -> Sent:
        self._reset_phase()
        self.closed_loop_until = command.t0_ns + int(command.duration_s * 1e9)
        delay = command.t0_ns - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        for client in self.voters.values():
            for _ in range(command.window):
                client.send_vote()
        delay = self.closed_loop_until - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        self.closed_loop_until = 0
        return Sent(self.spec.name, dict(self.sent_per_room), 0.0, self.refused)

    async def expect(self, command: Expect) -> PhaseResult:
        deadline = time.monotonic() + command.timeout
        while True:
            waiting = [c for c in self.clients if c.received < command.totals.get(c.room, 0)]
            if not waiting or time.monotonic() >= deadline:
                break
            if all(c.ws is None or not c.ws.is_open for c in waiting):
                break  # nothing more can arrive
            await asyncio.sleep(0.02)
        expected = sum(command.totals.get(c.room, 0) for c in self.clients)
        received = sum(c.received for c in self.clients)
        missing = sum(max(0, command.totals.get(c.room, 0) - c.received) for c in self.clients)
        codes = Counter(
            str(c.ws.close_code if c.ws.close_code is not None else "tcp")
            for c in self.clients
            if c.ws is not None and not c.ws.is_open
        )
        return PhaseResult(
            name=self.spec.name,
            clients=len(self.clients),
            open_clients=sum(1 for c in self.clients if c.ws is not None and c.ws.is_open),
            close_codes=dict(codes),
            expected=expected,
            received=received,
            missing=missing,
            incomplete_clients=len(waiting),
            errors=self.errors,
            error_samples=list(self.error_samples),
            kinds=dict(self.kinds),
            sent=sum(self.sent_per_room.values()),
            acks=self.acks,
            first_send_ns=self.first_send_ns,
            last_recv_ns=self.last_recv_ns,
            last_ack_ns=self.last_ack_ns,
            cpu_s=time.process_time() - self.phase_cpu,
            wall_s=time.monotonic() - self.phase_wall,
            ack_latency_ns=self.ack_latency,
            lat_cause=self.lat_cause,
            lat_k=self.lat_k,
            lat_t=self.lat_t,
            send_times=self.send_times,
        )

    def status(self) -> StatusReply:
        closed = [c for c in self.clients if c.ws is None or not c.ws.is_open]
        codes = Counter(
            str(c.ws.close_code if c.ws is not None and c.ws.close_code is not None else "tcp")
            for c in closed
        )
        return StatusReply(
            name=self.spec.name,
            clients=len(self.clients),
            open_clients=len(self.clients) - len(closed),
            pings=sum(c.ws.pings for c in self.clients if c.ws is not None),
            clients_pinged=sum(1 for c in self.clients if c.ws is not None and c.ws.pings),
            close_codes=dict(codes),
            errors=self.errors,
        )


# --- process entry point --------------------------------------------------------------------


def raise_nofile_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def die_with_parent() -> None:
    """Linux: get SIGKILL when the process that started us dies (no orphans)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415 - Linux only

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def generator_main(pipe: Connection, spec: GeneratorSpec) -> None:
    """The target of each generator process."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator handles Ctrl-C
    limit = raise_nofile_limit()
    if limit < len(spec.clients) + 64:
        print(
            f"{spec.name}: RLIMIT_NOFILE {limit} is too low for {len(spec.clients)} connections",
            file=sys.stderr,
        )
    # Make garbage collection rare: many long-lived objects, few cycles.
    import gc  # noqa: PLC0415

    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    asyncio.run(Generator(spec, pipe).serve())
    pipe.close()
    os._exit(0)
