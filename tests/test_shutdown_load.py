"""Graceful shutdown under load: SIGTERM with hundreds of clients connected and voting.

The real daemon (a child process) gets SIGTERM while every client is connected
and a share of them are voting without pause. The contract: it exits with
status 0 within 5 s; every client gets `system_notice` `server_shutdown` and
then a Close frame with 1001; nothing acknowledged is lost (and nothing is
stored that wasn't sent).

`make test` runs 200 clients; `python -m soak.shutdown --clients 1000` more.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import attrs
import trio

from tests import audit
from tests.conftest import Workshop, make_workshop
from tests.daemon import SIGTERM, daemon, serve_args
from tests.loadgen import Gone, LoadClient
from tests.test_crash import write_config

CLIENTS = 200
VOTERS = 10
SHUTDOWN_LIMIT_S = 5.0  # the contract
CONNECTING_AT_ONCE = 20


@attrs.frozen
class ShutdownResult:
    clients: int
    voters: int
    votes_acked: int
    votes_sent: int
    connect_s: float
    exit_s: float  # from SIGTERM to the process's exit
    told: int  # clients that got system_notice server_shutdown
    closed_1001: int
    exit_code: int
    told_within_s: float  # the last client told, after SIGTERM
    closed_within_s: float  # the last client closed, after SIGTERM


def shutdown_workshop(db_path: str, clients: int) -> Workshop:
    """clients/4 attendees (four tabs each), 6 features."""
    return make_workshop(db_path, features=6, attendees=max(2, clients // 4))


async def shutdown_under_load(directory: Path, clients: int, voters: int) -> ShutdownResult:
    db_path = str(directory / "shutdown.db")
    workshop = shutdown_workshop(db_path, clients)
    config = write_config(directory)
    base = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws?"
    connected: list[LoadClient] = []
    async with (
        daemon(db_path, "--config", str(config), *serve_args()) as process,
        trio.open_nursery() as nursery,
    ):
        port = await process.wait_listening()
        started = time.perf_counter()
        limiter = trio.CapacityLimiter(CONNECTING_AT_ONCE)

        async def connect(index: int) -> None:
            if index == 0:
                query, who = f"facilitator_token={workshop.facilitator_token}", 0
            else:
                person = workshop.attendees[index % len(workshop.attendees)]
                query, who = f"attendee_id={person.id}&token={person.token}", person.id
            async with limiter:
                connected.append(await nursery.start(LoadClient(port, base + query, who).run))

        async with trio.open_nursery() as connecting:
            for index in range(clients):
                connecting.start_soon(connect, index)
        connect_s = time.perf_counter() - started

        # Voters: one tab of distinct attendees, each on its own comparisons.
        first_tabs = {c.attendee_id: c for c in reversed(connected) if c.attendee_id}
        voting = list(first_tabs.values())[:voters]
        assert len(voting) == min(voters, len(workshop.attendees))
        first_acks = trio.Semaphore(0)

        async def vote_until_gone(client: LoadClient, offset: int) -> None:
            pairs = workshop.comparisons[:-1]
            n = offset
            try:
                while True:
                    pair = pairs[n % len(pairs)]
                    await client.vote(pair.id, [pair.a, pair.b, None][n % 3])
                    if n == offset:
                        first_acks.release()
                    n += 1
            except Gone:
                pass

        async with trio.open_nursery() as storm:
            for offset, client in enumerate(voting):
                storm.start_soon(vote_until_gone, client, offset)
            for _ in voting:  # everyone is voting now
                with trio.fail_after(30):
                    await first_acks.acquire()
            signalled = time.perf_counter()
            process.signal(SIGTERM)
            code = await process.wait(SHUTDOWN_LIMIT_S + 5)
            exit_s = time.perf_counter() - signalled
        for client in connected:
            await client.wait_closed()
        nursery.cancel_scope.cancel()

    sent = Counter(
        (c, client.attendee_id, choice) for client in voting for c, choice in client.sent
    )
    acked = Counter(
        (c, client.attendee_id, choice) for client in voting for c, choice in client.acked
    )
    history = Counter(audit.history(db_path, workshop.session_id))
    assert not acked - history, "an acknowledged vote was lost"
    assert not history - sent, "a vote nobody sent was stored"
    audit.check_all(db_path, workshop.session_id)
    return ShutdownResult(
        clients=len(connected),
        voters=len(voting),
        votes_acked=sum(acked.values()),
        votes_sent=sum(sent.values()),
        connect_s=connect_s,
        exit_s=exit_s,
        told=sum(1 for c in connected if "server_shutdown" in c.notices),
        closed_1001=sum(
            1 for c in connected if c.closed_reason is not None and c.closed_reason.code == 1001
        ),
        exit_code=code,
        told_within_s=max(
            (c.notice_at.get("server_shutdown", signalled) - signalled for c in connected),
            default=0.0,
        ),
        closed_within_s=max((c.closed_at or signalled) - signalled for c in connected),
    )


async def test_sigterm_under_load_tells_everyone_and_exits_0_in_time(tmp_path: Path) -> None:
    result = await shutdown_under_load(tmp_path, CLIENTS, VOTERS)
    print(result)
    assert result.clients == CLIENTS
    assert result.exit_code == 0
    assert result.exit_s < SHUTDOWN_LIMIT_S
    assert result.told == CLIENTS
    assert result.closed_1001 == CLIENTS
    assert result.votes_acked >= VOTERS
