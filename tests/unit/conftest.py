"""``serve(*actions, tls_context=None)``: a support.resp_server ``FakeServer`` answering the
client's n-th chunk with ``actions[n]`` (``scripted``), stopped when the test ends."""

from __future__ import annotations

import pytest

from support.resp_server import FakeServer, scripted


@pytest.fixture
def serve():
    servers = []

    def start(*script, tls_context=None):
        server = FakeServer(scripted(*script), tls_context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
