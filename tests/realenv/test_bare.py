"""The README's two commands on a bare Debian 12, as its "two commands" section promises.

A fresh root (debootstrap minbase plus what a fresh server image has: roots.py's "server"
flavor, no make, no keepalived, no Redis) is booted with systemd-nspawn on the host's network
(so that the command's own apt and pip reach their mirrors) with CAP_NET_ADMIN (so that it can
build the network namespaces the demo and the e2e suite need). A clean clone at HEAD is copied
to root's home (SENTINEL_VIP_BARE_DIR: elsewhere) (commit first: uncommitted changes are not
in it; SENTINEL_VIP_BARE_REF picks another commit or branch) and the command taken from that
README.md runs as root from it. The command's whole output: build/test-results/bare-NAME.log.
`make bare-test` runs the first command; SENTINEL_VIP_BARE_TEST_ALL=1 also runs the test
command (scripts/test, which takes several times longer).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import roots
from realtools import figure

REPO = Path(__file__).resolve().parents[2]
# Where root's clone goes: root's home, as `git clone` run as root there gives.
CLONE = os.environ.get("SENTINEL_VIP_BARE_DIR", "/root/sentinel-vip")


def readme_commands(text: str) -> dict:
    """{"demo": ..., "test": ...}: the README's two commands, as typed on a bare machine.

    The README marks each with `<!-- readme-command: NAME -->` before a fenced block that
    holds the one command. Older READMEs have no markers: then the rows of their "two
    commands" table, preferring a row's command for "a machine without make".
    """
    marked = re.findall(r"<!--\s*readme-command:\s*(\w+)\s*-->\s*```\w*\n([^\n]+)\n```", text)
    if marked:
        return {name: command.strip() for name, command in marked}
    commands = {}
    for name, label in (("demo", "the main job"), ("test", "every test")):
        row = next(line for line in text.splitlines() if line.startswith(f"| **{label}**"))
        found = re.findall(r"`([^`]+)`", row.split("|")[-2])
        bare = [c for c in found if c.startswith("scripts/")]
        commands[name] = (bare or found)[0]
    return commands


def test_readme_commands_are_found():
    commands = readme_commands((REPO / "README.md").read_text())
    assert set(commands) == {"demo", "test"}, commands
    assert all(commands.values()), commands


def clean_clone(root: roots.Root) -> str:
    """A clone (what `git clone` of this repository gives) at HEAD, or at the commit or
    branch SENTINEL_VIP_BARE_REF names, copied into the root; returns the commit."""
    target = root.host_path(CLONE)
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(REPO), str(target)], check=True)
    ref = os.environ.get("SENTINEL_VIP_BARE_REF", "HEAD")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", ref + "^{commit}"],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", commit], check=True)
    return commit


def site_certificates(root: roots.Root) -> None:
    """The host's own CA certificates (/usr/local/share/ca-certificates: e.g. a TLS proxy
    in front of PyPI), as an image built at this site would have them."""
    local = Path("/usr/local/share/ca-certificates")
    certs = sorted(local.glob("*.crt")) if local.is_dir() else []
    for cert in certs:
        root.copy_in(cert, f"{local}/{cert.name}")
    if certs:
        root.run(["update-ca-certificates"])


def run_bare(name: str, timeout: float) -> None:
    with roots.Root("bookworm", "server") as root:
        root.boot(private_network=False, capabilities=("CAP_NET_ADMIN",))
        site_certificates(root)
        commit = clean_clone(root)
        command = readme_commands(root.read(f"{CLONE}/README.md"))[name]
        for tool in ("make", "keepalived", "redis-server"):
            assert root.run(["sh", "-c", f"command -v {tool}"], check=False).returncode != 0
        t0 = time.monotonic()
        proc = root.run(["sh", "-c", f"cd {CLONE} && {command}"], check=False, timeout=timeout)
        seconds = time.monotonic() - t0
        figure(step=f"bare_{name}", commit=commit[:10], command=repr(command),
               seconds=f"{seconds:.0f}", rc=proc.returncode)  # fmt: skip
        log = REPO / "build" / "test-results" / f"bare-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout + proc.stderr)
        print(proc.stdout[-4000:], f"(all of it: {log})", sep="\n")
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
        # Nothing left behind under /run by the command (issue 12).
        leftovers = root.run(["sh", "-c", "ls /run/netns /run/sentinel-vip 2>/dev/null || true"])
        print("left under /run:", leftovers.stdout.split())


def test_the_first_command_on_a_bare_debian_12():
    run_bare("demo", timeout=3600)


ALL = os.environ.get("SENTINEL_VIP_BARE_TEST_ALL") == "1"


@pytest.mark.skipif(not ALL, reason="SENTINEL_VIP_BARE_TEST_ALL=1 also runs the test command")
def test_the_test_command_on_a_bare_debian_12():
    run_bare("test", timeout=3 * 3600)
