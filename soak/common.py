"""What the soak scripts share: temporary directories, reporting, the child daemon's config."""

from __future__ import annotations

import json
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from tests.http_client import request

START_TIMEOUT_S = 30.0


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """A fresh directory for the database and config; kept (and printed) with --keep."""
    if keep:
        path = Path(tempfile.mkdtemp(prefix="pairwise-soak-"))
        print(f"working in {path}", file=sys.stderr)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="pairwise-soak-") as name:
        yield Path(name)


def machine() -> dict[str, Any]:
    with open("/proc/loadavg", encoding="ascii") as load:
        loadavg = load.read().split()[:3]
    return {
        "python": platform.python_version(),
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "loadavg_at_start": loadavg,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def report(name: str, command: str, figures: dict[str, Any], json_path: str | None) -> None:
    """Print the figures (and write them as JSON if asked)."""
    document = {"soak": name, "command": command, "machine": machine(), "figures": figures}
    text = json.dumps(document, indent=2, default=_plain)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n", encoding="utf-8")


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value)
    return str(value)


def command_line() -> str:
    return " ".join([".venv/bin/python -m " + sys.modules["__main__"].__spec__.name, *sys.argv[1:]])  # type: ignore[union-attr]


def free_port() -> int:
    """A port nothing listens on right now (for a daemon that logs only warnings)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_healthy(port: int) -> None:
    """Until GET /healthz answers 200 (the daemon's start, when its log is quiet)."""
    with trio.fail_after(START_TIMEOUT_S):
        while True:
            try:
                if (await request(port, "/healthz")).status == 200:
                    return
            except OSError:
                pass
            await trio.sleep(0.05)  # polling a starting process: nothing to wait on
