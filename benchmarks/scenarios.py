"""The scenarios: fan-out (against pairwise-ws and the reference), durable votes, capacity.

Each scenario builds its workshop in a fresh SQLite file, starts the server as
a child process, spreads the connections over a few load generator processes
and drives them through phases. Every figure comes with the counts that make
it believable: votes sent, deliveries expected and received, errors, dropped
connections, and the CPU used by the server and by the load generators.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import fixtures
from benchmarks.fixtures import RoomFixture
from benchmarks.loadgen import (
    ClientSpec,
    Connect,
    Connected,
    Expect,
    GeneratorSpec,
    PhaseResult,
    Quiet,
    QuietReply,
    RunClosed,
    RunFixed,
    Sent,
    Status,
    StatusReply,
)
from benchmarks.processes import (
    BenchmarkError,
    Generators,
    ServerProcess,
    daemon_argv,
    machine_busy_s,
    reference_argv,
)
from benchmarks.profiling import Profile, PySpy

OURS = "pairwise-ws"
IDLE_CORES = 0.1
# Well under the daemon's default max_connections_per_address (500).
CONNECTIONS_PER_ADDRESS = 100
PROFILE_CONNECT_S = 10.0
LOG_PROBLEMS = {
    "dropped as slow consumers": re.compile(r"slow.consumer", re.IGNORECASE),
    "whose handshake timed out": re.compile(r"handshake.*timed out|timed out.*handshake"),
    "refused (429/503)": re.compile(r"too many connections|refusing", re.IGNORECASE),
}
PEER = re.compile(r"\d+\.\d+\.\d+\.\d+:\d+")
SHUTDOWN_LIMIT_S = 5.0  # the contract: SIGTERM -> exit 0 within 5 s
STOP_TIMEOUT_S = 20.0  # a server using less CPU than this has nothing left to do
REFERENCE = "websockets"

# The only configuration that differs from the defaults (config.example.toml):
# the per-connection rate limit (10 burst, 1 message/s) would refuse the
# voters' messages, which is not what the benchmark measures.
CONFIG_OVERRIDES: dict[str, tuple[object, object]] = {
    "limits.rate_burst": (100_000, 10),
    "limits.rate_per_second": (100_000.0, 1.0),
}
CONFIG_TOML = """\
# pairwise-ws configuration for the benchmarks: only these differ from the defaults.
[limits]
rate_burst = 100000
rate_per_second = 100000.0
"""


@dataclass(frozen=True)
class Scale:
    name: str
    fanout_sizes: tuple[int, ...]
    fanout_rate: float  # votes per second in the fixed-rate phase
    fanout_fixed_s: float
    fanout_closed_s: float
    fanout_window: int  # votes in flight per voter at saturation
    fanout_max_voters: int
    fanout_generators: int
    durable_voters: int
    durable_sessions: int
    durable_s: float
    durable_window: int
    durable_generators: int
    capacity_connections: int
    capacity_per_session: int
    capacity_hold_s: float
    capacity_generators: int
    fanout_connect_s: float  # the join phase of one fan-out run is abandoned after this
    capacity_connect_s: float
    # Who fills a fan-out session: "attendees" (as the issue says) or "facilitators"
    # (receive every broadcast, but cause no presence messages and no per-join
    # session_state listing everyone: isolates the vote fan-out from the join cost).
    listeners: str = "attendees"
    repeat: int = 1  # fan-out runs per size and server; the best complete one is reported
    drain_timeout: float = 30.0


QUICK = Scale(
    name="quick",
    fanout_sizes=(100,),
    fanout_rate=10.0,
    fanout_fixed_s=2.0,
    fanout_closed_s=2.0,
    fanout_window=2,
    fanout_max_voters=50,
    fanout_generators=2,
    durable_voters=200,
    durable_sessions=10,
    durable_s=2.0,
    durable_window=8,
    durable_generators=2,
    capacity_connections=300,
    capacity_per_session=100,
    capacity_hold_s=2.0,
    capacity_generators=2,
    fanout_connect_s=30.0,
    capacity_connect_s=60.0,
    drain_timeout=15.0,
)
FULL = Scale(
    name="full",
    fanout_sizes=(100, 1000, 5000),
    fanout_rate=10.0,
    fanout_fixed_s=10.0,
    fanout_closed_s=8.0,
    fanout_window=2,
    fanout_max_voters=50,
    fanout_generators=2,
    durable_voters=200,
    durable_sessions=10,
    durable_s=10.0,
    durable_window=8,
    durable_generators=2,
    capacity_connections=10_000,
    capacity_per_session=100,
    # Longer than the default ping interval (25 s): every connection answers a ping.
    capacity_hold_s=30.0,
    capacity_generators=4,
    # Every join sends session_state (all N attendees) and attendee_joined to all:
    # N joins cost O(N^2) by contract; 5,000 take about two minutes here.
    fanout_connect_s=300.0,
    capacity_connect_s=300.0,
)


# --- results --------------------------------------------------------------------------------


@dataclass
class Load:
    """What the load generators saw in one phase, summed."""

    votes: int = 0
    acks: int = 0
    expected: int = 0
    received: int = 0
    missing: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    dropped: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    other_messages: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # first send to last delivery
    server_cpu: float = 0.0  # cores used by the server during the phase
    server_cpu_s: float = 0.0  # CPU seconds used by the server during the phase
    client_cpu: float = 0.0  # cores used by all load generators together
    client_cpu_max: float = 0.0  # the busiest load generator (1.0: saturated)
    other_cpu: float = 0.0  # cores used by every other process on the machine meanwhile
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    samples: int = 0
    unmatched: int = 0
    ack_p50_ms: float = 0.0
    ack_p99_ms: float = 0.0
    max_lag_ms: float = 0.0

    @property
    def deliveries_per_s(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    @property
    def server_us_per_delivery(self) -> float:
        """Server CPU per delivered frame: robust to other load on the machine."""
        return 1e6 * self.server_cpu_s / self.received if self.received else 0.0

    @property
    def votes_per_s(self) -> float:
        return self.votes / self.seconds if self.seconds else 0.0

    @property
    def complete(self) -> bool:
        return self.missing == 0 and self.errors == 0 and self.dropped == 0 and self.unmatched == 0

    def problems(self) -> list[str]:
        found = []
        if self.missing:
            found.append(f"{self.missing} of {self.expected} deliveries missing")
        if self.errors:
            found.append(f"{self.errors} error message(s): {self.error_samples[:1]}")
        if self.dropped:
            found.append(f"{self.dropped} connection(s) dropped {self.close_codes}")
        if self.unmatched:
            found.append(f"{self.unmatched} deliveries matched no sent vote")
        return found


@dataclass
class FanoutResult:
    server: str
    attendees: int  # connections in the session
    voters: int
    listeners: str = "attendees"
    connected: int = 0
    connect_s: float = 0.0
    rss_kb: int = 0
    fixed: Load = field(default_factory=Load)
    saturation: Load = field(default_factory=Load)
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure and self.fixed.complete and self.saturation.complete


@dataclass
class DurableResult:
    voters: int
    sessions: int
    window: int
    connected: int = 0
    load: Load = field(default_factory=Load)
    stored_history: int = -1
    failure: str = ""

    @property
    def acked_per_s(self) -> float:
        return self.load.acks / self.load.seconds if self.load.seconds else 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.failure
            and self.load.complete
            and self.load.acks == self.load.votes
            and self.stored_history >= self.load.acks
        )


@dataclass
class CapacityResult:
    target: int
    sessions: int
    connected: int = 0
    connect_s: float = 0.0
    rss_before_kb: int = 0
    rss_connected_kb: int = 0
    rss_after_hold_kb: int = 0
    hwm_kb: int = 0
    hold_s: float = 0.0
    open_at_end: int = 0
    pings: int = 0
    clients_pinged: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    client_rss_kb: int = 0
    failure: str = ""

    @property
    def kb_per_connection(self) -> float:
        if not self.open_at_end:
            return 0.0
        return (self.rss_after_hold_kb - self.rss_before_kb) / self.open_at_end

    @property
    def ok(self) -> bool:
        return (
            not self.failure and self.connected == self.target and self.open_at_end == self.target
        )


# --- the run -----------------------------------------------------------------------------------


class Bench:
    def __init__(
        self,
        scale: Scale,
        workdir: Path,
        *,
        py_spy: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.scale = scale
        self.workdir = workdir
        self.py_spy = py_spy
        self.config_path = workdir / "bench.toml"
        self.config_path.write_text(CONFIG_TOML, encoding="utf-8")
        self.profiles: list[Profile] = []
        self.daemon_problems: list[str] = []
        self.fanout_results: list[FanoutResult] = []
        self.durable_result: DurableResult | None = None
        self.capacity_result: CapacityResult | None = None
        self.profile_notes: list[str] = []
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._started = time.monotonic()
        self._runs = 0

    def log(self, text: str) -> None:
        self._log(f"[{time.monotonic() - self._started:7.1f}s] {text}")

    def _fresh(self, name: str) -> Path:
        self._runs += 1
        folder = self.workdir / f"{self._runs:02d}-{name}"
        folder.mkdir()
        return folder

    def _server(self, kind: str, folder: Path, db: Path) -> ServerProcess:
        argv = daemon_argv(db, self.config_path) if kind == OURS else reference_argv()
        server = ServerProcess(kind, argv, folder / f"{kind}.log", Path.cwd())
        server.start()
        return server

    # --- fan-out -------------------------------------------------------------------------------

    def fanout(self) -> list[FanoutResult]:
        results: list[FanoutResult] = []
        for size in self.scale.fanout_sizes:
            folder = self._fresh(f"fanout-{size}")
            db = folder / "bench.db"
            voters = _voters(self.scale, size)
            attendees = size if self.scale.listeners == "attendees" else voters
            self.log(
                f"fan-out {size}: building the workshop ({attendees} attendees"
                + (f", {size - voters} facilitator connections)" if attendees < size else ")")
            )
            rooms = fixtures.build(db, projects=1, attendees_per_project=attendees)
            for attempt in range(self.scale.repeat):
                # Alternate who goes first, so slow drifts of the machine even out.
                kinds = (OURS, REFERENCE) if attempt % 2 == 0 else (REFERENCE, OURS)
                for kind in kinds:
                    profile = self.py_spy is not None and kind == OURS and not attempt
                    result = self._fanout_once(
                        kind, folder, db, rooms[0], size, voters, profile=profile
                    )
                    results.append(result)
                    self.fanout_results.append(result)
        return results

    def _fanout_once(
        self,
        kind: str,
        folder: Path,
        db: Path,
        room: RoomFixture,
        size: int,
        voters: int,
        *,
        profile: bool,
    ) -> FanoutResult:
        scale = self.scale
        result = FanoutResult(server=kind, attendees=size, voters=voters, listeners=scale.listeners)
        server: ServerProcess | None = None
        gens: Generators | None = None
        try:
            server = self._server(kind, folder, db)
            specs = _specs(
                [room],
                server.port,
                scale.fanout_generators,
                voters_per_room=voters,
                facilitators=size - len(room.members),
                prefix=kind,
            )
            gens = Generators(specs)
            self.log(f"fan-out {size} vs {kind}: connecting {size} clients")
            result.connected, result.connect_s = self._connect(
                gens, size, server, scale.fanout_connect_s
            )
            self._quiet(gens, server)
            result.rss_kb = server.rss_kb()

            count = round(scale.fanout_rate * scale.fanout_fixed_s)
            self.log(
                f"fan-out {size} vs {kind}: {count} votes at {scale.fanout_rate:g}/s "
                f"from {voters} voters"
            )
            with self._profiling(
                server,
                scale.fanout_fixed_s,
                folder / "py-spy-fixed.txt",
                f"fan-out at {scale.fanout_rate:g} votes/s, {size} connections",
                enabled=profile,
            ):
                t0 = time.monotonic_ns() + 500_000_000
                fixed = RunFixed(t0_ns=t0, rate=scale.fanout_rate, count=count, voters=voters)
                result.fixed = self._phase(gens, server, fixed, scale.fanout_fixed_s, latency=True)
            self._quiet(gens, server)

            self.log(
                f"fan-out {size} vs {kind}: saturation, {voters} voters x "
                f"{scale.fanout_window} in flight for {scale.fanout_closed_s:g}s"
            )
            with self._profiling(
                server,
                scale.fanout_closed_s,
                folder / "py-spy.txt",
                f"fan-out saturation, {size} connections",
                enabled=profile,
            ):
                t0 = time.monotonic_ns() + 300_000_000
                closed = RunClosed(
                    t0_ns=t0, duration_s=scale.fanout_closed_s, window=scale.fanout_window
                )
                result.saturation = self._phase(gens, server, closed, scale.fanout_closed_s)
            for phase, load in (("fixed rate", result.fixed), ("saturation", result.saturation)):
                for problem in load.problems():
                    self.log(f"  FAILED ({phase}): {problem}")
        except BenchmarkError as exc:
            result.failure = str(exc)
            self.log(f"fan-out {size} vs {kind}: FAILED: {exc}")
        finally:
            self._teardown(server, gens)
        return result

    # --- durable votes -----------------------------------------------------------------------

    def durable(self) -> DurableResult:
        scale = self.scale
        folder = self._fresh("durable")
        db = folder / "bench.db"
        result = DurableResult(
            voters=scale.durable_voters,
            sessions=scale.durable_sessions,
            window=scale.durable_window,
        )
        self.durable_result = result
        self.log(
            f"durable: {scale.durable_voters} voters over {scale.durable_sessions} sessions, "
            f"{scale.durable_window} votes in flight each"
        )
        rooms = fixtures.build(
            db,
            projects=1,
            attendees_per_project=scale.durable_voters,
            sessions_per_project=scale.durable_sessions,
        )
        server: ServerProcess | None = None
        gens: Generators | None = None
        try:
            server = self._server(OURS, folder, db)
            specs = _specs(rooms, server.port, scale.durable_generators, voters_per_room=None)
            gens = Generators(specs)
            result.connected, _ = self._connect(
                gens, scale.durable_voters, server, scale.fanout_connect_s
            )
            self._quiet(gens, server)
            with self._profiling(
                server,
                scale.durable_s,
                folder / "py-spy.txt",
                f"durable votes, {scale.durable_voters} voters",
            ):
                t0 = time.monotonic_ns() + 300_000_000
                window = scale.durable_window
                closed = RunClosed(t0_ns=t0, duration_s=scale.durable_s, window=window)
                result.load = self._phase(gens, server, closed, scale.durable_s, acks=True)
            for problem in result.load.problems():
                self.log(f"  FAILED: {problem}")
        except BenchmarkError as exc:
            result.failure = str(exc)
            self.log(f"durable: FAILED: {exc}")
        except BaseException as exc:
            result.failure = f"interrupted ({type(exc).__name__})"
            raise
        finally:
            self._teardown(server, gens)
        if not result.failure:
            _, result.stored_history = fixtures.count_votes(db, [r.session_id for r in rooms])
            if result.stored_history < result.load.acks:
                self.log(
                    f"  FAILED: {result.load.acks} votes acknowledged but only "
                    f"{result.stored_history} stored"
                )
        return result

    # --- capacity --------------------------------------------------------------------------------

    def capacity(self) -> CapacityResult:
        scale = self.scale
        folder = self._fresh("capacity")
        db = folder / "bench.db"
        per = scale.capacity_per_session
        sessions = max(1, scale.capacity_connections // per)
        target = sessions * per
        result = CapacityResult(target=target, sessions=sessions)
        self.capacity_result = result
        self.log(f"capacity: building {sessions} workshops of {per} attendees")
        rooms = fixtures.build(db, projects=sessions, attendees_per_project=per)
        server: ServerProcess | None = None
        gens: Generators | None = None
        try:
            server = self._server(OURS, folder, db)
            time.sleep(1.0)
            result.rss_before_kb = server.rss_kb()
            specs = _specs(
                rooms, server.port, scale.capacity_generators, voters_per_room=0, concurrency=32
            )
            gens = Generators(specs)
            self.log(f"capacity: opening {target} idle connections")
            with self._profiling(
                server,
                PROFILE_CONNECT_S,
                folder / "py-spy.txt",
                f"capacity, the first {PROFILE_CONNECT_S:g}s of connecting attendees",
            ):
                result.connected, result.connect_s = self._connect(
                    gens, target, server, scale.capacity_connect_s
                )
            self._quiet(gens, server, quiet_s=1.0)
            result.rss_connected_kb = server.rss_kb()
            self.log(f"capacity: holding them for {scale.capacity_hold_s:g}s (keepalive on)")
            result.hold_s = _hold(server, scale.capacity_hold_s)
            status = gens.ask(Status(), StatusReply, timeout=30)
            result.rss_after_hold_kb = server.rss_kb()
            result.hwm_kb = server.hwm_kb()
            result.open_at_end = sum(s.open_clients for s in status)
            result.pings = sum(s.pings for s in status)
            result.clients_pinged = sum(s.clients_pinged for s in status)
            codes: Counter[str] = Counter()
            for s in status:
                codes.update(s.close_codes)
            result.close_codes = dict(codes)
            result.client_rss_kb = sum(_rss_of(p.pid) for p in gens.processes if p.pid)
        except BenchmarkError as exc:
            result.failure = str(exc)
            self.log(f"capacity: FAILED: {exc}")
        except BaseException as exc:
            result.failure = f"interrupted ({type(exc).__name__})"
            raise
        finally:
            self._teardown(server, gens)
        return result

    # --- steps ---------------------------------------------------------------------------------

    def _connect(
        self, gens: Generators, expected: int, server: ServerProcess, timeout: float
    ) -> tuple[int, float]:
        replies = gens.ask(Connect(timeout=timeout), Connected, timeout=timeout + 30)
        ok = sum(r.ok for r in replies)
        seconds = max(r.seconds for r in replies)
        self.log(f"  connected {ok}/{expected} in {seconds:.1f}s ({ok / seconds:,.0f}/s)")
        failures = [f for r in replies for f in r.failures]
        if ok != expected:
            raise BenchmarkError(
                f"only {ok} of {expected} connections joined within {timeout:g}s "
                f"({ok / seconds:,.0f}/s); first failures: {failures[:2]}"
                + ("" if server.alive() else " (the server died)")
            )
        return ok, seconds

    def _quiet(self, gens: Generators, server: ServerProcess, quiet_s: float = 0.5) -> None:
        """Wait until the last phase has settled: nothing arriving, the server idle.

        Both are needed: a server busy with a long synchronous step sends nothing
        for a while, and a backlog of queued frames can outlive the last join.
        """
        timeout = 120.0
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchmarkError(f"the server did not settle within {timeout:.0f}s")
            replies = gens.ask(Quiet(quiet_s=quiet_s, timeout=left), QuietReply, left + 30)
            if not all(r.quiet for r in replies):
                raise BenchmarkError(f"messages still arriving after {timeout:.0f}s")
            cpu0, wall0 = server.cpu_s(), time.monotonic()
            time.sleep(quiet_s)
            if not server.alive():
                raise BenchmarkError("the server died")
            busy = (server.cpu_s() - cpu0) / (time.monotonic() - wall0)
            if busy < IDLE_CORES:
                return

    def _phase(
        self,
        gens: Generators,
        server: ServerProcess,
        command: RunFixed | RunClosed,
        seconds: float,
        *,
        latency: bool = False,
        acks: bool = False,
    ) -> Load:
        cpu0, wall0, machine0 = server.cpu_s(), time.monotonic(), machine_busy_s()
        sent = gens.ask(command, Sent, timeout=seconds + 60)
        totals: Counter[str] = Counter()
        for s in sent:
            totals.update(s.per_room)
        drain = self.scale.drain_timeout
        results = gens.ask(Expect(totals=dict(totals), timeout=drain), PhaseResult, drain + 60)
        wall = time.monotonic() - wall0
        load = _summarise(results, server.cpu_s() - cpu0, wall, latency=latency)
        machine = (machine_busy_s() - machine0) / wall
        load.other_cpu = max(0.0, machine - load.server_cpu - load.client_cpu)
        load.max_lag_ms = max(s.max_lag_ms for s in sent)
        if not server.alive():
            raise BenchmarkError("the server died")
        what = (
            f"{load.acks / load.seconds:,.0f} acknowledged votes/s"
            if acks and load.seconds
            else f"{load.deliveries_per_s:,.0f} deliveries/s"
        )
        lat = f", p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms" if latency else ""
        self.log(
            f"  {load.votes} votes, {load.received}/{load.expected} deliveries in "
            f"{load.seconds:.2f}s: {what}{lat}; server {load.server_cpu:.2f} cores, "
            f"clients {load.client_cpu:.2f}, other processes {load.other_cpu:.2f}"
        )
        return load

    @contextlib.contextmanager
    def _profiling(
        self, server: ServerProcess, seconds: float, output: Path, label: str, enabled: bool = True
    ) -> Iterator[None]:
        """py-spy samples the daemon during the block, when asked for (`--py-spy`)."""
        if not (enabled and self.py_spy):
            yield
            return
        spy = PySpy(self.py_spy, server.pid, seconds, output, label)
        yield
        self._profiled(spy)

    def _profiled(self, spy: PySpy) -> None:
        summary = spy.finish()
        if isinstance(summary, Profile):
            self.profiles.append(summary)
        else:
            self.profile_notes.append(summary)

    def problem(self, text: str) -> None:
        """Something wrong with the daemon itself, for the report."""
        self.log(f"  DAEMON PROBLEM: {text}")
        self.daemon_problems.append(text)

    def _scan_log(self, lines: list[str]) -> None:
        """Connections the daemon dropped on its own, from its log."""
        for what, pattern in LOG_PROBLEMS.items():
            peers = {
                found[0]
                for line in lines
                if pattern.search(line) and (found := PEER.search(line)) is not None
            }
            if peers:
                self.problem(f"{len(peers)} connection(s) {what} (daemon log)")

    @staticmethod
    def _open_hint(gens: Generators | None) -> str:
        if gens is None:
            return "no"
        return str(sum(len(spec.clients) for spec in gens.specs))

    def _teardown(self, server: ServerProcess | None, gens: Generators | None) -> None:
        # The server first: a graceful stop closes every connection at once, where
        # clients leaving one by one would each cause a broadcast.
        if server is not None:
            status = server.stop(timeout=STOP_TIMEOUT_S)
            if status not in (0, None, -15):
                self.log(f"  {server.name} exited with status {status}")
            if server.name == OURS and (status != 0 or server.stop_seconds > SHUTDOWN_LIMIT_S):
                self.problem(
                    f"{server.name} with {self._open_hint(gens)} connection(s): SIGTERM to exit "
                    f"took {server.stop_seconds:.1f}s, exit status {status} (the contract says "
                    f"exit 0 within {SHUTDOWN_LIMIT_S:g}s"
                    + (f"; killed after {STOP_TIMEOUT_S:g}s)" if status == -9 else ")")
                )
            lines = server.log_text().splitlines()
            if server.name == OURS:
                self._scan_log(lines)
            errors = [n for n, line in enumerate(lines) if " ERROR " in line or "Traceback" in line]
            if errors:
                self.log(f"  {server.name} logged {len(errors)} error(s); the first:")
                first = errors[0]
                shown = lines[first : first + 40]
                # A traceback: its first line and the exception at its end.
                end = next(
                    (i for i, line in enumerate(shown[1:], 1) if not line.startswith(" ")),
                    len(shown) - 1,
                )
                for line in [shown[0], *shown[max(1, end - 2) : end + 1]]:
                    self.log(f"    {line[:300]}")
        if gens is not None:
            gens.close()


def _source_address(index: int) -> str:
    """A loopback address per group of connections: 127.0.1.1, 127.0.1.2, ...

    In a workshop every attendee has a device of their own; the daemon limits
    connections and handshakes per address, so one address for thousands of
    connections would measure that limit instead of the daemon.
    """
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


def _voters(scale: Scale, size: int) -> int:
    return max(2, min(scale.fanout_max_voters, size // 4))


def _hold(server: ServerProcess, seconds: float) -> float:
    """Wait, watching the server; returns the seconds waited."""
    held = time.monotonic()
    while time.monotonic() - held < seconds:
        time.sleep(min(1.0, seconds))
        if not server.alive():
            raise BenchmarkError("the daemon died while holding the connections")
    return time.monotonic() - held


def _specs(
    rooms: Sequence[RoomFixture],
    port: int,
    generators: int,
    *,
    voters_per_room: int | None,
    facilitators: int = 0,
    prefix: str = "gen",
    concurrency: int = 16,
) -> list[GeneratorSpec]:
    """Connections dealt round-robin to the generators; voters first, so they spread too.

    `voters_per_room` None: everyone votes; 0: nobody does. `facilitators`: extra
    listening connections per room, with the facilitator token.
    """
    clients: list[list[ClientSpec]] = [[] for _ in range(generators)]
    total = sum(len(room.members) + facilitators for room in rooms)
    addresses = max(1, math.ceil(total / CONNECTIONS_PER_ADDRESS))
    dealt = 0
    voter_index = 0
    for room in rooms:
        voters = len(room.members) if voters_per_room is None else voters_per_room
        for position, member in enumerate(room.members):
            is_voter = position < voters
            clients[dealt % generators].append(
                ClientSpec(
                    attendee_id=member.attendee_id,
                    target=room.target(member),
                    room=room.key,
                    voter_index=voter_index if is_voter else -1,
                    parity=position % 2,
                    source=_source_address(dealt % addresses),
                )
            )
            voter_index += int(is_voter)
            dealt += 1
        for _ in range(facilitators):
            clients[dealt % generators].append(
                ClientSpec(
                    attendee_id=0,
                    target=room.facilitator_target(),
                    room=room.key,
                    source=_source_address(dealt % addresses),
                )
            )
            dealt += 1
    comparisons = {room.key: room.comparisons for room in rooms}
    return [
        GeneratorSpec(
            name=f"{prefix}-{i + 1}",
            host="127.0.0.1",
            port=port,
            clients=tuple(share),
            comparisons=comparisons,
            connect_concurrency=concurrency,
        )
        for i, share in enumerate(clients)
        if share
    ]


def _summarise(
    results: Sequence[PhaseResult], server_cpu_s: float, wall_s: float, *, latency: bool
) -> Load:
    load = Load()
    codes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for r in results:
        load.votes += r.sent
        load.acks += r.acks
        load.expected += r.expected
        load.received += r.received
        load.missing += r.missing
        load.errors += r.errors
        load.error_samples += r.error_samples
        load.dropped += r.clients - r.open_clients
        codes.update(r.close_codes)
        kinds.update(r.kinds)
    load.close_codes = dict(codes)
    load.other_messages = dict(kinds)
    starts = [r.first_send_ns for r in results if r.first_send_ns]
    ends = [r.last_recv_ns for r in results if r.last_recv_ns]
    if starts and ends:
        load.seconds = (max(ends) - min(starts)) / 1e9
    load.server_cpu = server_cpu_s / wall_s if wall_s else 0.0
    load.server_cpu_s = server_cpu_s
    load.client_cpu = sum(r.cpu_s for r in results) / wall_s if wall_s else 0.0
    load.client_cpu_max = max((r.cpu_s / r.wall_s for r in results if r.wall_s), default=0.0)
    acks = sorted(x for r in results for x in r.ack_latency_ns)
    if acks:
        load.ack_p50_ms = _percentile(acks, 50) / 1e6
        load.ack_p99_ms = _percentile(acks, 99) / 1e6
    if latency:
        send_times: dict[tuple[int, int], int] = {}
        for r in results:
            send_times.update(r.send_times)
        latencies: list[int] = []
        for r in results:
            for cause, k, received in zip(r.lat_cause, r.lat_k, r.lat_t, strict=True):
                sent = send_times.get((cause, k))
                if sent is None:
                    load.unmatched += 1
                else:
                    latencies.append(received - sent)
        latencies.sort()
        load.samples = len(latencies)
        if latencies:
            load.p50_ms = _percentile(latencies, 50) / 1e6
            load.p99_ms = _percentile(latencies, 99) / 1e6
            load.max_ms = latencies[-1] / 1e6
    return load


def _percentile(ordered: Sequence[int], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(len(ordered) * pct / 100))
    return float(ordered[rank - 1])


def _rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def find_py_spy(given: str | None) -> str | None:
    if given:
        return given
    return shutil.which("py-spy")
