import os
import stat

from sentinel_vip.actions.hooks import hook_paths, run_hooks


def make_hook(directory, name, body, mode=0o755):
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return path


def test_runs_executables_sorted_with_env_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_FROM_PARENT", "hunter2")
    out = tmp_path / "out"
    make_hook(tmp_path, "20-second", f'echo "2 $SENTINEL_VIP_STATE" >> {out}')
    make_hook(
        tmp_path, "10-first", f'echo "1 $SENTINEL_VIP_STATE ${{SECRET_FROM_PARENT:-none}}" >> {out}'
    )
    make_hook(tmp_path, "30-not-exec", f"echo 3 >> {out}", mode=0o644)
    make_hook(tmp_path, "40-x.dpkg-old", f"echo 4 >> {out}")
    make_hook(tmp_path, ".hidden", f"echo 5 >> {out}")
    results = run_hooks(str(tmp_path), {"SENTINEL_VIP_STATE": "BACKUP"}, 5)
    assert [r.name for r in results] == ["10-first", "20-second"]
    assert all(r.status == "ok" for r in results)
    assert out.read_text().splitlines() == ["1 BACKUP none", "2 BACKUP"]


def test_failure_and_timeout_are_reported_not_raised(tmp_path):
    make_hook(tmp_path, "a-fails", "echo broken >&2; exit 3")
    make_hook(tmp_path, "b-hangs", "sleep 30")
    make_hook(tmp_path, "c-runs", "exit 0")
    results = run_hooks(str(tmp_path), {}, 0.5)
    by_name = {r.name: r for r in results}
    assert (by_name["a-fails"].status, by_name["a-fails"].code) == ("failed", 3)
    assert by_name["a-fails"].detail == "broken"
    assert by_name["b-hangs"].status == "timeout"
    assert by_name["c-runs"].status == "ok"


def test_missing_directory_means_no_hooks(tmp_path):
    assert hook_paths(str(tmp_path / "nope")) == []
    assert run_hooks(str(tmp_path / "nope"), {}, 1) == []


def test_directory_entries_are_not_hooks(tmp_path):
    (tmp_path / "sub").mkdir()
    os.chmod(tmp_path / "sub", stat.S_IRWXU)
    assert hook_paths(str(tmp_path)) == []


def test_a_hook_others_can_write_is_refused_not_run(tmp_path):
    """notify run by hand as root must not run a program another user could have changed."""
    out = tmp_path / "out"
    make_hook(tmp_path, "10-shared", f"echo ran >> {out}", mode=0o757)
    (result,) = run_hooks(str(tmp_path), {}, 5)
    assert (result.status, result.code) == ("refused", None)
    assert "can be written by every user" in result.detail
    assert not out.exists()


def test_a_hook_in_a_directory_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: anyone could swap the hook
    out = tmp_path / "out"
    make_hook(shared, "10-mine", f"echo ran >> {out}")
    (result,) = run_hooks(str(shared), {}, 5)
    assert result.status == "refused" and f"{shared} can be written by" in result.detail
    assert not out.exists()
