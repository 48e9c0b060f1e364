"""The whole program: signals, live changes from the CLI, restarts, kill -9, the demo.

These run the real `pairwise-ws` command in a child process (or the embedded
server where the test needs to look inside), with real WebSocket clients.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from pairwise_ws.net.server import Server
from pairwise_ws.storage import Store
from tests.conftest import Clients, Person, Workshop, make_config, make_workshop, running, serving
from tests.daemon import SIGINT, SIGKILL, SIGTERM, daemon, run_cli, serve_args
from tests.http_client import request, upgrade_headers

SHUTDOWN_LIMIT_S = 5.0  # the contract: exit 0 within 5 s of SIGTERM


class PortServer:
    """Enough of a Server for `Clients` to reach a daemon in another process."""

    def __init__(self, port: int) -> None:
        self.port = port


async def test_serve_prints_each_open_session_with_its_join_qr_code(workshop: Workshop) -> None:
    second = run_cli(workshop.db_path, "session", "create", str(workshop.project_id), "--json")
    closed_registration = json.loads(second.stdout)["id"]
    run_cli(workshop.db_path, "session", "registration", str(closed_registration), "off")

    async with daemon(workshop.db_path, *serve_args()) as process:
        port = await process.wait_listening()
        await process.wait_stdout(rf"Session {closed_registration} .*\n.*dashboard.*\n".encode())
        process.signal(SIGTERM)
        assert await process.wait(SHUTDOWN_LIMIT_S) == 0

    text = process.stdout.decode()
    base = f"http://127.0.0.1:{port}/projects/{workshop.project_id}/sessions"
    assert text.startswith(f"pairwise-ws is serving http://127.0.0.1:{port}\n")
    join = f"{base}/{workshop.session_id}/join?code={workshop.join_code}"
    assert f"  join: {join}\n█" in text
    assert f"{base}/{closed_registration}/facilitator" in text
    assert f"{base}/{closed_registration}/join" not in text  # registration is off there


@pytest.mark.parametrize("signum", [SIGTERM, SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_tells_everyone_closes_1001_and_exits_0(
    nursery: trio.Nursery, workshop: Workshop, signum: int
) -> None:
    async with daemon(workshop.db_path, *serve_args()) as process:
        port = await process.wait_listening()
        clients = Clients(nursery, PortServer(port), workshop)  # type: ignore[arg-type]
        try:
            peers = [(await clients.join(p))[0] for p in workshop.attendees[:2]]
            facilitator, _ = await clients.facilitator()
            peers.append(facilitator)
            pair = workshop.comparisons[0]
            await peers[0].vote(pair.id, pair.a)
            await peers[0].next_of("vote_received")

            process.signal(signum)
            for peer in peers:
                notice = await peer.next_of("system_notice")
                assert notice["data"]["event"] == "server_shutdown"
                reason = await peer.closed()
                assert reason.code == 1001
            assert await process.wait(SHUTDOWN_LIMIT_S) == 0
        finally:
            await clients.aclose()
    # Nothing acknowledged was lost.
    with sqlite3.connect(workshop.db_path) as db:
        assert db.execute("SELECT count(*) FROM votes").fetchone() == (1,)


async def test_closing_a_session_from_the_cli_reaches_the_running_daemon(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(db_path, database={"poll_interval": 0.25})  # the default
    async with serving(config, workshop) as clients:
        a, _ = await clients.join(workshop.attendees[0])
        f, _ = await clients.facilitator()
        assert clients.server.hub.rooms.keys() == {workshop.session_id}

        result = await trio.to_thread.run_sync(
            run_cli, db_path, "session", "close", str(workshop.session_id), "--json"
        )
        assert result.returncode == 0, result.stderr
        with trio.fail_after(1.0):  # the contract: within 1 s
            notice = await a.next_of("system_notice")
        assert notice["data"]["event"] == "session_closed"
        assert (await f.next_of("system_notice"))["data"]["event"] == "session_closed"
        assert (await a.closed()).code == 1000
        assert (await f.closed()).code == 1000
        with trio.fail_after(5):  # the room is removed once its clients are gone
            await clients.server.hub.wait_for_room_count(0)


@pytest.mark.workshop(attendees=2, quorum="all")
async def test_an_attendee_added_from_the_cli_counts_at_once(
    nursery: trio.Nursery, server: Server, workshop: Workshop, db_path: str
) -> None:
    clients = Clients(nursery, server, workshop)
    try:
        a, b = await clients.join_first(2)
        result = await trio.to_thread.run_sync(
            run_cli, db_path, "attendee", "add", str(workshop.project_id), "Newcomer", "--json"
        )
        assert result.returncode == 0, result.stderr
        added = json.loads(result.stdout)
        newcomer = Person(added["id"], added["name"], added["token"])
        c, state = await clients.join(newcomer)  # no waiting for the poll: it works at once
        assert {x["attendee_id"] for x in state["data"]["attendees"]} >= {newcomer.id}
        while (joined := await a.next_of("attendee_joined"))["attendee_id"] != newcomer.id:
            pass
        assert joined["data"]["attendee_name"] == "Newcomer"
        pair = workshop.comparisons[0]
        await a.vote(pair.id, pair.a)
        received = await c.next_of("vote_received")
        assert received["data"]["voters_expected"] == 3  # quorum all: the newcomer counts
        await c.vote(pair.id, pair.a)
        await b.vote(pair.id, pair.a)
        assert (await c.next_of("consensus_reached"))["data"]["winner_id"] == pair.a
    finally:
        await clients.aclose()


async def test_everything_is_there_after_a_restart(db_path: str, workshop: Workshop) -> None:
    pair = workshop.comparisons[0]
    async with serving(make_config(db_path), workshop) as clients:
        a, b = await clients.join_first(2)
        await a.vote(pair.id, pair.b)
        await a.vote(pair.id, pair.a)  # changed: both kept in the history
        await b.vote(pair.id, pair.a)
        await b.next_of("consensus_reached")

    async with serving(make_config(db_path), workshop) as clients:
        _, state = await clients.join(workshop.attendees[2])
        first = state["data"]["comparisons"][0]
        assert first["status"] == "decided"
        assert first["winner_id"] == pair.a
        assert {v["attendee_id"]: v["preferred_feature_id"] for v in first["votes"]} == {
            workshop.attendees[0].id: pair.a,
            workshop.attendees[1].id: pair.a,
        }
        assert state["data"]["progress"]["completed_comparisons"] == 1
        assert state["data"]["current_comparison_id"] == workshop.comparisons[1].id
    store = Store.open(db_path)
    try:
        history = [
            (h.attendee_id, h.choice.preferred_feature_id)
            for h in store.vote_history(workshop.session_id)
        ]
    finally:
        store.close()
    assert history == [
        (workshop.attendees[0].id, pair.b),
        (workshop.attendees[0].id, pair.a),
        (workshop.attendees[1].id, pair.a),
    ]


async def test_acknowledged_votes_survive_kill_9(nursery: trio.Nursery, workshop: Workshop) -> None:
    acknowledged: set[tuple[int, int]] = set()
    async with daemon(workshop.db_path, *serve_args()) as process:
        port = await process.wait_listening()
        clients = Clients(nursery, PortServer(port), workshop)  # type: ignore[arg-type]
        try:
            peers = await clients.join_first(len(workshop.attendees))
            for peer, person in zip(peers, workshop.attendees, strict=True):
                for pair in workshop.comparisons:
                    await peer.vote(pair.id, pair.b)
                    while True:
                        received = await peer.next_of("vote_received")
                        if received["data"]["attendee_id"] == person.id:
                            break
                    acknowledged.add((pair.id, person.id))
            process.signal(SIGKILL)
            assert await process.wait(SHUTDOWN_LIMIT_S) == -SIGKILL
        finally:
            await clients.aclose()
    with sqlite3.connect(workshop.db_path) as db:
        stored = set(db.execute("SELECT comparison_id, attendee_id FROM votes").fetchall())
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert acknowledged <= stored
    assert len(acknowledged) == len(workshop.comparisons) * len(workshop.attendees)


async def test_make_run_demo_prints_links_that_work_and_outlive_a_restart(
    nursery: trio.Nursery, tmp_path: Path, db_path: str
) -> None:
    demo_db = str(tmp_path / "demo.db")
    printed: list[str] = []
    registered: dict[str, Any] = {}
    demo_ids = make_workshop(db_path)  # (only its ids, project 1 session 1, are used)
    for start in range(2):  # a second start reuses the workshop and its links
        async with daemon(demo_db, "demo", "--port", "0") as process:
            port = await process.wait_listening()
            await process.wait_stdout(rb"Stop with Ctrl-C")
            text = process.stdout.decode()
            base = f"http://127.0.0.1:{port}/projects/1"
            assert f"{base}/sessions/1/facilitator?facilitator_token=" in text
            assert f"{base}/sessions/1/projector?projector_token=" in text
            facilitator = re.search(r"facilitator_token=(\S+)", text)
            assert facilitator is not None
            assert f"projector_token={facilitator[1]}" not in text  # never the facilitator's
            join = re.search(
                rf"Anyone else joins here, or by scanning: ({base}/sessions/1/join\?code=\S+)\n█",
                text,
            )
            assert join is not None, text
            page = re.search(rf"Ada: +{base}/attendee#attendee_id=(\d+)&token=(\S+)", text)
            assert "Second demo" in text
            assert "(at most 30 of 66)" in text
            assert page is not None, text
            printed.append(" ".join(re.findall(rf"(?:http|ws)://127\.0\.0\.1:{port}(\S+)", text)))
            ws = f"ws://127.0.0.1:{port}/projects/1/sessions/1/ws?attendee_id={page[1]}&token={page[2]}"
            clients = Clients(nursery, PortServer(port), demo_ids)  # type: ignore[arg-type]
            try:
                peer = await clients.connect_url(ws)
                state = await peer.expect("session_state")
                assert len(state["data"]["features"]) == 6
                if start == 0:  # someone joins through the join link...
                    reply = await request(
                        port, join[1].split(str(port), 1)[1], json_body={"name": "Walk-in"}
                    )
                    assert reply.status == 201
                    registered = reply.json()
                # ...and their page still works after the restart.
                walk_in = await clients.connect(
                    attendee_id=registered["attendee_id"], token=registered["token"]
                )
                assert (await walk_in.expect("session_state"))["data"]["you"]["name"] == "Walk-in"
                process.signal(SIGTERM)
                assert (await peer.next_of("system_notice"))["data"]["event"] == "server_shutdown"
                assert await process.wait(SHUTDOWN_LIMIT_S) == 0
            finally:
                await clients.aclose()
    assert printed[0] == printed[1]  # the same links, all of them
    links = Path(f"{demo_db}.links.json")
    assert links.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(demo_db) as db:
        # The workshop and the adaptive backlog, each made once.
        assert db.execute("SELECT count(*) FROM projects").fetchone() == (2,)
        schedules = db.execute("SELECT schedule FROM sessions ORDER BY id").fetchall()
        assert schedules == [("all",), ("adaptive",)]


async def test_a_shutdown_cut_short_by_the_deadline_exits_70(workshop: Workshop) -> None:
    """The deadline (here: at once, before the shutdown can finish) exits 70, not 0."""
    ada = workshop.attendees[0]
    deadline = {"PAIRWISE_WS_TEST_SHUTDOWN_DEADLINE_S": "0"}
    async with daemon(workshop.db_path, *serve_args(), env=deadline) as process:
        port = await process.wait_listening()
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            path = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws"
            head = f"GET {path}?attendee_id={ada.id}&token={ada.token} HTTP/1.1\r\nhost: x\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in upgrade_headers().items()) + "\r\n"
            await stream.send_all(head.encode())
            with trio.fail_after(5):
                assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 101 ")
            process.signal(SIGTERM)  # (a connection to close: the shutdown has work to do)
            assert await process.wait(SHUTDOWN_LIMIT_S) == 70
    assert "forced exit (70)" in process.stderr.decode()


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("[server]\nport = 70000\n", "server.port: must be between 0 and 65535, got 70000"),
        ("[limits]\nrate_burst = 'ten'\n", "limits.rate_burst: expected an integer"),
        ("[limits]\nnonsense = 1\n", "limits: unknown key(s): nonsense"),
        ("this is not toml", "is not valid TOML"),
    ],
)
async def test_a_bad_config_stops_serve_with_one_line(
    tmp_path: Path, db_path: str, config_text: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(config_text)
    result = await trio.to_thread.run_sync(
        lambda: run_cli(db_path, "--config", str(config), "serve")
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


async def test_a_busy_port_is_one_line(db_path: str, workshop: Workshop) -> None:
    async with running(make_config(db_path)) as server:
        result = await trio.to_thread.run_sync(
            lambda: run_cli(db_path, "serve", "--port", str(server.port))
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"pairwise-ws: error: cannot listen on 127.0.0.1:{server.port}: Address already in use"
    ]


async def test_a_stale_vote_after_close_is_refused_not_stored(
    db_path: str, workshop: Workshop
) -> None:
    """Closed in the database but not yet noticed by the room: the vote is not stored."""
    config = make_config(db_path, database={"poll_interval": 1.0})
    async with serving(config, workshop) as clients:
        a, _ = await clients.join(workshop.attendees[0])
        store = Store.open(db_path)
        store.close_session(workshop.session_id)
        store.close()
        pair = workshop.comparisons[0]
        await a.vote(pair.id, pair.a)
        error = await a.next_of("error")
        assert error["data"]["code"] == "session_not_active"
        assert (await a.next_of("system_notice"))["data"]["event"] == "session_closed"
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM votes").fetchone() == (0,)


async def test_a_room_is_forgotten_when_its_last_client_leaves(
    clients: Clients, server: Server, workshop: Workshop
) -> None:
    a, _ = await clients.join(workshop.attendees[0])
    assert workshop.session_id in server.hub.rooms
    await a.send("leave_session")
    await a.closed()
    with trio.fail_after(5):
        await server.hub.wait_for_room_count(0)
    _, state = await clients.join(workshop.attendees[1])  # a fresh room, loaded again
    assert [x["attendee_id"] for x in state["data"]["attendees"] if x["online"]] == [
        workshop.attendees[1].id
    ]


def test_workshop_helper_makes_distinct_projects(db_path: str) -> None:
    first, second = make_workshop(db_path), make_workshop(db_path)
    assert first.project_id != second.project_id
