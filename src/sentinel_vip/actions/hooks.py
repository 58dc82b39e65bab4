"""The admin's own notify hooks: executables in notify.d, run after each transition.

A hook gets the transition in SENTINEL_VIP_* environment variables and nothing else of ours
(no secrets, no inherited environment beyond PATH/LANG). A failing, hanging or missing hook is
logged and never breaks the notify that keepalived is waiting on. A hook that anyone but root
(and the user running notify) could change, or reached through a symlink they could plant, is
refused and logged, never run.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass

from sentinel_vip.store import disk

# Left behind by package managers and editors: never run them.
SKIP_SUFFIXES = (
    "~", ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp",
    ".rpmnew", ".rpmsave", ".rpmorig", ".swp", ".bak", ".disabled",
)  # fmt: skip
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}


@dataclass(frozen=True)
class HookResult:
    name: str
    status: str  # "ok", "failed", "timeout", "error", "refused"
    code: int | None
    detail: str = ""


def hook_paths(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    paths = []
    for name in names:
        if name.startswith(".") or name.endswith(SKIP_SUFFIXES):
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            paths.append(path)
    return paths


def run_hooks(directory: str, variables: dict, timeout: float) -> list[HookResult]:
    env = dict(BASE_ENV)
    env.update({k: "" if v is None else str(v) for k, v in variables.items()})
    return [_run_one(path, env, timeout) for path in hook_paths(directory)]


def _run_one(path: str, env: dict, timeout: float) -> HookResult:
    name = os.path.basename(path)
    # Admins run notify by hand as root: a hook the script user (or anyone) could change
    # would be their program run as root. keepalived refuses such scripts the same way.
    problem = disk.exec_problem(path)
    if problem:
        return HookResult(name, "refused", None, f"not run: {problem}")
    try:
        proc = subprocess.Popen(
            [path],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
            start_new_session=True,  # so a timeout kills the hook's children too
        )
    except OSError as exc:
        return HookResult(name, "error", None, exc.strerror or str(exc))
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return HookResult(name, "timeout", None, f"killed after {timeout:g}s")
    except BaseException:
        _kill_group(proc)  # SIGTERM to us must not leave a hook running
        raise
    detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
    status = "ok" if proc.returncode == 0 else "failed"
    return HookResult(name, status, proc.returncode, detail[0][:200] if detail else "")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
