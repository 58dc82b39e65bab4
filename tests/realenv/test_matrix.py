"""The server matrix: the .deb against every Redis/Valkey and Python that Debian ships.

For each row a cached Debian root gets the .deb, then tests/realenv/matrix_node.py runs
inside it (its own network namespace): three data nodes and three Sentinels loaded with the
ACL lines docs/security.md documents for that version, and sentinel-vip as keepalived runs
it. Each cell is one test; a cell that fails for a known reason owned by another issue is
an xfail that says so (it turns into a pass when the fix lands). The table is printed at
the end and written to build/test-results/matrix.md (each cell's detail: matrix.json).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import roots
from realtools import figure

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CELLS = ("acl", "check", "status_doctor", "failover", "notify_demotion", "watch", "fence")


class Row(NamedTuple):
    suite: str
    flavor: str  # the roots.py flavor, also the server's binary prefix
    acl: str  # which docs/security.md blocks
    python: str
    known: dict  # cell -> why it fails today (another issue's fix)


ROWS = [
    # On 6.0 the fence cell checks what 6.0 can do: no CLIENT PAUSE WRITE, said once.
    Row("bullseye", "redis", "6.0", "3.9", {}),
    Row("bookworm", "redis", "6.2+", "3.11", {}),
    Row("trixie", "redis", "6.2+", "3.13", {}),
    Row("trixie", "valkey", "6.2+", "3.13", {}),
    Row("bookworm-backports", "valkey", "6.2+", "3.11", {}),
]  # fmt: skip
ROW_IDS = [f"{r.suite}-{r.flavor}" for r in ROWS]
RESULTS: dict = {}


def documented_acls() -> dict:
    """("redis" | "sentinel", version) -> the line under its `<!-- acl: ... -->` marker."""
    text = (REPO / "docs" / "security.md").read_text()
    blocks = re.findall(r"<!-- acl: (redis|sentinel) (\S+) -->\s*```[^\n]*\n(.*?)```", text, re.S)
    acls = {}
    for kind, version, body in blocks:
        lines = [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("#")]
        assert len(lines) == 1, f"acl {kind} {version}: expected one line, got {lines}"
        acls[(kind, version)] = lines[0]
    return acls


def run_row(row: Row, deb: Path) -> dict:
    acls = documented_acls()
    spec = {"server": row.flavor, "redis_acl": acls[("redis", row.acl)],
            "sentinel_acl": acls[("sentinel", row.acl)]}  # fmt: skip
    t0 = time.monotonic()
    with roots.Root(row.suite, row.flavor) as root:
        root.write("/usr/sbin/policy-rc.d", roots.POLICY_RC_D, 0o755)
        root.copy_in(deb, "/root/sentinel-vip.deb")
        root.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                  "/root/sentinel-vip.deb"])  # fmt: skip
        root.copy_in(HERE / "matrix_node.py", "/root/matrix_node.py")
        proc = root.run(["python3", "/root/matrix_node.py", json.dumps(spec)], network="private",
                        timeout=600, check=False)  # fmt: skip
        refused = None
        if row.acl != "6.2+":  # why this version has its own lines: the 6.2+ one is refused
            root.write("/tmp/newer-acl.conf", f"port 0\n{acls[('redis', '6.2+')]}\n")
            newer = root.run(["timeout", "10", f"{row.flavor}-server", "/tmp/newer-acl.conf"],
                             check=False, network="private")  # fmt: skip
            said = newer.stdout + newer.stderr
            refused = newer.returncode != 0 and "Error in user declaration" in said
            figure(row=f"{row.suite}-{row.flavor}", newer_acl_line=said.strip().splitlines()[-1:])
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["refuses_newer_acl"] = refused
    out["seconds"] = round(time.monotonic() - t0, 1)
    figure(row=f"{row.suite}-{row.flavor}", seconds=out["seconds"],
           **{k: v for k, v in out["figures"].items()})  # fmt: skip
    return out


@pytest.fixture(scope="module")
def matrix(packages):
    def get(row: Row) -> dict:
        key = (row.suite, row.flavor)
        if key not in RESULTS:
            RESULTS[key] = (row, run_row(row, packages["nfpm-deb"]))
        return RESULTS[key][1]

    yield get
    _write_table()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_cell(matrix, row, cell):
    out = matrix(row)
    if "aborted" in out["results"]:
        aborted = out["results"]["aborted"]
        print("aborted:", aborted["detail"], *aborted.get("sentinel_logs", []), *out["log"][-20:],
              f"figures: {out['figures']}", sep="\n")  # fmt: skip
    assert out["figures"]["python"].startswith(row.python + ".")
    result = out["results"].get(cell, {"ok": False, "detail": "not reached"})
    if not result["ok"] and cell in row.known:
        pytest.xfail(f"{row.known[cell]}: {result['detail']}")
    assert result["ok"], result["detail"]


@pytest.mark.parametrize("row", [r for r in ROWS if r.acl != "6.2+"], ids=lambda r: r.suite)
def test_the_older_server_refuses_the_newer_acl_line(matrix, row):
    assert matrix(row)["refuses_newer_acl"] is True


def _write_table() -> None:
    if not RESULTS:
        return
    lines = ["| Debian / server / python | " + " | ".join(CELLS) + " | seconds |",
             "|---" * (len(CELLS) + 2) + "|"]  # fmt: skip
    for row, out in RESULTS.values():
        f = out["figures"]
        cells = []
        for cell in CELLS:
            result = out["results"].get(cell)
            if result is None:
                cells.append("not reached")
            elif result["ok"]:
                cells.append("pass")
            else:
                cells.append("xfail" if cell in row.known else "FAIL")
        lines.append(f"| {row.suite}: {f['server']} {f['version']}, py {f['python']} | "
                     + " | ".join(cells) + f" | {out['seconds']} |")  # fmt: skip
    table = "\n".join(lines)
    print("\n" + table)
    target = REPO / "build" / "test-results" / "matrix.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(table + "\n")
    details = {f"{row.suite}-{row.flavor}": out for row, out in RESULTS.values()}
    target.with_suffix(".json").write_text(json.dumps(details, indent=1) + "\n")
