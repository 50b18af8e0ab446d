"""Run directories as the reports read them: manifest, per-benchmark metrics and predictions, probes.

Reports never load a model: everything comes from the files ``sgt-eval run`` and ``sgt-eval probe``
wrote. A benchmark whose ``metrics.json`` is missing or older than its predictions (a run killed
mid-benchmark) is re-aggregated from ``predictions.jsonl``, as ``sgt-eval score`` would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import BENCHMARKS
from benchmarks.base import Benchmark, metrics_document
from benchmarks.headline import HeadlineParts
from sgt_eval.errors import UserError
from sgt_eval.records import Prediction
from sgt_eval.store import RunDir

PROBES = "probes"


@dataclass
class BenchmarkResult:
    """One benchmark of one run."""

    name: str
    folder: Path
    metrics: dict[str, Any]
    predictions: dict[str, Prediction]
    benchmark: Benchmark
    rederived: bool = False  # metrics.json was missing or stale and was recomputed

    @property
    def unit(self) -> str:
        return str(self.metrics.get("unit", "fraction"))

    @property
    def headline(self) -> float | None:
        return self.metrics["headline"]["value"]

    @property
    def binary(self) -> bool:
        """Whether every prediction is right or wrong (accuracy-type), so flips and McNemar apply."""
        return bool(self.predictions) and all(p.correct is not None for p in self.predictions.values())

    def parts(self, ids: set[str] | None = None) -> HeadlineParts:
        """The headline's resampling parts, over ``ids`` only when given (the samples both runs scored)."""
        records = [p for i, p in self.predictions.items() if ids is None or i in ids]
        return self.benchmark.headline_parts(records)


@dataclass
class Run:
    """A run directory: its label in the report, manifest, benchmarks and probe folders."""

    path: Path
    label: str
    probe_name: str  # how probe results name this run (RunDir.display_name)
    manifest: dict[str, Any]
    benchmarks: dict[str, BenchmarkResult] = field(default_factory=dict)
    probes: dict[str, Path] = field(default_factory=dict)
    data_root_override: Path | None = None  # where the benchmark images are now, if not where run.json says

    def data_root(self) -> Path | None:
        root = self.data_root_override or self.manifest.get("data_root")
        return Path(root) if root else None


def load_runs(paths: Sequence[Path], data_root: Path | None = None) -> list[Run]:
    """Load run directories; labels are folder names, made unique with their parents where needed.

    ``data_root`` replaces the data folder recorded in each run.json (for the images of flips), e.g. when
    the runs were copied from another machine.
    """
    resolved = [Path(p).resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise UserError("the same run directory is given twice; give each run once")
    if data_root is not None and not data_root.is_dir():
        raise UserError(f"--data-root {data_root} is not a folder; give the folder with one sub-folder per benchmark")
    runs = [load_run(path, label) for path, label in zip(resolved, unique_labels(resolved))]
    for run in runs:
        run.data_root_override = data_root
    return runs


def unique_labels(paths: Sequence[Path]) -> list[str]:
    depth = 1
    while True:
        labels = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels) or depth >= max(len(p.parts) for p in paths):
            return labels
        depth += 1


def load_run(path: Path, label: str) -> Run:
    run_dir = RunDir(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory; pass a folder written by `sgt-eval run`")
    # a folder written by `sgt-eval score --out` has benchmark results but no run.json
    manifest = run_dir.read_manifest() or {}
    run = Run(path, label, run_dir.display_name(), manifest)
    for name in BENCHMARKS.names():
        folder = path / name
        if (folder / "predictions.jsonl").is_file() or (folder / "metrics.json").is_file():
            run.benchmarks[name] = load_benchmark(run_dir, name, manifest)
    probe_root = path / PROBES
    if probe_root.is_dir():
        run.probes = {d.name: d for d in sorted(probe_root.iterdir()) if d.is_dir()}
    if not run.benchmarks and not run.probes:
        raise UserError(f"{path}: not a run directory (no <benchmark>/metrics.json or probes/); pass a folder "
                        "written by `sgt-eval run`, `sgt-eval score --out` or `sgt-eval probe`")
    return run


def load_benchmark(run_dir: RunDir, name: str, manifest: dict[str, Any]) -> BenchmarkResult:
    folder = run_dir.path / name
    metrics_file, log = folder / "metrics.json", run_dir.predictions(name)
    predictions = log.load(torn_tail=True)  # a run killed mid-write is read as it stands
    metrics = _read_metrics(metrics_file) if metrics_file.is_file() else None
    settings = (metrics or {}).get("settings") or manifest.get("benchmarks", {}).get(name, {}).get("settings")
    if not settings:
        raise UserError(f"{metrics_file}: missing, and run.json has no settings for {name}; "
                        f"re-score with `sgt-eval score {name}`")
    benchmark = BENCHMARKS.load(name)(settings.get("protocol"), **(settings.get("options") or {}))
    stale = metrics is None or (log.path.is_file() and metrics.get("n") != len(predictions))
    if stale:
        if not predictions:
            raise UserError(f"{folder}: no predictions.jsonl to derive metrics from; re-run the benchmark")
        entry = manifest.get("benchmarks", {}).get(name, {})
        grader = (metrics or {}).get("grader") or entry.get("grader", "unknown")
        metrics = metrics_document(benchmark, list(predictions.values()), grader,
                                   (metrics or {}).get("data") or entry.get("data") or {})
    return BenchmarkResult(name, folder, metrics, predictions, benchmark, rederived=stale)


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg}); re-derive it with `sgt-eval score`") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("headline"), dict):
        raise UserError(f"{path}: field 'headline' is missing; re-derive the file with `sgt-eval score`")
    return metrics

