"""Redis and Sentinel over TLS with certificates made by the test; every verification
failure fails closed with a clear reason: exit TLS for the local Redis, NO_MAJORITY with
"tls" in the reason for Sentinels."""

from __future__ import annotations

import os
import secrets
import shutil

import pytest
from harden import assert_clean_failure

from sentinel_vip.errors import ExitCode
from sentinel_vip.probes.endpoint import TLSSettings
from support import certs as certs_factory
from support.config import node_table, tls_table, write_config
from support.servers import ServerProc, free_ports, run_pyz, wait_for

NAME = certs_factory.SERVER_NAME


@pytest.fixture(scope="module")
def tls_node():
    if not certs_factory.available():
        pytest.skip("openssl CLI not installed")
    import tempfile

    root = tempfile.mkdtemp(prefix="svip-tls-")
    os.chmod(root, 0o755)
    # The server certificate names redis.test only, not 127.0.0.1: every client must check
    # it against server_name (tests/integration/test_redis_contract.py, on every path).
    made = certs_factory.issue(os.path.join(root, "certs"))
    ca, server, server_key = made.ca, made.server, made.server_key
    client, client_key = made.client, made.client_key
    password = "tls-admin-" + secrets.token_hex(6)
    files = [f"tls-cert-file {server}", f"tls-key-file {server_key}", f"tls-ca-cert-file {ca}",
             "tls-auth-clients optional", f'requirepass "{password}"']  # fmt: skip
    admin_tls = TLSSettings(True, ca, client, client_key, NAME, True)
    redis_port, sentinel_port = free_ports(2)
    redis = ServerProc(os.path.join(root, "redis"), files, port=0, tls_port=redis_port,
                       admin_password=password, admin_tls=admin_tls)  # fmt: skip
    sentinel = ServerProc(
        os.path.join(root, "sentinel"),
        [*files, "tls-replication yes",
         f"sentinel monitor mymaster 127.0.0.1 {redis_port} 1",
         f'sentinel auth-pass mymaster "{password}"'],
        sentinel=True, port=0, tls_port=sentinel_port, admin_password=password,
        admin_tls=admin_tls,
    )  # fmt: skip
    redis.start()
    sentinel.start()
    node = {
        "root": root, "ca": ca, "other_ca": made.other_ca, "client": client,
        "client_key": client_key, "expired": made.expired, "expired_key": made.expired_key,
        "server": server, "server_key": server_key, "redis": redis, "sentinel": sentinel,
        "password": password,
    }  # fmt: skip
    try:
        yield node
    finally:
        sentinel.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


def config(node, redis_tls=None, sentinel_tls=None) -> str:
    d = node["root"]
    table = node_table(d, node["redis"].tls_port, [f"127.0.0.1:{node['sentinel'].tls_port}"])
    table["redis"]["password"] = node["password"]
    table["sentinel"]["password"] = node["password"]
    table["redis"]["tls"] = redis_tls or tls_table(node["ca"], server_name=NAME)
    table["sentinel"]["tls"] = sentinel_tls or tls_table(node["ca"], server_name=NAME)
    table["check"]["deadline"] = 2
    return write_config(os.path.join(d, "c.toml"), table)


def test_check_passes_over_tls(runnable_pyz, tls_node):
    run = run_pyz(runnable_pyz, config(tls_node), "check")
    assert run.returncode == ExitCode.OK, run


def test_check_passes_with_a_client_certificate(runnable_pyz, tls_node):
    mutual = tls_table(tls_node["ca"], tls_node["client"], tls_node["client_key"], NAME)
    run = run_pyz(runnable_pyz, config(tls_node, mutual, mutual), "check")
    assert run.returncode == ExitCode.OK, run


@pytest.mark.parametrize(
    "case, redis_tls, phrase",
    [
        ("wrong CA", {"ca": "other_ca", "server_name": NAME}, "certificate verif"),
        ("wrong hostname", {"ca": "ca", "server_name": "other.test"}, "Hostname mismatch"),
        ("missing CA file", {"ca": "/nonexistent/ca.crt", "server_name": NAME}, "TLS files"),
    ],
)
def test_local_redis_verification_failures_are_tls(runnable_pyz, tls_node, case, redis_tls,
                                                   phrase):  # fmt: skip
    ca = tls_node.get(redis_tls["ca"], redis_tls["ca"])
    run = run_pyz(
        runnable_pyz,
        config(tls_node, tls_table(ca, server_name=redis_tls["server_name"])),
        "check",
    )
    assert_clean_failure(run, ExitCode.TLS)
    assert phrase in run.stdout, run


def test_sentinel_verification_failure_is_no_majority_saying_tls(runnable_pyz, tls_node):
    bad = tls_table(tls_node["other_ca"], server_name=NAME)
    run = run_pyz(runnable_pyz, config(tls_node, sentinel_tls=bad), "check")
    assert_clean_failure(run, ExitCode.NO_MAJORITY)
    assert "tls=1" in run.stdout, run


def test_plain_text_client_against_tls_port_fails_closed(runnable_pyz, tls_node):
    d = tls_node["root"]
    table = node_table(
        d, tls_node["redis"].tls_port, [f"127.0.0.1:{tls_node['sentinel'].tls_port}"]
    )
    table["redis"]["password"] = tls_node["password"]
    run = run_pyz(runnable_pyz, write_config(os.path.join(d, "plain.toml"), table), "check")
    assert_clean_failure(run, ExitCode.REDIS_UNREACHABLE)


def test_client_certificate_required_but_not_given(runnable_pyz, tls_node):
    redis = tls_node["redis"]
    redis.call("CONFIG", "SET", "tls-auth-clients", "yes")
    try:
        run = run_pyz(runnable_pyz, config(tls_node), "check")
        assert_clean_failure(run)
        assert run.returncode in (ExitCode.TLS, ExitCode.REDIS_UNREACHABLE), run
        assert "TLS" in run.stdout or "tls" in run.stdout, run
    finally:
        redis.call("CONFIG", "SET", "tls-auth-clients", "optional")


def test_expired_server_certificate(runnable_pyz, tls_node):
    redis = tls_node["redis"]
    verified = redis.admin_tls
    # The fixture's own connection must get through to put the good certificate back.
    redis.admin_tls = TLSSettings(True, "", tls_node["client"], tls_node["client_key"], "", False)
    redis.call("CONFIG", "SET", "tls-cert-file", tls_node["expired"],
               "tls-key-file", tls_node["expired_key"])  # fmt: skip
    try:
        run = run_pyz(runnable_pyz, config(tls_node), "check")
        assert_clean_failure(run, ExitCode.TLS)
        assert "expired" in run.stdout, run
    finally:
        redis.call("CONFIG", "SET", "tls-cert-file", tls_node["server"],
                   "tls-key-file", tls_node["server_key"])  # fmt: skip
        redis.admin_tls = verified
        wait_for(lambda: redis.call("PING") == "PONG", 5, "redis back on its good cert")
