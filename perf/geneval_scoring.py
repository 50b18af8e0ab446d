"""GenEval scoring throughput: batched detector inference vs one image at a time, same images, one run.

    python perf/geneval_scoring.py [--images 24] [--batch-size 8] [--rounds 3] [--backend both|hf|shapes]

``hf`` uses the tiny random Mask2Former + CLIP built offline (benchmarks.detectors.hf.build_tiny;
the real inference code, meaningless numbers; the input is still resized to 800 px as mmdet's test
pipeline does); ``shapes`` uses ShapesWorld images drawn for the GenEval-mini prompts. Both paths
run ``GenEval.grade``: detection, colour look-ups and rules. Batched = one ``grade`` call on all
images (the detector forwards ``--batch-size`` images at once); single = one call per image. The
records of both paths are compared, so a speed-up never comes from a different answer. The two
paths alternate which goes first over ``--rounds`` rounds and the median rate of each is printed,
because this machine is noisy.

On a 2-core CPU batching buys nothing (the forward pass is compute-bound and scales with the batch);
it exists for GPUs, where one image leaves most of the device idle.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.detectors.hf import build_tiny
from benchmarks.geneval import GenEval, metadata_line
from sgt_eval.paths import cache_root
from sgt_eval.runner import save_image
from sgt_eval.world import ensure_world
from sgt_eval.world.geneval import render_geneval_truth

# prompts over the tiny detector's classes (cat, dog, computer mouse), one of each clause kind
TINY_LINES = [
    {"tag": "single_object", "include": [{"class": "cat", "count": 1}], "prompt": "a photo of a cat"},
    {"tag": "colors", "include": [{"class": "cat", "count": 1, "color": "red"}], "prompt": "a photo of a red cat"},
    {"tag": "position", "include": [{"class": "dog", "count": 1}, {"class": "cat", "count": 1,
                                                                    "position": ["left of", 0]}],
     "prompt": "a photo of a cat left of a dog"},
    {"tag": "counting", "include": [{"class": "cat", "count": 2}], "exclude": [{"class": "cat", "count": 3}],
     "prompt": "a photo of two cats"},
]


def shapes_folder(root: Path, n: int) -> GenEval:
    """Truth images for the first ``n`` GenEval-mini prompts, in the official layout under ``root``."""
    bench = GenEval(images_per_prompt="1")
    dataset = bench.load(ensure_world(cache_root() / "world") / "geneval")
    rng = np.random.default_rng(0)
    for sample in dataset.samples[:n]:
        save_image(render_geneval_truth(metadata_line(sample.meta, sample.question), rng),
                   root / bench.output_path(sample))
        bench.write_sidecars(sample, dataset, root)
    return bench


def hf_folder(root: Path, n: int, models: tuple[Path, Path]) -> GenEval:
    """``n`` world-style images under prompts the tiny detector can answer."""
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "images" / f"{i:05d}"
        (folder / "samples").mkdir(parents=True)
        (folder / "metadata.jsonl").write_text(json.dumps(TINY_LINES[i % len(TINY_LINES)]))
        save_image(render_geneval_truth({"tag": "single_object", "include": [{"class": "star", "count": 1}]}, rng),
                   folder / "samples" / "0000.png")
    return GenEval(detector="hf", detector_model=str(models[0]), clip_model=str(models[1]))


def measure(bench: GenEval, root: Path, batch_size: int, rounds: int) -> tuple[float, float, bool]:
    """Median images per second of batched and one-at-a-time grading, and whether their records agree."""
    dataset, outputs = bench.read_outputs(root / "images", None)
    bench.outputs_root = root / "images"
    samples = dataset.samples
    paths = [outputs[s.id] for s in samples]
    bench.grade(samples[:1], paths[:1])  # loads the models and caches the text classifiers of the first class
    detector = bench.detector()
    if hasattr(detector, "batch_size"):
        detector.batch_size = batch_size
    runs = {
        "batched": lambda: bench.grade(samples, paths),
        "single": lambda: [bench.grade([s], [p])[0] for s, p in zip(samples, paths)],
    }
    rates: dict[str, list[float]] = {name: [] for name in runs}
    records = {}
    for r in range(rounds):
        for name in sorted(runs, reverse=bool(r % 2)):
            start = time.perf_counter()
            records[name] = runs[name]()
            rates[name].append(len(samples) / (time.perf_counter() - start))
    return (statistics.median(rates["batched"]), statistics.median(rates["single"]),
            records["batched"] == records["single"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", choices=("both", "hf", "shapes"), default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        benches = {}
        if args.backend in ("both", "shapes"):
            benches["shapes"] = (shapes_folder(work / "shapes", args.images), work / "shapes")
        if args.backend in ("both", "hf"):
            models = build_tiny(work / "models")
            benches["hf (tiny)"] = (hf_folder(work / "hf", args.images, models), work / "hf")
        print(f"GenEval scoring, {args.images} images, batch size {args.batch_size}, median of {args.rounds} rounds")
        for name, (bench, root) in benches.items():
            batched, single, same = measure(bench, root, args.batch_size, args.rounds)
            print(f"  {name:10s} batched {batched:8.2f} images/s   one at a time {single:8.2f} images/s   "
                  f"ratio {batched / single:5.2f}   identical records: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
