"""The entry point: run the command, and end any mistake with one line on stderr."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from pairwise_ws.app import operations

# The commands register themselves on the group when imported.
from pairwise_ws.cli import results, serving, setup  # noqa: F401
from pairwise_ws.cli.group import cli


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
    except operations.USER_ERRORS as exc:
        _fail(str(exc), 1)
    except operations.DatabaseError as exc:
        _fail(f"database error: {exc}", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"pairwise-ws: error: {message}", err=True)
    sys.exit(code)
