"""``sgt-eval score``: grade predictions made by anyone against a benchmark's official files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.base import Benchmark, Dataset, ImageBenchmark, metrics_document
from sgt_eval.cli.common import breakdown, make_benchmarks, make_judge, results_table
from sgt_eval.errors import UserError
from sgt_eval.judges import Judge
from sgt_eval.records import Prediction
from sgt_eval.store import RunDir, read_jsonl

GRADE_CHUNK = 256  # outputs graded per call, so judge requests run concurrently


def run(args: argparse.Namespace) -> int:
    bench = make_benchmarks([args.bench], args)[0]
    data = args.data or args.labels
    judge = make_judge(args)
    if isinstance(bench, ImageBenchmark):
        if not args.images:
            raise UserError(f"{bench.name} scores images: give the folder with --images DIR (official layout)")
        dataset, outputs = bench.read_outputs(Path(args.images), bench.load(Path(data)) if data else None)
        bench.outputs_root = Path(args.images)
    else:
        if not data or not args.predictions:
            raise UserError("give the benchmark's official files with --data PATH (POPE: --labels DIR) "
                            "and the model outputs with --predictions FILE")
        dataset = bench.load(Path(data))
        outputs = text_outputs(bench, dataset, data, args)
    records = grade_outputs(bench, dataset, outputs, judge)
    metrics = metrics_document(bench, records, bench.grader(judge), dataset.describe())
    if len(outputs) < len(dataset.samples):
        print(f"sgt-eval: note: {len(dataset.samples) - len(outputs)} of {len(dataset.samples)} samples have no "
              f"prediction; metrics cover the {len(outputs)} that do", file=sys.stderr)
    if args.out:
        run_dir = RunDir(Path(args.out))
        run_dir.predictions(bench.name).rewrite(records)
        run_dir.write_metrics(bench.name, metrics)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print(results_table([metrics]))
        scale = "percent" if bench.unit == "fraction" else f"scale {bench.unit}"
        print(f"\n{bench.name} scores ({scale}; counts as integers):\n{breakdown(metrics)}")
    return 0


def text_outputs(bench: Benchmark, dataset: Dataset, data: str, args: argparse.Namespace) -> dict[str, str]:
    if not args.questions:
        return read_outputs(Path(args.predictions), dataset)
    if bench.name != "pope":
        raise UserError("--questions is only for POPE answers in LLaVA's format")
    from benchmarks.pope import llava_predictions

    return dict(llava_predictions(Path(data), Path(args.questions), Path(args.predictions)))


def read_outputs(path: Path, dataset: Dataset) -> dict[str, str]:
    """``{"id": ..., "output": ...}`` rows keyed by id; unknown or repeated ids are errors with file:line."""
    known = {s.id for s in dataset.samples}
    outputs: dict[str, str] = {}
    skipped = 0
    for number, row in read_jsonl(path):
        if "id" not in row or "output" not in row:
            raise UserError(f'{path}:{number}: each line needs "id" and "output" fields')
        key = str(row["id"])
        if key in dataset.excluded_ids:
            skipped += 1
            continue
        if key not in known:
            raise UserError(f"{path}:{number}: id {key!r} is not in the benchmark data ({len(known)} ids); "
                            f"check --data and the id convention in docs/data.md")
        if key in outputs:
            raise UserError(f"{path}:{number}: id {key!r} appears twice")
        outputs[key] = "" if row["output"] is None else str(row["output"])
    if skipped:
        print(f"sgt-eval: note: skipped {skipped} predictions for items this protocol leaves out", file=sys.stderr)
    return outputs


def grade_outputs(bench: Benchmark, dataset: Dataset, outputs: dict[str, str], judge: Judge | None) -> list[Prediction]:
    samples = [s for s in dataset.samples if s.id in outputs]
    records: list[Prediction] = []
    for start in range(0, len(samples), GRADE_CHUNK):
        chunk = samples[start:start + GRADE_CHUNK]
        records += bench.grade(chunk, [outputs[s.id] for s in chunk], judge)
    return records
