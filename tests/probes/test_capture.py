"""Capture streams shards, resumes after SIGKILL without recomputing them, and reloads bit-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from probes.capture import Capture
from sgt_eval.cli import main

REPO = Path(__file__).resolve().parents[2]


def capture_command(out: Path, images: int, shard_size: int, reducers: str = "visual,last,attention") -> list[str]:
    return ["probe", "capture", "--model", "tiny-random", "--model-args", "attn_implementation=sdpa",
            "--data", f"shapes:{images}", "--out", str(out), "--shard-size", str(shard_size),
            "--batch-size", "8", "--reducers", reducers]


def killed_then_resumed(tmp_path: Path, images: int, shard_size: int) -> None:
    """Capture ``images`` ShapesWorld images, SIGKILL once two shards are on disk, resume, compare."""
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert main(capture_command(whole, images, shard_size)) == 0
    args = [sys.executable, "-m", "sgt_eval", *capture_command(resumed, images, shard_size)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"PYTHONPATH": str(REPO)})
    folder = resumed / "probes" / f"shapes-{images}"
    deadline = time.time() + 600
    while not (folder / "shard-00001.safetensors").exists():
        assert proc.poll() is None and time.time() < deadline, "capture ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (folder / "capture.json").exists()                   # a partial capture is recognisable
    finished = {p.name: p.stat().st_mtime_ns for p in folder.glob("shard-*.safetensors")}
    assert main(capture_command(resumed, images, shard_size)) == 0
    for name, mtime in finished.items():                            # nothing finished was recomputed
        assert (folder / name).stat().st_mtime_ns == mtime
    reference = whole / "probes" / f"shapes-{images}"
    shards = sorted(p.name for p in reference.glob("shard-*.safetensors"))
    assert shards == sorted(p.name for p in folder.glob("shard-*.safetensors"))
    for name in shards:
        assert (reference / name).read_bytes() == (folder / name).read_bytes(), name
    a, b = Capture(reference), Capture(folder)
    assert a.ids == b.ids and len(a.ids) == 2 * images
    for key in ("visual", "attention/shares"):
        for layer in a.layers(key):
            assert np.array_equal(a.load(key, layer), b.load(key, layer))


def test_capture_resumes_after_sigkill(tmp_path):
    killed_then_resumed(tmp_path, images=24, shard_size=8)


@pytest.mark.slow
def test_capture_of_2000_images_resumes_after_sigkill(tmp_path):
    killed_then_resumed(tmp_path, images=2000, shard_size=512)


def test_capture_contents_and_refusal_of_a_different_plan(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(capture_command(out, 6, 4)) == 0
    cap = Capture(out / "probes" / "shapes-6")
    assert cap.layers("visual") == [0, 1, 2]                        # embeddings + 2 decoder layers
    assert cap.layers("attention/shares") == [0, 1]
    assert cap.load("visual", 1).dtype == np.float16 and cap.load("visual", 1).shape == (12, 64)
    shares = cap.load("attention/shares", 1)                        # (n, H, C), fp32
    assert shares.dtype == np.float32 and np.allclose(shares.sum(-1), 1, atol=1e-5)
    assert list(cap.groups[:4]) == ["00000", "00000", "00001", "00001"]
    run = json.loads((out / "run.json").read_text())
    assert run["probes"]["shapes-6"]["spec"] == "shapes:6" and run["model"]["spec"] == "tiny-random"
    capsys.readouterr()
    assert main(capture_command(out, 6, 4, reducers="visual")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "plan.json" in errors[0] and "reducers" in errors[0]


def test_probe_and_run_share_one_run_json(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--model", "tiny-random", "--bench", "pope", "--limit", "2", "--out", str(out)]) == 0
    assert main(["probe", "capture", "--model", "tiny-random", "--data", "shapes:2", "--out", str(out),
                 "--reducers", "visual"]) == 0
    merged = json.loads((out / "run.json").read_text())
    assert "pope" in merged["benchmarks"] and "shapes-2" in merged["probes"] and merged["data_root"]
