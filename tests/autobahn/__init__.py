"""RFC 6455 conformance: the Autobahn testsuite's fuzzingclient against an echo endpoint.

`echo_server` is the endpoint (test code, not the product): the daemon's own
handshake functions and `live.connection.Connection`, echoing each message
back. `soak/autobahn.py` installs the testsuite (Python 2.7) and runs it.
"""
