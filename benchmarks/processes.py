"""Child processes of a benchmark run: the server under test and the load generators.

Every child is started so that it dies with the orchestrator (Linux
PR_SET_PDEATHSIG), gets the highest allowed RLIMIT_NOFILE, and is stopped at
the end (SIGTERM, then SIGKILL after a timeout) whatever happens.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TypeVar

from benchmarks.loadgen import (
    Command,
    GeneratorSpec,
    Reply,
    Stop,
    die_with_parent,
    generator_main,
    raise_nofile_limit,
)

LISTENING = re.compile(r"listening on (?:http|ws)://[^\s]+:(\d+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

R = TypeVar("R", bound=Reply)


class BenchmarkError(RuntimeError):
    """The run could not be carried out (a child died, a step timed out)."""


def _child_setup() -> None:
    die_with_parent()
    raise_nofile_limit()


class ServerProcess:
    """A server (the daemon or the reference) as a child process, logging to a file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.stop_seconds = 0.0  # from SIGTERM to exit, in the last stop()

    def start(self, timeout: float = 30.0) -> int:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PAIRWISE_WS_DB", None)
        env.pop("PAIRWISE_WS_CONFIG", None)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                preexec_fn=_child_setup,  # noqa: PLW1509 - the orchestrator has no threads
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LISTENING.search(self.log_text())
            if found:
                self.port = int(found[1])
                return self.port
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_text()[-2000:]
        self.stop()
        raise BenchmarkError(f"{self.name} did not start listening:\n{tail}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_kb(self) -> int:
        return _status_kb(self.pid, "VmRSS")

    def hwm_kb(self) -> int:
        return _status_kb(self.pid, "VmHWM")

    def cpu_s(self) -> float:
        """User + system CPU time of the process (every thread), in seconds."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL. Returns the exit status; see `stop_seconds`."""
        process = self.process
        self.stop_seconds = 0.0
        if process is None:
            return None
        if process.poll() is None:
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            self.stop_seconds = time.monotonic() - started
        return process.returncode


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_s() -> float:
    """CPU seconds spent by the whole machine (all CPUs, all processes) since boot."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    guest = sum(ticks[8:10]) if len(ticks) > 9 else 0  # already counted in user/nice
    return (sum(ticks) - idle - guest) / CLOCK_TICKS


def daemon_argv(db: Path, config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pairwise_ws",
        "--db",
        str(db),
        "--config",
        str(config),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]


def reference_argv() -> list[str]:
    return [sys.executable, "-m", "benchmarks.reference_server", "--host", "127.0.0.1"]


class Generators:
    """Load generator processes, asked the same command and answering together."""

    def __init__(self, specs: Sequence[GeneratorSpec]) -> None:
        context = multiprocessing.get_context("spawn")
        self.specs = list(specs)
        self.processes: list[BaseProcess] = []
        self.pipes: list[Connection] = []
        for spec in specs:
            ours, theirs = context.Pipe()
            process = context.Process(
                target=generator_main, args=(theirs, spec), name=spec.name, daemon=True
            )
            process.start()
            theirs.close()
            self.processes.append(process)
            self.pipes.append(ours)

    def ask(self, command: Command, reply_type: type[R], timeout: float) -> list[R]:
        for pipe in self.pipes:
            pipe.send(command)
        replies: dict[int, R] = {}
        deadline = time.monotonic() + timeout
        while len(replies) < len(self.pipes):
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchmarkError(
                    f"load generators did not answer {type(command).__name__} in {timeout:.0f}s"
                )
            waiting = [p for i, p in enumerate(self.pipes) if i not in replies]
            for ready in wait(waiting, timeout=min(left, 1.0)):
                index = next(i for i, p in enumerate(self.pipes) if p is ready)
                try:
                    reply = self.pipes[index].recv()
                except (EOFError, OSError):
                    raise BenchmarkError(
                        f"load generator {self.processes[index].name} died "
                        f"(exit code {self.processes[index].exitcode})"
                    ) from None
                if not isinstance(reply, reply_type):
                    raise BenchmarkError(f"unexpected reply {reply!r}")
                replies[index] = reply
            for i, process in enumerate(self.processes):
                if i not in replies and not process.is_alive():
                    raise BenchmarkError(
                        f"load generator {process.name} died (exit code {process.exitcode})"
                    )
        return [replies[i] for i in range(len(self.pipes))]

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(Stop())
        deadline = time.monotonic() + 10.0
        for process in self.processes:
            process.join(max(0.1, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(3.0)
            if process.is_alive():
                process.kill()
                process.join(3.0)
        for pipe in self.pipes:
            pipe.close()
