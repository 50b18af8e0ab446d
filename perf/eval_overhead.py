"""Throughput of `sgt-eval run` relative to a bare batched `model.generate` loop, measured side by side.

    python perf/eval_overhead.py [--model tiny-random] [--bench pope] [--samples 128] [--batch-size 8]

Both paths answer the same samples with the same model, prompts, images and generation length.
The raw loop is what a user would write by hand: open images, apply the chat template, run the
processor and `generate`, decode. `sgt-eval` adds what makes a run trustworthy: per-sample image
error handling, grading, appending each batch to predictions.jsonl with fsync, and metrics.
Rounds alternate between the two paths so machine noise hits both; the median of each is used.
Goal: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import BENCHMARKS
from benchmarks.base import metrics_document
from sgt_eval.models import load_model
from sgt_eval.paths import cache_root
from sgt_eval.runner import evaluate, load_images
from sgt_eval.store import RunDir
from sgt_eval.world import ensure_world


def raw_loop(model, bench, dataset, samples, batch_size: int) -> float:
    config = copy.copy(model.generation_config)
    config.max_new_tokens = bench.max_new_tokens
    start = time.perf_counter()
    for i in range(0, len(samples), batch_size):
        batch = samples[i:i + batch_size]
        images = [im for s in batch for im in load_images(dataset.root, s)]
        messages = [[{"role": "user", "content": [{"type": "image"}] * (s.image is not None)
                      + [{"type": "text", "text": bench.prompt(s)}]}] for s in batch]
        texts = [model.processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in messages]
        inputs = model.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        with torch.inference_mode():
            out = model.model.generate(**inputs, generation_config=config)
        model.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return time.perf_counter() - start


class TimedModel:
    """Delegates to the adapter and adds up the time spent inside ``answer`` (processor + generate)."""

    def __init__(self, model) -> None:
        self.model, self.seconds = model, 0.0

    def answer(self, batch, *, max_new_tokens: int):
        start = time.perf_counter()
        try:
            return self.model.answer(batch, max_new_tokens=max_new_tokens)
        finally:
            self.seconds += time.perf_counter() - start


def sgt_eval_run(model, bench, dataset, samples, batch_size: int) -> tuple[float, float]:
    """Wall time of the run and the part of it spent outside the model's ``answer``."""
    timed = TimedModel(model)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = RunDir(Path(tmp))
        start = time.perf_counter()
        records = evaluate(timed, bench, dataclasses.replace(dataset, samples=samples),
                           run_dir.predictions(bench.name), batch_size=batch_size, show_progress=False)
        run_dir.write_metrics(bench.name, metrics_document(bench, records, "rules", dataset.describe()))
        wall = time.perf_counter() - start
    return wall, wall - timed.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--bench", default="pope")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench = BENCHMARKS.load(args.bench)()
    bench.max_new_tokens = args.max_new_tokens
    dataset = bench.load(ensure_world(cache_root() / "world") / bench.name)
    samples = dataset.samples[: args.samples]
    model = load_model(args.model, {}, 0)
    raw_loop(model, bench, dataset, samples[: args.batch_size], args.batch_size)  # warm-up both paths
    sgt_eval_run(model, bench, dataset, samples[: args.batch_size], args.batch_size)
    raw, ours, own = [], [], []
    for _ in range(args.rounds):
        raw.append(raw_loop(model, bench, dataset, samples, args.batch_size))
        wall, outside = sgt_eval_run(model, bench, dataset, samples, args.batch_size)
        ours.append(wall)
        own.append(outside / wall)
    paired = statistics.median(r / o for r, o in zip(raw, ours))  # adjacent rounds share the machine's mood
    print(f"model {args.model}, {args.bench}: {len(samples)} samples, batch {args.batch_size}, "
          f"{args.max_new_tokens} new tokens, {args.rounds} alternating rounds")
    print(f"raw model.generate loop : {len(samples) / statistics.median(raw):8.2f} samples/s (median)   "
          f"rounds {[round(t, 2) for t in raw]} s")
    print(f"sgt-eval run            : {len(samples) / statistics.median(ours):8.2f} samples/s (median)   "
          f"rounds {[round(t, 2) for t in ours]} s")
    print(f"sgt-eval's own work (images, grading, fsync'd appends, metrics; outside model.answer): "
          f"{100 * statistics.median(own):.1f}% of its run time")
    print(f"throughput ratio sgt-eval / raw = {paired:.3f}  (median of per-round ratios; goal >= 0.95)")

if __name__ == "__main__":
    main()
