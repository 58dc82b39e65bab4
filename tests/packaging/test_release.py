"""Removing the package releases the VIP: the track file says "0" when the program is gone.

keepalived does not count a check it can no longer exec as failed, and a track file keeps its
last value: without this, a master keeps the VIP after `apt remove` / `rpm -e`. The shared
maintainer scripts run unmodified in a private mount namespace: /run is an empty tmpfs and
/etc an overlay (the host's /etc below, our config on top), so nothing on the host changes.
tests/realenv proves the same with keepalived and a VIP on a booted Debian.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from pkgtools import REPO, need_tool

from sentinel_vip.config.schema import SCHEMA

SCRIPTS = REPO / "packaging" / "scripts"
DEFAULT = "/run/sentinel-vip/track"

# Runs in the namespace: the state a running master leaves ("1"), then prerm, then what a
# check that was already running may do before the files go (write "1" by rename, as
# store.disk does), then postrm; prints the track file after each step.
SCENARIO = r"""
set -e
mount -t tmpfs sv-test /run
mkdir -p "$SV_WORK/upper" "$SV_WORK/work"
mount -t overlay sv-test -o "lowerdir=/etc,upperdir=$SV_WORK/upper,workdir=$SV_WORK/work" /etc
rm -rf /etc/sentinel-vip
if [ -n "$SV_CONFIG" ]; then
    mkdir -p /etc/sentinel-vip && cp "$SV_CONFIG" /etc/sentinel-vip/sentinel-vip.toml
fi
mkdir -p /run/sentinel-vip
echo 1 >/run/sentinel-vip/track
eval "$SV_SETUP"
show() {
    for f in $SV_SHOW; do
        printf '%s %s=%s\n' "$1" "$f" "$(cat "$f" 2>/dev/null || echo missing)"
    done
}
sh "$SV_SCRIPTS/prerm" "$SV_ARG"
show prerm
if [ -f "$SV_TRACK" ]; then echo 1 >"$SV_TRACK.new" && mv "$SV_TRACK.new" "$SV_TRACK"; fi
sh "$SV_SCRIPTS/postrm" "$SV_ARG"
show postrm
ls -A /run | grep -vx mount | sed 's/^/run: /'
eval "$SV_AFTER"
"""


@pytest.fixture
def removal(tmp_path):
    """removal(ARG, config=..., setup=..., show=[...]) -> {"prerm /path": value, ...}."""
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace needs root")
    need_tool("unshare")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("systemctl", "deb-systemd-invoke", "dpkg-statoverride"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)

    def run(arg: str, config: str | None = None, setup: str = "", after: str = "",
            show=(DEFAULT,), track: str = DEFAULT) -> dict:  # fmt: skip
        work = tmp_path / f"ns-{arg}"
        config_path = ""
        if config is not None:
            config_path = str(tmp_path / "sentinel-vip.toml")
            Path(config_path).write_text(config)
        env = {
            "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
            "SV_WORK": str(work), "SV_CONFIG": config_path, "SV_SETUP": setup,
            "SV_AFTER": after, "SV_SHOW": " ".join(show), "SV_TRACK": track,
            "SV_SCRIPTS": str(SCRIPTS), "SV_ARG": arg,
        }  # fmt: skip
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", SCENARIO],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, (arg, proc.stdout, proc.stderr)
        result = {}
        for line in proc.stdout.splitlines():
            if re.match(r"^(prerm|postrm) /", line):
                key, _, value = line.partition("=")
                result[key] = value
            elif line.startswith(("run: ", "after: ")):
                result.setdefault(line.split(":")[0], []).append(line.split(": ", 1)[1])
            else:
                result.setdefault("said", []).append(line)
        return result

    return run


@pytest.mark.parametrize("arg", ["remove", "0"])
def test_removal_leaves_the_track_file_at_zero(removal, arg):
    result = removal(arg)
    # prerm releases before the files go; postrm again after a check that was running.
    assert result[f"prerm {DEFAULT}"] == "0"
    assert result[f"postrm {DEFAULT}"] == "0"
    # The record prerm left for postrm is gone; nothing else appeared in /run.
    assert result["run"] == ["sentinel-vip"]
    assert any("keepalived releases the VIP" in line for line in result["said"])
    assert any("Remove the include" in line for line in result["said"])


@pytest.mark.parametrize("arg", ["upgrade", "1"])
def test_an_upgrade_keeps_the_vip(removal, arg):
    result = removal(arg)
    assert result[f"prerm {DEFAULT}"] == "1"
    assert result[f"postrm {DEFAULT}"] == "1"


def test_the_track_file_the_admin_configured_is_the_one_released(removal):
    custom = "/run/custom-dir/my-track"
    config = f'master_name = "mymaster"\n[check]\ntrack_file = "{custom}"\n'
    result = removal("remove", config=config, setup="mkdir /run/custom-dir; echo 1 >" + custom,
                     show=(custom, DEFAULT), track=custom)  # fmt: skip
    assert result[f"prerm {custom}"] == result[f"postrm {custom}"] == "0"
    assert result[f"postrm {DEFAULT}"] == "1"  # not ours to touch


@pytest.mark.parametrize(
    "config",
    ["this is [not toml\n", '[check]\ntrack_file = 42\n', '[check]\ntrack_file = "relative"\n'],
    ids=["garbage", "not-a-string", "relative"],
)  # fmt: skip
def test_an_unusable_config_releases_the_default(removal, config):
    result = removal("remove", config=config)
    assert result[f"postrm {DEFAULT}"] == "0"


def test_no_track_file_configured_writes_none(removal):
    result = removal("0", config='[check]\ntrack_file = ""\n')
    assert result[f"postrm {DEFAULT}"] == "1"
    assert result["run"] == ["sentinel-vip"]


def test_a_symlink_in_place_of_the_track_file_is_replaced_not_followed(removal):
    # /run/sentinel-vip belongs to keepalived_script: root must not write through its links.
    setup = "echo secret >/run/victim; ln -sf /run/victim /run/sentinel-vip/track"
    after = ('echo "after: victim=$(cat /run/victim)'
             ' link=$(test -L /run/sentinel-vip/track && echo yes || echo no)"')  # fmt: skip
    result = removal("remove", setup=setup, after=after)
    assert result["after"] == ["victim=secret link=no"]
    assert result[f"postrm {DEFAULT}"] == "0"


def test_no_runtime_directory_is_not_an_error(removal):
    result = removal("remove", setup="rm -rf /run/sentinel-vip")
    assert result[f"postrm {DEFAULT}"] == "missing"
    assert "run" not in result


def test_an_rpm_erase_removes_the_empty_snippet_directories_it_left(removal):
    # rpm does not own /etc/redis and /etc/valkey (the servers do); on erase it leaves the
    # ones it created. Ours (empty, 0755 root) go; a server's own or a non-empty one stays.
    setup = ("rm -rf /etc/redis /etc/valkey; mkdir -m 0755 /etc/valkey; "
             "mkdir -m 0750 /etc/redis")  # fmt: skip
    after = 'echo "after: $(ls -d /etc/redis /etc/valkey 2>/dev/null | tr "\\n" " ")"'
    assert removal("0", setup=setup, after=after)["after"] == ["/etc/redis "]
    assert removal("remove", setup=setup, after=after)["after"] == ["/etc/redis /etc/valkey "]


def test_the_scripts_default_is_the_programs_default():
    assert SCHEMA["check"]["track_file"].default == DEFAULT
    assert f'DEFAULT = "{DEFAULT}"' in (SCRIPTS / "prerm").read_text()


def test_the_released_file_belongs_to_the_directorys_owner(removal):
    # keepalived_script's directory: the check must be able to replace the file later, and
    # the program refuses root-owned files there.
    setup = "chown nobody /run/sentinel-vip"
    after = 'echo "after: $(stat -c "%U %a" /run/sentinel-vip/track)"'
    result = removal("remove", setup=setup, after=after)
    assert result["after"] == ["nobody 644"]
