"""The embedding API of contract section 7, exactly as the README shows it."""

from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionClosed, wrap_client_stream

import pairwise_ws
from tests.conftest import Workshop, make_config
from tests.http_client import request


async def test_embed_drive_and_close(workshop: Workshop, db_path: str) -> None:
    config = make_config(db_path)
    assert config.server.port == 0  # port 0: the server picks a free one
    async with trio.open_nursery() as nursery:
        server = await nursery.start(pairwise_ws.serve, config)
        assert isinstance(server, pairwise_ws.Server)
        assert server.port > 0
        assert (await request(server.port, "/healthz")).json() == {"status": "ok"}

        ada = workshop.attendees[0]
        pair = workshop.comparisons[0]
        url = (
            f"ws://127.0.0.1:{server.port}/projects/{workshop.project_id}/sessions/"
            f"{workshop.session_id}/ws?attendee_id={ada.id}&token={ada.token}"
        )
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        try:
            ws = await wrap_client_stream(
                nursery, stream, "127.0.0.1", url.split(str(server.port))[1]
            )
            with trio.fail_after(5):
                assert json.loads(await ws.get_message())["type"] == "session_state"
                vote = {"comparison_id": pair.id, "preferred_feature_id": pair.a}
                await ws.send_message(
                    json.dumps({"type": "vote_submitted", "data": {"vote": vote}})
                )
                while json.loads(message := await ws.get_message())["type"] != "vote_received":
                    pass
            assert json.loads(message)["data"]["preferred_feature_id"] == pair.a

            await server.aclose()  # graceful, as SIGTERM: the client is told and closed
            with trio.fail_after(5):
                notice = json.loads(await ws.get_message())
                assert notice["data"]["event"] == "server_shutdown"
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1001
        finally:
            await trio.aclose_forcefully(stream)
    # serve() returned by itself after aclose(): the nursery closed without cancelling it.


async def test_cancelling_the_embedding_nursery_stops_the_server(
    workshop: Workshop, db_path: str
) -> None:
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(pairwise_ws.serve, make_config(db_path))
            scope.cancel()
    assert scope.cancelled_caught
    with trio.fail_after(1):
        await server.aclose()  # already stopped: returns at once
    with pytest.raises(OSError, match="connect"):  # refused: nothing listens any more
        await trio.open_tcp_stream("127.0.0.1", server.port)


async def test_a_bad_database_path_fails_before_started() -> None:
    config = pairwise_ws.Config.from_mapping(
        {"server": {"port": 0}, "database": {"path": "/nonexistent/dir/x.db"}}
    )
    async with trio.open_nursery() as nursery:
        with pytest.raises(pairwise_ws.StorageError, match="does not exist"):
            await nursery.start(pairwise_ws.serve, config)
