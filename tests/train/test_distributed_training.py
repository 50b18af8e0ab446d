"""Two processes on the CPU (gloo): DDP and FSDP under torchrun, ZeRO-2 and ZeRO-3 under the deepspeed launcher.

Slow: each launches two training processes. The DeepSpeed tests need the ``train`` extra (CI installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sgt_train import checkpoint as ckpt
from sgt_train.models.umm import load_umm

pytestmark = pytest.mark.slow
CONFIGS = Path(__file__).resolve().parents[2] / "sgt_train" / "configs"
STEPS = 10
COMMON = ["--train.steps", str(STEPS), "--data.shapes_scale", "1", "--checkpoint.every", "5", "--log.samples", "2",
          "--log.sample_steps", "2", "--train.threads", "1", "--data.num_workers", "0"]
PORT = 29650


def launch(launcher: list[str], config: str, out: Path, *extra: str, port: int) -> None:
    env = os.environ | {"MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1"}
    command = [*launcher, "--config", str(CONFIGS / config), "--out", str(out), *COMMON, *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=env)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])


def torchrun(port: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
            "-m", "sgt_train.cli"]


def deepspeed_launcher(port: int) -> list[str]:
    pytest.importorskip("deepspeed", reason="the DeepSpeed tests need the train extra: pip install 'sgt-eval[train]'")
    # the venv's launcher even when the venv is not on PATH (CI runs its python directly)
    return [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", str(port), "--module",
            "sgt_train.cli"]


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def evaluate(out: Path, run: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "sgt_eval", "run", "--model", f"tiny:{out}", "--suite", "understanding",
                           "--limit", "8", "--batch-size", "4", "--out", str(run)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return {b: json.loads((run / b / "metrics.json").read_text()) for b in ("cvbench", "pope")}


@pytest.fixture(scope="module")
def single_reference(tmp_path_factory, shapes_data) -> Path:
    """The same recipe in one process (micro-batch 12 = 2 ranks x 6)."""
    out = tmp_path_factory.mktemp("single") / "run"
    launch([sys.executable, "-m", "sgt_train.cli"], "tiny_shapes.yaml", out, port=0)
    return out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_torchrun_matches_one_process(strategy, tmp_path: Path, single_reference: Path):
    out = tmp_path / strategy
    launch(torchrun(PORT + (strategy == "fsdp")), "tiny_shapes_ddp.yaml", out, "--train.strategy", strategy,
           port=PORT)
    rows, reference = metrics(out), metrics(single_reference)
    assert all(r["ratio"] == {"seg": 8, "vqa": 4} for r in rows)  # summed over both ranks, every step
    for ours, theirs in zip(rows, reference):  # the same samples a step: the same losses up to float sums
        assert ours["loss_text"] == pytest.approx(theirs["loss_text"], rel=2e-3)
        assert ours["loss_image"] == pytest.approx(theirs["loss_image"], rel=2e-3)
    assert json.loads((out / "run.json").read_text())["world_size"] == 2


def test_zero2_run_of_ten_steps_is_evaluated_by_sgt_eval_and_resumes(tmp_path: Path, shapes_data):
    out = tmp_path / "zero2"
    launch(deepspeed_launcher(PORT + 2), "tiny_shapes_zero2.yaml", out, port=PORT + 2)
    rows = metrics(out)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert all(r["ratio"] == {"seg": 8, "vqa": 4} for r in rows)
    assert (out / "checkpoints" / f"step-{STEPS:06d}" / "deepspeed").is_dir()
    scores = evaluate(out, tmp_path / "eval")
    assert scores["pope"]["n"] == 8 and scores["cvbench"]["n"] == 8
    # resume: drop the last checkpoint and its metrics, continue, and get the same log
    shutil.rmtree(out / "checkpoints" / f"step-{STEPS:06d}")
    launch(deepspeed_launcher(PORT + 3), "tiny_shapes_zero2.yaml", out, "--resume", port=PORT + 3)
    resumed = metrics(out)
    for a, b in zip(resumed, rows):
        assert (a["step"], a["loss_text"], a["loss_image"]) == (b["step"], b["loss_text"], b["loss_image"])


def test_zero3_checkpoints_consolidate_the_sharded_weights(tmp_path: Path, shapes_data):
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    out = tmp_path / "zero3"
    launch(deepspeed_launcher(PORT + 4), "tiny_shapes_zero3.yaml", out, port=PORT + 4)
    last = ckpt.step_dir(out, STEPS)
    theirs = get_fp32_state_dict_from_zero_checkpoint(str(last), tag="deepspeed")
    ours = load_umm(last / "model").state_dict()  # the gathered weights, as sgt-eval loads them
    assert set(ours) >= set(theirs) and len(theirs) > 50
    for name, value in theirs.items():
        assert torch.equal(ours[name], value.to(ours[name].dtype)), name
    ema = load_file(str(last / "model" / "ema.safetensors"))
    assert set(ema) >= set(theirs) and all(ema[k].shape == theirs[k].shape for k in theirs)
    assert evaluate(out, tmp_path / "eval")["pope"]["n"] == 8
