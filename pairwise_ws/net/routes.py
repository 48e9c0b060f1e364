"""The daemon's plain HTTP: the pages, their JSON endpoints, results, QR codes.

A thin driver, like the rooms: each handler authenticates, calls `operations`
(through `AsyncStore`, off the event loop) and turns the outcome into a
`Response`. The server owns the sockets and the WebSockets; everything a
browser fetches with plain HTTP is answered here.

| method | path | answer |
|---|---|---|
| GET | `/` | the landing page |
| GET | `/static/{name}` | the pages' scripts, styles and images |
| GET | `/projects/{p}/attendee` | the attendee page (credentials in the fragment) |
| GET | `/projects/{p}/sessions` | the project's sessions, for its attendees and facilitator |
| POST | `/projects/{p}/projector_token` | the facilitator issues the read-only projector token |
| GET | `/projects/{p}/sessions/{s}/join?code=` | the self-registration page (403: wrong code) |
| POST | `/projects/{p}/sessions/{s}/join?code=` | register `{"name"}`: a new attendee and token |
| GET | `/projects/{p}/sessions/{s}/facilitator` | the facilitator dashboard |
| GET | `/projects/{p}/sessions/{s}/projector` | the projector view |
| GET | `/projects/{p}/sessions/{s}/registration` | whether the join page is open, its URL |
| POST | `/projects/{p}/sessions/{s}/registration` | the facilitator opens, closes or rotates it |
| GET | `/projects/{p}/sessions/{s}/results` | the results JSON (facilitator or projector) |
| GET | `/projects/{p}/sessions/{s}/join.svg?code=` | the join URL as a QR code |

Credentials: `Authorization: Bearer T` (the facilitator's or the projector's
token) or `Authorization: Basic base64(attendee_id:token)`; the join page and
its QR code take the session's join code instead.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

import attrs
import trio

from pairwise_ws.app import auth, links, operations, qr, reports
from pairwise_ws.app.auth import ProjectIdentity
from pairwise_ws.config import Config
from pairwise_ws.domain.models import Session
from pairwise_ws.domain.validation import MAX_ID, ValidationError
from pairwise_ws.live.ratelimit import TokenBucket, Verdict
from pairwise_ws.net.http import Request, Response
from pairwise_ws.storage import Conflict, NotFound, RegistrationClosed, Store
from pairwise_ws.storage.writer import AsyncStore
from pairwise_ws.wire import ProgressData, converter

log = logging.getLogger(__name__)

# Pages may only run their own files, talk to their own daemon, and not be framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
STATIC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
REMEMBERED_ADDRESSES = 4096  # registration rate limits kept (least recently used go)

_ID = r"(\d{1,20})"
_PROJECT = rf"/projects/{_ID}"
_SESSION = rf"{_PROJECT}/sessions/{_ID}"

Handler = Callable[..., Awaitable[Response]]


class HttpError(Exception):
    """Answer with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close


def asset(name: str) -> bytes | None:
    """A file shipped in pairwise_ws/web/ (pages) or web/static/ (their assets)."""
    return shipped().get(name)


@functools.cache
def shipped() -> Mapping[str, bytes]:
    """Every shipped page and asset by name ("attendee.html", "static/app.css"), read once.

    A fixed index: a request for a name that isn't there is answered from it
    and leaves nothing behind (a cache keyed by the requested name would grow
    with every made-up name a client asks for).
    """
    folder = resources.files("pairwise_ws") / "web"
    files: dict[str, bytes] = {}
    for entry in folder.iterdir():
        if entry.is_file():
            files[entry.name] = entry.read_bytes()
        elif entry.name == "static":
            for item in entry.iterdir():
                if item.is_file():
                    files[f"static/{item.name}"] = item.read_bytes()
    return files


def page(name: str) -> Response:
    body = asset(name)
    if body is None:
        raise HttpError(500, f"page {name} is missing from this installation")
    return Response(200, body, CONTENT_TYPES[".html"], headers=PAGE_HEADERS)


def static(name: str) -> Response:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    body = asset(f"static/{name}") if STATIC_NAME.fullmatch(name) else None
    if body is None or suffix not in CONTENT_TYPES:
        raise HttpError(404, "not found")
    return Response(200, body, CONTENT_TYPES[suffix], headers=(("cache-control", "no-cache"),))


@attrs.frozen
class _Route:
    pattern: re.Pattern[str]
    methods: Mapping[str, Handler]


class Routes:
    def __init__(
        self,
        config: Config,
        store: AsyncStore,
        on_change: Callable[[], None],
        base_url: Callable[[], str],
    ) -> None:
        self._config = config
        self._store = store
        self._on_change = on_change  # the database changed: rooms look again
        self._base_url = base_url
        self._registrations: OrderedDict[str, TokenBucket] = OrderedDict()
        self._routes: tuple[_Route, ...] = tuple(
            _Route(re.compile(pattern), methods)
            for pattern, methods in (
                (r"/", {"GET": self._index}),
                (r"/static/([^/]{1,200})", {"GET": self._static}),
                (rf"{_PROJECT}/attendee", {"GET": self._attendee_page}),
                (rf"{_PROJECT}/sessions", {"GET": self._sessions}),
                (rf"{_PROJECT}/projector_token", {"POST": self._new_projector_token}),
                (rf"{_SESSION}/join", {"GET": self._join_page, "POST": self._register}),
                (rf"{_SESSION}/facilitator", {"GET": self._facilitator_page}),
                (rf"{_SESSION}/projector", {"GET": self._projector_page}),
                (
                    rf"{_SESSION}/registration",
                    {"GET": self._registration, "POST": self._set_registration},
                ),
                (rf"{_SESSION}/results", {"GET": self._results}),
                (rf"{_SESSION}/join\.svg", {"GET": self._join_qr}),
            )
        )

    async def respond(self, request: Request, address: str) -> Response | None:
        """The answer to a plain request, or None if no route has this path."""
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            method = "GET" if request.method == "HEAD" else request.method
            handler = route.methods.get(method)
            if handler is None:
                allowed = " or ".join(sorted(route.methods))
                refused = Response.error(405, f"use {allowed}")
                return attrs.evolve(refused, headers=(("allow", ", ".join(sorted(route.methods))),))
            try:
                return await handler(request, address, *match.groups())
            except HttpError as exc:
                return Response.error(exc.status, str(exc), close=exc.close)
        return None

    # --- pages ------------------------------------------------------------------

    async def _index(self, request: Request, address: str) -> Response:
        return page("index.html")

    async def _static(self, request: Request, address: str, name: str) -> Response:
        return static(name)

    async def _attendee_page(self, request: Request, address: str, project: str) -> Response:
        return page("attendee.html")

    async def _join_page(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        """The page, answered 403 (the page says why) when the link's code is wrong."""
        found = await self._session(project, session)
        if not auth.join_code_matches(request.query, found):
            return attrs.evolve(page("join.html"), status=403)
        return page("join.html")

    async def _facilitator_page(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        return page("facilitator.html")

    async def _projector_page(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        return page("projector.html")

    # --- JSON -------------------------------------------------------------------

    async def _sessions(self, request: Request, address: str, project: str) -> Response:
        who = await self._authenticate(request, _id(project, "project"))
        project_row, sessions = await self._store.read(Store.sessions_overview, who.project_id)
        you: dict[str, Any] = (
            {"role": who.role.value}
            if who.attendee is None
            else {"role": "attendee", "attendee_id": who.attendee.id, "name": who.attendee.name}
        )
        return Response.json(
            200,
            {
                "project": {"id": project_row.id, "name": project_row.name},
                "you": you,
                "sessions": [
                    {
                        "id": session.id,
                        "criterion": session.criterion.value,
                        "status": session.status.value,
                        "self_registration": session.self_registration,
                        "progress": converter.unstructure(ProgressData.of(progress)),
                    }
                    for session, progress in sessions
                ],
            },
        )

    async def _new_projector_token(self, request: Request, address: str, project: str) -> Response:
        """The dashboard's "Projector view": a new projector token (the old one stops)."""
        self._check_origin(request)
        who = await self._authenticate(request, _id(project, "project"))
        if not who.is_facilitator:
            raise HttpError(403, "only the facilitator can issue a projector token")
        token = await self._store.write(operations.rotate_projector_token, who.project_id)
        log.info("projector token issued for project %d", who.project_id)
        self._on_change()  # the old projector's pages are closed
        return Response.json(200, {"id": who.project_id, "projector_token": token})

    async def _registration(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        """For the join page (with the code) and the facilitator's pages (with a token)."""
        found = await self._session(project, session)
        if not auth.join_code_matches(request.query, found):
            who = await self._authenticate(request, found.project_id, missing=403)
            if who.attendee is not None:
                raise HttpError(403, "the join link is for the facilitator's pages")
        return await self._registration_info(found)

    async def _set_registration(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        """`{"open": true|false}` opens or closes it; `{"rotate": true}` makes a new code."""
        self._check_origin(request)
        found = await self._session(project, session)
        who = await self._authenticate(request, found.project_id)
        if not who.is_facilitator:
            raise HttpError(403, "only the facilitator can open, close or rotate registration")
        if b'"rotate"' in request.body:
            if _json_body(request, {"rotate": bool})["rotate"] is not True:
                raise HttpError(400, "rotate must be true")
            state = "rotate"
        else:
            state = "on" if _json_body(request, {"open": bool})["open"] else "off"
        changed = await self._store.write(operations.set_self_registration, found.id, state)
        log.info("self-registration for session %d: %s", found.id, state)
        self._on_change()
        return await self._registration_info(changed)

    async def _register(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        self._check_origin(request)
        found = await self._session(project, session)
        body = _json_body(request, {"name": str})
        if self._bucket(address).take(trio.current_time()) is not Verdict.ALLOW:
            raise HttpError(429, "too many registrations from your address; wait a minute")
        try:
            attendee, token = await self._store.write(
                operations.register_attendee,
                found.id,
                str(body["name"]),
                request.query.get("code", ""),
                self._config.security.max_self_registrations,
            )
        except ValidationError as exc:
            raise HttpError(400, str(exc)) from None
        except RegistrationClosed as exc:
            raise HttpError(403, str(exc)) from None
        except Conflict as exc:
            raise HttpError(409, str(exc)) from None
        log.info("attendee %d registered itself for session %d", attendee.id, found.id)
        self._on_change()
        fragment = links.join_fragment(attendee.id, token)
        page_url = f"/projects/{found.project_id}/attendee?session={found.id}#{fragment}"
        return Response.json(
            201,
            {
                "attendee_id": attendee.id,
                "project_id": found.project_id,
                "session_id": found.id,
                "name": attendee.name,
                "token": token,
                "attendee_url": page_url,
            },
        )

    async def _results(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        found = await self._session(project, session)
        who = await self._authenticate(request, found.project_id)
        if who.attendee is not None:
            raise HttpError(403, "results need the project's facilitator or projector token")
        results = await self._store.read(operations.results, found.id)
        return Response.json(200, reports.results_json(results))

    async def _join_qr(
        self, request: Request, address: str, project: str, session: str
    ) -> Response:
        found = await self._session(project, session)
        if not auth.join_code_matches(request.query, found):
            raise HttpError(403, "this join link is not valid (its code is wrong or was changed)")
        url = self._join_url(found)
        body = await trio.to_thread.run_sync(qr.svg, url)
        return Response(200, body, CONTENT_TYPES[".svg"])

    # --- helpers ----------------------------------------------------------------

    def _join_url(self, session: Session) -> str:
        return links.join_page_url(self._base_url(), session)

    async def _registration_info(self, session: Session) -> Response:
        project = await self._store.read(Store.project, session.project_id)
        return Response.json(
            200,
            {
                "project_id": project.id,
                "project_name": project.name,
                "session_id": session.id,
                "criterion": session.criterion.value,
                "status": session.status.value,
                "open": session.self_registration,
                "join_url": self._join_url(session),
            },
        )

    async def _session(self, project: str, session: str) -> Session:
        project_id, session_id = _id(project, "project"), _id(session, "session")
        try:
            found = await self._store.read(Store.session, session_id)
        except NotFound:
            raise HttpError(404, "session not found") from None
        if found.project_id != project_id:
            raise HttpError(404, "session not found")
        return found

    async def _authenticate(
        self, request: Request, project_id: int, *, missing: int = 401
    ) -> ProjectIdentity:
        """Who sent the request; `missing` is the status when it carries no credentials."""
        query = auth.credentials(request.query, request.header("authorization"))
        if not query and missing != 401:
            raise HttpError(missing, "this join link is not valid (its code is wrong or missing)")
        who = await self._store.read(auth.authenticate_project, project_id, query)
        if isinstance(who, str):
            raise HttpError(401, f"Authentication failed: {who}")
        return who

    def _check_origin(self, request: Request) -> None:
        if not auth.origin_allowed(
            request.header("origin"), request.header("host"), self._config.security.allowed_origins
        ):
            raise HttpError(403, "origin not allowed")

    def _bucket(self, address: str) -> TokenBucket:
        bucket = self._registrations.pop(address, None)
        if bucket is None:
            per_minute = self._config.security.registrations_per_minute
            bucket = TokenBucket(burst=per_minute, rate=per_minute / 60.0, abuse_strikes=1_000_000)
        self._registrations[address] = bucket  # most recently used last
        while len(self._registrations) > REMEMBERED_ADDRESSES:
            self._registrations.popitem(last=False)
        return bucket


def _id(text: str, what: str) -> int:
    number = int(text)
    if not 1 <= number <= MAX_ID:
        raise HttpError(404, f"{what} not found")
    return number


def _json_body(request: Request, fields: Mapping[str, type]) -> dict[str, Any]:
    """The request's JSON object with exactly `fields`, of these types."""
    media_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HttpError(415, "send a JSON body (Content-Type: application/json)")
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        raise HttpError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise HttpError(400, f"unknown field(s): {', '.join(unknown)}")
    for name, kind in fields.items():
        if name not in body:
            raise HttpError(400, f"{name} is required")
        if type(body[name]) is not kind:
            raise HttpError(400, f"{name} must be a {'string' if kind is str else 'boolean'}")
    return body
