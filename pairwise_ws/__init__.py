"""pairwise-ws: a Trio WebSocket daemon for live pairwise-comparison workshops.

Embed it in any trio program::

    async with trio.open_nursery() as nursery:
        server = await nursery.start(pairwise_ws.serve, pairwise_ws.Config())
        print(server.port)
        ...
        await server.aclose()
"""

from pairwise_ws.config import Config, ConfigError
from pairwise_ws.net.server import Server, serve
from pairwise_ws.storage import StorageError

__all__ = ["Config", "ConfigError", "Server", "StorageError", "__version__", "serve"]
__version__ = "0.1.0"
