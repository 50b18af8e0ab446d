"""Checkpoint files round-trip exactly, half-written ones are ignored, and the metrics log survives a kill."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from sgt_eval.errors import UserError
from sgt_train import checkpoint as ckpt
from sgt_train.ema import EMA
from sgt_train.tracking import Tracker, loss_curve, read_metrics


def test_optimizer_state_round_trips_bit_exactly(tmp_path: Path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    for _ in range(3):
        model(torch.randn(5, 4)).square().sum().backward()
        optimizer.step()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    state = get_optimizer_state_dict(model, optimizer)
    ckpt.save_optimizer(tmp_path, state)
    loaded = ckpt.load_optimizer(tmp_path)
    assert loaded["param_groups"][0]["betas"] == (0.9, 0.95)
    for name, values in state["state"].items():
        for key, value in values.items():
            assert torch.equal(loaded["state"][name][key], value), (name, key)


def test_only_finished_checkpoints_count(tmp_path: Path):
    for step in (3, 6):
        partial = ckpt.begin(tmp_path, step)
        assert partial.name == f".step-{step:06d}.partial"
        ckpt.finish(tmp_path, step, {"step": step}, keep=5)
    ckpt.begin(tmp_path, 9)  # killed while saving step 9
    assert ckpt.latest(tmp_path).name == "step-000006"
    ckpt.begin(tmp_path, 9)
    ckpt.finish(tmp_path, 9, {"step": 9}, keep=2)  # the next save clears leftovers and prunes
    assert [p.name for p in ckpt.complete(tmp_path)] == ["step-000006", "step-000009"]
    assert not list((tmp_path / ckpt.CHECKPOINTS).glob(".*partial"))


def test_ema_warms_up_and_restores():
    weight = torch.zeros(3)
    ema = EMA({"w": weight}, decay=0.99)
    weight += 1.0
    ema.update({"w": weight})
    assert ema.shadow["w"][0].item() == pytest.approx(1 - 1 / 10)  # decay (1 + 0) / (10 + 0) at first
    other = EMA({"w": torch.zeros(3)}, decay=0.99)
    other.load({"w": ema.shadow["w"].clone()}, ema.updates)
    assert torch.equal(other.shadow["w"], ema.shadow["w"]) and other.current_decay() == ema.current_decay()


def test_the_metrics_log_drops_a_torn_line_and_the_steps_a_resume_redoes(tmp_path: Path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss_text": 1.0 / s, "loss_image": None}) + "\n"
                            for s in range(1, 6)) + '{"step": 6, "lo')
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3, 4, 5]
    tracker = Tracker(tmp_path, start_step=3, total_steps=10, config={}, enabled=True)
    tracker.close()
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3]
    path.write_text('{"step": 1}\nbroken\n{"step": 3}\n')
    with pytest.raises(UserError, match=r"metrics\.jsonl:2: not a JSON line"):
        read_metrics(path)


def test_loss_curve_draws_runs_without_image_samples(tmp_path: Path):
    png = loss_curve([{"step": s, "loss_text": 2.0 / s, "loss_image": None} for s in range(1, 30)], tmp_path / "c.png")
    assert png.stat().st_size > 5000


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed")
def test_tensorboard_without_the_package_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(UserError, match="pip install tensorboard"):
        Tracker(tmp_path, start_step=0, total_steps=1, config={}, enabled=True, tensorboard=True)
