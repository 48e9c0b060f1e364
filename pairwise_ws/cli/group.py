"""What every command shares: the group, its options, the configuration, output."""

from __future__ import annotations

import json
import os
from typing import Any

import attrs
import click

from pairwise_ws.config import Config

DEFAULT_DB = "pairwise.db"


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
