"""The Redis contract's structural half (probes.endpoint): probes.resp is the only client.

No module imports a Redis client library, and only probes/transport.py (resp's way of
opening a connection) builds a TLS context or wraps a socket in TLS, so an Endpoint's TLS
settings cannot be read two ways again (the redis-py paths ignored ``tls.server_name``).
The behavioural half, the same cases against every path, is
tests/integration/test_redis_contract.py."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "sentinel_vip"
CLIENT = SRC / "probes" / "transport.py"  # how probes/resp.py opens its connections
CLIENT_LIBRARIES = {"redis", "valkey", "fakeredis", "aioredis", "hiredis"}
TLS_CALLS = {"wrap_socket", "create_default_context", "SSLContext", "wrap_bio"}


def modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_no_module_imports_a_redis_client_library():
    found = []
    for path, tree in modules():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in CLIENT_LIBRARIES]
    assert found == []


def test_only_resps_transport_does_tls():
    found = []
    for path, tree in modules():
        for node in ast.walk(tree):
            name = getattr(node, "attr", None) or getattr(node, "id", None)
            if name in TLS_CALLS and path != CLIENT:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert found == []
    assert "wrap_socket" in CLIENT.read_text() and "server_hostname" in CLIENT.read_text()
