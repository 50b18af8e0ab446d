"""``sgt-eval run``: evaluate a model on benchmarks into a run directory; re-running resumes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks import resolve_selection
from benchmarks.base import Benchmark, Dataset, metrics_document
from sgt_eval import distributed, manifest
from sgt_eval.cli.common import existing_dir, make_benchmarks, make_judge, results_table
from sgt_eval.distributed import Ranks
from sgt_eval.errors import UserError
from sgt_eval.judges import Judge
from sgt_eval.paths import cache_root
from sgt_eval.store import RunDir


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    names = resolve_selection(args.suite, args.bench)
    benches = make_benchmarks(names, args)
    data_root, data_source = resolve_data_root(args.data_root)
    datasets = {b.name: b.load(data_root / b.name) for b in benches}  # fail on data before loading a model
    judge = make_judge(args)

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    ranks = distributed.join()
    code = evaluate_all(args, benches, datasets, data_root, data_source, judge, ranks)
    distributed.leave(ranks)  # not on an error: the failing rank exits and torchrun stops the others
    return code


def evaluate_all(args: argparse.Namespace, benches: list[Benchmark], datasets: dict[str, Dataset], data_root: Path,
                 data_source: str, judge: Judge | None, ranks: Ranks) -> int:
    """Load the model and evaluate every benchmark; under torchrun rank 0 alone writes run.json and metrics."""
    from sgt_eval.models import load_model
    from sgt_eval.models.base import parse_model_args
    from sgt_eval.runner import evaluate

    model_args = parse_model_args(args.model_args)
    print(f"{ranks.label()}loading model {args.model} ...", file=sys.stderr)
    model = load_model(args.model, model_args, args.seed)
    benches = able_benchmarks(benches, model, args.model, explicit=bool(args.bench))
    run_dir = RunDir(Path(args.out))
    current = {
        "run_id": run_dir.path.resolve().name,
        "updated": manifest.now(),
        "command": ["sgt-eval", *sys.argv[1:]],
        "model": {"spec": args.model, "args": model_args, **model.describe()},
        "seed": args.seed,
        "batch_size": args.batch_size,
        "data_root": str(data_root.resolve()),
        "data_source": data_source,
        "judge": judge.describe() if judge else None,
        "benchmarks": {b.name: {"settings": b.settings(), "generation": b.generation(),
                                "data": datasets[b.name].describe(), "grader": b.grader(judge)} for b in benches},
        "environment": manifest.environment(),
    }
    current["ranks"] = ranks.world
    previous = run_dir.read_manifest()
    if ranks.main:  # a refused resume stops rank 0, and torchrun then stops the others
        run_dir.write_manifest(manifest.merge(previous, current))
    ranks.barrier()

    all_metrics = []
    for bench in benches:
        dataset = datasets[bench.name]
        records = evaluate(model, bench, dataset, run_dir.predictions(bench.name), batch_size=args.batch_size,
                           limit=args.limit, judge=judge, retry_errors=args.retry_errors, seed=args.seed,
                           ranks=ranks)
        if not ranks.main:
            continue
        metrics = metrics_document(bench, records, bench.grader(judge), dataset.describe())
        run_dir.write_metrics(bench.name, metrics)
        all_metrics.append(metrics)
    if not ranks.main:
        return 0
    if judge:  # now with the prompt versions the judge was actually asked with (rank 0's only, under torchrun)
        run_dir.write_manifest(manifest.merge(previous, {**current, "judge": judge.describe()}))
    print(results_table(all_metrics))
    print(f"\nrun directory: {run_dir.path}")
    return 0


def able_benchmarks(benches: list[Benchmark], model: Any, spec: str, explicit: bool) -> list[Benchmark]:
    """The benchmarks this model can be asked to do; a suite skips the others with a note, an explicit
    ``--bench`` list refuses them."""
    unable = [b for b in benches if b.task not in model.capabilities]
    if unable and (explicit or len(unable) == len(benches)):
        raise UserError(f"model {spec} cannot {unable[0].task} ({unable[0].name}); it can: "
                        f"{', '.join(sorted(model.capabilities))}")
    for bench in unable:
        print(f"sgt-eval: note: skipping {bench.name}: model {spec} cannot {bench.task}", file=sys.stderr)
    return [b for b in benches if b not in unable]


def resolve_data_root(data_root: str | None) -> tuple[Path, str]:
    """The user's data root, or the embedded ShapesWorld data (built once, then reused)."""
    if data_root:
        hint = f"fetch the data with `sgt-eval data fetch --bench understanding --root {data_root}`"
        return existing_dir(data_root, "--data-root", hint), "user"
    from sgt_eval.world import ensure_world

    print("using the embedded ShapesWorld benchmarks (pass --data-root for real data)", file=sys.stderr)
    return ensure_world(cache_root() / "world"), "shapesworld"
