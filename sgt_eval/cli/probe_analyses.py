"""The analyses behind ``sgt-eval probe``: each reads captures and writes JSON numbers and figures.

Each function takes the checkpoint's capture, the baseline's capture (or None), their display
names and the parsed arguments, and returns the paths it wrote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from probes.attention import KEY_CATEGORIES
from probes.capture import Capture
from sgt_eval.cli.probe import capture_dir, run_name, write_result
from sgt_eval.errors import UserError

Names = tuple[str, str | None]
N_BOOT = 1000


def runs_of(current: Capture, baseline: Capture | None, names: Names) -> dict[str, Capture]:
    """Display name -> capture: the checkpoint, then the baseline when there is one."""
    return {names[0]: current} | ({names[1]: baseline} if baseline is not None and names[1] else {})


def attention(current: Capture, baseline: Capture | None, names: Names, args: argparse.Namespace) -> list[Path]:
    """Per-layer category shares (with and without sinks, per head), CIs, and the delta vs the baseline."""
    from probes.figures import attention_curves, category_bars

    summary: dict[str, dict] = {}
    for name, cap in runs_of(current, baseline, names).items():
        if not cap.layers("attention/shares"):
            raise UserError(f"{cap.directory}: no attention shares were captured; capture with --reducers ...,attention")
        summary[name] = attention_summary(cap)
    result = {"categories": list(KEY_CATEGORIES), "runs": summary}
    if baseline is not None and names[1]:
        result["delta"] = paired_delta(current, baseline)
    directory = current.directory
    shares = {name: np.array(s["shares"]) for name, s in summary.items()}
    ci = {name: np.array(s["visual_ci"]) for name, s in summary.items()}
    paths = [write_result(directory, "attention.json", result)]
    paths += attention_curves(shares, KEY_CATEGORIES, directory / "attention_visual", baseline=names[1], ci=ci)
    paths += category_bars(shares, KEY_CATEGORIES, directory / "attention_categories")
    return paths


def layer_stack(cap: Capture, reducer: str) -> np.ndarray:
    """(n, L, ...) of one captured reducer over all layers."""
    return np.stack([cap.load(reducer, layer) for layer in cap.layers(reducer)], axis=1)


def attention_summary(cap: Capture) -> dict:
    shares = layer_stack(cap, "attention/shares")                   # (n, L, H, C)
    without = layer_stack(cap, "attention/shares_without_sinks")
    sink = layer_stack(cap, "attention/sink")                        # (n, L, H)
    visual = shares[..., KEY_CATEGORIES.index("visual")].mean(-1)    # (n, L): mean over heads
    return {"n": len(shares), "shares": shares.mean((0, 2)), "shares_without_sinks": without.mean((0, 2)),
            "sink": sink.mean((0, 2)), "per_head": shares.mean(0), "visual_ci": bootstrap_ci(visual, cap.groups).T}


def bootstrap_ci(values: np.ndarray, groups: np.ndarray, seed: int = 0) -> np.ndarray:
    """(2, L) 95% percentile interval of the mean of (n, L) values, resampling source images."""
    unique, index = np.unique(groups.astype(str), return_inverse=True)
    sums = np.zeros((len(unique), values.shape[1]))
    np.add.at(sums, index, values)
    counts = np.bincount(index, minlength=len(unique)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(len(unique), size=(N_BOOT, len(unique)))
    means = sums[draws].sum(1) / counts[draws].sum(1)[:, None]       # (N_BOOT, L)
    return np.percentile(means, [2.5, 97.5], axis=0)


def paired_delta(current: Capture, baseline: Capture) -> dict:
    """Per-layer change of the visual share (current - baseline) over the samples both runs traced."""
    common = sorted(set(current.ids) & set(baseline.ids))
    if not common:
        raise UserError(f"{current.directory} and {baseline.directory} share no sample ids; capture the same --data")
    pick_a = [current.ids.index(i) for i in common]
    pick_b = [baseline.ids.index(i) for i in common]
    col = KEY_CATEGORIES.index("visual")
    a = layer_stack(current, "attention/shares")[pick_a][..., col].mean(-1)   # (n, L)
    b = layer_stack(baseline, "attention/shares")[pick_b][..., col].mean(-1)
    diff = a - b
    return {"n": len(common), "visual": diff.mean(0), "visual_ci": bootstrap_ci(diff, current.groups[pick_a]).T,
            "largest_layer": int(np.abs(diff.mean(0)).argmax())}


def _features(cap: Capture, reducer: str, layer: int | None) -> tuple[np.ndarray, int]:
    layers = cap.layers(reducer)
    if not layers:
        raise UserError(f"{cap.directory}: reducer {reducer!r} was not captured (captured: {', '.join(cap.keys()[:6])} ...)")
    chosen = layers[-1] if layer is None else layer
    if chosen not in layers:
        raise UserError(f"--layer {chosen}: {reducer} has layers {layers[0]}..{layers[-1]}")
    return cap.load(reducer, chosen).astype(np.float32), chosen


def embed(current: Capture, baseline: Capture | None, names: Names, args: argparse.Namespace) -> list[Path]:
    """A 2-D map of one layer's pooled states; with a baseline, fitted on it and shared by both panels."""
    from probes.embed import shared_maps
    from probes.figures import embedding_panels

    x, layer = _features(current, args.reducer, args.layer)
    if baseline is not None and names[1]:
        ref, _ = _features(baseline, args.reducer, layer)
        coords = shared_maps(ref, {names[0]: x}, method=args.method, reference_name=names[1])
        labels = {names[1]: list(baseline.labels), names[0]: list(current.labels)}
    else:
        coords = shared_maps(x, {}, method=args.method, reference_name=names[0])
        labels = {names[0]: list(current.labels)}
    pair = tuple(args.pair.split(","))
    stem = current.directory / f"embed_{args.method}_{args.reducer.replace(':', '-')}_layer{layer}"
    result = {"method": args.method, "reducer": args.reducer, "layer": layer, "reference": list(coords)[0],
              "coords": coords, "labels": labels}
    return [write_result(current.directory, stem.name + ".json", result),
            *embedding_panels(coords, labels, stem, highlight=pair, method=args.method)]


def separability(current: Capture, baseline: Capture | None, names: Names, args: argparse.Namespace) -> list[Path]:
    """Per-layer linear probes (all classes and the confusable pair) with CIs and the control task."""
    from probes.figures import probe_curves
    from probes.separability import layer_curve

    pair = tuple(args.pair.split(","))
    if len(pair) != 2 or not all(p in set(current.labels) for p in pair):
        raise UserError(f"--pair {args.pair!r}: give two class labels of the data, e.g. "
                        f"{','.join(sorted(set(map(str, current.labels)))[:2])}")
    result: dict[str, dict] = {}
    for name, cap in runs_of(current, baseline, names).items():
        layers = cap.layers(args.reducer)

        def load(layer: int, cap: Capture = cap) -> np.ndarray:
            return cap.load(args.reducer, layer).astype(np.float32)

        result[name] = {"all": [r.to_dict() for r in layer_curve(load, layers, cap.labels, cap.groups)],
                        "pair": [r.to_dict() for r in layer_curve(load, layers, cap.labels, cap.groups, pair=pair)]}
    stem = current.directory / f"separability_{args.reducer.replace(':', '-')}"
    paths = [write_result(current.directory, stem.name + ".json", {"reducer": args.reducer, "pair": pair,
                                                                   "runs": result})]
    paths += probe_curves({n: r["pair"] for n, r in result.items()}, Path(f"{stem}_pair"), pair=" vs ".join(pair))
    paths += probe_curves({n: r["all"] for n, r in result.items()}, Path(f"{stem}_all"))
    return paths


def attribute(args: argparse.Namespace) -> list[Path]:
    """Integrated-gradients maps over the image tokens for the first ``--samples`` samples of ``--data``,
    with the baseline checkpoint's maps beside them when ``--baseline`` holds maps of the same samples."""
    from probes.attribution import attribute as integrated_gradients
    from probes.datasets import load_probe_data
    from probes.figures import attribution_overlays
    from sgt_eval.models import load_model
    from sgt_eval.models.base import Query, parse_model_args

    if not args.model:
        raise UserError("probe attribute needs --model SPEC: attributions are computed from the model")
    samples, _ = load_probe_data(args.data, question=args.question,
                                 data_root=Path(args.data_root) if args.data_root else None)
    samples = [s for s in samples if s.answer][: args.samples]
    if not samples:
        raise UserError(f"--data {args.data}: attribution needs samples with answers (shapes:N or bench:NAME)")
    model = load_model(args.model, parse_model_args(args.model_args), args.seed)
    model = getattr(model, "mllm", model)  # omnigen2: its transformers MLLM is what answers
    if not hasattr(model, "processor"):  # integrated gradients run through a transformers model's embeddings
        raise UserError(f"probe attribute works on transformers models (tiny-random, hf:, omnigen2:), not "
                        f"{args.model}; its attention and hidden-state probes do work")
    directory = capture_dir(Path(args.out), args.data) / "attribution"
    name = run_name(Path(args.out))
    base_file = capture_dir(Path(args.baseline), args.data) / "attribution" / "maps.json" if args.baseline else None
    base = json.loads(base_file.read_text(encoding="utf-8")) if base_file and base_file.exists() else None
    maps: dict[str, dict] = {}
    paths: list[Path] = []
    for sample in samples:
        image = sample.load_image()
        found = integrated_gradients(model, Query(sample.question, (image,)), sample.answer, steps=args.steps)
        maps[sample.id] = {"grid": found.grid, "target": found.target, "baseline_target": found.baseline_target,
                           "total": found.total, "method": found.method, "answer": sample.answer}
        panels = {name: found.grid}
        if base and sample.id in base["maps"]:
            panels = {base["name"]: np.array(base["maps"][sample.id]["grid"]), **panels}
        paths += attribution_overlays(image, panels, directory / f"overlay_{sample.id}",
                                      title=f"{sample.question} → {sample.answer}")
    paths.insert(0, write_result(directory, "maps.json", {"name": name, "steps": args.steps, "maps": maps}))
    return paths
