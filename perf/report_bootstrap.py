"""Paired bootstrap cost: resampling unit rows (reports.stats) vs re-running ``aggregate`` per replicate.

    python perf/report_bootstrap.py [--replicates 200] [--rounds 3]

Data: POPE with LLaVA-1.5-13B's released answers (8,910 questions, ../shared/data) as the baseline and
the same answers with every 10th one flipped as the other run; ShapesWorld's POPE with random
answers when the real files are absent. The reference path does what a harness without
``headline_parts`` must do: draw questions with replacement within each split, rebuild the prediction
list, call ``POPE.aggregate`` for both runs. Both paths print their 95% interval of the mean-F1 delta,
which must agree up to Monte-Carlo noise. The paths alternate over ``--rounds`` and medians are printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks.pope import POPE, llava_predictions
from reports.stats import replicates
from sgt_eval.paths import cache_root
from sgt_eval.world import ensure_world

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pope"


def load_runs() -> tuple[list, list, str]:
    bench = POPE()
    labels = SHARED / "v2023-08_e3e3926_llava15"
    if labels.is_dir():
        dataset = bench.load(labels)
        answers = dict(llava_predictions(labels, SHARED / "llava15_32cebc3" / "llava_pope_test.jsonl",
                                         SHARED / "llava15_32cebc3" / "answers_llava-v1.5-13b.jsonl"))
        outputs, source = [answers[s.id] for s in dataset.samples], "POPE, LLaVA-1.5-13B answers"
    else:
        dataset = bench.load(ensure_world(cache_root() / "world") / "pope")
        rng = random.Random(0)
        outputs, source = [rng.choice(["Yes", "No"]) for _ in dataset.samples], "ShapesWorld POPE, random answers"
    base = bench.grade(dataset.samples, outputs)
    flipped = [("No" if o.lower().startswith("yes") else "Yes") if i % 10 == 0 else o for i, o in enumerate(outputs)]
    return base, bench.grade(dataset.samples, flipped), source


def by_aggregate(bench: POPE, base: list, other: list, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    splits: dict[str, list[int]] = {}
    for i, p in enumerate(base):
        splits.setdefault(str(p.meta["split"]), []).append(i)
    deltas = np.empty(n_boot)
    for r in range(n_boot):
        drawn = [i for s in sorted(splits) for i in rng.choice(splits[s], size=len(splits[s]))]
        # rebuilt records, as a harness that copies each draw would do
        a = [dataclasses.replace(base[i]) for i in drawn]
        b = [dataclasses.replace(other[i]) for i in drawn]
        deltas[r] = bench.aggregate(b)["headline"]["value"] - bench.aggregate(a)["headline"]["value"]
    return deltas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200, help="replicates of the aggregate path")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench = POPE()
    base, other, source = load_runs()
    parts = [bench.headline_parts(base), bench.headline_parts(other)]
    fast_boot = 10 * args.replicates  # the fast path is timed on more replicates, then per replicate
    times: dict[str, list[float]] = {"aggregate": [], "parts": []}
    intervals = {}
    for round_ in range(args.rounds):
        for path in (("aggregate", "parts") if round_ % 2 == 0 else ("parts", "aggregate")):
            start = time.perf_counter()
            if path == "aggregate":
                deltas = by_aggregate(bench, base, other, args.replicates, seed=round_)
            else:
                both = replicates(parts, fast_boot, seed=round_)
                deltas = both[1] - both[0]
            times[path].append((time.perf_counter() - start) / len(deltas))
            intervals[path] = np.percentile(deltas, [2.5, 97.5])
    slow, fast = statistics.median(times["aggregate"]), statistics.median(times["parts"])
    print(f"{source}: {len(base)} questions, {args.rounds} rounds")
    print(f"  aggregate per replicate: {1e3 * slow:8.3f} ms   95% interval of delta {np.round(intervals['aggregate'], 4)}")
    print(f"  parts per replicate:     {1e3 * fast:8.3f} ms   95% interval of delta {np.round(intervals['parts'], 4)}")
    print(f"  speed-up ratio aggregate / parts = {slow / fast:.0f}x")


if __name__ == "__main__":
    main()
