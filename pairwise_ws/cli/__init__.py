"""The command line: parse, call `operations`, print. No logic of its own.

Every setup command takes --json and then prints exactly one JSON object.
Mistakes (unknown project, empty name, bad config) end with one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import attrs
import click
import trio

from pairwise_ws import logs
from pairwise_ws.app import operations, qr, reports
from pairwise_ws.config import Config, ConfigError
from pairwise_ws.domain.models import Session
from pairwise_ws.domain.validation import ValidationError
from pairwise_ws.net.server import Server, serve
from pairwise_ws.storage import Conflict, NotFound, StorageError, Store
from pairwise_ws.wire import converter

log = logging.getLogger("pairwise_ws")

DEFAULT_DB = "pairwise.db"
SHUTDOWN_DEADLINE_S = 4.0  # the contract: exit within 5 s of SIGTERM (the OS needs the rest)

USER_ERRORS = (ConfigError, StorageError, NotFound, ValidationError, Conflict)


@attrs.define
class App:
    """What the group options decided, shared by every command."""

    db_option: str | None
    config_path: str | None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            config = Config.load(self.config_path) if self.config_path else Config()
            db = self.db_option or os.environ.get("PAIRWISE_WS_DB") or config.database.path
            self._config = config.with_overrides(database_path=db or DEFAULT_DB)
        return self._config

    @contextmanager
    def store(self) -> Iterator[Store]:
        config = self.config
        store = Store.open(config.database.path, synchronous=config.database.synchronous)
        try:
            yield store
        finally:
            store.close()


pass_app = click.make_pass_decorator(App)


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_option",
    metavar="PATH",
    help="SQLite database file [env PAIRWISE_WS_DB; else the config's; else ./pairwise.db].",
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    envvar="PAIRWISE_WS_CONFIG",
    help="TOML configuration file, like config.example.toml [env PAIRWISE_WS_CONFIG].",
)
@click.version_option(package_name="pairwise-ws")
@click.pass_context
def cli(ctx: click.Context, db_option: str | None, config_path: str | None) -> None:
    """Live pairwise-comparison workshops over WebSockets.

    Set up a project with `project create`, `feature add` and `attendee add`,
    start a `session create`, then `serve` it and share the join links.
    """
    ctx.obj = App(db_option=db_option, config_path=config_path)


# --- projects -------------------------------------------------------------------


@cli.group()
def project() -> None:
    """Create and list projects."""


@project.command("create")
@click.argument("name")
@json_option
@pass_app
def project_create(app: App, name: str, as_json: bool) -> None:
    """Create a project; prints its facilitator token (shown only once)."""
    with app.store() as store:
        created, token = operations.create_project(store, name)
    emit(
        as_json,
        {"id": created.id, "name": created.name, "facilitator_token": token},
        f"Created project {created.id}: {created.name}\n"
        f"Facilitator token: {token}\n"
        "Keep it: only its hash is stored. `project token` issues a new one.",
    )


@project.command("list")
@json_option
@pass_app
def project_list(app: App, as_json: bool) -> None:
    """List the projects."""
    with app.store() as store:
        projects = store.projects()
    emit(
        as_json,
        {"projects": [{"id": p.id, "name": p.name} for p in projects]},
        "\n".join(f"{p.id}\t{p.name}" for p in projects) or "No projects yet.",
    )


@project.command("token")
@click.argument("project_id", type=click.IntRange(min=1))
@json_option
@pass_app
def project_token(app: App, project_id: int, as_json: bool) -> None:
    """Issue a new facilitator token; the old one stops working."""
    with app.store() as store:
        token = store.rotate_facilitator_token(project_id)
    emit(
        as_json,
        {"id": project_id, "facilitator_token": token},
        f"Facilitator token for project {project_id}: {token}",
    )


# --- features -------------------------------------------------------------------


@cli.group()
def feature() -> None:
    """Add and list a project's features."""


@feature.command("add")
@click.argument("project_id", type=click.IntRange(min=1))
@click.argument("title")
@click.option("--description", default="", help="A sentence or two for attendees.")
@json_option
@pass_app
def feature_add(app: App, project_id: int, title: str, description: str, as_json: bool) -> None:
    """Add a feature to a project."""
    with app.store() as store:
        added = operations.add_feature(store, project_id, title, description)
    emit(
        as_json,
        {"id": added.id, "project_id": added.project_id, "title": added.title},
        f"Added feature {added.id} to project {added.project_id}: {added.title}",
    )


@feature.command("list")
@click.argument("project_id", type=click.IntRange(min=1))
@json_option
@pass_app
def feature_list(app: App, project_id: int, as_json: bool) -> None:
    """List a project's features."""
    with app.store() as store:
        store.project(project_id)
        features = store.features(project_id)
    emit(
        as_json,
        {"features": [converter.unstructure(f) for f in features]},
        "\n".join(f"{f.id}\t{f.title}" for f in features) or "No features yet.",
    )


# --- attendees ------------------------------------------------------------------


@cli.group()
def attendee() -> None:
    """Add and list a project's attendees."""


@attendee.command("add")
@click.argument("project_id", type=click.IntRange(min=1))
@click.argument("name")
@json_option
@pass_app
def attendee_add(app: App, project_id: int, name: str, as_json: bool) -> None:
    """Add an attendee; prints the link that joins them (shown only once)."""
    with app.store() as store:
        added, token = operations.add_attendee(store, project_id, name)
    url = operations.join_url(app.config, added.project_id, added.id, token)
    emit(
        as_json,
        {
            "id": added.id,
            "project_id": added.project_id,
            "name": added.name,
            "token": token,
            "join_url": url,
        },
        f"Added attendee {added.id} to project {added.project_id}: {added.name}\n"
        f"Token:    {token}\nJoin URL: {url}",
    )


@attendee.command("list")
@click.argument("project_id", type=click.IntRange(min=1))
@json_option
@pass_app
def attendee_list(app: App, project_id: int, as_json: bool) -> None:
    """List a project's attendees."""
    with app.store() as store:
        store.project(project_id)
        attendees = store.attendees(project_id)
    emit(
        as_json,
        {"attendees": [converter.unstructure(a) for a in attendees]},
        "\n".join(f"{a.id}\t{a.name}" for a in attendees) or "No attendees yet.",
    )


@attendee.command("token")
@click.argument("attendee_id", type=click.IntRange(min=1))
@json_option
@pass_app
def attendee_token(app: App, attendee_id: int, as_json: bool) -> None:
    """Issue a new token and join link for an attendee; the old ones stop working."""
    with app.store() as store:
        found, token = store.rotate_attendee_token(attendee_id)
    url = operations.join_url(app.config, found.project_id, found.id, token)
    emit(
        as_json,
        {
            "id": found.id,
            "project_id": found.project_id,
            "name": found.name,
            "token": token,
            "join_url": url,
        },
        f"New link for {found.name} (attendee {found.id}):\nToken:    {token}\nJoin URL: {url}",
    )


# --- sessions -------------------------------------------------------------------


@cli.group()
def session() -> None:
    """Create, list and close pairwise sessions."""


@session.command("create")
@click.argument("project_id", type=click.IntRange(min=1))
@click.option(
    "--criterion", type=click.Choice(["value", "complexity"]), default="value", show_default=True
)
@click.option(
    "--rule",
    type=click.Choice(["unanimous", "majority", "supermajority"]),
    default="unanimous",
    show_default=True,
)
@click.option(
    "--threshold",
    type=float,
    default=0.75,
    show_default=True,
    help="Share needed with --rule supermajority (above 0.5, at most 1).",
)
@click.option(
    "--min-votes",
    type=int,
    default=2,
    show_default=True,
    help="Votes needed before a comparison can be decided.",
)
@click.option(
    "--quorum",
    type=click.Choice(["present", "all"]),
    default="present",
    show_default=True,
    help="Wait for who is connected, or for every attendee.",
)
@click.option(
    "--self-registration/--no-self-registration",
    default=True,
    show_default=True,
    help="Let people add themselves on the session's join page.",
)
@json_option
@pass_app
def session_create(
    app: App,
    project_id: int,
    criterion: str,
    rule: str,
    threshold: float,
    min_votes: int,
    quorum: str,
    self_registration: bool,
    as_json: bool,
) -> None:
    """Start a session: every pair of the project's features, once."""
    with app.store() as store:
        created, comparisons = operations.create_session(
            store,
            project_id,
            criterion=criterion,
            rule=rule,
            threshold=threshold,
            min_votes=min_votes,
            quorum=quorum,
            self_registration=self_registration,
        )
        titles = {f.id: f.title for f in store.features(project_id)}
    payload = {
        "id": created.id,
        "project_id": created.project_id,
        "status": created.status.value,
        "comparisons": [
            {
                "id": c.id,
                "position": c.position,
                "feature_a_id": c.feature_a_id,
                "feature_b_id": c.feature_b_id,
            }
            for c in comparisons
        ],
    }
    lines = [
        f"Created session {created.id} for project {project_id} ({criterion}, {rule}, "
        f"quorum {quorum}, at least {min_votes} votes): {len(comparisons)} comparisons"
    ]
    lines += [
        f"{c.position:4}. {titles[c.feature_a_id]}  vs  {titles[c.feature_b_id]}"
        for c in comparisons
    ]
    emit(as_json, payload, "\n".join(lines))


@session.command("close")
@click.argument("session_id", type=click.IntRange(min=1))
@json_option
@pass_app
def session_close(app: App, session_id: int, as_json: bool) -> None:
    """Close a session; a running daemon tells its clients and disconnects them."""
    with app.store() as store:
        closed = operations.close_session(store, session_id)
    emit(
        as_json,
        {"id": closed.id, "status": closed.status.value},
        f"Session {closed.id} is {closed.status}.",
    )


@session.command("registration")
@click.argument("session_id", type=click.IntRange(min=1))
@click.argument("state", type=click.Choice(["on", "off"]))
@json_option
@pass_app
def session_registration(app: App, session_id: int, state: str, as_json: bool) -> None:
    """Open (on) or close (off) the session's self-registration join page."""
    with app.store() as store:
        changed = operations.set_self_registration(store, session_id, state == "on")
    url = operations.registration_url(app.config, changed.project_id, changed.id)
    emit(
        as_json,
        {"id": changed.id, "self_registration": changed.self_registration, "join_url": url},
        f"Self-registration for session {changed.id} is {state}: {url}",
    )


@session.command("list")
@click.argument("project_id", type=click.IntRange(min=1))
@json_option
@pass_app
def session_list(app: App, project_id: int, as_json: bool) -> None:
    """List a project's sessions."""
    with app.store() as store:
        store.project(project_id)
        sessions = store.sessions(project_id)
    emit(
        as_json,
        {
            "sessions": [
                {"id": s.id, "criterion": s.criterion.value, "status": s.status.value}
                for s in sessions
            ]
        },
        "\n".join(f"{s.id}\t{s.criterion}\t{s.status}" for s in sessions) or "No sessions yet.",
    )


# --- results ----------------------------------------------------------------------


@cli.command()
@click.argument("session_id", type=click.IntRange(min=1))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "--combined",
    is_flag=True,
    help="Only the value-over-complexity view (needs a session of each criterion).",
)
@pass_app
def results(app: App, session_id: int, fmt: str, combined: bool) -> None:
    """The session's ranking (win-count weight), cycles and votes.

    When the project also has a decided session of the other criterion, the
    table and JSON add the combined view: value weight over complexity weight.
    """
    with app.store() as store:
        found = operations.results(store, session_id)
    if combined:
        if found.combined is None:
            raise click.ClickException(
                f"no combined view: project {found.session.project_id} needs a value and a "
                "complexity session with decided comparisons"
            )
        if fmt == "json":
            click.echo(json.dumps(reports.combined_json(found.combined), ensure_ascii=False))
        elif fmt == "csv":
            click.echo(reports.combined_csv(found.combined), nl=False)
        else:
            click.echo(reports.combined_table(found.combined))
        return
    if fmt == "json":
        click.echo(json.dumps(reports.results_json(found), ensure_ascii=False))
    elif fmt == "csv":
        click.echo(reports.results_csv(found), nl=False)
    else:
        click.echo(reports.results_table(found))


# --- the daemon ---------------------------------------------------------------------


@cli.command("serve")
@click.option("--host", help="Address to listen on (0.0.0.0 for the whole LAN).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (0 picks a free one).")
@click.option("--qr/--no-qr", "qr_codes", default=True, help="Print join QR codes.")
@pass_app
def serve_command(app: App, host: str | None, port: int | None, qr_codes: bool) -> None:
    """Run the daemon in the foreground until SIGINT or SIGTERM.

    Prints where it listens and, for each active session that takes
    self-registrations, its join link and QR code.
    """
    config = app.config.with_overrides(server_host=host, server_port=port)

    def announce(server: Server) -> None:
        live = config.with_overrides(server_port=server.port)
        with app.store() as store:
            sessions = operations.open_sessions(store)
        click.echo(_serve_text(live, sessions, show_qr=qr_codes))

    run_daemon(config, on_ready=announce)


def _serve_text(config: Config, sessions: list[Session], *, show_qr: bool) -> str:
    lines = [f"pairwise-ws is serving {config.base_url}"]
    for session in sessions:
        url = operations.registration_url(config, session.project_id, session.id)
        dashboard = operations.session_page_url(
            config, session.project_id, session.id, "facilitator"
        )
        lines += [
            "",
            f"Session {session.id} ({session.criterion}) of project {session.project_id}:",
            f"  dashboard (asks for the facilitator token): {dashboard}",
        ]
        if session.self_registration:
            lines.append(f"  join: {url}")
            if show_qr:
                lines.append(qr.terminal(url))
    return "\n".join(lines)


@cli.command()
@click.option("--host", help="Address to listen on (0.0.0.0 for the whole LAN).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (0 picks a free one).")
@click.option("--qr/--no-qr", "qr_codes", default=True, help="Print the join QR code.")
@pass_app
def demo(app: App, host: str | None, port: int | None, qr_codes: bool) -> None:
    """Run a demo workshop: create it if needed, print its links, serve it."""
    config = app.config.with_overrides(server_host=host, server_port=port)

    def announce(server: Server) -> None:
        live = config.with_overrides(server_port=server.port)
        with app.store() as store:
            prepared = operations.prepare_demo(store, live)
        click.echo(_demo_text(prepared, live.database.path, show_qr=qr_codes))

    run_daemon(config, on_ready=announce)


def _demo_text(prepared: operations.Demo, db: str, *, show_qr: bool) -> str:
    lines = [
        f'Demo workshop "{prepared.project.name}" (project {prepared.project.id}, '
        f"session {prepared.session.id}) in {db}",
        "",
        "Facilitator dashboard (keep this link to yourself):",
        f"  {prepared.facilitator_url}",
        "Projector view, for the big screen:",
        f"  {prepared.projector_url}",
        f"Facilitator token: {prepared.facilitator_token}",
        "",
        "Attendee pages, one per person (open on a phone or laptop):",
    ]
    width = max(len(link.attendee.name) for link in prepared.links) + 1
    for link in prepared.links:
        lines.append(f"  {link.attendee.name + ':':<{width}} {link.join_url}")
    lines += ["", f"Anyone else joins here, or by scanning: {prepared.registration_url}"]
    if show_qr:
        lines.append(qr.terminal(prepared.registration_url))
    lines += [
        "",
        "Scripts can use the WebSocket directly (docs/protocol.md), for example:",
        f"  {prepared.links[0].attendee.name}: {prepared.links[0].websocket_url}",
        "",
        "Stop with Ctrl-C. Links are new on every start; the old ones stop working.",
    ]
    return "\n".join(lines)


def run_daemon(config: Config, on_ready: Callable[[Server], None]) -> None:
    logs.configure(config.logging.level, config.logging.format, sys.stderr)
    try:
        trio.run(_daemon, config, on_ready)
    except BaseException as exc:
        inner = _unwrap(exc)
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
            self._timer = threading.Timer(SHUTDOWN_DEADLINE_S, _exit_now)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _exit_now() -> NoReturn:
    """Exit 0 at the contract's deadline, without unwinding every connection's tasks.

    By now every client has been sent the notice and its Close frame (or was
    cut at the end of the grace period) and every acknowledged vote is
    committed; what is left is trio tearing down thousands of connections'
    tasks, which can take longer than the 5 s a shutdown may. The database
    needs nothing more: its WAL is consistent after any exit (the kill -9
    tests show it).
    """
    log.warning("connections still unwinding at the shutdown deadline: exiting now")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# --- entry point ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; any mistake ends with one line on stderr."""
    try:
        cli.main(args=argv, prog_name="pairwise-ws", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        _fail("aborted", 1)
    except click.UsageError as exc:
        _fail(f"{exc.format_message()} (see --help)", exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except USER_ERRORS as exc:
        _fail(str(exc), 1)
    except sqlite3.Error as exc:
        _fail(f"database error: {exc}", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"pairwise-ws: error: {message}", err=True)
    sys.exit(code)
