"""Capture: run a probe dataset through a model's ``trace`` and stream the reducers' outputs to disk.

Layout under the run directory (one directory per checkpoint run, one capture per dataset)::

    probes/<dataset>/plan.json                      what is captured: model, dataset, reducers, shard size
    probes/<dataset>/shard-00000.safetensors        samples 0..S-1: one tensor per (reducer, layer)
    ...
    probes/<dataset>/capture.json                   written last: the capture is complete

Tensors are named ``<reducer>/layer<NNN>`` (hidden states fp16, ``(n, D)``; attention shares fp32,
``(n, H, C)`` and ``(n, H)``), so one layer loads without the others. Shards have fixed boundaries in
dataset order and are written atomically, so a killed capture resumes at the first missing shard
and a resumed capture reloads bit-identical to an uninterrupted one. A plan that differs from the
one on disk (other model, dataset or reducers) is refused instead of mixed in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save
from tqdm import tqdm

from probes.categories import Lexicon
from probes.datasets import ProbeSample
from probes.reducers import AttentionShares, Reducer
from sgt_eval.errors import UserError
from sgt_eval.models.base import Query
from sgt_eval.store import remove_stale_temps, write_bytes_atomic

PLAN, MANIFEST = "plan.json", "capture.json"


@dataclass(frozen=True)
class CaptureSettings:
    batch_size: int = 8
    shard_size: int = 256


def capture(model: Any, samples: Sequence[ProbeSample], reducers: Sequence[Reducer | AttentionShares], out: Path,
            *, dataset: dict[str, Any], settings: CaptureSettings = CaptureSettings(), teacher_force: bool = True,
            lexicon: Lexicon | None = None, show_progress: bool = True) -> Path:
    """Trace every sample not yet on disk; returns the capture directory (complete when this returns).

    Parameters
    ----------
    model
        An adapter with ``trace(batch, reducers, answers=...)`` (capability ``hidden_states``).
    dataset
        How the samples were made (spec, version), recorded in the plan.
    teacher_force
        Append each sample's ``answer`` to its prompt (needed for ``answer`` query rows).
    lexicon
        Word categories of the prompts (default ``Lexicon.default()``).
    """
    lexicon = lexicon or Lexicon.default()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    plan = {"model": model.describe(), "dataset": dataset, "reducers": [r.describe() for r in reducers],
            "shard_size": settings.shard_size, "teacher_force": teacher_force, "lexicon": lexicon.describe(),
            "n": len(samples)}
    check_plan(out, plan)
    shards = [samples[i:i + settings.shard_size] for i in range(0, len(samples), settings.shard_size)]
    todo = [k for k in range(len(shards)) if not shard_path(out, k).exists()]
    with tqdm(total=len(samples), initial=len(samples) - sum(len(shards[k]) for k in todo), unit="sample",
              desc=f"capture {out.name}", file=sys.stderr, disable=not show_progress, dynamic_ncols=True) as bar:
        for k in todo:
            parts: list[dict[str, torch.Tensor]] = []
            for start in range(0, len(shards[k]), settings.batch_size):
                batch = shards[k][start:start + settings.batch_size]
                queries = [Query(s.question, (s.load_image(),)) for s in batch]
                answers = [s.answer for s in batch] if teacher_force else None
                parts.append(model.trace(queries, reducers, answers=answers, lexicon=lexicon))
                bar.update(len(batch))
            write_shard(out, k, shards[k], {name: torch.cat([p[name] for p in parts]) for name in parts[0]})
    manifest = {**plan, "shards": [shard_path(out, k).name for k in range(len(shards))],
                "samples": [{"id": s.id, "label": s.label, "group": s.group} for s in samples]}
    write_bytes_atomic(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    return out


def check_plan(out: Path, plan: dict[str, Any]) -> None:
    path = out / PLAN
    plan = json.loads(json.dumps(plan))                              # as it reads back: tuples become lists
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        if before != plan:
            changed = sorted(k for k in plan if before.get(k) != plan[k])
            raise UserError(f"{path}: this capture was started with another {', '.join(changed)}; "
                            f"use another --out or delete {out} to start over")
        return
    (out / MANIFEST).unlink(missing_ok=True)
    write_bytes_atomic(path, json.dumps(plan, indent=1).encode())


def shard_path(out: Path, k: int) -> Path:
    return out / f"shard-{k:05d}.safetensors"


def write_shard(out: Path, k: int, samples: Sequence[ProbeSample], outputs: dict[str, torch.Tensor]) -> None:
    """One tensor per (reducer, layer): hidden states in fp16, attention shares in fp32 (they are tiny)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, value in outputs.items():                              # value: (n, L, ...)
        dtype = torch.float32 if name.startswith("attention/") else torch.float16
        for layer in range(value.shape[1]):
            tensors[f"{name}/layer{layer:03d}"] = value[:, layer].to(dtype).contiguous()
    metadata = {"ids": json.dumps([s.id for s in samples])}
    write_bytes_atomic(shard_path(out, k), save(tensors, metadata=metadata))


class Capture:
    """A finished capture on disk; loads one (reducer, layer) at a time over all shards."""

    def __init__(self, directory: Path) -> None:
        manifest = directory / MANIFEST
        if not manifest.exists():
            raise UserError(f"{directory}: no {MANIFEST}, the capture is incomplete; run `sgt-eval probe capture` "
                            "again with the same arguments to finish it")
        self.directory = directory
        self.manifest = json.loads(manifest.read_text(encoding="utf-8"))
        self.ids = [s["id"] for s in self.manifest["samples"]]
        self.labels = np.array([s["label"] for s in self.manifest["samples"]], dtype=object)
        self.groups = np.array([s["group"] for s in self.manifest["samples"]], dtype=object)

    def keys(self) -> list[str]:
        with safe_open(str(self.directory / self.manifest["shards"][0]), "np") as f:
            return sorted(f.keys())

    def layers(self, reducer: str) -> list[int]:
        prefix = f"{reducer}/layer"
        return sorted(int(k[len(prefix):]) for k in self.keys() if k.startswith(prefix))

    def load(self, reducer: str, layer: int) -> np.ndarray:
        """(n, ...) for every sample in dataset order."""
        parts = []
        for name in self.manifest["shards"]:
            with safe_open(str(self.directory / name), "np") as f:
                parts.append(f.get_tensor(f"{reducer}/layer{layer:03d}"))
        return np.concatenate(parts)
