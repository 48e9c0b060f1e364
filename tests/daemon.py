"""The real `pairwise-ws` command as a child process, for tests of the whole program."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

START_TIMEOUT_S = 20.0
LISTENING = re.compile(rb"listening on http://[\d.]+:(\d+)")


def cli_command(db_path: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "pairwise_ws", "--db", db_path, *args]


def run_cli(db_path: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it (blocking; only from sync code or a thread)."""
    return subprocess.run(
        cli_command(db_path, *args), capture_output=True, text=True, timeout=60, check=False
    )


class Daemon:
    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.port = 0
        self.stdout = b""
        self.stderr = b""
        self._output = trio.Event()  # set (and replaced) whenever output arrives
        self._ended = 0

    async def _read(self, stream: trio.abc.ReceiveStream, name: str) -> None:
        async for chunk in stream:
            setattr(self, name, getattr(self, name) + chunk)
            self._output.set()
            self._output = trio.Event()
        self._ended += 1
        self._output.set()

    async def _wait_for(self, name: str, pattern: re.Pattern[bytes]) -> re.Match[bytes]:
        with trio.fail_after(START_TIMEOUT_S):
            while True:
                found = pattern.search(getattr(self, name))
                if found:
                    return found
                if self._ended == 2:
                    raise AssertionError(
                        f"daemon ended without printing {pattern.pattern!r}:\n"
                        f"{self.stdout.decode()}\n{self.stderr.decode()}"
                    )
                await self._output.wait()

    async def wait_listening(self) -> int:
        self.port = int((await self._wait_for("stderr", LISTENING))[1])
        return self.port

    async def wait_stdout(self, pattern: bytes) -> re.Match[bytes]:
        return await self._wait_for("stdout", re.compile(pattern))

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def wait(self, timeout: float) -> int:
        with trio.fail_after(timeout):
            return await self.process.wait()


@asynccontextmanager
async def daemon(
    db_path: str, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Daemon]:
    """Start `pairwise-ws ARGS` (with `env` added); killed at the end if still running."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    async with trio.open_nursery() as nursery:
        process = await trio.lowlevel.open_process(
            cli_command(db_path, *args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        running = Daemon(process)
        assert process.stdout is not None
        assert process.stderr is not None
        nursery.start_soon(running._read, process.stdout, "stdout")
        nursery.start_soon(running._read, process.stderr, "stderr")
        try:
            yield running
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()


def serve_args(*extra: str) -> Sequence[str]:
    return ("serve", "--port", "0", *extra)


SIGTERM = signal.SIGTERM
SIGINT = signal.SIGINT
SIGKILL = signal.SIGKILL
