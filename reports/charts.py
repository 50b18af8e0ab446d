"""Vega-Lite specs (plain dicts, data inline) for the report's charts.

Runs keep one colour in every chart (``colour`` below lists them in report order). Specs carry no
``$schema`` URL and no external data: the page embeds them with ``mode: "vega-lite"`` and nothing is
fetched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Spec = dict[str, Any]
Rows = list[dict[str, Any]]
WIDTH, HEIGHT = 440, 220
# Okabe-Ito (colour-blind safe), in the order runs are given
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def colour(runs: Sequence[str]) -> dict[str, Any]:
    return {"field": "run", "type": "nominal", "title": None, "legend": {"symbolType": "stroke", "symbolOpacity": 1},
            "scale": {"domain": list(runs), "range": [PALETTE[i % len(PALETTE)] for i in range(len(runs))]}}


def _layer_x(rows: Rows) -> dict[str, Any]:
    layers = sorted({r["layer"] for r in rows})
    step = max(1, len(layers) // 16)  # at most about 16 labels however deep the model
    return {"field": "layer", "type": "quantitative", "title": "layer", "axis": {"values": layers[::step], "format": "d"}}


def layer_curves(rows: Rows, runs: Sequence[str], title: str, y_title: str, zero_rule: bool = False,
                 dash: str | None = None, reference: str | None = None) -> Spec:
    """``value`` per layer and run, a shaded ``low``-``high`` band where given, optionally dashed by ``dash``,
    with a dotted rule at the mean of the ``reference`` field (e.g. the chance rate)."""
    line: Spec = {"mark": {"type": "line", "point": True},
                  "encoding": {"y": {"field": "value", "type": "quantitative", "title": y_title,
                                     "scale": {"zero": False}}, "color": colour(runs),
                               "tooltip": [{"field": f} for f in ("run", "layer", "value", "low", "high")]}}
    if dash:
        line["encoding"]["strokeDash"] = {"field": dash, "type": "nominal", "title": None,
                                          "legend": {"symbolType": "stroke"}}
    # the band skips rows without an interval instead of breaking at them
    band: Spec = {"transform": [{"filter": {"field": "low", "valid": True}}], "mark": {"type": "area", "opacity": 0.2},
                  "encoding": {"y": {"field": "low", "type": "quantitative"}, "y2": {"field": "high"},
                               "color": colour(runs)}}
    layers: list[Spec] = [band, line]
    if zero_rule:
        layers.append({"mark": {"type": "rule", "color": "#888"}, "encoding": {"y": {"datum": 0}}})
    if reference:
        layers.append({"mark": {"type": "rule", "color": "#888", "strokeDash": [2, 3]},
                       "encoding": {"y": {"aggregate": "mean", "field": reference}}})
    return {"title": title, "width": WIDTH, "height": HEIGHT, "data": {"values": rows},
            "encoding": {"x": _layer_x(rows)}, "layer": layers}


def _panels(runs: Sequence[str]) -> dict[str, Any]:
    return {"column": {"field": "run", "type": "nominal", "title": None, "sort": list(runs)}}


def stacked_shares(rows: Rows, runs: Sequence[str], categories: Sequence[str], title: str) -> Spec:
    """Per-layer stacked attention shares by key category, one panel per run."""
    return {"title": title, "data": {"values": rows}, "facet": _panels(runs),
            "spec": {"width": 260, "height": HEIGHT, "mark": "bar",
                     "encoding": {"x": {"field": "layer", "type": "ordinal", "title": "layer"},
                                  "y": {"field": "share", "type": "quantitative", "title": "share of attention",
                                        "stack": "zero"},
                                  "color": {"field": "category", "type": "nominal", "sort": list(categories),
                                            "scale": {"domain": list(categories)}},
                                  "order": {"field": "order", "type": "quantitative"},
                                  "tooltip": [{"field": f} for f in ("run", "layer", "category", "share")]}}}


def scatter_panels(rows: Rows, runs: Sequence[str], title: str) -> Spec:
    """2-D embedding panels in shared coordinates, one per run, coloured by class."""
    return {"title": title, "data": {"values": rows}, "facet": _panels(runs),
            "spec": {"width": 300, "height": 300, "mark": {"type": "circle", "size": 22, "opacity": 0.75},
                     "encoding": {"x": {"field": "x", "type": "quantitative", "title": None, "axis": {"labels": False}},
                                  "y": {"field": "y", "type": "quantitative", "title": None, "axis": {"labels": False}},
                                  "color": {"field": "label", "type": "nominal", "title": "class"},
                                  "tooltip": [{"field": "label"}, {"field": "run"}]}}}


def forest(rows: Rows, runs: Sequence[str], title: str, x_title: str) -> Spec:
    """Deltas with their intervals, one line per benchmark and run, and a rule at zero."""
    y = {"field": "bench", "type": "nominal", "title": None, "sort": None}
    return {"title": title, "width": WIDTH, "height": {"step": 22}, "data": {"values": rows},
            "encoding": {"y": y, "yOffset": {"field": "run"}, "color": colour(runs)},
            "layer": [{"mark": {"type": "rule", "strokeWidth": 2},
                       "encoding": {"x": {"field": "low", "type": "quantitative", "title": x_title}, "x2": {"field": "high"}}},
                      {"mark": {"type": "point", "filled": True, "size": 60},
                       "encoding": {"x": {"field": "delta", "type": "quantitative"},
                                    "tooltip": [{"field": f} for f in ("bench", "run", "delta", "low", "high")]}},
                      {"mark": {"type": "rule", "color": "#888", "strokeDash": [4, 3]}, "encoding": {"x": {"datum": 0}}}]}
