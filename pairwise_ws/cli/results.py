"""`results`: a session's ranking, cycles and votes, as a table, JSON or CSV."""

from __future__ import annotations

import json

import click

from pairwise_ws.app import operations, reports
from pairwise_ws.cli.group import App, cli, pass_app


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
    with operations.opened(app.config) as store:
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
