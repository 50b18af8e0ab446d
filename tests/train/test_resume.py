"""SIGKILL a training run mid-way, resume it, and its metrics log equals an uninterrupted run's, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sgt_train import checkpoint as ckpt
from tests.train.conftest import SMALL_MODEL

STEPS, KILL_AT, EVERY = 12, 6, 3
DETERMINISTIC = ("step", "loss", "loss_text", "loss_image", "lr", "grad_norm", "ratio", "skipped")


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sgt_train.cli", "--out", str(out), "--train.steps", str(STEPS),
            "--train.micro_batch", "3", "--checkpoint.every", str(EVERY), "--checkpoint.keep", "2",
            "--data.shapes_scale", "1", "--log.samples", "0", "--train.threads", "1", *SMALL_MODEL, *extra]


def losses(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: r[k] for k in DETERMINISTIC} for r in rows]


def test_sigkill_then_resume_reproduces_the_uninterrupted_log(tmp_path: Path, shapes_data):
    reference = tmp_path / "reference"
    subprocess.run(command(reference), check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    process = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= KILL_AT:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done_before = len(metrics.read_text().splitlines())
    assert KILL_AT <= done_before < STEPS
    resumed_from = ckpt.latest(killed)
    assert resumed_from is not None and int(resumed_from.name.split("-")[1]) <= done_before

    refused = subprocess.run(command(killed), capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "pass --resume to continue it" in refused.stderr
    subprocess.run(command(killed, "--resume"), check=True, capture_output=True, timeout=600)
    assert losses(killed) == losses(reference)
    assert [r["step"] for r in losses(killed)] == list(range(1, STEPS + 1))
    final_state = ckpt.read_state(ckpt.latest(killed))
    assert final_state["step"] == STEPS and final_state["data_positions"] == {"seg": STEPS * 2, "vqa": STEPS}
    for name in ("model.safetensors", "head.safetensors", "ema.safetensors"):
        assert (killed / "final" / name).read_bytes() == (reference / "final" / name).read_bytes(), name


def test_a_resumed_run_must_compute_the_same_thing(tmp_path: Path, shapes_data):
    out = tmp_path / "run"
    subprocess.run(command(out, "--train.steps", "3"), check=True, capture_output=True, timeout=600)
    changed = subprocess.run(command(out, "--train.steps", "6", "--resume", "--optim.lr", "0.5"),
                             capture_output=True, text=True, timeout=300)
    assert changed.returncode == 2 and "optim.lr was 0.001 and is now 0.5" in changed.stderr
    longer = subprocess.run(command(out, "--train.steps", "6", "--resume"), capture_output=True, text=True, timeout=600)
    assert longer.returncode == 0, longer.stderr[-2000:]
    assert [r["step"] for r in losses(out)] == list(range(1, 7))
