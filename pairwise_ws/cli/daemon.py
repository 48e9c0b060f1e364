"""The daemon in the foreground: trio, the server, its stop signals and the exit deadline."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import click
import trio

from pairwise_ws import logs
from pairwise_ws.config import Config
from pairwise_ws.net.server import Server, serve
from pairwise_ws.net.tls import TlsConfigError

log = logging.getLogger("pairwise_ws")

SHUTDOWN_DEADLINE_S = 4.0  # exit within 5 s of SIGTERM, as documented (the OS needs the rest)
# The status of an exit forced by that deadline: not 0, so that a supervisor
# (systemd, a container runtime) sees the shutdown did not finish by itself.
FORCED_EXIT_STATUS = os.EX_SOFTWARE  # 70
# Test seam: the tests shorten the deadline to see a forced exit happen.
_DEADLINE_VARIABLE = "PAIRWISE_WS_TEST_SHUTDOWN_DEADLINE_S"


def run_daemon(config: Config, on_ready: Callable[[Server], None]) -> None:
    logs.configure(config.logging.level, config.logging.format, sys.stderr)
    try:
        trio.run(_daemon, config, on_ready)
    except BaseException as exc:
        inner = _unwrap(exc)
        if isinstance(inner, TlsConfigError):
            raise click.ClickException(str(inner)) from None
        if isinstance(inner, OSError):
            raise click.ClickException(
                f"cannot listen on {config.server.host}:{config.server.port}: "
                f"{inner.strerror or inner}"
            ) from None
        raise inner from None


def _unwrap(exc: BaseException) -> BaseException:
    """The one exception inside trio's nested exception groups, if there is one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


async def _daemon(config: Config, on_ready: Callable[[Server], None]) -> None:
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    deadline = _Deadline()
    with trio.open_signal_receiver(*stop_signals) as signals:
        deadline.arm_on(stop_signals)
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(serve, config)
            await trio.to_thread.run_sync(on_ready, server)  # may use the database
            async for signum in signals:
                log.info("%s received: shutting down", signal.Signals(signum).name)
                try:
                    await server.aclose()
                finally:
                    deadline.cancel()
                break
            nursery.cancel_scope.cancel()


class _Deadline:
    """Exits the process SHUTDOWN_DEADLINE_S after a stop signal arrives (`_exit_now`).

    Started by the signal handler itself and run by a thread: a trio timeout
    would start only when the loop gets to the signal, and fire only when it
    next checks its timers, both late while it unwinds thousands of
    connections' tasks.
    """

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None

    def arm_on(self, signums: tuple[signal.Signals, ...]) -> None:
        """Start the deadline from these signals' handlers (trio's stay in charge)."""
        for signum in signums:
            trio_handler = signal.getsignal(signum)

            def handler(number: int, frame: object, inner: Any = trio_handler) -> None:
                self._start()
                inner(number, frame)

            signal.signal(signum, handler)

    def _start(self) -> None:
        if self._timer is None:
            seconds = float(os.environ.get(_DEADLINE_VARIABLE, SHUTDOWN_DEADLINE_S))
            self._timer = threading.Timer(seconds, _exit_now)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _exit_now() -> NoReturn:
    """Exit (status 70) at the shutdown deadline, without unwinding every connection's tasks.

    Usually every client has been sent the notice and its Close frame by now
    and every acknowledged vote is committed; what is left is trio tearing
    down thousands of connections' tasks. Nothing acknowledged can be lost
    either way: a vote is acknowledged only once committed, and the database's
    WAL is consistent after any exit (the kill -9 tests show it). The status
    says the shutdown was cut short, for whoever supervises the daemon.
    """
    log.error("shutdown deadline reached with connections still unwinding: forced exit (70)")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(FORCED_EXIT_STATUS)
