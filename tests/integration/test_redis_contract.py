"""One Redis contract: the same Endpoint means the same thing on every path that talks to a
Redis or a Sentinel (probes.endpoint).

Each case (password, wrong password, ACL user, NOPERM, TLS whose certificate names only
``redis.test`` while ``host`` is 127.0.0.1, wrong server name, wrong CA, client certificate
given / required but missing, a server that accepts and never answers, in plain TCP and TLS)
runs against every path: the check's probe, notify's and the watcher's demotion, the
watcher's fence and pub/sub, status, doctor, and the Sentinel queries of check, notify,
status and doctor. Real redis-server / redis-sentinel with certificates made here
(support.certs). The same verdict is expected everywhere: it succeeds on every path, or
fails on every path with the same kind (auth, tls, unreachable) within its deadline.

On the redis-py code (before one client served every path), the TLS server_name cases
failed for notify/watch's demotion, status and doctor ("IP address mismatch") while the
check passed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from types import SimpleNamespace

import pytest

from sentinel_vip.admin.doctor import parse_report
from sentinel_vip.deadline import Deadline
from sentinel_vip.errors import ExitCode
from sentinel_vip.probes.endpoint import Endpoint, TLSSettings
from support import certs as certs_factory
from support.config import node_table, tls_table, write_config
from support.resp_server import FakeServer, silent
from support.servers import ServerProc, free_ports, run_pyz, wait_for

NAME = certs_factory.SERVER_NAME
MASTER = "mymaster"
BUDGET = 1.5  # seconds each path gets; a hung server must not hold it much longer
SLACK = 1.0
# The documented minimal ACLs (docs/security.md), plus what status and doctor read.
REDIS_ACL = (
    "+ping +role +info +config|get +multi +exec +replicaof +config|rewrite +config|set"
    " +client|kill +client|unpause"
)
SENTINEL_ACL = (
    "+ping +sentinel|myid +sentinel|get-master-addr-by-name +sentinel|master"
    " +sentinel|replicas +subscribe &*"
)


def acl_user(name: str, password: str, commands: str) -> str:
    return f"user {name} on >{password} resetchannels resetkeys -@all {commands}"


@pytest.fixture(scope="module")
def node():
    """A Redis D (plain and TLS ports, ACL users) that nothing monitors (demotions land
    there), Dm (TLS, client certificate required); a master M with a replica, monitored by
    Sentinel S (plain and TLS ports, ACL users) and Sm (TLS, client certificate required);
    and a fake server that accepts and never answers (plain and TLS)."""
    if not (shutil.which("redis-server") and shutil.which("redis-sentinel")):
        pytest.skip("redis-server / redis-sentinel not installed")
    if not certs_factory.available():
        pytest.skip("openssl CLI not installed")
    root = tempfile.mkdtemp(prefix="svip-contract-")
    made = certs_factory.issue(os.path.join(root, "certs"), expired=False)
    admin = "admin-" + secrets.token_hex(6)
    user_pw = "svip-" + secrets.token_hex(6)
    admin_tls = TLSSettings(True, made.ca, made.client, made.client_key, NAME, True)

    def tls_lines(required: bool) -> list:
        return [f"tls-cert-file {made.server}", f"tls-key-file {made.server_key}",
                f"tls-ca-cert-file {made.ca}",
                f"tls-auth-clients {'yes' if required else 'optional'}"]  # fmt: skip

    def users(commands: str) -> list:
        return [f'requirepass "{admin}"', acl_user("svip", user_pw, commands),
                acl_user("limited", user_pw, "+ping")]  # fmt: skip

    servers = []

    def start(name: str, lines: list, tls_required=None, plain=True, sentinel=False):
        tls_port = free_ports(1)[0] if tls_required is not None else None
        server = ServerProc(
            os.path.join(root, name),
            [*(tls_lines(tls_required) if tls_port else []), *lines],
            sentinel=sentinel, port=None if plain else 0, tls_port=tls_port,
            admin_password=admin, admin_tls=admin_tls,
        )  # fmt: skip
        servers.append(server)
        return server.start()

    hung = FakeServer(silent)
    hung_tls = FakeServer(silent)  # a TLS client waits for a handshake that never comes
    try:
        d = start("d", users(REDIS_ACL), tls_required=False)
        dm = start("dm", users(REDIS_ACL), tls_required=True, plain=False)
        m = start("m", [f'requirepass "{admin}"', f'masterauth "{admin}"'])
        start("mr", [f'requirepass "{admin}"', f'masterauth "{admin}"',
                     f"replicaof 127.0.0.1 {m.port}"])  # fmt: skip
        monitor = [f"sentinel monitor {MASTER} 127.0.0.1 {m.port} 1",
                   f'sentinel auth-pass {MASTER} "{admin}"']  # fmt: skip
        s = start("s", [*users(SENTINEL_ACL), *monitor], tls_required=False, sentinel=True)
        sm = start("sm", [*users(SENTINEL_ACL), *monitor], tls_required=True, plain=False,
                   sentinel=True)  # fmt: skip
        for sentinel in (s, sm):
            wait_for(lambda sentinel=sentinel: sentinel.call("SENTINEL", "REPLICAS", MASTER),
                     30, "the Sentinel to know M's replica")  # fmt: skip
        yield SimpleNamespace(root=root, certs=made, admin=admin, user_pw=user_pw, d=d,
                              dm=dm, m=m, s=s, sm=sm, hung=hung, hung_tls=hung_tls)  # fmt: skip
    finally:
        hung.stop()
        hung_tls.stop()
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def tls(node, ca="ca", server_name=NAME, client=False) -> TLSSettings:
    made = node.certs
    cert, key = (made.client, made.client_key) if client else ("", "")
    return TLSSettings(True, getattr(made, ca), cert, key, server_name, True)


# case -> (endpoint for a Redis server, expected: "ok" or the failure kinds accepted).
# ``which`` is "redis" or "sentinel": D/Dm or S/Sm.
def endpoint(node, which: str, case: str) -> Endpoint:
    plain, mutual = (node.d, node.dm) if which == "redis" else (node.s, node.sm)
    pw, admin = node.user_pw, node.admin
    return {
        "password": Endpoint("127.0.0.1", plain.port, password=admin),
        "wrong password": Endpoint("127.0.0.1", plain.port, password="not-" + admin),
        "ACL user": Endpoint("127.0.0.1", plain.port, username="svip", password=pw),
        "NOPERM": Endpoint("127.0.0.1", plain.port, username="limited", password=pw),
        "TLS server_name is not host": Endpoint(
            "127.0.0.1", plain.tls_port, password=admin, tls=tls(node)
        ),
        "TLS ACL user": Endpoint(
            "127.0.0.1", plain.tls_port, username="svip", password=pw, tls=tls(node)
        ),
        "TLS wrong server_name": Endpoint(
            "127.0.0.1", plain.tls_port, password=admin, tls=tls(node, server_name="other.test")
        ),
        "TLS wrong CA": Endpoint(
            "127.0.0.1", plain.tls_port, password=admin, tls=tls(node, ca="other_ca")
        ),
        "TLS client certificate": Endpoint(
            "127.0.0.1", mutual.tls_port, password=admin, tls=tls(node, client=True)
        ),
        "TLS client certificate missing": Endpoint(
            "127.0.0.1", mutual.tls_port, password=admin, tls=tls(node)
        ),
        "timeout": Endpoint("127.0.0.1", node.hung.port, password=admin),
        "TLS timeout": Endpoint("127.0.0.1", node.hung_tls.port, password=admin, tls=tls(node)),
    }[case]


EXPECTED = {
    "password": "ok",
    "wrong password": {"auth"},
    "ACL user": "ok",
    "NOPERM": {"auth"},
    "TLS server_name is not host": "ok",
    "TLS ACL user": "ok",
    "TLS wrong server_name": {"tls"},
    "TLS wrong CA": {"tls"},
    "TLS client certificate": "ok",
    # TLS 1.3: the server refuses after the client's side of the handshake is done, so the
    # client learns it from an alert (tls) or a reset (unreachable) on its first read.
    "TLS client certificate missing": {"tls", "unreachable"},
    "timeout": {"unreachable"},
    "TLS timeout": {"unreachable", "tls"},
}
CASES = list(EXPECTED)


# -- the paths: each returns (ok, kind or None, text) ---------------------------------------


def check_probe(ep):
    from sentinel_vip.probes.local_redis import probe_redis

    facts = probe_redis(ep, Deadline(BUDGET))
    return facts.error_kind is None and facts.role == "master", facts.error_kind, facts.error


def demotion(ep):
    """notify's and the watcher's demotion (actions.demote.demote_to), undone at once."""
    from sentinel_vip.actions.demote import demote_to

    result = demote_to(ep, "127.0.0.1", 1, BUDGET)
    return result.ok, None, result.detail


def fence_server(ep):
    from sentinel_vip.actions import fence

    srv = fence.server(ep, Deadline(BUDGET))
    return not srv.error and srv.role == "master", None, srv.error


def status_redis(ep):
    from sentinel_vip.admin.status import redis_status

    out = redis_status(ep, BUDGET)
    return out["reachable"] and out.get("role") == "master", None, out["error"]


def doctor_redis(ep):
    from sentinel_vip.admin.doctor import redis_facts

    facts = redis_facts(ep, BUDGET)
    ok = facts["error_kind"] is None and (facts.get("info") or {}).get("role") == "master"
    return ok, facts["error_kind"], facts["error"]


def sentinel_query(ep):
    """check, notify, status and doctor: probes.sentinel.ask_sentinels."""
    from sentinel_vip.probes.sentinel import ask_sentinels

    (answer,) = ask_sentinels([ep], MASTER, Deadline(BUDGET))
    ok = answer.answered and answer.master is not None
    return ok, answer.error_kind, answer.error


def watch_subscription(ep):
    from sentinel_vip.actions.watch import CHANNELS
    from sentinel_vip.probes.pubsub import Subscription
    from sentinel_vip.probes.resp import ProbeError

    try:
        sub = Subscription.open(ep, CHANNELS, Deadline(BUDGET))
    except ProbeError as exc:
        return False, exc.kind, str(exc)
    sub.close()
    return sub.sentinel_id is not None, None, ""


def doctor_replicas(ep):
    from sentinel_vip.admin.doctor import sentinel_replicas

    found = sentinel_replicas(SimpleNamespace(sentinels=(ep,), master_name=MASTER), BUDGET)
    return len(found) == 1, None, repr(found)  # [] is its only way to say "no answer"


REDIS_PATHS = {
    "check": check_probe,
    "notify/watch demotion": demotion,
    "watch fence": fence_server,
    "status": status_redis,
    "doctor": doctor_redis,
}
SENTINEL_PATHS = {
    "check/notify/status/doctor sentinels": sentinel_query,
    "watch pub/sub": watch_subscription,
    "doctor replicas": doctor_replicas,
}


def judge(node, which: str, path, case: str) -> None:
    ep = endpoint(node, which, case)
    start = time.monotonic()
    ok, kind, text = path(ep)
    elapsed = time.monotonic() - start
    expected = EXPECTED[case]
    assert elapsed < BUDGET + SLACK, f"took {elapsed:.2f}s: {text}"
    if expected == "ok":
        assert ok, f"{case}: failed: {kind} {text}"
        return
    assert not ok, f"{case}: succeeded"
    if kind is not None:
        assert kind in expected, f"{case}: kind {kind}: {text}"
    assert text and node.admin not in text and node.user_pw not in text, text


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", list(REDIS_PATHS))
def test_redis_paths_agree(node, path, case):
    try:
        judge(node, "redis", REDIS_PATHS[path], case)
    finally:
        if path == "notify/watch demotion":  # put D and Dm back to masters
            for server in (node.d, node.dm):
                wait_for(lambda s=server: s.call("REPLICAOF", "NO", "ONE") == "OK", 10, "D")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", list(SENTINEL_PATHS))
def test_sentinel_paths_agree(node, path, case):
    judge(node, "sentinel", SENTINEL_PATHS[path], case)


def test_demotion_really_demotes_over_tls_with_a_server_name(node):
    """Not only a success reported: D is a replica of the target afterwards, its
    CONFIG REWRITE done and its clients dropped, in one transaction."""
    from sentinel_vip.actions.demote import demote_to

    ep = endpoint(node, "redis", "TLS server_name is not host")
    try:
        result = demote_to(ep, "127.0.0.1", 1, BUDGET)
        assert result.ok and "config_rewrite=ok" in result.detail, result
        role = node.d.call("ROLE")
        assert role[0] == "slave" and role[1:3] == ["127.0.0.1", 1], role
        with open(node.d.conf) as fh:
            assert "replicaof 127.0.0.1 1" in fh.read()
    finally:
        node.d.call("REPLICAOF", "NO", "ONE")


# -- the commands as keepalived and an admin run them --------------------------------------


@pytest.fixture(scope="module")
def tls_set(node):
    """TLS only, certificates naming redis.test only: master A, B (this node's Redis, to be
    demoted) and Sentinel S, which reaches A and B over TLS (tls-replication)."""
    made, admin = node.certs, node.admin
    admin_tls = TLSSettings(True, made.ca, made.client, made.client_key, NAME, True)
    files = [f"tls-cert-file {made.server}", f"tls-key-file {made.server_key}",
             f"tls-ca-cert-file {made.ca}", "tls-auth-clients optional", "tls-replication yes",
             f'requirepass "{admin}"']  # fmt: skip
    a_port, b_port, s_port = free_ports(3)
    servers = [
        ServerProc(os.path.join(node.root, "tls-a"), [*files, f'masterauth "{admin}"'],
                   port=0, tls_port=a_port, admin_password=admin, admin_tls=admin_tls),
        ServerProc(os.path.join(node.root, "tls-b"), [*files, f'masterauth "{admin}"'],
                   port=0, tls_port=b_port, admin_password=admin, admin_tls=admin_tls),
        ServerProc(os.path.join(node.root, "tls-s"),
                   [*files, f"sentinel monitor {MASTER} 127.0.0.1 {a_port} 1",
                    f'sentinel auth-pass {MASTER} "{admin}"'],
                   sentinel=True, port=0, tls_port=s_port, admin_password=admin,
                   admin_tls=admin_tls),
    ]  # fmt: skip
    try:
        for server in servers:
            server.start()
        yield SimpleNamespace(a=servers[0], b=servers[1], s=servers[2])
    finally:
        for server in reversed(servers):
            server.stop()


def tls_config(node, tls_set, server, name: str) -> str:
    """This node's config for ``server`` (A or B), everything over TLS with server_name."""
    workdir = os.path.join(node.root, name)
    table = node_table(workdir, server.tls_port, [f"127.0.0.1:{tls_set.s.tls_port}"])
    for section in ("redis", "sentinel"):
        table[section].update(password=node.admin, tls=tls_table(node.certs.ca, server_name=NAME))
    table["check"]["deadline"] = 2
    table["notify"]["deadline"] = 5
    return write_config(os.path.join(workdir, "c.toml"), table)


def test_the_program_over_tls_with_a_server_name(runnable_pyz, node, tls_set):
    """check, status and doctor on A, notify's demotion of B: every command reaches its
    servers with the certificate checked against server_name, not against 127.0.0.1."""
    a_config = tls_config(node, tls_set, tls_set.a, "pyz-a")
    check = run_pyz(runnable_pyz, a_config, "check")
    assert check.returncode == ExitCode.OK, check
    status = run_pyz(runnable_pyz, a_config, "status", "--json")
    assert status.returncode == 0, status
    doc = json.loads(status.stdout)
    assert doc["redis"]["reachable"] and doc["redis"]["role"] == "master", doc["redis"]
    assert doc["sentinels"]["master_is_this_node"], doc["sentinels"]
    doctor = run_pyz(runnable_pyz, a_config, "doctor")
    assert parse_report(doctor.stdout).get("redis") == ["ok"], doctor.stdout

    # B replicates A until Sentinel knows it as A's replica, then is promoted by hand:
    # notify on B (keepalived says BACKUP) must demote it back, over TLS.
    b = tls_set.b
    b.call("REPLICAOF", "127.0.0.1", str(tls_set.a.tls_port))
    wait_for(
        lambda: any(str(b.tls_port) in e for e in tls_set.s.call("SENTINEL", "REPLICAS", MASTER)),
        30, "Sentinel to list B as A's replica",
    )  # fmt: skip
    b.call("REPLICAOF", "NO", "ONE")
    b_config = tls_config(node, tls_set, b, "pyz-b")
    notify = run_pyz(runnable_pyz, b_config, "notify", "INSTANCE", "VI_1", "BACKUP", "100")
    assert notify.returncode == ExitCode.OK, notify
    with open(os.path.join(node.root, "pyz-b", "state", "history.jsonl")) as fh:
        record = json.loads(fh.read().splitlines()[-1])
    assert record["action"] == "demoted", record
    role = b.call("ROLE")
    assert role[0] == "slave" and role[2] == tls_set.a.tls_port, role
