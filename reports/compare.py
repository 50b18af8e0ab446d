"""The comparison of runs as plain data: what the HTML report and the paper tables show.

For each benchmark: every run's headline with its bootstrap interval, and for every run other than
the baseline the paired delta over the samples both scored, its 95% interval and (accuracy-type
benchmarks) McNemar's exact p. Differences between runs that change a number (protocol, options,
prompt wording, data files, grader or judge, generation length) become warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import BENCHMARKS
from benchmarks.base import protocol_label
from benchmarks.headline import HeadlineParts
from reports.references import References
from reports.runs import BenchmarkResult, Run
from reports.stats import N_BOOT, Interval, McNemar, headline_interval, mcnemar, paired_delta
from sgt_eval.errors import UserError

# run.json / metrics.json fields of a benchmark that change its numbers when they differ
NUMBER_FIELDS = ("settings", "data", "grader", "generation")
# model fields that change numerics without naming other weights
NUMERIC_MODEL_FIELDS = ("dtype", "attn_implementation")


@dataclass(frozen=True)
class Cell:
    """One run's headline on one benchmark."""

    value: float | None
    interval: Interval
    n: int
    n_dataset: int
    n_unparsed: int
    n_errors: int
    grader: str
    protocol: str
    rederived: bool


@dataclass(frozen=True)
class Delta:
    """One run against the baseline on one benchmark, over the samples both scored."""

    interval: Interval
    test: McNemar | None
    tested_on: str  # what McNemar's units are ("pairs", "questions", "images")
    n_common: int
    note: str = ""


@dataclass
class BenchmarkRow:
    name: str
    title: str
    metric: str
    unit: str
    unit_name: str
    cells: dict[str, Cell] = field(default_factory=dict)
    deltas: dict[str, Delta] = field(default_factory=dict)
    references: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    runs: list[Run]
    baseline: Run
    rows: list[BenchmarkRow]
    warnings: list[str]
    notes: list[str]
    references: References | None
    n_boot: int
    seed: int

    @property
    def others(self) -> list[Run]:
        return [r for r in self.runs if r is not self.baseline]

    @property
    def compared(self) -> list[Run]:
        """The other runs that share a benchmark with the baseline (the ones with delta columns)."""
        return [r for r in self.others if any(r.label in row.deltas for row in self.rows)]


def compare(runs: Sequence[Run], baseline: str | None = None, references: References | None = None,
            n_boot: int = N_BOOT, seed: int = 0) -> Comparison:
    """Build the comparison; ``baseline`` is a run's label or path (default: the first run)."""
    base = pick_baseline(runs, baseline)
    rows = []
    for name in BENCHMARKS.names():
        results = {r.label: r.benchmarks[name] for r in runs if name in r.benchmarks}
        if results:
            rows.append(benchmark_row(name, results, base.label, n_boot, seed))
    if references:
        for row in rows:
            row.references = references.for_benchmark(row.name)
    return Comparison(list(runs), base, rows, provenance_warnings(runs, rows), model_notes(runs), references, n_boot, seed)


def pick_baseline(runs: Sequence[Run], baseline: str | None) -> Run:
    if baseline is None:
        return runs[0]
    for run in runs:
        if baseline == run.label or run.path == Path(baseline).resolve():
            return run
    raise UserError(f"--baseline {baseline}: not one of the runs given ({', '.join(r.label for r in runs)})")


def benchmark_row(name: str, results: Mapping[str, BenchmarkResult], baseline: str, n_boot: int, seed: int) -> BenchmarkRow:
    any_result = next(iter(results.values()))
    cls = BENCHMARKS.load(name)
    row = BenchmarkRow(name, cls.title, any_result.metrics["headline"]["metric"], any_result.unit, cls.unit_name)
    for label, result in results.items():
        m = result.metrics
        row.cells[label] = Cell(result.headline, headline_interval(result.parts(), n_boot, seed), m["n"], m["n_dataset"],
                                m["n_unparsed"], m["n_errors"], str(m["grader"]), protocol_label(m), result.rederived)
    if baseline in results:
        for label, result in results.items():
            if label != baseline:
                row.deltas[label] = delta(results[baseline], result, n_boot, seed)
    metrics = {r.metrics["headline"]["metric"] for r in results.values()}
    if len(metrics) > 1:
        row.warnings.append(f"the runs report different headline metrics ({', '.join(sorted(metrics))}): "
                            "their protocols differ, so the delta compares different quantities")
    return row


def delta(base: BenchmarkResult, other: BenchmarkResult, n_boot: int, seed: int) -> Delta:
    common = set(base.predictions) & set(other.predictions)
    note = ""
    if len(common) < max(len(base.predictions), len(other.predictions)):
        note = (f"compared on the {len(common)} samples both runs scored "
                f"(baseline {len(base.predictions)}, this run {len(other.predictions)})")
    a, b = base.parts(common), other.parts(common)
    interval = paired_delta(a, b, n_boot, seed)
    test, tested_on = None, ""
    if base.binary and other.binary and common:
        units_a, units_b = binary_units(a), binary_units(b)
        if units_a is not None and units_b is not None:
            test, tested_on = mcnemar(units_a, units_b), f"{base.benchmark.unit_name}s"
        else:
            test = mcnemar({i: bool(base.predictions[i].correct) for i in common},
                           {i: bool(other.predictions[i].correct) for i in common})
            tested_on = "images" if base.benchmark.task == "generate" else "questions"
    return Delta(interval, test, tested_on, len(common), note)


def binary_units(parts: HeadlineParts) -> dict[str, bool] | None:
    """The headline's units as right/wrong when the headline is one proportion of 0/1 units (accuracy,
    MMVP's pairs); None otherwise (the test then runs per question)."""
    if len(parts.components) != 1 or not np.isin(parts.denominators, (0, 1)).all() or \
            not np.isin(parts.numerators, (0, 1)).all():
        return None
    return {u: bool(n[0]) for u, n, d in zip(parts.units, parts.numerators, parts.denominators) if d[0] == 1}


def provenance_warnings(runs: Sequence[Run], rows: Sequence[BenchmarkRow]) -> list[str]:
    """One line per field that differs between runs on a benchmark they share, naming each run's value."""
    warnings = []
    for row in rows:
        holders = [r for r in runs if row.name in r.benchmarks]
        if len(holders) < 2:
            continue
        described = {r.label: benchmark_description(r, row.name) for r in holders}
        for path in differing_paths(list(described.values())):
            values = ", ".join(f"{label}: {short(lookup(d, path))}" for label, d in described.items())
            warnings.append(f"{row.title}: {path} differs ({values})")
    judges = {r.label: (r.manifest.get("judge") or {}).get("model") for r in runs}
    if len(set(judges.values())) > 1 and any(judges.values()):
        warnings.append("judge model differs (" + ", ".join(f"{k}: {short(v)}" for k, v in judges.items()) + ")")
    return warnings


def model_notes(runs: Sequence[Run]) -> list[str]:
    notes = []
    for key in NUMERIC_MODEL_FIELDS:
        values = {r.label: r.manifest.get("model", {}).get(key) for r in runs}
        values = {label: v for label, v in values.items() if v is not None}  # image pipelines have no attention
        if len(set(map(str, values.values()))) > 1:
            notes.append(f"model {key} differs (" + ", ".join(f"{k}: {v}" for k, v in values.items()) + ")")
    return notes


def benchmark_description(run: Run, name: str) -> dict[str, Any]:
    """What the run recorded about how the benchmark was scored (metrics.json first, then run.json)."""
    entry = run.manifest.get("benchmarks", {}).get(name, {})
    metrics = run.benchmarks[name].metrics
    described = {key: metrics.get(key, entry.get(key)) for key in NUMBER_FIELDS}
    data = described.get("data") or {}
    described["data"] = {k: v for k, v in data.items() if k != "n"}  # a --limit run is flagged by its n, not here
    return described


def differing_paths(documents: Sequence[Any], prefix: str = "") -> list[str]:
    """Dotted paths at which the documents differ (descending into dicts they all have)."""
    if all(isinstance(d, dict) for d in documents):
        keys = sorted(set().union(*documents))
        return [p for k in keys for p in differing_paths([d.get(k) for d in documents], f"{prefix}.{k}" if prefix else k)]
    first = documents[0]
    return [prefix] if any(d != first for d in documents[1:]) else []


def lookup(document: Any, path: str) -> Any:
    for key in path.split("."):
        document = document.get(key) if isinstance(document, dict) else None
    return document


def short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
