"""The live layer: trio tasks that drive the pure domain for connected people.

`hub` owns the rooms, one `room` task per session applies events in order and
broadcasts, a `connection` is one WebSocket's task and bounded outbox, and one
`keepalive` task pings them all. These are thin drivers: the rules live in
`pairwise_ws.domain`, the bytes in `pairwise_ws.wire`, the SQL in
`pairwise_ws.storage`.
"""
