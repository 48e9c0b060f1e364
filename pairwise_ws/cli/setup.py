"""The setup commands: projects, features, attendees, sessions."""

from __future__ import annotations

import click

from pairwise_ws.app import links, operations
from pairwise_ws.cli.group import App, cli, emit, json_option, pass_app
from pairwise_ws.wire import converter

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
    with operations.opened(app.config) as store:
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
    with operations.opened(app.config) as store:
        projects = operations.projects(store)
    emit(
        as_json,
        {"projects": [{"id": p.id, "name": p.name} for p in projects]},
        "\n".join(f"{p.id}\t{p.name}" for p in projects) or "No projects yet.",
    )


@project.command("token")
@click.argument("project_id", type=click.IntRange(min=1))
@click.option(
    "--projector",
    is_flag=True,
    help="Issue the read-only projector token instead (it replaces the previous one).",
)
@json_option
@pass_app
def project_token(app: App, project_id: int, projector: bool, as_json: bool) -> None:
    """Issue a new facilitator token; the old one stops working (its pages are closed)."""
    if projector:
        with operations.opened(app.config) as store:
            token = operations.rotate_projector_token(store, project_id)
        emit(
            as_json,
            {"id": project_id, "projector_token": token},
            f"Projector token for project {project_id} (read-only): {token}",
        )
        return
    with operations.opened(app.config) as store:
        token = operations.rotate_facilitator_token(store, project_id)
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
    with operations.opened(app.config) as store:
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
    with operations.opened(app.config) as store:
        features = operations.features(store, project_id)
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
@click.option("--observer", is_flag=True, help="Watches the session; never votes.")
@json_option
@pass_app
def attendee_add(app: App, project_id: int, name: str, observer: bool, as_json: bool) -> None:
    """Add an attendee (or an observer); prints the link that joins them (shown only once)."""
    with operations.opened(app.config) as store:
        added, token = operations.add_attendee(store, project_id, name, observer=observer)
    url = links.join_url(app.config, added.project_id, added.id, token)
    emit(
        as_json,
        {
            "id": added.id,
            "project_id": added.project_id,
            "name": added.name,
            "role": added.role,
            "token": token,
            "join_url": url,
        },
        f"Added {'observer' if added.observer else 'attendee'} {added.id} to project "
        f"{added.project_id}: {added.name}\n"
        f"Token:    {token}\nJoin URL: {url}",
    )


@attendee.command("list")
@click.argument("project_id", type=click.IntRange(min=1))
@json_option
@pass_app
def attendee_list(app: App, project_id: int, as_json: bool) -> None:
    """List a project's attendees."""
    with operations.opened(app.config) as store:
        attendees = operations.attendees(store, project_id)
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
    with operations.opened(app.config) as store:
        found, token = operations.rotate_attendee_token(store, attendee_id)
    url = links.join_url(app.config, found.project_id, found.id, token)
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


@attendee.command("remove")
@click.argument("attendee_id", type=click.IntRange(min=1))
@json_option
@pass_app
def attendee_remove(app: App, attendee_id: int, as_json: bool) -> None:
    """Remove an attendee: their link stops working, they no longer count; votes stay."""
    with operations.opened(app.config) as store:
        removed = operations.remove_attendee(store, attendee_id)
    emit(
        as_json,
        {"id": removed.id, "removed": True},
        f"Removed {removed.name} (attendee {removed.id}) from project {removed.project_id}; "
        "their votes stay in the history and the results.",
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
    "--schedule",
    type=click.Choice(["all", "adaptive"]),
    default="all",
    show_default=True,
    help="Ask every pair, or only the pairs the order still needs (adaptive).",
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
    schedule: str,
    self_registration: bool,
    as_json: bool,
) -> None:
    """Start a session: every pair of the project's features, or (adaptive) those it needs."""
    with operations.opened(app.config) as store:
        created, comparisons = operations.create_session(
            store,
            project_id,
            criterion=criterion,
            rule=rule,
            threshold=threshold,
            min_votes=min_votes,
            quorum=quorum,
            self_registration=self_registration,
            schedule=schedule,
        )
        titles = {f.id: f.title for f in operations.features(store, project_id)}
    join_url = links.registration_url(app.config, created)
    payload = {
        "id": created.id,
        "project_id": created.project_id,
        "status": created.status.value,
        "schedule": created.schedule.value,
        "join_url": join_url,
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
        f"quorum {quorum}, at least {min_votes} votes): {len(comparisons)} comparisons",
        f"Join link (self-registration): {join_url}" if join_url else "Self-registration is off.",
    ]
    if schedule == "adaptive":
        lines.append(
            "Adaptive schedule: the group is asked only the pairs the order still needs "
            f"(at most {operations.adaptive_bound(len(titles))} of {len(comparisons)}); "
            "the rest are settled by transitivity."
        )
    else:
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
    with operations.opened(app.config) as store:
        closed = operations.close_session(store, session_id)
    emit(
        as_json,
        {"id": closed.id, "status": closed.status.value},
        f"Session {closed.id} is {closed.status}.",
    )


@session.command("registration")
@click.argument("session_id", type=click.IntRange(min=1))
@click.argument("state", type=click.Choice(operations.REGISTRATION_STATES))
@json_option
@pass_app
def session_registration(app: App, session_id: int, state: str, as_json: bool) -> None:
    """Open (on) or close (off) the session's join page, or rotate its code.

    rotate: a new join link; the old one stops working (who registered stays).
    """
    with operations.opened(app.config) as store:
        changed = operations.set_self_registration(store, session_id, state)
    url = links.registration_url(app.config, changed)
    opened = "on" if changed.self_registration else "off"
    emit(
        as_json,
        {"id": changed.id, "self_registration": changed.self_registration, "join_url": url},
        f"Self-registration for session {changed.id} is {opened}" + (f": {url}" if url else "."),
    )


@session.command("list")
@click.argument("project_id", type=click.IntRange(min=1))
@json_option
@pass_app
def session_list(app: App, project_id: int, as_json: bool) -> None:
    """List a project's sessions."""
    with operations.opened(app.config) as store:
        sessions = operations.sessions(store, project_id)
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
