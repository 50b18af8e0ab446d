"""`sgt-eval score` from the command line, on the real POPE and VSR files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def sgt_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sgt_eval", *args], capture_output=True, text=True, timeout=300)


def test_llava_pope_answers_reproduce_the_published_f1(shared_data):
    pope = shared_data / "pope"
    result = sgt_eval("score", "pope", "--labels", str(pope / "v2023-08_e3e3926_llava15"),
                      "--questions", str(pope / "llava15_32cebc3" / "llava_pope_test.jsonl"),
                      "--predictions", str(pope / "llava15_32cebc3" / "answers_llava-v1.5-13b.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)  # --json: the metrics object only, on stdout
    assert metrics["headline"] == {"metric": "mean_f1", "value": pytest.approx(0.8595, abs=5e-5)}
    assert round(100 * metrics["headline"]["value"], 1) == 85.9  # LLaVA-1.5-13B, POPE column of the paper
    assert metrics["data"]["version"] == "llava15@e3e3926" and metrics["n"] == 8910


def test_llava_answers_against_head_labels_stop_on_the_length_mismatch(shared_data):
    pope = shared_data / "pope"
    result = sgt_eval("score", "pope", "--labels", str(pope / "head_3df3ba1"),
                      "--questions", str(pope / "llava15_32cebc3" / "llava_pope_test.jsonl"),
                      "--predictions", str(pope / "llava15_32cebc3" / "answers_llava-v1.5-13b.jsonl"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "2910" in result.stderr and "3000" in result.stderr and result.stdout == ""


def test_a_malformed_predictions_line_is_named_by_file_and_line(shared_data, tmp_path):
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text('{"id": 0, "output": "yes"}\n{"id": 1, "output": "no"\n')
    result = sgt_eval("score", "vsr", "--data", str(shared_data / "vsr"), "--predictions", str(predictions))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{predictions}:2: not valid JSON" in result.stderr


def test_unknown_ids_are_refused_and_partial_files_are_scored_with_a_note(shared_data, tmp_path):
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text('{"id": 0, "output": "Yes."}\n{"id": 99999, "output": "no"}\n')
    result = sgt_eval("score", "vsr", "--data", str(shared_data / "vsr"), "--predictions", str(predictions))
    assert result.returncode == 2 and f"{predictions}:2: id '99999' is not in the benchmark data" in result.stderr
    predictions.write_text('{"id": 0, "output": "Yes."}\n{"id": 1, "output": "maybe"}\n')
    result = sgt_eval("score", "vsr", "--data", str(shared_data / "vsr"), "--predictions", str(predictions), "--json")
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 2 and metrics["n_dataset"] == 1222 and metrics["n_unparsed"] == 1
    assert "1220 of 1222 samples have no prediction" in result.stderr
