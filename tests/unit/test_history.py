import json
import multiprocessing

from sentinel_vip.store import history


def test_append_and_read_back(tmp_path):
    path = str(tmp_path / "h.jsonl")
    history.append(path, {"instance": "VI_1", "to": "MASTER"}, 100)
    history.append(path, {"instance": "VI_2", "to": "BACKUP"}, 100)
    history.append(path, {"instance": "VI_1", "to": "FAULT"}, 100)
    assert [r["to"] for r in history.read(path)] == ["MASTER", "BACKUP", "FAULT"]
    assert history.last_state(path, "VI_1") == "FAULT"
    assert history.last_state(path, "VI_2") == "BACKUP"
    assert history.last_state(path, "VI_3") is None


def test_bounded_keeps_newest(tmp_path):
    path = str(tmp_path / "h.jsonl")
    for i in range(250):
        history.append(path, {"instance": "VI_1", "n": i}, 100)
    records = history.read(path)
    assert len(records) <= 110
    assert records[-1]["n"] == 249
    assert [r["n"] for r in records] == list(range(250 - len(records), 250))


def test_garbage_lines_are_skipped(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'{"to": "MASTER", "instance": "a"}\nnot json\n\xff\xfe\n[1]\n')
    assert history.read(str(path)) == [{"to": "MASTER", "instance": "a"}]


def _writer(path, start):
    for i in range(start, start + 50):
        history.append(path, {"instance": "x", "n": i}, 1000)


def test_concurrent_appends_do_not_interleave(tmp_path):
    path = str(tmp_path / "h.jsonl")
    procs = [multiprocessing.Process(target=_writer, args=(path, k * 100)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    lines = (tmp_path / "h.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert sorted(json.loads(line)["n"] for line in lines) == sorted(
        i for k in range(4) for i in range(k * 100, k * 100 + 50)
    )


def test_superseded_records_are_not_the_instance_state(tmp_path):
    """keepalived's notify runs are unordered: a record notify marked superseded stays in the
    history but does not count as the state."""
    path = str(tmp_path / "h.jsonl")
    history.append(path, {"instance": "VI_1", "to": "MASTER"}, 100)
    history.append(path, {"instance": "VI_1", "to": "BACKUP", "superseded": "vip held"}, 100)
    assert history.last_state(path, "VI_1") == "MASTER"
    assert history.last_record(history.read(path), "VI_1")["to"] == "MASTER"
    assert [r["to"] for r in history.read(path)] == ["MASTER", "BACKUP"]


def test_a_huge_sparse_history_is_trimmed_from_its_end(tmp_path):
    """A history grown (or planted sparse) to gigabytes is not read whole: only the bound's
    worth of its end, and the new record survives even after a cut-off last line."""
    path = tmp_path / "h.jsonl"
    with open(path, "wb") as fh:
        fh.truncate(4 << 30)
    history.append(str(path), {"to": "MASTER"}, max_lines=10)
    assert path.stat().st_size < 1 << 20
    assert history.read(str(path)) == [{"to": "MASTER"}]


def test_a_cut_off_last_line_does_not_swallow_the_next_record(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"to": "BACK')
    history.append(str(path), {"to": "MASTER"}, max_lines=10)
    assert history.read(str(path)) == [{"to": "MASTER"}]
