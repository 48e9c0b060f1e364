"""`serve` and `demo`: run the daemon in the foreground, and say where to find it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pairwise_ws.app import demo as demo_workshop
from pairwise_ws.app import links, operations, qr
from pairwise_ws.cli.group import App, cli, pass_app
from pairwise_ws.config import Config
from pairwise_ws.domain.models import Session

if TYPE_CHECKING:
    from pairwise_ws.net.server import Server


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
        with operations.opened(live) as store:
            sessions = operations.open_sessions(store)
        click.echo(_serve_text(live, sessions, show_qr=qr_codes))

    from pairwise_ws.cli.daemon import run_daemon  # noqa: PLC0415  (trio and the server: only here)

    run_daemon(config, on_ready=announce)


def _serve_text(config: Config, sessions: list[Session], *, show_qr: bool) -> str:
    lines = [f"pairwise-ws is serving {config.base_url}"]
    for session in sessions:
        url = links.registration_url(config, session)
        dashboard = links.session_page_url(config, session.project_id, session.id, "facilitator")
        lines += [
            "",
            f"Session {session.id} ({session.criterion}) of project {session.project_id}:",
            f"  dashboard (asks for the facilitator token): {dashboard}",
        ]
        if url is not None:
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
        with operations.opened(live) as store:
            prepared = demo_workshop.prepare_demo(store, live)
        click.echo(_demo_text(prepared, live.database.path, show_qr=qr_codes))

    from pairwise_ws.cli.daemon import run_daemon  # noqa: PLC0415  (trio and the server: only here)

    run_daemon(config, on_ready=announce)


def _demo_text(demos: demo_workshop.Demos, db: str, *, show_qr: bool) -> str:
    prepared = demos.main
    lines = [
        f'Demo workshop "{prepared.project.name}" (project {prepared.project.id}, '
        f"session {prepared.session.id}) in {db}",
        "",
        "Facilitator dashboard (keep this link to yourself):",
        f"  {prepared.facilitator_url}",
        "Projector view, for the big screen (read-only):",
        f"  {prepared.projector_url}",
        f"Facilitator token: {prepared.facilitator_token}",
        "",
        "Attendee pages, one per person (open on a phone or laptop):",
        *_attendee_lines(prepared),
    ]
    if prepared.registration_url is not None:
        lines += ["", f"Anyone else joins here, or by scanning: {prepared.registration_url}"]
        if show_qr:
            lines.append(qr.terminal(prepared.registration_url))
    second = demos.adaptive
    pairs = len(demo_workshop.ADAPTIVE_FEATURES) * (len(demo_workshop.ADAPTIVE_FEATURES) - 1) // 2
    lines += [
        "",
        f'Second demo, "{second.project.name}" (project {second.project.id}, '
        f"session {second.session.id}):",
        f"  the group is asked only the pairs the order needs (at most "
        f"{operations.adaptive_bound(len(demo_workshop.ADAPTIVE_FEATURES))} of {pairs}).",
        f"  dashboard: {second.facilitator_url}",
        f"  projector: {second.projector_url}",
        *_attendee_lines(second),
    ]
    if second.registration_url is not None:
        lines.append(f"  join: {second.registration_url}")
    lines += [
        "",
        "Scripts can use the WebSocket directly (docs/protocol.md), for example:",
        f"  {prepared.links[0].attendee.name}: {prepared.links[0].websocket_url}",
        "",
        "Stop with Ctrl-C. The links stay the same when you start the demo again"
        + (f" (their tokens are kept in {demos.links_file})." if demos.links_file else "."),
    ]
    return "\n".join(lines)


def _attendee_lines(prepared: demo_workshop.Demo) -> list[str]:
    width = max(len(link.attendee.name) for link in prepared.links) + 1
    return [f"  {link.attendee.name + ':':<{width}} {link.join_url}" for link in prepared.links]
