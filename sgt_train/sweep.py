"""Sweeps: one base config varied along a few keys, every run in its own folder under one output folder.

A sweep file::

    base: tiny_shapes.yaml            # relative to the sweep file
    out: runs/sgt-sweep
    overrides: {train.steps: 300}     # applied to every run
    sweeps:                           # each entry varies its keys around the base, one at a time
      - {data.proxy: [segmentation, edge, depth, reconstruction]}
      - {data.ratio: ["1:1", "2:1", "3:1"]}

Runs are named by the values of every swept key (``segmentation-2to1``, ``edge-2to1``, ...); a run
reached by two sweeps (the base point) is run once. Runs go one after another in this process, each
resuming where it stopped, and a finished run is not run again; ``sweep.json`` lists them all.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sgt_eval.errors import UserError
from sgt_eval.store import write_json_atomic
from sgt_train.config import Config, load_config


@dataclass(frozen=True)
class SweepRun:
    name: str
    overrides: tuple[str, ...]
    config: Config
    command: tuple[str, ...]


@dataclass(frozen=True)
class Sweep:
    out: Path
    runs: tuple[SweepRun, ...]


def load_sweep(path: Path, extra: list[str] = ()) -> Sweep:
    """The runs of a sweep file; ``extra`` overrides (``--section.key value``) apply to every run."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"sweep file {path} does not exist") from None
    if not isinstance(spec, dict) or not {"base", "out", "sweeps"} <= set(spec):
        raise UserError(f"{path}: a sweep file needs base, out and sweeps (see sgt_train/sweep.py)")
    base = (path.parent / spec["base"]).resolve()
    common = [item for key, value in (spec.get("overrides") or {}).items() for item in (f"--{key}", _text(value))]
    swept = [key for entry in spec["sweeps"] for key in entry]
    points: dict[str, list[str]] = {}
    for entry in spec["sweeps"]:
        keys = list(entry)
        for values in itertools.product(*(entry[k] for k in keys)):
            overrides = [item for key, value in zip(keys, values) for item in (f"--{key}", _text(value))]
            config = load_config(base, common + overrides + list(extra))
            name = "-".join(_text(_lookup(config, key)).replace(":", "to") for key in dict.fromkeys(swept))
            points.setdefault(name, overrides)
    out = Path(spec["out"])
    runs = []
    for name, overrides in points.items():
        run_overrides = [*common, *overrides, *extra, "--out", str(out / name)]
        config = load_config(base, run_overrides)
        runs.append(SweepRun(name, tuple(run_overrides), config,
                             ("sgt-train", "--config", str(base), "--resume", *run_overrides)))
    return Sweep(out, tuple(runs))


def run_sweep(sweep: Sweep) -> Path:
    """Run (or resume, or skip when finished) every run; writes and returns ``out/sweep.json``."""
    from sgt_train.checkpoint import FINAL
    from sgt_train.recipe import run
    from sgt_train.tracking import METRICS, read_metrics

    rows = []
    for item in sweep.runs:
        folder = Path(item.config.out)
        metrics = read_metrics(folder / METRICS)
        finished = (folder / FINAL).is_dir() and metrics and metrics[-1]["step"] >= item.config.train.steps
        if not finished:
            run(item.config, resume=True)
            metrics = read_metrics(folder / METRICS)
        last = metrics[-1] if metrics else {}
        rows.append({"name": item.name, "folder": str(folder), "overrides": list(item.overrides),
                     "proxy": item.config.data.proxy, "ratio": item.config.data.ratio,
                     "final": {k: last.get(k) for k in ("step", "loss_text", "loss_image")}})
    summary = sweep.out / "sweep.json"
    write_json_atomic(summary, {"runs": rows})
    return summary


def _lookup(config: Config, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        if not hasattr(value, part):
            raise UserError(f"sweep key {key!r} is not a config field")
        value = getattr(value, part)
    return value


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value).lower() \
        if isinstance(value, bool) else str(value)
