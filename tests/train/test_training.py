"""A short real training run on ShapesWorld: the losses fall, the ratio holds, the run folder is complete,
and `sgt-eval` evaluates, generates, edits and traces the final checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sgt_train.cli import main
from tests.train.conftest import SMALL_MODEL

CONFIG = Path(__file__).resolve().parents[2] / "sgt_train" / "configs" / "tiny_shapes.yaml"
STEPS = 40


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, shapes_data) -> Path:
    """40 steps of the default recipe (default model size, 2 seg : 1 VQA) on the ShapesWorld training set."""
    out = tmp_path_factory.mktemp("short") / "run"
    code = main(["--config", str(CONFIG), "--out", str(out), "--train.steps", str(STEPS), "--data.shapes_scale", "1",
                 "--checkpoint.every", "20", "--log.samples", "4", "--log.sample_steps", "4"])
    assert code == 0
    return out


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_both_losses_fall_clearly(short_run: Path):
    rows = metrics(short_run)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    for key in ("loss_text", "loss_image"):
        first = np.mean([r[key] for r in rows[:5]])
        last = np.mean([r[key] for r in rows[-10:]])
        assert last < 0.6 * first, (key, first, last)


def test_every_step_holds_the_configured_ratio(short_run: Path):
    assert all(r["ratio"] == {"seg": 8, "vqa": 4} for r in metrics(short_run))
    assert all(r["samples_per_s"] > 0 and 0 <= r["data_wait_s"] <= r["step_s"] for r in metrics(short_run))


def test_the_run_folder_has_checkpoints_manifest_curve_and_sample_grid(short_run: Path):
    manifest = json.loads((short_run / "run.json").read_text())
    assert manifest["ratio"] == {"seg": 2, "vqa": 1} and manifest["per_step"] == {"seg": 8, "vqa": 4}
    assert manifest["proxy"]["name"] == "segmentation" and manifest["config"]["train"]["steps"] == STEPS
    assert len(manifest["data"]["seg_list"]["sha256"]) == 64 and manifest["data"]["sft"][0]["sha256"]
    assert "git" in manifest["environment"] and manifest["result"]["final_metrics"]["step"] == STEPS
    steps = sorted(p.name for p in (short_run / "checkpoints").iterdir())
    assert steps == ["step-000020", "step-000040"]
    for name in ("model/model.safetensors", "model/head.safetensors", "model/ema.safetensors", "optimizer.safetensors",
                 "trainer_state.json", "rng-rank00000.safetensors"):
        assert (short_run / "checkpoints" / "step-000040" / name).is_file(), name
    assert (short_run / "final" / "sgt_train.json").is_file() and (short_run / "final" / "head_config.json").is_file()
    assert not list(short_run.rglob("*.pt")) and not list(short_run.rglob("*.bin"))  # safetensors only
    assert Image.open(short_run / "loss_curve.png").size[0] > 500
    grid = Image.open(short_run / "samples" / "seg_grid.png")
    assert grid.size == (3 * 64, 14 + 4 * 64)


def test_sgt_eval_runs_every_suite_on_the_final_checkpoint(short_run: Path, tmp_path: Path):
    out = tmp_path / "eval"
    done = subprocess.run([sys.executable, "-m", "sgt_eval", "run", "--model", f"tiny:{short_run}", "--suite", "all",
                           "--limit", "6", "--batch-size", "3", "--model-args", "steps=2", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for bench in ("cvbench", "mmvp", "vsr", "pope", "hallusionbench", "geneval", "gedit"):
        assert json.loads((out / bench / "metrics.json").read_text())["n"] == 6, bench
    assert list((out / "geneval").rglob("*.png")) and list((out / "gedit").rglob("*.png"))
    described = json.loads((out / "run.json").read_text())["model"]
    assert described["weights"] == "ema" and described["steps"] == 2


def test_the_adapter_answers_generates_edits_and_traces(short_run: Path):
    from probes.reducers import AttentionShares, SpanMean
    from sgt_eval.models import load_model
    from sgt_eval.models.base import EditRequest, GenRequest, Query

    model = load_model(f"tiny:{short_run}", {"steps": "3"}, 0)
    assert {"answer", "generate", "edit", "hidden_states", "attention"} <= model.capabilities
    image = Image.open(_an_image()).convert("RGB")
    answers = model.answer([Query("Is there a star in the image?", (image,))], max_new_tokens=4)
    assert isinstance(answers[0], str)
    first, again = (model.generate_images([GenRequest("a picture of a red circle", seed=5)]) for _ in range(2))
    assert first[0].size == (64, 64) and np.array_equal(np.asarray(first[0]), np.asarray(again[0]))  # seeded
    edited = model.edit_images([EditRequest("Remove the star.", image, seed=1)])
    assert edited[0].size == image.size
    traced = model.trace([Query("What colour is the star?", (image,))], [SpanMean("visual"), AttentionShares()])
    layers = model.model.config.text_config.num_hidden_layers
    assert traced["visual"].shape[:2] == (1, layers + 1) and traced["attention/shares"].shape[1] == layers


def _an_image() -> Path:
    from sgt_eval.paths import cache_root
    from sgt_eval.world import ensure_world

    return ensure_world(cache_root() / "world") / "pope" / "val2014" / "ShapesWorld_val2014_000000000001.png"


def test_the_same_step_gives_the_same_losses_and_gradient_whatever_its_layout(tmp_path: Path, shapes_data):
    """micro-batch 6 x 1 accumulation and 2 x 3 hold the same samples: the step loss and gradient norm agree."""
    logs = []
    for micro, accum in ((6, 1), (2, 3)):
        out = tmp_path / f"m{micro}a{accum}"
        assert main(["--config", str(CONFIG), "--out", str(out), "--train.steps", "2", "--train.micro_batch", str(micro),
                     "--train.grad_accum", str(accum), "--data.shapes_scale", "1", "--log.samples", "0",
                     "--data.num_workers", "0", *SMALL_MODEL]) == 0
        logs.append(metrics(out))
    for one, split in zip(*logs):
        for key in ("loss_text", "loss_image", "grad_norm"):
            assert split[key] == pytest.approx(one[key], rel=1e-4), key
        assert one["ratio"] == split["ratio"] == {"seg": 4, "vqa": 2}


def test_cycle_mixing_bf16_checkpointing_and_cosine_train(tmp_path: Path, shapes_data):
    out = tmp_path / "run"
    assert main(["--config", str(CONFIG), "--out", str(out), "--train.steps", "3", "--train.micro_batch", "2",
                 "--train.grad_accum", "3", "--data.mixing", "cycle", "--train.precision", "bf16",
                 "--train.grad_checkpointing", "true", "--optim.schedule", "cosine", "--optim.warmup_steps", "1",
                 "--data.shapes_scale", "1", "--log.samples", "0", "--data.num_workers", "0", *SMALL_MODEL]) == 0
    rows = metrics(out)
    assert all(r["ratio"] == {"seg": 4, "vqa": 2} and np.isfinite(r["loss"]) for r in rows)
    assert rows[0]["lr"] == pytest.approx(1e-3) and rows[-1]["lr"] < rows[1]["lr"]  # warm-up, then cosine decay
