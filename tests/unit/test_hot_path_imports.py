"""The check's hot path stays lean: keepalived runs it every second on every node.

The built zipapp runs the way keepalived runs it (/usr/bin/python3 -I -S, the check's argv)
under ``-X importtime``, against a config whose Redis and Sentinels answer nothing: the
program takes its real path (config from the cache, probes, decide, the state file and the
track file) and every module it imports, lazily or not, is listed. A module that is neither
the bare interpreter's nor on the allow-list below fails the test: adding one to the check
is a decision to make here, with its cost (``make bench-check`` prints them).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# What a cached check adds to a bare interpreter (``python3 -I -S -c pass``): the standard
# library modules it needs, then ours.
ALLOWED_STDLIB = {
    "__future__", "_collections", "_collections_abc", "_functools", "_operator", "_socket",
    "_stat", "_struct", "collections", "collections.abc", "contextlib", "errno", "fcntl",
    "functools", "genericpath", "grp", "importlib", "importlib._abc", "importlib.machinery",
    "importlib.util", "itertools", "keyword", "operator", "os", "posixpath", "reprlib",
    "runpy", "stat", "struct", "types", "warnings", "zipimport", "_signal",
    # ExitCode is an IntEnum and the check arms its alarm with signal: enum costs ~1.5 ms a
    # run, and the tricks that kept it out saved under 2 ms (docs/bench.md). socket (with
    # selectors) stays out: _socket saves more (probes/transport.py).
    "enum", "signal",
}  # fmt: skip
ALLOWED_OURS = {
    "sentinel_vip", "sentinel_vip._build_version", "sentinel_vip.cli", "sentinel_vip.errors",
    "sentinel_vip.log", "sentinel_vip.stopping", "sentinel_vip.record", "sentinel_vip.deadline",
    "sentinel_vip.actions", "sentinel_vip.actions.check",
    "sentinel_vip.config", "sentinel_vip.config.cache", "sentinel_vip.config.files",
    "sentinel_vip.config.record",
    "sentinel_vip.store", "sentinel_vip.store.checkstate", "sentinel_vip.store.disk",
    "sentinel_vip.store.plainjson", "sentinel_vip.store.track", "sentinel_vip.store.writers",
    "sentinel_vip.probes", "sentinel_vip.probes.endpoint", "sentinel_vip.probes.failures",
    "sentinel_vip.probes.identity", "sentinel_vip.probes.local_redis",
    "sentinel_vip.probes.resp", "sentinel_vip.probes.sentinel", "sentinel_vip.probes.transport",
    "sentinel_vip.decision", "sentinel_vip.decision.address", "sentinel_vip.decision.agreement",
    "sentinel_vip.decision.decide", "sentinel_vip.decision.facts",
}  # fmt: skip
# Costly, and what the allow-list keeps out in particular (a reminder, checked below too).
NEVER = (
    "dataclasses", "inspect", "typing", "tempfile", "shutil", "random", "argparse", "json",
    "re", "tomllib", "tomli", "ssl", "redis", "encodings.idna", "queue", "threading",
    "socket", "selectors", "ipaddress",
    "sentinel_vip.config.load", "sentinel_vip.config.schema",
    # zipimport imports zlib to inflate a compressed entry: the pyz stores its bytecode
    # uncompressed, since inflating the check's modules cost ~3 ms a run (build_pyz.py).
    "zlib",
)  # fmt: skip
PYTHON = "/usr/bin/python3"  # what the pyz's shebang names


def imported(stderr: str) -> set:
    """Module names from ``-X importtime`` lines: ``import time: self | cumulative | name``."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.add(name)
    return names


def run_check(pyz: Path, config: Path) -> tuple:
    done = subprocess.run(
        [PYTHON, "-I", "-S", "-X", "importtime", str(pyz), "--config", str(config), "check"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    return done, imported(done.stderr)


@pytest.fixture
def unreachable_config(tmp_path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    secret = tmp_path / "redis.password"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    path = tmp_path / "sentinel-vip.toml"
    # Port 1 on loopback: refused at once, so nothing waits for a timeout.
    path.write_text(
        'master_name = "m"\n'
        '[sentinel]\naddresses = ["127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1"]\n'
        f'[redis]\nport = 1\npassword_file = "{secret}"\n'
        f'[paths]\nstate_dir = "{state}"\n[check]\ntrack_file = "{state}/track"\n'
        f'[log]\nsyslog_socket = "{tmp_path}/no-syslog"\n'
    )
    return path


def test_a_cached_check_run_imports_only_the_allowed_modules(pyz, unreachable_config):
    bare = subprocess.run(
        [PYTHON, "-I", "-S", "-X", "importtime", "-c", "pass"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    interpreter = imported(bare.stderr)
    # First run: no cache yet, the validator is imported (the list is the real one).
    first, modules = run_check(pyz, unreachable_config)
    assert first.returncode == 4, first  # REDIS_UNREACHABLE: it ran the whole check
    assert "sentinel_vip.config.load" in modules
    # Second run: answered from the cache the first one wrote, as every run after it.
    second, modules = run_check(pyz, unreachable_config)
    assert second.returncode == 4, second
    assert "REDIS_UNREACHABLE" in second.stdout
    assert {"sentinel_vip.actions.check", "sentinel_vip.probes.sentinel"} <= modules
    unexpected = sorted(modules - interpreter - ALLOWED_STDLIB - ALLOWED_OURS)
    assert unexpected == [], "the check imports modules outside its allow-list"
    assert sorted(set(NEVER) & modules) == []


def test_the_allow_list_keeps_the_costly_modules_out():
    assert not set(NEVER) & (ALLOWED_STDLIB | ALLOWED_OURS)


def test_importtime_lines_are_read():
    sample = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   _io\n"
        "import time:        80 |        300 | sentinel_vip.actions.check\n"
    )
    assert imported(sample) == {"_io", "sentinel_vip.actions.check"}
