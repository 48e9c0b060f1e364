"""The command line: parse, call `operations`, print. No logic of its own.

Every setup command takes --json and then prints exactly one JSON object.
Mistakes (unknown project, empty name, bad config) end with one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from pairwise_ws.cli.group import cli
from pairwise_ws.cli.main import main

__all__ = ["cli", "main"]
