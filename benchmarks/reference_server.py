"""The reference: a minimal broadcast server on the `websockets` library (asyncio).

This is what a Python developer would otherwise write for the fan-out part
of pairwise-ws: the same URL shape, a first `session_state` message, and on
each `vote_submitted` a `vote_received` envelope of the same shape sent to
every connection of the session with `websockets.asyncio.server.broadcast`.
Everything is in memory: no database, no authentication (the token is
ignored), no presence broadcasts, no consensus, no rate limit, no per-client
queue bound (broadcast() writes to every connection without backpressure).

    python -m benchmarks.reference_server [--host 127.0.0.1] [--port 0]

It logs `listening on ws://HOST:PORT` on stderr and stops on SIGTERM/SIGINT,
closing every connection with 1001.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import re
import signal
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

WS_PATH = re.compile(r"/projects/(\d{1,20})/sessions/(\d{1,20})/ws")


class Room:
    def __init__(self) -> None:
        self.members: set[ServerConnection] = set()
        self.votes: dict[int, dict[int, Any]] = {}  # comparison -> attendee -> choice


rooms: dict[int, Room] = {}


def envelope(kind: str, session_id: int, attendee_id: int, data: dict[str, Any]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "type": kind,
            "session_id": session_id,
            "attendee_id": attendee_id,
            "data": data,
            "timestamp": now,
        },
        separators=(",", ":"),
    )


async def handler(ws: ServerConnection) -> None:
    parts = urlsplit(ws.request.path if ws.request else "")
    match = WS_PATH.fullmatch(parts.path)
    query = parse_qs(parts.query)
    raw_id = query.get("attendee_id", ["0"])[0]  # a facilitator: 0
    if match is None or not raw_id.isdigit():
        await ws.close(1008, "not a session endpoint")
        return
    session_id, attendee_id = int(match[2]), int(raw_id)
    name = f"Attendee {attendee_id}"
    room = rooms.setdefault(session_id, Room())
    room.members.add(ws)
    try:
        await ws.send(
            envelope(
                "session_state",
                session_id,
                attendee_id,
                {"you": {"role": "attendee", "attendee_id": attendee_id, "name": name}},
            )
        )
        async for message in ws:
            try:
                frame = json.loads(message)
                vote = frame["data"]["vote"]
                comparison_id = int(vote["comparison_id"])
                preferred = vote.get("preferred_feature_id")
                is_tie = bool(vote.get("is_tie_vote", False))
            except (ValueError, KeyError, TypeError):
                await ws.send(
                    envelope(
                        "error",
                        session_id,
                        attendee_id,
                        {"code": "invalid_message", "message": "not a vote"},
                    )
                )
                continue
            if frame.get("type") != "vote_submitted":
                continue
            votes = room.votes.setdefault(comparison_id, {})
            votes[attendee_id] = preferred
            data = {
                "comparison_id": comparison_id,
                "attendee_id": attendee_id,
                "attendee_name": name,
                "preferred_feature_id": preferred,
                "is_tie_vote": is_tie,
                "votes_received": len(votes),
                "voters_expected": len(room.members),
            }
            broadcast(room.members, envelope("vote_received", session_id, attendee_id, data))
    except ConnectionClosed:
        pass
    finally:
        room.members.discard(ws)


async def main_async(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(handler, host, port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://{host}:{bound}", file=sys.stderr, flush=True)
        await stop.wait()
        server.close()  # 1001 to everyone
        await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main_async(args.host, args.port))


if __name__ == "__main__":
    main()
