"""resp: the hot-path client against an in-process fake server that misbehaves on purpose."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from sentinel_vip.deadline import Deadline
from sentinel_vip.probes import resp
from sentinel_vip.probes.endpoint import Endpoint, TLSSettings
from sentinel_vip.probes.local_redis import probe_redis
from support import certs as certs_factory
from support.resp_server import FakeServer, array, bulk

SECRET = "s3cr3t-Pa55"
RUN_ID = "0123456789abcdef0123456789abcdef01234567"
SENTINEL_ID = "f" * 40


# probe_redis pipelines ROLE and INFO server: one reply for both, in one go.
INFO_SERVER = bulk(f"# Server\r\nredis_version:7.0.15\r\nrun_id:{RUN_ID}\r\ntcp_port:6379\r\n")
MASTER = b"*1\r\n$6\r\nmaster\r\n" + INFO_SERVER
PROBE = b"*1\r\n$4\r\nROLE\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"


def call(endpoint, *args, seconds=2.0):
    deadline = Deadline(seconds)
    with resp.connect(endpoint, deadline) as conn:
        return conn.call(*args)


def failure(endpoint, *args, seconds=1.0):
    """Run a call that must fail; return (error, elapsed)."""
    start = time.monotonic()
    with pytest.raises(resp.ProbeError) as info:
        call(endpoint, *args, seconds=seconds)
    return info.value, time.monotonic() - start


# -- correct replies ------------------------------------------------------------------------


def test_parses_every_resp2_type(serve):
    reply = b"*6\r\n+OK\r\n:42\r\n$5\r\nh\xc3\xa9l\xff\r\n$-1\r\n*-1\r\n*2\r\n$0\r\n\r\n:-1\r\n"
    server = serve(reply)
    assert call(server.endpoint(), "ANY") == ["OK", 42, "hél\ufffd", None, None, ["", -1]]


def test_sends_a_resp_array_of_bulk_strings(serve):
    server = serve(b"+OK\r\n")
    call(server.endpoint(), "SENTINEL", "get-master-addr-by-name", "mymaster", 7)
    assert server.received[0] == (
        b"*4\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$8\r\nmymaster\r\n$1\r\n7\r\n"
    )


def test_reply_split_across_many_segments(serve):
    def drip(conn, stop):
        for byte in b"$11\r\nhello world\r\n":
            conn.sendall(bytes([byte]))

    server = serve(drip)
    assert call(server.endpoint(), "GET", "x") == "hello world"


def test_auth_with_username_and_password(serve):
    server = serve(b"+OK\r\n", MASTER)
    facts = probe_redis(server.endpoint(username="probe", password=SECRET), Deadline(2))
    assert facts.role == "master" and facts.error_kind is None and facts.run_id == RUN_ID
    assert (
        server.received[0]
        == b"*3\r\n$4\r\nAUTH\r\n$5\r\nprobe\r\n$11\r\n" + SECRET.encode() + b"\r\n"
    )


def test_auth_with_password_only(serve):
    server = serve(b"+OK\r\n", MASTER)
    probe_redis(server.endpoint(password=SECRET), Deadline(2))
    assert server.received[0].startswith(b"*2\r\n$4\r\nAUTH\r\n")


def test_no_auth_without_password(serve):
    server = serve(MASTER)
    probe_redis(server.endpoint(username="probe"), Deadline(2))
    assert server.received[0] == PROBE


# -- error replies --------------------------------------------------------------------------


def test_error_reply_raises_reply_error(serve):
    server = serve(b"-ERR unknown command 'ROLE'\r\n")
    err, _ = failure(server.endpoint(), "ROLE")
    assert isinstance(err, resp.ReplyError)
    assert err.reply == "ERR unknown command 'ROLE'"
    assert err.kind == "protocol"
    assert str(err).startswith(f"127.0.0.1:{server.port}: ")


@pytest.mark.parametrize(
    "reply",
    [
        b"-NOAUTH Authentication required.\r\n",
        b"-NOPERM this user has no permissions to run the 'role' command\r\n",
        b"-ERR invalid password\r\n",
    ],
)
def test_acl_and_auth_errors_are_kind_auth(serve, reply):
    server = serve(reply)
    err, _ = failure(server.endpoint(), "ROLE")
    assert err.kind == "auth"


def test_refused_auth_is_kind_auth_and_hides_the_password(serve):
    server = serve(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
    err, _ = failure(server.endpoint(password=SECRET), "ROLE")
    assert isinstance(err, resp.AuthFailed) and err.kind == "auth"
    assert SECRET not in str(err) and "\n" not in str(err)
    assert f"127.0.0.1:{server.port}" in str(err)


def test_password_echoed_by_server_is_masked(serve):
    server = serve(b"-ERR bad value '" + SECRET.encode() + b"'\r\n")
    err, _ = failure(server.endpoint(password=SECRET), "ROLE")
    assert SECRET not in str(err)


# -- misbehaving servers: bounded in time and size ------------------------------------------


def test_server_that_never_answers_times_out_within_the_deadline(serve):
    server = serve(FakeServer.HOLD)
    err, elapsed = failure(server.endpoint(), "ROLE", seconds=0.3)
    assert isinstance(err, resp.Unreachable)
    assert "timed out" in str(err)
    assert elapsed < 0.3 + 0.5


def test_slow_drip_cannot_extend_the_deadline(serve):
    def drip_forever(conn, stop):
        conn.sendall(b"$100000\r\n")
        while not stop.wait(0.02):
            conn.sendall(b"x")

    server = serve(drip_forever)
    err, elapsed = failure(server.endpoint(), "GET", "x", seconds=0.3)
    assert err.kind == "unreachable"
    assert elapsed < 0.3 + 0.5


def test_close_before_reply_is_unreachable(serve):
    server = serve(FakeServer.CLOSE)
    err, _ = failure(server.endpoint(), "ROLE")
    assert err.kind == "unreachable" and "closed" in str(err)


@pytest.mark.parametrize("partial", [b"*2\r\n$6\r\nmaster\r\n", b"$10\r\nabc", b"+OK"])
def test_close_mid_reply_is_protocol_error(serve, partial):
    def send_then_close(conn, stop):
        conn.sendall(partial)
        conn.shutdown(socket.SHUT_RDWR)

    server = serve(send_then_close)
    err, _ = failure(server.endpoint(), "ROLE")
    assert isinstance(err, resp.ProtocolError)
    assert "mid-reply" in str(err)


@pytest.mark.parametrize(
    "garbage",
    [
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"\r\n",
        b":12x\r\n",
        b"$abc\r\n",
        b"$3\r\nabcXY",
        b"*-5\r\n",
        b"$-7\r\n",
        b"%2\r\n",
    ],
)
def test_garbage_is_protocol_error(serve, garbage):
    server = serve(garbage)
    err, _ = failure(server.endpoint(), "ROLE")
    assert err.kind == "protocol"


@pytest.mark.parametrize(
    "header",
    [
        b"$%d\r\n" % (resp.MAX_BULK + 1),
        b"*%d\r\n" % (resp.MAX_ARRAY + 1),
        b"*1\r\n" * (resp.MAX_DEPTH + 2),
    ],
)
def test_oversize_reply_is_refused_before_reading_it(serve, header):
    server = serve(header)  # the promised body never comes: refusing must not wait for it
    err, _ = failure(server.endpoint(), "ROLE", seconds=5)
    assert err.kind == "protocol"
    assert "timed out" not in str(err)


def test_overlong_line_is_refused(serve):
    server = serve(b"+" + b"a" * (resp.MAX_LINE + 10))
    err, _ = failure(server.endpoint(), "ROLE", seconds=5)
    assert err.kind == "protocol" and "line" in str(err)


def test_total_reply_size_is_bounded(serve):
    def many_bulks(conn, stop):
        chunk = b"$%d\r\n%s\r\n" % (resp.MAX_BULK, b"x" * resp.MAX_BULK)
        conn.sendall(b"*10\r\n")
        for _ in range(10):
            if stop.is_set():
                return
            conn.sendall(chunk)

    server = serve(many_bulks)
    err, _ = failure(server.endpoint(), "ROLE", seconds=5)
    assert err.kind == "protocol" and "larger" in str(err)


# -- connecting -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_is_unreachable():
    err, _ = failure(Endpoint("127.0.0.1", _free_port()), "ROLE")
    assert err.kind == "unreachable" and "refused" in str(err)


def test_missing_unix_socket_is_unreachable(tmp_path):
    err, _ = failure(Endpoint("", 0, unix_socket=str(tmp_path / "none.sock")), "ROLE")
    assert err.kind == "unreachable"
    assert str(err).startswith(f"unix:{tmp_path / 'none.sock'}: ")


def test_unix_socket(tmp_path):
    path = str(tmp_path / "r.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def answer():
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"+PONG\r\n")
        conn.close()

    worker = threading.Thread(target=answer, daemon=True)
    worker.start()
    try:
        assert call(Endpoint("", 0, unix_socket=path), "PING") == "PONG"
    finally:
        listener.close()


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no ::1 on this host")
    port = listener.getsockname()[1]

    def answer():
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b":1\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        assert call(Endpoint("::1", port), "PING") == 1
    finally:
        listener.close()


def test_expired_deadline_fails_without_connecting(serve):
    server = serve(b"+OK\r\n")
    deadline = Deadline(0)
    with pytest.raises(resp.Unreachable):
        resp.connect(server.endpoint(), deadline)
    assert server.received == []


def test_hot_path_does_not_import_ssl_or_redis(serve):
    server = serve(MASTER)
    code = (
        "import sys\n"
        "from sentinel_vip.probes.endpoint import Endpoint\n"
        "from sentinel_vip.deadline import Deadline\n"
        "from sentinel_vip.probes.local_redis import probe_redis\n"
        f"print(probe_redis(Endpoint('127.0.0.1', {server.port}), Deadline(2)).role)\n"
        "print('ssl' in sys.modules, 'redis' in sys.modules)\n"
    )
    src = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": os.path.abspath(src)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert out == ["master", "False", "False"]


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A throwaway CA and a server certificate for 'redis.test' only (support.certs)."""
    if not certs_factory.available():
        pytest.skip("openssl not installed")
    return certs_factory.issue(str(tmp_path_factory.mktemp("certs")), expired=False)


@pytest.fixture
def tls_server(serve, certs):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server, certs.server_key)
    return serve(MASTER, tls_context=context)


def test_tls_verified_with_ca_and_server_name(tls_server, certs):
    tls = TLSSettings(enabled=True, ca_file=certs.ca, server_name="redis.test")
    facts = probe_redis(tls_server.endpoint(tls=tls), Deadline(5))
    assert (facts.role, facts.error_kind) == ("master", None)


def test_tls_wrong_server_name_is_kind_tls(tls_server, certs):
    tls = TLSSettings(enabled=True, ca_file=certs.ca, server_name="other.test")
    facts = probe_redis(tls_server.endpoint(tls=tls), Deadline(5))
    assert facts.error_kind == "tls"
    assert "verification failed" in facts.error


def test_tls_unknown_ca_is_kind_tls(tls_server):
    facts = probe_redis(tls_server.endpoint(tls=TLSSettings(enabled=True)), Deadline(5))
    assert facts.error_kind == "tls"


def test_tls_verify_false_accepts_any_certificate(tls_server):
    tls = TLSSettings(enabled=True, verify=False)
    facts = probe_redis(tls_server.endpoint(tls=tls), Deadline(5))
    assert facts.role == "master"


def test_tls_to_a_plain_server_is_not_a_hang(serve):
    server = serve(FakeServer.HOLD)
    tls = TLSSettings(enabled=True, verify=False)
    start = time.monotonic()
    facts = probe_redis(server.endpoint(tls=tls), Deadline(0.3))
    assert facts.error_kind in ("unreachable", "tls")
    assert time.monotonic() - start < 0.3 + 0.5


def test_tls_missing_client_cert_file_is_kind_tls(tls_server, tmp_path):
    tls = TLSSettings(enabled=True, verify=False, cert_file=str(tmp_path / "no.crt"))
    facts = probe_redis(tls_server.endpoint(tls=tls), Deadline(5))
    assert facts.error_kind == "tls"


# -- Sentinel queries over the same fake server (sentinel.py's wire behaviour) ---------------

ADDR_REPLY = array("10.0.0.1", "6379")
FIELDS = array("name", "m", "ip", "10.0.0.1", "port", "6379", "runid", RUN_ID,
               "flags", "master,s_down", "quorum", "2", "x", "y")  # fmt: skip
ANSWER = bulk(SENTINEL_ID) + ADDR_REPLY + FIELDS  # MYID, get-master-addr-by-name, MASTER


def ask(server, deadline=2.0):
    from sentinel_vip.probes.sentinel import ask_sentinels

    (answer,) = ask_sentinels([server.endpoint()], "m", Deadline(deadline))
    return answer


def test_sentinel_one_round_trip_gives_id_address_and_master_state(serve):
    server = serve(ANSWER)
    answer = ask(server)
    assert answer.answered and answer.master == ("10.0.0.1", 6379)
    assert (answer.sentinel_id, answer.runid, answer.about) == (
        SENTINEL_ID,
        RUN_ID,
        ("10.0.0.1", 6379),
    )
    assert answer.fields["quorum"] == "2" and answer.flags() == {"master", "s_down"}
    assert len(server.received) == 1  # pipelined
    assert server.received[0].count(b"SENTINEL") == 3


def test_sentinel_peers_come_in_the_same_round_trip(serve):
    from sentinel_vip.probes.sentinel import ask_sentinels

    peers = b"*1\r\n" + array("runid", SENTINEL_ID, "flags", "sentinel", "last-hello-message", "9")
    server = serve(ANSWER + peers)
    (answer,) = ask_sentinels([server.endpoint()], "m", Deadline(2), peers=True)
    assert answer.answered and answer.peers == ((SENTINEL_ID, frozenset({"sentinel"}), 9),)
    assert len(server.received) == 1 and b"SENTINELS" in server.received[0]
    refused = serve(ANSWER + b"-NOPERM no permissions to run 'sentinel|sentinels'\r\n")
    (answer,) = ask_sentinels([refused.endpoint()], "m", Deadline(2), peers=True)
    assert answer.answered and answer.peers is None  # the master view still counts


def test_sentinel_retries_with_the_valkey_subcommand(serve):
    unknown = b"-ERR Unknown sentinel subcommand 'get-master-addr-by-name'\r\n"
    server = serve(
        bulk(SENTINEL_ID) + unknown + b"-ERR Unknown subcommand\r\n", ADDR_REPLY + FIELDS
    )
    answer = ask(server)
    assert answer.answered and answer.master == ("10.0.0.1", 6379) and answer.runid == RUN_ID
    assert b"get-primary-addr-by-name" in server.received[1] and b"PRIMARY" in server.received[1]


def test_sentinel_6_0_without_myid_is_counted_by_its_run_id(serve):
    unknown = b"-ERR Unknown sentinel subcommand 'myid'\r\n"
    server = serve(unknown + ADDR_REPLY + FIELDS, INFO_SERVER)
    answer = ask(server)
    assert answer.answered and answer.sentinel_id == RUN_ID


def test_sentinel_other_errors_are_not_retried(serve):
    server = serve(b"-NOAUTH Authentication required.\r\n" * 3, ANSWER)
    answer = ask(server)
    assert not answer.answered and answer.error_kind == "auth"
    assert len(server.received) == 1


def test_the_runid_counts_only_for_the_address_it_describes(serve):
    """During a failover's reconfiguration the leader names the promoted replica while
    SENTINEL MASTER still describes the old master."""
    server = serve(bulk(SENTINEL_ID) + array("10.0.0.2", "6379") + FIELDS)
    answer = ask(server)
    assert answer.master == ("10.0.0.2", 6379) and answer.about == ("10.0.0.1", 6379)
    assert answer.runid is None


@pytest.mark.parametrize(
    "reply",
    [
        bulk(SENTINEL_ID) + array("10.0.0.1", "abc") + FIELDS,
        bulk(SENTINEL_ID) + array("10.0.0.1", "70000") + FIELDS,
        bulk(SENTINEL_ID) + array("10.0.0.1") + FIELDS,
        bulk(SENTINEL_ID) + b"+OK\r\n" + FIELDS,
        bulk(SENTINEL_ID) + array("10.0.0.9\n<30> event=check verdict=ok", "6379") + FIELDS,
        bulk(SENTINEL_ID) + array("host\x1b[2J", "6379") + FIELDS,
        bulk("not-an-id\x1b[2J") + ADDR_REPLY + FIELDS,
        bulk("0x" + "f" * 38) + ADDR_REPLY + FIELDS,
        bulk("-" + "f" * 39) + ADDR_REPLY + FIELDS,
        bulk("f_" * 20) + ADDR_REPLY + FIELDS,
        bulk(SENTINEL_ID) + ADDR_REPLY + array("ip", "10.0.0.1\r\nx", "port", "6379"),
        bulk(SENTINEL_ID) + ADDR_REPLY + array("ip", "10.0.0.1", "port", "6379", "runid", "xyz"),
        bulk(SENTINEL_ID) + ADDR_REPLY + array("ip", "10.0.0.1", "port", "6379", "flags", "a b"),
        bulk(SENTINEL_ID) + ADDR_REPLY + array("ip", "10.0.0.1", "port"),
        bulk(SENTINEL_ID) + ADDR_REPLY + b"*1\r\n-ERR nested\r\n",
    ],
)
def test_sentinel_malformed_replies_are_not_an_answer(serve, reply):
    """Peer text is untrusted: a host that is neither an IP nor a hostname, a port out of
    range, an id or runid that is not 40 hex digits, odd flags: a protocol error."""
    answer = ask(serve(reply))
    assert not answer.answered and answer.master is None and answer.error_kind == "protocol"
    assert answer.error.isprintable()


def test_sentinel_nil_is_an_unknown_master_name(serve):
    from sentinel_vip.probes.sentinel import UNKNOWN_MASTER

    answer = ask(serve(bulk(SENTINEL_ID) + b"*-1\r\n-ERR No such master with that name\r\n"))
    assert answer.answered and answer.master is None and answer.error == UNKNOWN_MASTER
    assert answer.sentinel_id == SENTINEL_ID


def test_sentinel_hung_one_is_timed_out_and_early_exit_skips_it(serve):
    from sentinel_vip.probes.sentinel import NOT_WAITED, ask_sentinels

    endpoints = [serve(ANSWER).endpoint(), serve(FakeServer.HOLD).endpoint()]
    endpoints.append(serve(ANSWER).endpoint())
    start = time.monotonic()
    answers = ask_sentinels(endpoints, "m", Deadline(0.3))
    assert time.monotonic() - start < 0.3 + 0.5
    assert [a.answered for a in answers] == [True, False, True]
    assert answers[1].error_kind == "unreachable" and "timed out" in answers[1].error

    answers = ask_sentinels(
        endpoints, "m", Deadline(30), enough=lambda so_far: sum(a.answered for a in so_far) >= 2
    )
    assert answers[1].error == NOT_WAITED and not answers[1].answered


def test_local_probe_without_info_permission_is_an_auth_failure(serve):
    server = serve(
        b"*1\r\n$6\r\nmaster\r\n-NOPERM this user has no permissions to run the 'info' command\r\n"
    )
    facts = probe_redis(server.endpoint(), Deadline(2))
    assert facts.error_kind == "auth" and "+info" in facts.error


def test_local_probe_without_a_run_id_is_a_protocol_error(serve):
    facts = probe_redis(
        serve(b"*1\r\n$6\r\nmaster\r\n" + bulk("# Server\r\n")).endpoint(), Deadline(2)
    )
    assert facts.error_kind == "protocol" and not facts.reachable


# -- streaming reads (the watcher's pub/sub) ------------------------------------------------


def test_a_reply_cut_by_the_deadline_is_read_whole_by_the_next_read(serve):
    """A pub/sub reader polls with short deadlines; a message that arrives in two parts
    across one of them must not be lost or misparsed."""

    def halves(conn, stop):
        conn.sendall(b"*3\r\n$7\r\nmessage\r\n$2\r\nch")
        stop.wait(0.3)
        conn.sendall(b"\r\n$4\r\ndata\r\n+after\r\n")

    server = serve(halves)
    with resp.connect(server.endpoint(), Deadline(2)) as conn:
        conn.send("SUBSCRIBE", "ch")
        with pytest.raises(resp.TimedOut):
            conn.read(Deadline(0.1))
        assert conn.read(Deadline(2)) == ["message", "ch", "data"]
        assert conn.read(Deadline(1)) == "after"


def test_send_gets_its_own_deadline_after_a_read_timed_out(serve):
    server = serve(FakeServer.HOLD)
    with resp.connect(server.endpoint(), Deadline(2)) as conn:
        conn.send("PING")
        with pytest.raises(resp.TimedOut):
            conn.read(Deadline(0.05))
        conn.send("PING", deadline=Deadline(1))  # the read's expired deadline is not reused


def test_timeouts_and_refusals_are_told_apart():
    """A refused connection proves the host answered; a timeout does not (the watcher tells
    "Sentinel down" from "maybe a partition" by it)."""
    from sentinel_vip.decision.isolation import DOWN, SILENT
    from sentinel_vip.probes.pubsub import down_kind

    err, _ = failure(Endpoint("127.0.0.1", _free_port()), "ROLE")
    assert not isinstance(err, resp.TimedOut) and err.errno is not None
    assert down_kind(err) == DOWN
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        err, _ = failure(Endpoint("127.0.0.1", silent.getsockname()[1]), "ROLE", seconds=0.2)
        assert isinstance(err, resp.TimedOut) and down_kind(err) == SILENT
    finally:
        silent.close()
