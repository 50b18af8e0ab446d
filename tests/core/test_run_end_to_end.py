"""`sgt-eval run` on the embedded ShapesWorld data with the tiny model: crash, resume, re-score, bad images."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sgt_eval.paths import cache_root
from sgt_eval.world import ensure_world

BENCHES = ("cvbench", "mmvp", "vsr", "pope", "hallusionbench")
FAST = ("--limit", "24", "--max-new-tokens", "6", "--batch-size", "4")


def sgt_eval(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "sgt_eval", *args], capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted run of the understanding suite."""
    out = tmp_path_factory.mktemp("reference")
    result = sgt_eval("run", "--model", "tiny-random", "--suite", "understanding", "--out", str(out), *FAST)
    assert "cv_bench" in result.stdout and "hallusionbench" in result.stdout  # the results table
    return out


def test_a_run_writes_the_documented_run_directory(reference_run):
    manifest = json.loads((reference_run / "run.json").read_text())
    assert manifest["model"]["spec"] == "tiny-random" and manifest["model"]["checkpoint"]["sha256"]
    assert manifest["data_source"] == "shapesworld"
    assert set(manifest["benchmarks"]) == set(BENCHES)
    assert manifest["benchmarks"]["pope"]["settings"]["protocol"] == "official"
    for bench in BENCHES:
        rows = records(reference_run / bench / "predictions.jsonl")
        assert len(rows) == 24 and len({r["id"] for r in rows}) == 24
        assert {"id", "output", "parsed", "method", "correct"} <= set(rows[0])
        metrics = json.loads((reference_run / bench / "metrics.json").read_text())
        assert metrics["n"] == 24 and metrics["benchmark"] == bench


def test_sigkill_mid_run_then_resume_gives_identical_metrics(reference_run, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "sgt_eval", "run", "--model", "tiny-random", "--suite", "understanding",
               "--out", str(out), *FAST]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    target = out / "mmvp" / "predictions.jsonl"  # the second benchmark: cvbench done, mmvp part-way
    while time.time() < deadline and not (target.exists() and target.stat().st_size > 0):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert target.exists(), "the run never reached the second benchmark"
    assert not (out / "hallusionbench" / "metrics.json").exists()

    sgt_eval("run", "--model", "tiny-random", "--suite", "understanding", "--out", str(out), *FAST)
    for bench in BENCHES:
        assert (out / bench / "metrics.json").read_bytes() == (reference_run / bench / "metrics.json").read_bytes()
        resumed = records(out / bench / "predictions.jsonl")
        assert len(resumed) == len({r["id"] for r in resumed}) == 24
        reference = {r["id"]: r for r in records(reference_run / bench / "predictions.jsonl")}
        assert {r["id"]: r for r in resumed} == reference


def test_metrics_are_rederived_by_score_from_predictions_alone(reference_run):
    world = ensure_world(cache_root() / "world")
    for bench in BENCHES:
        result = sgt_eval("score", bench, "--data", str(world / bench),
                          "--predictions", str(reference_run / bench / "predictions.jsonl"), "--json")
        assert json.loads(result.stdout) == json.loads((reference_run / bench / "metrics.json").read_text())


def test_resuming_with_another_protocol_is_refused(reference_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(reference_run, copy)
    result = sgt_eval("run", "--model", "tiny-random", "--bench", "pope", "--protocol", "vlmevalkit",
                      "--out", str(copy), *FAST, check=False)
    assert result.returncode == 2 and "benchmarks.pope.settings" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_images_become_error_records_and_can_be_retried(tmp_path):
    world = ensure_world(cache_root() / "world")
    data = tmp_path / "data"
    shutil.copytree(world / "pope", data / "pope")
    labels = [json.loads(line) for line in (data / "pope" / "coco_pope_adversarial.json").read_text().splitlines()]
    images = sorted({row["image"] for row in labels})[:2]
    corrupt, missing = (data / "pope" / "val2014" / name for name in images)
    original = corrupt.read_bytes()
    corrupt.write_bytes(b"this is not a png")
    missing_bytes = missing.read_bytes()
    missing.unlink()
    out = tmp_path / "run"
    args = ("run", "--model", "tiny-random", "--bench", "pope", "--data-root", str(data), "--out", str(out),
            "--max-new-tokens", "4", "--batch-size", "8")
    sgt_eval(*args)
    metrics = json.loads((out / "pope" / "metrics.json").read_text())
    bad = [r for r in records(out / "pope" / "predictions.jsonl") if r["error"]]
    per_image = sum(1 for row in labels if row["image"] in images)  # questions about the two images in this split
    assert metrics["n_errors"] == len(bad) >= 2 * per_image
    assert {r["error"].split()[0] for r in bad} == {"unreadable", "missing"}
    assert all(not r["correct"] for r in bad)
    assert metrics["n"] == metrics["n_dataset"]  # the run went on past the bad samples

    corrupt.write_bytes(original)
    missing.write_bytes(missing_bytes)
    sgt_eval(*args, "--retry-errors")
    rows = records(out / "pope" / "predictions.jsonl")
    assert len(rows) == len({r["id"] for r in rows}) == metrics["n_dataset"]
    assert json.loads((out / "pope" / "metrics.json").read_text())["n_errors"] == 0


def test_batch_size_1_and_8_write_identical_predictions(tmp_path):
    common = ("run", "--model", "tiny-random", "--bench", "pope,hallusionbench", "--limit", "32",
              "--max-new-tokens", "8")
    sgt_eval(*common, "--batch-size", "1", "--out", str(tmp_path / "bs1"))
    sgt_eval(*common, "--batch-size", "8", "--out", str(tmp_path / "bs8"))
    for bench in ("pope", "hallusionbench"):
        one = {r["id"]: r for r in records(tmp_path / "bs1" / bench / "predictions.jsonl")}
        eight = {r["id"]: r for r in records(tmp_path / "bs8" / bench / "predictions.jsonl")}
        assert len(one) == 32 and one == eight
        assert (tmp_path / "bs1" / bench / "metrics.json").read_bytes() == \
            (tmp_path / "bs8" / bench / "metrics.json").read_bytes()
