"""The check's hot path stays lean: keepalived runs it every second on every node.

A fresh interpreter (as the check runs: -I -S) imports everything a cached ``check`` run
imports and loads the config from the cache; modules that cost milliseconds and that the
check does not need must not be among sys.modules afterwards.
"""

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
FORBIDDEN = (
    "dataclasses", "inspect", "typing", "tempfile", "shutil", "random", "argparse", "json",
    "re", "tomllib", "tomli", "ssl", "redis", "encodings.idna", "queue", "threading", "heapq",
    # socket and signal build IntEnums (enum; socket also imports selectors): the hot path
    # uses _socket and _signal; errors.ExitCode does without enum; identity without ipaddress.
    "socket", "signal", "enum", "selectors", "ipaddress",
    "sentinel_vip.config.load",
    "sentinel_vip.config.schema",
)  # fmt: skip

PROGRAM = """
import sys
sys.path.insert(0, sys.argv[1])
from sentinel_vip import cli, log
from sentinel_vip.actions import check
from sentinel_vip.config import cache as config_cache
from sentinel_vip.probes import identity
from sentinel_vip.probes import local_redis
from sentinel_vip.probes import sentinel
from sentinel_vip.store import disk
config = config_cache.load(sys.argv[2])
check._insecure_files(config)
from sentinel_vip.decision.agreement import agree, whose
from sentinel_vip.decision.facts import RedisFacts, SentinelAnswer
from sentinel_vip.store import checkstate, track
me = ("10.0.0.1", 6379)
answers = [SentinelAnswer("s", True, me, None, None, "1" * 40, "a" * 40, me, {})]
counted = agree(answers, 1, 1)
whose(counted, RedisFacts(True, "master", None, None, run_id="a" * 40), lambda h, p: "self")
with track.Turn(sys.argv[3], track.started()) as turn:
    turn.recorded()
checkstate.read(sys.argv[3] + "/check.json", 1.0, 1.0, track.boot_id())
print(" ".join(sorted(sys.modules)))
"""


def test_a_cached_check_run_imports_nothing_costly(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    secret = tmp_path / "redis.password"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    path = tmp_path / "sentinel-vip.toml"
    path.write_text(
        'master_name = "m"\n[sentinel]\naddresses = ["127.0.0.1:26379"]\n'
        f'[redis]\npassword_file = "{secret}"\n[paths]\nstate_dir = "{state_dir}"\n'
    )
    # Twice: the second interpreter is answered from the cache the first one wrote.
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-c", PROGRAM, str(SRC), str(path), str(state_dir)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
    modules = set(out.stdout.split())
    assert "sentinel_vip.probes.sentinel" in modules  # the list is the real one
    assert sorted(set(FORBIDDEN) & modules) == []
