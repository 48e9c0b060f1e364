"""The application layer: what the command line and the pages do.

Setup, registration and results (`operations`), the demo workshop (`demo`),
links (`links`), who may connect (`auth`), result reports (`reports`) and QR
codes (`qr`). It calls the domain for rules and the storage for persistence;
it imports no trio.
"""
