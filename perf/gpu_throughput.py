"""Throughput of `sgt-eval run` vs VLMEvalKit's runner on the same model and benchmark subset, side by side.

    python perf/gpu_throughput.py --model hf:Qwen/Qwen2.5-VL-3B-Instruct --model-args dtype=bfloat16 \\
        --bench pope --samples 512 --batch-size 32            # an SGT-size MLLM on one GPU

Both paths answer the same samples with the same loaded adapter, prompts (sgt-eval's), images and
answer length. sgt-eval batches (``--batch-size``, left padding, batch-invariant answers);
VLMEvalKit's ``infer_data_job`` asks one row at a time, as its runner does for local models (the
model is the same adapter, wrapped as a VLMEvalKit ``BaseModel``, fed a VLMEvalKit TSV of the same
rows). Without the vlmeval extra, VLMEvalKit's loop is stood in for by sgt-eval at batch 1 and the
line says so. Rounds alternate between the paths; medians are compared. Goal: ratio >= 1.5.
"""

from __future__ import annotations

import argparse
import base64
import csv
import dataclasses
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import BENCHMARKS
from sgt_eval.models import load_model
from sgt_eval.models.base import parse_model_args
from sgt_eval.paths import cache_root
from sgt_eval.runner import evaluate, load_images
from sgt_eval.store import RunDir
from sgt_eval.world import ensure_world


def ours(model, bench, dataset, batch_size: int) -> tuple[float, dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        records = evaluate(model, bench, dataset, RunDir(Path(tmp)).predictions(bench.name), batch_size=batch_size,
                           show_progress=False)
        return time.perf_counter() - start, {r.id: r.output for r in records}


def write_tsv(bench, dataset, folder: Path, name: str) -> None:
    """The same rows as a VLMEvalKit TSV (no options: a custom VQA dataset, whose prompt is image + question)."""
    with open(folder / f"{name}.tsv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["index", "image", "question", "answer"])
        for i, sample in enumerate(dataset.samples):
            buffer = io.BytesIO()
            load_images(dataset.root, sample)[0].save(buffer, format="PNG")
            writer.writerow([i, base64.b64encode(buffer.getvalue()).decode(), bench.prompt(sample), sample.answer])


def vlmevalkit(model, bench, dataset, max_new_tokens: int) -> tuple[float, dict[str, str]]:
    from vlmeval.dataset import build_dataset
    from vlmeval.inference import infer_data_job
    from vlmeval.smp import get_pred_file_path, load

    from sgt_eval.vlmeval_bridge.models import SGTModel

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LMUData"] = tmp
        write_tsv(bench, dataset, Path(tmp), "SGTThroughput")
        kit = build_dataset("SGTThroughput")
        start = time.perf_counter()
        infer_data_job(SGTModel(model, max_new_tokens), work_dir=tmp, model_name="sgt", dataset=kit)
        seconds = time.perf_counter() - start
        table = load(get_pred_file_path(tmp, "sgt", "SGTThroughput"))
        answers = {dataset.samples[int(i)].id: str(p) for i, p in zip(table["index"], table["prediction"])}
    return seconds, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--model-args", default="")
    parser.add_argument("--bench", default="pope")
    parser.add_argument("--data-root", help="real benchmark data; default the embedded ShapesWorld")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench = BENCHMARKS.load(args.bench)()
    bench.max_new_tokens = args.max_new_tokens
    root = Path(args.data_root) if args.data_root else ensure_world(cache_root() / "world")
    full = bench.load(root / bench.name)
    dataset = dataclasses.replace(full, samples=[s for s in full.samples if s.image is not None][: args.samples])
    model = load_model(args.model, parse_model_args(args.model_args), 0)
    try:
        import vlmeval  # noqa: F401

        other, label = (lambda: vlmevalkit(model, bench, dataset, args.max_new_tokens)), "VLMEvalKit infer_data_job"
    except Exception:  # not installed, or its torchvision does not match torch
        other, label = (lambda: ours(model, bench, dataset, 1)), "VLMEvalKit-style loop (batch 1; vlmeval not installed)"
    ours(model, bench, dataclasses.replace(dataset, samples=dataset.samples[: args.batch_size]), args.batch_size)
    mine, theirs, same = [], [], True
    for _ in range(args.rounds):
        seconds, answers = ours(model, bench, dataset, args.batch_size)
        mine.append(seconds)
        seconds, other_answers = other()
        theirs.append(seconds)
        same &= answers == other_answers
    n = len(dataset.samples)
    ratio = statistics.median(t / m for m, t in zip(mine, theirs))
    print(f"model {args.model}, {args.bench}: {n} samples, {args.max_new_tokens} new tokens, {args.rounds} rounds")
    print(f"sgt-eval run (batch {args.batch_size}) : {n / statistics.median(mine):8.2f} samples/s   "
          f"rounds {[round(t, 2) for t in mine]} s")
    print(f"{label:<34}: {n / statistics.median(theirs):8.2f} samples/s   rounds {[round(t, 2) for t in theirs]} s")
    print(f"identical answers: {'yes' if same else 'no'}")
    print(f"throughput ratio sgt-eval / {label.split(' (')[0]} = {ratio:.2f}  (median of per-round ratios; goal >= 1.5)")


if __name__ == "__main__":
    main()
