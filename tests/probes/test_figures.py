"""probes.figures renders readable PNG + SVG pairs headless; checks are on the written files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from probes import figures

CATEGORIES = ["visual", "object", "colour", "position", "other words", "special", "answer"]
L = 28
# seaborn "colorblind" blue and orange: the first two checkpoint / category colours
BLUE, ORANGE = (1, 115, 178), (222, 143, 5)


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)


def _shares(visual: np.ndarray) -> np.ndarray:
    """(L, 7) rows summing to 1 with the given visual column; the rest split by fixed weights."""
    weights = np.array([3.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    rest = (1 - visual)[:, None] * weights / weights.sum()  # (L, 6)
    return np.column_stack([visual, rest])  # (L, 7)


def _png_ok(path: Path, size: tuple[int, int], colours: tuple[tuple[int, int, int], ...] = ()) -> None:
    image = Image.open(path).convert("RGB")
    assert abs(image.size[0] - size[0]) <= 2 and abs(image.size[1] - size[1]) <= 2, image.size
    pixels = np.asarray(image).reshape(-1, 3).astype(int)  # (H*W, 3)
    packed = pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]  # one int per colour: np.unique(axis=0) is slow
    assert len(np.unique(packed)) > 100  # anti-aliased drawing, not a flat fill
    assert pixels.std() > 20  # a blank white canvas has 0
    for colour in colours:
        near = np.abs(pixels - np.array(colour)).max(axis=1) <= 6
        assert near.sum() > 200, f"colour {colour} drawn on only {near.sum()} pixels"


def _svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text")]


def test_attention_curves_draws_shares_bands_and_deltas(tmp_path: Path) -> None:
    layers = np.arange(L)
    shares = {
        "base": _shares(0.3 + 0.0 * layers),
        "sgt-v1": _shares(0.3 + 0.2 * (layers == 26) + 0.05 * (layers == 10)),
        "sgt-v2": _shares(0.3 - 0.25 * (layers == 3) + 0.1 * (layers == 26)),
    }
    ci = {name: np.column_stack([s[:, 0] - 0.03, s[:, 0] + 0.03]) for name, s in shares.items()}
    png, svg = figures.attention_curves(shares, CATEGORIES, tmp_path / "deep" / "attn", baseline="base", ci=ci)
    assert (png, svg) == (tmp_path / "deep" / "attn.png", tmp_path / "deep" / "attn.svg")
    _png_ok(png, (1200, 975), colours=(BLUE, ORANGE))
    texts = _svg_texts(svg)
    for expected in ["base", "sgt-v1", "sgt-v2", "layer", "share of attention on visual", "Δ share vs base"]:
        assert expected in texts
    # the largest |delta| is at layer 26 for v1 and at layer 3 (a drop) for v2; nothing else is annotated
    assert sorted(t for t in texts if t.startswith("layer ")) == ["layer 26: +0.200", "layer 3: −0.250"]


def test_attention_curves_without_baseline_has_one_panel(tmp_path: Path) -> None:
    shares = {"base": _shares(np.linspace(0.2, 0.4, 12)), "sgt": _shares(np.linspace(0.2, 0.6, 12))}
    png, svg = figures.attention_curves(shares, CATEGORIES, tmp_path / "a", category="colour", title="My title")
    _png_ok(png, (1200, 600), colours=(BLUE, ORANGE))
    texts = _svg_texts(svg)
    assert "My title" in texts and "share of attention on colour" in texts
    assert not any(t.startswith("Δ") or t.startswith("layer ") for t in texts)


def test_attention_curves_rejects_bad_input(tmp_path: Path) -> None:
    good = {"base": _shares(np.full(L, 0.3))}
    with pytest.raises(ValueError, match="category 'pixels'"):
        figures.attention_curves(good, CATEGORIES, tmp_path / "x", category="pixels")
    with pytest.raises(ValueError, match="baseline 'sgt'"):
        figures.attention_curves(good, CATEGORIES, tmp_path / "x", baseline="sgt")
    with pytest.raises(ValueError, match=r"\(layers, 7\)"):
        figures.attention_curves({**good, "short": _shares(np.full(L - 1, 0.3))}, CATEGORIES, tmp_path / "x")
    assert not (tmp_path / "x.png").exists()


def test_category_bars_panels_and_grouped_last_layers(tmp_path: Path) -> None:
    shares = {"base": _shares(np.full(L, 0.3)), "sgt": _shares(np.linspace(0.3, 0.6, L))}
    png, svg = figures.category_bars(shares, CATEGORIES, tmp_path / "bars")
    _png_ok(png, (1350, 840), colours=(BLUE, ORANGE))
    texts = _svg_texts(svg)
    assert {*CATEGORIES, "base", "sgt", "layer", "share"} <= set(texts)

    png, svg = figures.category_bars(shares, CATEGORIES, tmp_path / "bars-last", layers=[-3, -2, -1])
    _png_ok(png, (1162, 675), colours=(BLUE, ORANGE))
    texts = _svg_texts(svg)
    assert {"25", "26", "27", "layer", *CATEGORIES} <= set(texts)
    assert texts.count("base") == 3 and texts.count("sgt") == 3  # a bar per checkpoint in every layer group
    assert texts.count("visual") == 1  # the legend lists each category once
    with pytest.raises(ValueError, match="out of range"):
        figures.category_bars(shares, CATEGORIES, tmp_path / "bad", layers=[28])


def test_shared_limits_hand_computed() -> None:
    coords = {"a": np.array([[0.0, 0.0], [10.0, 5.0]]), "b": np.array([[-10.0, 20.0], [np.nan, 99.0]])}
    # x spans [-10, 10] and y [0, 20] (the NaN row is ignored); 10% of 20 is 2 on each side
    assert figures.shared_limits(coords, margin=0.1) == ((-12.0, 12.0), (-2.0, 22.0))
    assert figures.shared_limits({"one": np.array([[1.0, 2.0]])}) == ((0.5, 1.5), (1.5, 2.5))


def _tick_labels(svg: Path) -> list[tuple[list[str], list[str]]]:
    """Per axes in the SVG, its x and y tick labels."""
    root = ET.parse(svg).getroot()
    panels = []
    for axes in (el for el in root.iter() if (el.get("id") or "").startswith("axes_")):
        ticks = [g for g in axes.iter() if (g.get("id") or "").startswith(("xtick_", "ytick_"))]
        label = {id(g): "".join(t for el in g.iter() if el.tag.endswith("}text") for t in el.itertext()) for g in ticks}
        xs = [label[id(g)] for g in ticks if g.get("id", "").startswith("xtick_")]
        ys = [label[id(g)] for g in ticks if g.get("id", "").startswith("ytick_")]
        panels.append((xs, ys))
    return panels


def test_embedding_panels_share_limits_and_highlight_pair(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    classes = ["red cube", "red sphere", "blue cube", "green cone"]
    labels = {name: [c for c in classes for _ in range(40)] for name in ("base", "sgt")}
    # the two checkpoints live in far-apart regions: only shared limits give both panels the same ticks
    coords = {"base": rng.uniform(0, 1, (160, 2)), "sgt": rng.uniform(0, 1, (160, 2)) * 5 + [5, -20]}
    png, svg = figures.embedding_panels(coords, labels, tmp_path / "emb", highlight=["red cube", "red sphere"])
    _png_ok(png, (1470, 660), colours=(BLUE, ORANGE))
    texts = _svg_texts(svg)
    assert {*classes, "base", "sgt", "t-SNE 1", "t-SNE 2"} <= set(texts)
    (base_x, base_y), (sgt_x, sgt_y) = _tick_labels(svg)
    assert base_x == sgt_x and base_y == sgt_y
    assert "0" in base_x and "10" in base_x and "−20" in base_y  # the union of both ranges
    with pytest.raises(ValueError, match="highlight classes"):
        figures.embedding_panels(coords, labels, tmp_path / "bad", highlight=["red cylinder"])


def test_probe_curves_lines_control_chance_and_literal_names(tmp_path: Path) -> None:
    def rows(top: float) -> list[dict[str, float]]:
        acc = 0.5 + (top - 0.5) * np.arange(L) / (L - 1)
        keys = ("layer", "accuracy", "ci_low", "ci_high", "control_accuracy", "chance")
        return [dict(zip(keys, (i, a, a - 0.05, a + 0.05, 0.52, 0.5))) for i, a in enumerate(acc)]

    name = "sgt $lr=1e-5$"  # a dollar pair would be mathtext if parsing were on
    results = {"base": rows(0.7), name: rows(0.95)}
    png, svg = figures.probe_curves(results, tmp_path / "probe", pair="red cube vs red sphere")
    _png_ok(png, (1200, 675), colours=(BLUE, ORANGE))
    texts = _svg_texts(svg)
    for expected in ["base", name, "control task", "chance", "95% CI", "layer", "probe accuracy"]:
        assert expected in texts
    assert "Linear probe: red cube vs red sphere" in texts
    shuffled = [results["base"][i] for i in np.random.default_rng(0).permutation(L)]
    table = figures._probe_table("base", shuffled)
    assert table["layer"].tolist() == list(range(L)) and table["accuracy"][-1] == pytest.approx(0.7)
    no_chance = {"layer": 0, "accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6, "control_accuracy": 0.5}
    assert np.isnan(figures._probe_table("x", [no_chance])["chance"]).all()
    no_control = {k: v for k, v in no_chance.items() if k != "control_accuracy"}
    with pytest.raises(ValueError, match="lacks \\['control_accuracy'\\]"):
        figures.probe_curves({"base": [no_control]}, tmp_path / "x")


def test_attribution_overlays_shared_symmetric_scale(tmp_path: Path) -> None:
    image = Image.new("RGB", (160, 120), (200, 220, 240))
    image.paste((220, 30, 30), (20, 40, 70, 90))
    base = np.zeros((3, 4))
    base[1, 0] = 1.0
    base[1, 3] = -0.5
    sgt = np.zeros((6, 8))
    sgt[2:4, 0:2] = 2.0
    png, svg = figures.attribution_overlays(image, {"base": base, "sgt": sgt}, tmp_path / "attr", title="What is red?")
    _png_ok(png, (1620, 495))
    texts = _svg_texts(svg)
    assert {"image", "base", "sgt", "attribution", "What is red?"} <= set(texts)
    # one colour bar for both maps, symmetric about 0 at the largest magnitude of either (2.0)
    assert {"−2", "0", "2"} <= set(texts) or {"−2.0", "0.0", "2.0"} <= set(texts)
    norm, _, diverging = figures._attribution_scale({"base": base, "sgt": sgt})
    assert diverging and (norm.vmin, norm.vmax) == (-2.0, 2.0)
    norm, _, diverging = figures._attribution_scale({"a": np.array([[1.0, 3.0]]), "b": np.array([[2.0, 5.0]])})
    assert not diverging and (norm.vmin, norm.vmax) == (1.0, 5.0)
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        figures.attribution_overlays(image, {"base": np.zeros(5)}, tmp_path / "bad")
