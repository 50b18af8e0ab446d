"""Cost of the probes' heavy steps next to the obvious alternative, measured side by side in one run.

    python perf/probe_overhead.py [--sections capture,memory,tsne] [--length 4096] [--tsne-n 10000]
                                  [--tsne-d 512] [--rounds 1]

Sections (comma list for --sections; all three by default):

- ``capture``: the capture pass (``trace_hf`` with the visual, last-token and attention-share reducers)
  against a plain forward of the same tiny model (tiny-random, SDPA) on the same tokenised ShapesWorld
  batches; the capture pass also tokenises with offsets and labels positions, so it is charged for that.
- ``memory``: peak resident memory of a fresh process running one pass over a text prompt of ``--length``
  tokens: plain SDPA forward (the reference), the attention-share hook under SDPA (answer rows, and all
  prompt rows in chunks of 32), and eager with ``output_attentions``. The hook's extra over the reference
  is divided by eager's extra over the same reference.

- ``tsne``: our ``TSNEMap`` (openTSNE after PCA to 50 dimensions, default settings, 2 threads) against
  scikit-learn's Barnes-Hut ``TSNE`` (same perplexity, PCA initialisation, 2 threads, 250 exaggerated
  plus 500 normal iterations, early stopping off), both on the same clustered Gaussian data.
  scikit-learn runs twice: on the raw features, as a user would call it, and on the same 50 PCA
  dimensions our map uses (PCA time included), which separates the gain of openTSNE from that of PCA.

Times are wall-clock seconds (medians over --rounds, the paths alternating within each round); ratios
are scikit-learn / ours (> 1: ours is faster). Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from probes.embed import TSNEMap

EARLY_ITER, MAIN_ITER = 250, 500  # openTSNE's defaults; scikit-learn counts both in max_iter


def clustered(n: int, d: int, k: int = 10, seed: int = 0) -> np.ndarray:
    """n points in k Gaussian clusters in d dimensions, centres far enough apart to stay distinct."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2.0  # (k, d); centre distance ~2*sqrt(2d) vs spread ~sqrt(2d)
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))  # (n, d)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def sklearn_tsne(X: np.ndarray) -> TSNE:
    # early stopping off so scikit-learn runs all 750 iterations, as openTSNE does
    return TSNE(perplexity=30.0, init="pca", method="barnes_hut", n_jobs=2, random_state=0,
                max_iter=EARLY_ITER + MAIN_ITER, n_iter_without_progress=EARLY_ITER + MAIN_ITER,
                min_grad_norm=0.0).fit(X)


def tsne_section(n: int = 10000, d: int = 512, rounds: int = 1) -> None:
    """Time ``TSNEMap(n_jobs=2)`` against scikit-learn's Barnes-Hut t-SNE on n clustered points in d dims.

    With several rounds the three runs alternate within each round, so machine noise hits all of them;
    medians of the seconds and of the per-round ratios are printed.
    """
    X = clustered(n, d)
    runs: dict[str, list[float]] = {"ours": [], "raw": [], "pca": []}
    for _ in range(rounds):
        seconds, ours = timed(lambda: TSNEMap(n_jobs=2).fit(X))
        runs["ours"].append(seconds)
        seconds, raw = timed(lambda: sklearn_tsne(X))
        runs["raw"].append(seconds)
        seconds, pca = timed(lambda: sklearn_tsne(PCA(n_components=50, random_state=0).fit_transform(X)))
        runs["pca"].append(seconds)
    med = {name: statistics.median(times) for name, times in runs.items()}
    ratio = {name: statistics.median(t / o for t, o in zip(runs[name], runs["ours"])) for name in ("raw", "pca")}
    print(f"t-SNE, {n} points x {d} dims in 10 clusters, perplexity 30, {EARLY_ITER}+{MAIN_ITER} iterations, "
          f"2 threads, {rounds} round(s)")
    print(f"  ours: TSNEMap (PCA 50 + openTSNE) : {med['ours']:8.1f} s   KL {float(ours.tsne_embedding_.kl_divergence):.3f}"
          f"   rounds {[round(t, 1) for t in runs['ours']]}")
    for name, label, fitted in (("raw", f"raw {d} dims", raw), ("pca", "PCA 50 dims ", pca)):
        print(f"  scikit-learn TSNE, {label:13s}: {med[name]:8.1f} s   KL {fitted.kl_divergence_:.3f}   "
              f"({fitted.n_iter_ + 1} iterations)   rounds {[round(t, 1) for t in runs[name]]}")
    for name, label in (("raw", f"raw {d} dims"), ("pca", "PCA 50 dims")):
        print(f"  ratio scikit-learn ({label}) / ours = {ratio[name]:.2f}x  (median of per-round ratios; > 1: ours faster)")


def tiny_model(attn: str):
    from sgt_eval.models.tiny import load_tiny_random

    return load_tiny_random("", {"attn_implementation": attn}, 0)


def capture_section(batches: int = 6, batch_size: int = 8, rounds: int = 5) -> None:
    """The capture pass against a plain forward, same tiny model (SDPA) and the same ShapesWorld batches.

    Two views: end to end (each side prepares its own inputs from the raw queries: the processor,
    plus offsets and position labels for the capture), and the forward pass alone on the same
    prepared inputs (the cost of the hooks and reducers).
    """
    import torch

    from probes.categories import Lexicon
    from probes.datasets import shapes_samples
    from probes.reducers import parse_reducers
    from probes.trace import tokenize, trace_hf, traced_forward
    from sgt_eval.models.base import Query
    from sgt_eval.models.hf import chat

    model = tiny_model("sdpa")
    samples = shapes_samples(batches * batch_size // 2)
    queries = [[Query(s.question, (s.load_image(),)) for s in samples[i:i + batch_size]]
               for i in range(0, len(samples), batch_size)]
    answers = [[s.answer for s in samples[i:i + batch_size]] for i in range(0, len(samples), batch_size)]
    reducers = parse_reducers("visual,last,attention")
    prepared = [tokenize(model, q, a, Lexicon.default()) for q, a in zip(queries, answers)]

    def plain_inputs(batch: list[Query], forced: list[str]) -> object:
        texts = [model.processor.apply_chat_template(chat(q), add_generation_prompt=True, tokenize=False) + a
                 for q, a in zip(batch, forced)]
        return model.processor(text=texts, images=[q.images[0] for q in batch], padding=True, return_tensors="pt")

    def plain_end_to_end() -> None:
        with torch.inference_mode():
            for q, a in zip(queries, answers):
                model.model(**plain_inputs(q, a), use_cache=False)

    def plain_forward() -> None:
        with torch.inference_mode():
            for inputs, _ in prepared:
                model.model(**inputs, use_cache=False)

    times = alternate({
        ("end to end", "plain"): plain_end_to_end,
        ("end to end", "capture"): lambda: [trace_hf(model, q, reducers, answers=a) for q, a in zip(queries, answers)],
        ("forward", "plain"): plain_forward,
        ("forward", "capture"): lambda: [traced_forward(model.model, i, layout, reducers) for i, layout in prepared],
    }, rounds)
    print(f"capture pass vs plain forward: tiny-random (SDPA), {len(samples)} samples in batches of {batch_size}, "
          f"median of {rounds} alternating rounds")
    for view in ("end to end", "forward"):
        plain, captured = times[view, "plain"], times[view, "capture"]
        print(f"  {view:10s}: plain {plain:.3f} s, capture {captured:.3f} s, ratio {captured / plain:.3f} (goal <= 1.3)")


def memory_section(length: int = 4096) -> None:
    """Peak extra memory of the attention-share hook vs eager output_attentions, over an SDPA forward."""
    peaks = {name: peak_rss(name, length) for name in ("sdpa", "hook:answer", "hook:prompt", "eager-maps")}
    eager = peaks["eager-maps"] - peaks["sdpa"]
    if eager <= 0:
        raise SystemExit(f"eager output_attentions used no measurable extra memory at length {length}; use a longer one")
    print(f"sequence length {length}: peak RSS over a plain SDPA forward: eager output_attentions "
          f"+{eager / 2**20:.0f} MiB")
    for rows in ("answer", "prompt"):
        extra = max(peaks[f"hook:{rows}"] - peaks["sdpa"], 0)       # RSS noise can dip below the reference
        print(f"  attention-share hook, {rows} rows: +{extra / 2**20:.1f} MiB   ratio hook / eager = "
              f"{extra / eager:.4f} (goal <= 0.05)")


def peak_rss(variant: str, length: int) -> int:
    """Peak resident memory (bytes) of a fresh process that loads the model and runs one pass."""
    code = (f"import resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"from probe_overhead import long_pass; long_pass({variant!r}, {length}); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")  # ru_maxrss: KiB on Linux
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) * 1024


def long_pass(variant: str, length: int) -> None:
    """One forward over a text-only prompt of ``length`` tokens (a warm-up pass first, so only the pass differs)."""
    import torch

    from probes.categories import Lexicon
    from probes.reducers import AttentionShares
    from probes.trace import tokenize, trace_hf
    from sgt_eval.models.base import Query

    model = tiny_model("eager" if variant == "eager-maps" else "sdpa")
    words = "is the red circle left of the blue square " * length
    ids = model.tokenizer(words)["input_ids"][: length - 40]
    query = Query(model.tokenizer.decode(ids))
    answer = "yes " * 8
    for _ in range(2):
        if variant.startswith("hook"):
            trace_hf(model, [query], [AttentionShares(query=variant.split(":")[1])], answers=[answer])
            continue
        inputs, _ = tokenize(model, [query], [answer], Lexicon.default())
        with torch.inference_mode():
            model.model(**inputs, use_cache=False, output_attentions=variant == "eager-maps")


def alternate(paths: dict[Any, Callable[[], object]], rounds: int) -> dict[Any, float]:
    """Median seconds of each path over ``rounds`` rounds, the order flipping every round (after a warm-up)."""
    for fn in paths.values():
        fn()
    seconds: dict[Any, list[float]] = {name: [] for name in paths}
    for r in range(rounds):
        for name in sorted(paths, reverse=bool(r % 2)):
            start = time.perf_counter()
            paths[name]()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


# one entry per section: name -> runner reading its own flags from the parsed arguments
SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "capture": lambda args: capture_section(rounds=max(args.rounds, 5)),
    "memory": lambda args: memory_section(args.length),
    "tsne": lambda args: tsne_section(args.tsne_n, args.tsne_d, args.rounds),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="capture,memory,tsne", help=f"comma list of: {', '.join(SECTIONS)}")
    parser.add_argument("--tsne-n", type=int, default=10000, help="points in the t-SNE section")
    parser.add_argument("--tsne-d", type=int, default=512, help="feature width in the t-SNE section")
    parser.add_argument("--length", type=int, default=4096, help="sequence length in the memory section")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds per section (medians printed)")
    args = parser.parse_args()
    names = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    for name in names:
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
