"""The network edge: the one port, HTTP, the WebSocket upgrade, routes, address limits.

`server` accepts TCP, answers plain HTTP (`http`, `routes`) and hands each
upgraded WebSocket to `pairwise_ws.live`.
"""
