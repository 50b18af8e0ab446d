"""`sgt-eval run --suite generation` offline on ShapesWorld with the tiny diffusion model: crash and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHES = ("geneval", "gedit")
ARGS = ("run", "--model", "tiny-diffusion", "--suite", "generation", "--limit", "12", "--images-per-prompt", "2",
        "--batch-size", "2")


def sgt_eval(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "sgt_eval", *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def images(run: Path) -> dict[str, tuple[int, int]]:
    """Every generated image with its (inode, mtime_ns): rewriting a file changes them."""
    return {str(p.relative_to(run)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*.png")) if "SRCIMG" not in p.name}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generation")
    result = sgt_eval(*ARGS, "--out", str(out))
    assert "geneval" in result.stdout and "gedit" in result.stdout
    return out


def test_generation_run_writes_official_layouts_and_records_the_sampler(reference):
    manifest = json.loads((reference / "run.json").read_text())
    assert manifest["model"]["spec"] == "tiny-diffusion"
    assert {"steps", "guidance"} <= set(manifest["model"])  # sampler options recorded
    assert (reference / "geneval" / "images" / "00000" / "metadata.jsonl").is_file()
    assert (reference / "geneval" / "images" / "00000" / "samples" / "0001.png").is_file()
    assert list((reference / "gedit" / "images" / "fullset").glob("*/*/*_SRCIMG.png"))
    for bench in BENCHES:
        rows = [json.loads(line) for line in (reference / bench / "predictions.jsonl").read_text().splitlines()]
        assert len(rows) == len({r["id"] for r in rows}) == 12
        metrics = json.loads((reference / bench / "metrics.json").read_text())
        assert metrics["n"] == 12 and metrics["grader"]


def test_sigkill_then_resume_keeps_finished_images_and_matches(reference, tmp_path):
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "sgt_eval", *ARGS, "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "geneval").rglob("*.png"))) < 4:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = images(out)
    assert before, "no image was written before the kill"
    sgt_eval(*ARGS, "--out", str(out))
    after = images(out)
    assert {k: after[k] for k in before} == before  # finished images were not generated again
    assert set(after) == set(images(reference))
    for bench in BENCHES:
        assert (out / bench / "metrics.json").read_bytes() == (reference / bench / "metrics.json").read_bytes()
        for name in images(reference):
            if name.startswith(bench):
                assert (out / name).read_bytes() == (reference / name).read_bytes()  # same seeds, same images
