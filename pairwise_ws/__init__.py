"""pairwise-ws: a Trio WebSocket daemon for live pairwise-comparison workshops.

Embed it in any trio program::

    async with trio.open_nursery() as nursery:
        server = await nursery.start(pairwise_ws.serve, pairwise_ws.Config())
        print(server.port)
        ...
        await server.aclose()

The daemon's modules (trio, the server) load on first use of `serve` or
`Server`, so the command line's setup commands start without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pairwise_ws.config import Config, ConfigError
from pairwise_ws.storage.errors import StorageError

if TYPE_CHECKING:
    from pairwise_ws.net.server import Server, serve

__all__ = ["Config", "ConfigError", "Server", "StorageError", "__version__", "serve"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("Server", "serve"):
        from pairwise_ws.net import server  # noqa: PLC0415  (loaded on first use)

        return getattr(server, name)
    raise AttributeError(f"module 'pairwise_ws' has no attribute {name!r}")
