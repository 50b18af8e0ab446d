"""Checkpoints: written whole or not at all, resumed bit-exactly.

Layout of a run folder::

    checkpoints/step-000200/
        model/                  a tiny UMM checkpoint sgt-eval loads (weights + ema.safetensors)
        optimizer.safetensors   AdamW moments and steps by parameter name (+ optimizer.json: groups)
        rng-rank00000.safetensors
        deepspeed/              DeepSpeed's own checkpoint instead of optimizer.*, under that strategy
        trainer_state.json      step, EMA updates, data positions, skipped samples, world size, config
    final/                      the last checkpoint's model/ (hard links) plus sgt_train.json

A checkpoint is built in ``.step-NNNNNN.partial`` and renamed into place after ``trainer_state.json``,
so a run killed at any moment leaves either a complete checkpoint or a partial folder that is ignored
(and removed by the next save). Everything we write is safetensors or JSON.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
FINAL = "final"
MODEL = "model"
STATE = "trainer_state.json"
OPTIMIZER = "optimizer.safetensors"
OPTIMIZER_META = "optimizer.json"


def step_dir(out: Path, step: int) -> Path:
    return Path(out) / CHECKPOINTS / f"step-{step:06d}"


def partial_dir(out: Path, step: int) -> Path:
    return Path(out) / CHECKPOINTS / f".step-{step:06d}.partial"


def complete(out: Path) -> list[Path]:
    """Finished checkpoints of a run, oldest first."""
    folder = Path(out) / CHECKPOINTS
    found = [p for p in folder.glob("step-*") if (p / STATE).is_file()] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def latest(out: Path) -> Path | None:
    done = complete(out)
    return done[-1] if done else None


def read_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / STATE).read_text(encoding="utf-8"))


def save_optimizer(folder: Path, state: dict[str, Any]) -> None:
    """A full optimizer state (``get_optimizer_state_dict`` layout) as safetensors plus JSON."""
    tensors, scalars = {}, {}
    for name, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{name}/{key}"] = value
    save_file(tensors, str(Path(folder) / OPTIMIZER))
    meta = {"param_groups": state["param_groups"], "scalars": scalars}
    (Path(folder) / OPTIMIZER_META).write_text(json.dumps(meta, indent=1, default=list) + "\n", encoding="utf-8")


def load_optimizer(folder: Path) -> dict[str, Any]:
    """The inverse of :func:`save_optimizer`."""
    meta = json.loads((Path(folder) / OPTIMIZER_META).read_text(encoding="utf-8"))
    state: dict[str, dict[str, Any]] = {}
    for flat, value in [*load_file(str(Path(folder) / OPTIMIZER)).items(), *meta["scalars"].items()]:
        name, _, key = flat.rpartition("/")
        state.setdefault(name, {})[key] = value
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def save_rng(folder: Path, rank: int) -> None:
    save_file({"torch": torch.get_rng_state()}, str(Path(folder) / f"rng-rank{rank:05d}.safetensors"))


def load_rng(folder: Path, rank: int) -> None:
    path = Path(folder) / f"rng-rank{rank:05d}.safetensors"
    if path.is_file():
        torch.set_rng_state(load_file(str(path))["torch"])


def finish(out: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Rank 0, after every rank wrote its part: write the state, rename into place, prune old ones."""
    partial = partial_dir(out, step)
    (partial / STATE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    final = step_dir(out, step)
    if final.exists():  # a re-run of a step already saved (resumed before it): replace it
        shutil.rmtree(final)
    os.replace(partial, final)
    for old in complete(out)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def begin(out: Path, step: int) -> Path:
    """Rank 0: a fresh partial folder for ``step`` (leftovers of killed saves are removed)."""
    folder = Path(out) / CHECKPOINTS
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".step-*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = partial_dir(out, step)
    partial.mkdir()
    return partial


def publish_final(out: Path, checkpoint: Path, manifest: dict[str, Any]) -> Path:
    """``out/final``: the checkpoint's model folder (hard links where possible) plus the run manifest."""
    final = Path(out) / FINAL
    scratch = Path(out) / f".{FINAL}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(checkpoint / MODEL, scratch, copy_function=_link_or_copy)
    (scratch / "sgt_train.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(scratch, final)
    return final


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
