"""The daemon's plain-HTTP side: pages, their JSON endpoints, results and QR codes."""

from __future__ import annotations

import base64
import re
from typing import Any

import attrs
import pytest

from pairwise_ws.app import operations, qr
from pairwise_ws.app.reports import results_json
from pairwise_ws.net import routes
from pairwise_ws.net.routes import CONTENT_SECURITY_POLICY
from pairwise_ws.net.server import Server
from pairwise_ws.storage import Store
from tests.conftest import Clients, Person, Workshop, make_config, running
from tests.http_client import request


def session_path(workshop: Workshop, tail: str) -> str:
    return f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/{tail}"


def join_path(workshop: Workshop, tail: str = "join", code: str | None = None) -> str:
    """The session's join page (or QR code, or registration info) with its join code."""
    return f"{session_path(workshop, tail)}?code={workshop.join_code if code is None else code}"


def basic(person: Person) -> dict[str, str]:
    """An attendee's credentials as the pages send them on a plain request."""
    pair = base64.b64encode(f"{person.id}:{person.token}".encode()).decode()
    return {"authorization": f"Basic {pair}"}


def bearer(workshop: Workshop) -> dict[str, str]:
    return {"authorization": f"Bearer {workshop.facilitator_token}"}


@pytest.mark.parametrize("tail", ["join", "facilitator", "projector"])
async def test_session_pages_are_served_with_a_strict_policy(
    server: Server, workshop: Workshop, tail: str
) -> None:
    reply = await request(server.port, join_path(workshop, tail))

    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert b"<!doctype html>" in reply.body[:200].lower()


@pytest.mark.parametrize("path", ["/", "/projects/1/attendee"])
async def test_other_pages(server: Server, workshop: Workshop, path: str) -> None:
    reply = await request(server.port, path)

    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")


async def test_every_file_a_page_refers_to_is_served(server: Server, workshop: Workshop) -> None:
    pages = [
        "/",
        "/projects/1/attendee",
        *(join_path(workshop, t) for t in ("join", "facilitator", "projector")),
    ]
    for path in pages:
        body = (await request(server.port, path)).body.decode()
        for name in _static_names(body):
            reply = await request(server.port, f"/static/{name}")
            assert reply.status == 200, f"{path} refers to /static/{name}: {reply.status}"


def _static_names(html: str) -> set[str]:
    return set(re.findall(r"/static/([A-Za-z0-9_.-]+)", html))


@pytest.mark.parametrize(
    "name", ["nope.js", "..%2fserver.py", "%2e%2e/routes.py", ".hidden", "app.css/x"]
)
async def test_unknown_or_sneaky_static_paths_are_404(server: Server, name: str) -> None:
    assert (await request(server.port, f"/static/{name}")).status == 404


async def test_made_up_static_names_leave_nothing_behind(server: Server) -> None:
    """The files are an index read once; 300 made-up names are 404s and cost nothing kept."""
    before = dict(routes.shipped())
    assert "static/app.css" in before
    assert "attendee.html" in before
    for n in range(300):
        assert (await request(server.port, f"/static/made-up-{n}.js")).status == 404
    assert routes.shipped() == before
    assert routes.asset("static/made-up-1.js") is None


async def test_a_post_to_a_page_is_405_with_allow(server: Server, workshop: Workshop) -> None:
    reply = await request(server.port, session_path(workshop, "projector"), json_body={})

    assert reply.status == 405
    assert reply.headers["allow"] == "GET"


# --- the project's sessions ------------------------------------------------------


async def test_sessions_for_an_attendee(server: Server, workshop: Workshop) -> None:
    ada = workshop.attendees[0]

    reply = await request(
        server.port,
        f"/projects/{workshop.project_id}/sessions?attendee_id={ada.id}&token={ada.token}",
    )

    assert reply.status == 200
    body = reply.json()
    assert body["project"] == {"id": workshop.project_id, "name": "Test project"}
    assert body["you"] == {"role": "attendee", "attendee_id": ada.id, "name": ada.name}
    [session] = body["sessions"]
    assert session["id"] == workshop.session_id
    assert session["status"] == "active"
    assert session["self_registration"] is True
    assert session["progress"]["total_comparisons"] == len(workshop.comparisons)


async def test_sessions_for_an_attendee_by_basic_auth(server: Server, workshop: Workshop) -> None:
    ada = workshop.attendees[0]
    path = f"/projects/{workshop.project_id}/sessions"

    reply = await request(server.port, path, headers=basic(ada))
    wrong = await request(server.port, path, headers=basic(attrs.evolve(ada, token="wrong")))
    garbled = await request(server.port, path, headers={"authorization": "Basic %%%"})

    assert reply.json()["you"] == {"role": "attendee", "attendee_id": ada.id, "name": ada.name}
    assert wrong.json() == {"error": "Authentication failed: invalid token"}
    assert garbled.status == 401


async def test_sessions_for_the_facilitator_by_bearer(server: Server, workshop: Workshop) -> None:
    reply = await request(
        server.port, f"/projects/{workshop.project_id}/sessions", headers=bearer(workshop)
    )

    assert reply.json()["you"] == {"role": "facilitator"}


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "attendee_id and token are required"),
        ("?attendee_id=1&token=wrong", "invalid token"),
        ("?facilitator_token=wrong", "invalid facilitator token"),
    ],
)
async def test_sessions_refuse_bad_credentials(
    server: Server, workshop: Workshop, query: str, reason: str
) -> None:
    reply = await request(server.port, f"/projects/{workshop.project_id}/sessions{query}")

    assert reply.status == 401
    assert reply.json() == {"error": f"Authentication failed: {reason}"}


# --- self-registration -----------------------------------------------------------


async def test_register_then_connect_as_the_new_attendee(
    server: Server, workshop: Workshop, clients: Clients
) -> None:
    reply = await request(server.port, join_path(workshop), json_body={"name": "Zoë"})

    assert reply.status == 201
    body = reply.json()
    assert body["name"] == "Zoë"
    assert body["session_id"] == workshop.session_id
    assert body["attendee_url"] == (
        f"/projects/{workshop.project_id}/attendee?session={workshop.session_id}"
        f"#attendee_id={body['attendee_id']}&token={body['token']}"
    )
    peer = await clients.connect(attendee_id=body["attendee_id"], token=body["token"])
    state = await peer.expect("session_state")
    assert state["data"]["you"]["name"] == "Zoë"
    zoe = {"attendee_id": body["attendee_id"], "name": "Zoë", "online": True, "role": "voter"}
    assert zoe in state["data"]["attendees"]


async def test_registration_info_needs_the_join_code_or_a_project_token(
    server: Server, workshop: Workshop
) -> None:
    reply = await request(server.port, join_path(workshop, "registration"))
    by_token = await request(
        server.port, session_path(workshop, "registration"), headers=bearer(workshop)
    )
    refused = [
        await request(server.port, session_path(workshop, "registration")),
        await request(server.port, join_path(workshop, "registration", code="wrong")),
        await request(
            server.port,
            session_path(workshop, "registration"),
            headers=basic(workshop.attendees[0]),
        ),
    ]

    assert [r.status for r in refused] == [403, 403, 403]
    assert (
        by_token.json()
        == reply.json()
        == {
            "project_id": workshop.project_id,
            "project_name": "Test project",
            "session_id": workshop.session_id,
            "criterion": "value",
            "status": "active",
            "open": True,
            "join_url": f"http://127.0.0.1:{server.port}{join_path(workshop)}",
        }
    )


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        ({"name": "Attendee 1"}, {}, 409, "the name 'Attendee 1' is already taken in project 1"),
        ({"name": "attendee 1"}, {}, 409, "the name 'attendee 1' is already taken in project 1"),
        ({"name": "   "}, {}, 400, None),
        ({"name": 7}, {}, 400, "name must be a string"),
        ({}, {}, 400, "name is required"),
        ({"name": "Zed", "admin": True}, {}, 400, "unknown field(s): admin"),
        ({"name": "Zed"}, {"content-type": "text/plain"}, 415, None),
        ({"name": "Zed"}, {"origin": "http://evil.example"}, 403, "origin not allowed"),
    ],
)
async def test_bad_registrations_are_refused(
    server: Server,
    workshop: Workshop,
    body: dict[str, Any],
    headers: dict[str, str],
    status: int,
    error: str | None,
) -> None:
    reply = await request(server.port, join_path(workshop), json_body=body, headers=headers)

    assert reply.status == status
    if error is not None:
        assert reply.json() == {"error": error}
    with_store = Store.open(workshop.db_path)
    try:
        assert len(with_store.attendees(workshop.project_id)) == len(workshop.attendees)
    finally:
        with_store.close()


async def test_closed_registration_and_closed_sessions_refuse(
    server: Server, workshop: Workshop
) -> None:
    path = session_path(workshop, "registration")
    off = await request(server.port, path, json_body={"open": False}, headers=bearer(workshop))
    assert off.json()["open"] is False

    refused = await request(server.port, join_path(workshop), json_body={"name": "Zed"})
    assert (refused.status, refused.json()) == (
        403,
        {"error": "self-registration is closed for this session"},
    )

    await request(server.port, path, json_body={"open": True}, headers=bearer(workshop))
    store = Store.open(workshop.db_path)
    try:
        operations.close_session(store, workshop.session_id)
    finally:
        store.close()
    refused = await request(server.port, join_path(workshop), json_body={"name": "Zed"})
    assert refused.status == 409


async def test_only_the_facilitator_opens_or_closes_registration(
    server: Server, workshop: Workshop
) -> None:
    ada = workshop.attendees[0]
    path = session_path(workshop, "registration")

    as_attendee = await request(
        server.port, f"{path}?attendee_id={ada.id}&token={ada.token}", json_body={"open": False}
    )
    anonymous = await request(server.port, path, json_body={"open": False})

    assert as_attendee.status == 403
    assert anonymous.status == 401
    assert (await request(server.port, path, headers=bearer(workshop))).json()["open"] is True


async def test_registrations_per_address_are_limited(db_path: str, workshop: Workshop) -> None:
    config = make_config(db_path, security={"registrations_per_minute": 2})
    async with running(config) as server:
        statuses = [
            (await request(server.port, join_path(workshop), json_body={"name": f"New {i}"})).status
            for i in range(3)
        ]

    assert statuses == [201, 201, 429]


@pytest.mark.parametrize("tail", ["registration", "join.svg", "results"])
async def test_unknown_sessions_are_404(server: Server, workshop: Workshop, tail: str) -> None:
    other_project = f"/projects/{workshop.project_id + 1}/sessions/{workshop.session_id}/{tail}"
    for path in (
        session_path(workshop, tail).replace(f"/sessions/{workshop.session_id}/", "/sessions/999/"),
        other_project,
    ):
        reply = await request(server.port, f"{path}?code=x", headers=bearer(workshop))
        assert (reply.status, reply.json()) == (404, {"error": "session not found"}), path


# --- results and the QR code -------------------------------------------------------


async def test_results_over_http_equal_the_cli_json(server: Server, workshop: Workshop) -> None:
    store = Store.open(workshop.db_path)
    try:
        expected = operations.results(store, workshop.session_id)
    finally:
        store.close()
    reply = await request(server.port, session_path(workshop, "results"), headers=bearer(workshop))

    assert reply.status == 200
    assert reply.json() == results_json(expected)


async def test_results_need_the_facilitator_token(server: Server, workshop: Workshop) -> None:
    ada = workshop.attendees[0]
    path = session_path(workshop, "results")

    assert (await request(server.port, path)).status == 401
    as_attendee = await request(server.port, f"{path}?attendee_id={ada.id}&token={ada.token}")
    assert as_attendee.status == 403
    by_query = await request(server.port, f"{path}?facilitator_token={workshop.facilitator_token}")
    assert by_query.status == 200


async def test_join_qr_code_encodes_the_join_url(server: Server, workshop: Workshop) -> None:
    reply = await request(server.port, join_path(workshop, "join.svg"))
    without_code = await request(server.port, session_path(workshop, "join.svg"))

    assert reply.status == 200
    assert reply.headers["content-type"] == "image/svg+xml"
    join_url = f"http://127.0.0.1:{server.port}{join_path(workshop)}"
    assert reply.body == qr.svg(join_url)
    assert without_code.status == 403
