"""`sgt-eval probe` end to end on two tiny checkpoints: capture, attention with deltas, shared t-SNE,
per-layer separability and attribution, each writing JSON numbers and PNG/SVG figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sgt_eval.cli import main

DATA = "shapes:20"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe-runs")
    for name, seed in (("base", "0"), ("sgt", "1")):  # two different random checkpoints
        assert main(["probe", "capture", "--model", "tiny-random", "--model-args", "attn_implementation=sdpa",
                     "--seed", seed, "--data", DATA, "--out", str(root / name), "--shard-size", "16"]) == 0
    return root


def probe(runs, action, *extra, baseline=True):
    args = ["probe", action, "--data", DATA, "--out", str(runs / "sgt"), *extra]
    return main(args + (["--baseline", str(runs / "base")] if baseline else []))


def nontrivial_png(path):
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


def test_attention_numbers_and_delta(runs):
    assert probe(runs, "attention") == 0
    folder = runs / "sgt" / "probes" / "shapes-20"
    result = json.loads((folder / "attention.json").read_text())
    assert result["categories"][0] == "visual" and len(result["runs"]) == 2
    mine, base = (result["runs"][k] for k in sorted(result["runs"], key=lambda k: "base" in k))
    assert np.allclose(np.array(mine["shares"]).sum(-1), 1, atol=1e-4)      # (L, C) rows sum to one
    low, high = np.array(mine["visual_ci"]).T
    visual = np.array(mine["shares"])[:, 0]
    assert np.all(low <= visual + 1e-9) and np.all(visual <= high + 1e-9)
    delta = np.array(result["delta"]["visual"])                            # computed from the runs, per layer
    assert np.allclose(delta, visual - np.array(base["shares"])[:, 0], atol=1e-5)
    assert result["delta"]["n"] == 40
    assert nontrivial_png(folder / "attention_visual.png") and nontrivial_png(folder / "attention_categories.png")


def test_embed_shares_coordinates_with_the_baseline(runs):
    assert probe(runs, "embed", "--layer", "0") == 0
    folder = runs / "sgt" / "probes" / "shapes-20"
    result = json.loads((folder / "embed_tsne_visual_layer0.json").read_text())
    base_name, sgt_name = list(result["coords"])
    base, sgt = np.array(result["coords"][base_name]), np.array(result["coords"][sgt_name])
    assert base.shape == sgt.shape == (40, 2)
    # layer 0 holds the embeddings; the two images of each question pair are identical rows, so they coincide
    assert np.array_equal(sgt[0::2], sgt[1::2])
    assert nontrivial_png(folder / "embed_tsne_visual_layer0.png")


def test_separability_per_layer_with_pair_and_control(runs):
    assert probe(runs, "separability", "--pair", "pentagon,hexagon") == 0
    folder = runs / "sgt" / "probes" / "shapes-20"
    result = json.loads((folder / "separability_visual.json").read_text())
    for curves in result["runs"].values():
        assert [r["layer"] for r in curves["pair"]] == [0, 1, 2]
        for r in curves["pair"] + curves["all"]:
            assert r["ci_low"] <= r["accuracy"] <= r["ci_high"]
            assert "control_accuracy" in r and r["n_groups"] <= r["n"]
        assert curves["pair"][0]["classes"] == ["hexagon", "pentagon"] or set(curves["pair"][0]["classes"]) == {
            "pentagon", "hexagon"}
    assert nontrivial_png(folder / "separability_visual_pair.png")


def test_attribute_with_the_baseline_beside(runs):
    common = ["--model", "tiny-random", "--samples", "1", "--steps", "4"]
    assert main(["probe", "attribute", "--data", DATA, "--out", str(runs / "base"), "--seed", "0", *common]) == 0
    assert probe(runs, "attribute", "--seed", "1", *common) == 0
    folder = runs / "sgt" / "probes" / "shapes-20" / "attribution"
    maps = json.loads((folder / "maps.json").read_text())["maps"]
    assert list(maps) == ["00000-0"] and np.array(maps["00000-0"]["grid"]).ndim == 2
    assert nontrivial_png(folder / "overlay_00000-0.png")
    assert "base" in (folder / "overlay_00000-0.svg").read_text()         # the baseline's panel is there


def test_analysis_without_capture_or_model_is_one_clear_error(tmp_path, capsys):
    assert main(["probe", "attention", "--data", DATA, "--out", str(tmp_path / "none")]) == 2
    assert "--model" in capsys.readouterr().err
