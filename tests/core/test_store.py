from __future__ import annotations

import json

import pytest

from sgt_eval.errors import UserError
from sgt_eval.records import Prediction
from sgt_eval.store import PredictionLog, RunDir, write_json_atomic


def record(i: int, correct: bool = True, error: str | None = None) -> Prediction:
    return Prediction(id=str(i), output=f"out {i}", parsed="yes", method="rule", correct=correct,
                      meta={"split": "random"}, error=error)


def test_append_then_load_round_trips(tmp_path):
    log = PredictionLog(tmp_path / "pope" / "predictions.jsonl")
    log.append([record(1), record(2, correct=False)])
    log.append([record(3, error="missing image x.png")])
    loaded = log.load()
    assert list(loaded) == ["1", "2", "3"]
    assert loaded["2"].correct is False and loaded["3"].error == "missing image x.png"
    assert loaded["1"] == record(1)


def test_torn_last_line_is_cut_and_appending_continues(tmp_path):
    path = tmp_path / "predictions.jsonl"
    log = PredictionLog(path)
    log.append([record(1), record(2)])
    with open(path, "a") as f:  # what a SIGKILL in the middle of a write leaves behind
        f.write('{"id": "3", "output": "half a rec')
    log.repair_torn_tail()
    log.append([record(3)])
    assert list(log.load()) == ["1", "2", "3"]
    assert path.read_text().count("\n") == 3


def test_damage_in_the_middle_is_reported_with_line_number(tmp_path):
    path = tmp_path / "predictions.jsonl"
    PredictionLog(path).append([record(1)])
    with open(path, "a") as f:
        f.write("not json\n")
    PredictionLog(path).append([record(2)])
    with pytest.raises(UserError, match=r"predictions.jsonl:2: not valid JSON"):
        PredictionLog(path).load()


def test_duplicate_id_is_an_error_naming_both_lines(tmp_path):
    log = PredictionLog(tmp_path / "predictions.jsonl")
    log.append([record(1), record(2), record(1)])
    with pytest.raises(UserError, match=r":3: id '1' repeats line 1"):
        log.load()


def test_rewrite_replaces_the_file(tmp_path):
    log = PredictionLog(tmp_path / "predictions.jsonl")
    log.append([record(1), record(2, error="boom")])
    log.rewrite([r for r in log.load().values() if r.error is None])
    assert list(log.load()) == ["1"]


def test_write_json_atomic_is_sorted_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a" / "metrics.json"
    write_json_atomic(target, {"b": 1, "a": [0.5, None]})
    assert json.loads(target.read_text()) == {"a": [0.5, None], "b": 1}
    assert target.read_text().index('"a"') < target.read_text().index('"b"')
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_corrupt_manifest_is_a_user_error(tmp_path):
    (tmp_path / "run.json").write_text("{oops")
    with pytest.raises(UserError, match="run.json: not valid JSON"):
        RunDir(tmp_path).read_manifest()


def test_stale_temporary_files_of_killed_writes_are_removed(tmp_path):
    from sgt_eval.store import TEMP_MARK, remove_stale_temps, write_bytes_atomic

    write_bytes_atomic(tmp_path / "images" / "0001.png", b"png")
    leftover = tmp_path / "images" / f".0002.png{TEMP_MARK}abc123"  # what a kill during a write leaves
    leftover.write_bytes(b"half")
    keep = tmp_path / "images" / ".hidden-user-file"
    keep.write_bytes(b"mine")
    remove_stale_temps(tmp_path)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [".hidden-user-file", "0001.png"]
