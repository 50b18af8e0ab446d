"""The self-contained HTML report: one file, data embedded once as JSON, Vega-Lite inlined, no requests.

The page is rendered with Jinja2 (autoescaped) from a :class:`reports.compare.Comparison`; flips,
galleries and charts are drawn by ``report.js`` from the JSON block, through ``textContent`` only.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import secrets
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from benchmarks.base import shown
from reports import charts
from reports.compare import BenchmarkRow, Comparison, Delta
from reports.flips import collect_flips
from reports.galleries import collect_galleries
from reports.images import ImageStore
from reports.probe_section import collect_probes
from reports.runs import Run
from reports.tables import bracket, p_value, shown_reference, signed
from sgt_eval import __version__

FLIPS = 50      # shown per benchmark, run and direction (all are counted)
GALLERY = 24    # prompts per generation benchmark


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert, so nothing is fetched)."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()
    if "</script" in bundle.lower():
        raise RuntimeError("the Vega bundle contains '</script' and cannot be inlined")
    return bundle


def asset(name: str) -> str:
    return resources.files("reports").joinpath("templates", name).read_text(encoding="utf-8")


def script_json(value: Any) -> str:
    """JSON that is inert inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` survive,
    so no model output can close the element or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def render_html(comparison: Comparison, *, flips: int = FLIPS, gallery: int = GALLERY, title: str | None = None,
                command: str = "") -> str:
    """The report page as a string."""
    images = ImageStore()
    others = comparison.others
    flip_data = collect_flips(comparison.baseline, others, images, flips) if others else None
    galleries = collect_galleries(comparison.runs, images, gallery)
    probes, specs = collect_probes(comparison.runs, comparison.baseline, images)
    forest = forest_spec(comparison)
    if forest:
        specs["summary-forest"] = forest
    labels = [r.label for r in comparison.runs]
    nav = [("summary", "Summary"), ("benchmarks", "Per benchmark")]
    nav += [("flips", "Flips")] if flip_data and flip_data["items"] else []
    nav += [("galleries", "Galleries")] if galleries else []
    nav += [("probes", "Probes")] if probes else []
    nav += [("provenance", "Provenance")]
    context = {
        "title": title or (f"sgt-eval report: {labels[0]}" if len(labels) == 1 else
                           f"sgt-eval comparison: {' vs '.join(labels)}"),
        "subtitle": f"baseline {comparison.baseline.label}" if others else str(comparison.runs[0].path),
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "version": __version__,
        "command": command, "nav": nav, "warnings": comparison.warnings, "notes": comparison.notes,
        "legend": legend(comparison), "runs": [run_view(r, comparison) for r in comparison.runs],
        "compared": comparison.compared,
        "baseline": comparison.baseline, "references": comparison.references,
        "rows": [summary_view(row, comparison) for row in comparison.rows],
        "forest": "summary-forest" if forest else None,
        "benchmarks": [benchmark_view(row, comparison) for row in comparison.rows],
        "has_flips": bool(flip_data and flip_data["totals"]), "has_galleries": bool(galleries), "probes": probes,
        "provenance": provenance_rows(comparison.runs), "nonce": secrets.token_urlsafe(18),
        "css": Markup(asset("report.css")), "report_js": Markup(asset("report.js")), "vega_js": Markup(vega_bundle()),
        "data_json": Markup(script_json({"charts": specs, "flips": flip_data, "galleries": galleries,
                                         "images": images.urls})),
    }
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(asset("report.html.j2")).render(**context)


def legend(comparison: Comparison) -> str:
    text = ("Accuracy-type scores in percent, GEdit-Bench on its 0-10 scale; brackets: 95% bootstrap interval "
            f"({comparison.n_boot} resamples of each benchmark's units, seed {comparison.seed})")
    if comparison.compared:
        text += (f". Δ: each run minus {comparison.baseline.label} over the samples both scored, with a paired "
                 "bootstrap interval (green/red when it excludes 0); p: McNemar's exact test on right/wrong.")
    return text + " Click a column header to sort."


def run_view(run: Run, comparison: Comparison) -> dict[str, Any]:
    return {"label": run.label, "is_baseline": run is comparison.baseline,
            "manifest_text": json.dumps(run.manifest, indent=2, sort_keys=True, ensure_ascii=False)}


def summary_view(row: BenchmarkRow, comparison: Comparison) -> dict[str, Any]:
    cells = []
    for run in comparison.runs:
        cell = row.cells.get(run.label)
        if cell is None:
            cells.append(None)
            continue
        flags = ["re-derived from predictions.jsonl"] if cell.rederived else []
        flags += [f"{cell.n} of {cell.n_dataset} scored"] if cell.n < cell.n_dataset else []
        flags += [f"unparsed {rate(cell.n_unparsed, cell.n)}"] if cell.n_unparsed else []
        cells.append({"text": shown(cell.value, row.unit), "ci": bracket(cell.interval, row.unit),
                      "sort": "" if cell.value is None else cell.value, "flag": "; ".join(flags),
                      "title": f"n={cell.n}/{cell.n_dataset}, unparsed {cell.n_unparsed}, errors {cell.n_errors}, "
                               f"graded by {cell.grader}, protocol {cell.protocol}"})
    deltas = [delta_view(row.deltas.get(run.label), row.unit) for run in comparison.compared]
    references = ([shown_reference(row.references.get(m), row.unit) for m in comparison.references.models]
                  if comparison.references else [])
    return {"name": row.name, "title": row.title, "metric": row.metric, "warnings": row.warnings,
            "protocols": " / ".join(dict.fromkeys(c.protocol for c in row.cells.values())), "cells": cells,
            "deltas": deltas, "references": references}


def delta_view(delta: Delta | None, unit: str) -> dict[str, Any] | None:
    if delta is None:
        return None
    iv = delta.interval
    css = ""
    if iv.low is not None and iv.high is not None:
        css = "sig-up" if iv.low > 0 else "sig-down" if iv.high < 0 else "ns-up" if (iv.estimate or 0) > 0 else \
            "ns-down" if (iv.estimate or 0) < 0 else ""
    title = f"over {delta.n_common} samples both runs scored"
    if iv.n_undefined:
        title += f"; {iv.n_undefined} of {iv.n_boot} resamples left a ratio undefined"
    test = delta.test
    return {"text": signed(iv.estimate, unit), "ci": bracket(iv, unit, sign=True), "css": css,
            "sort": "" if iv.estimate is None else iv.estimate, "title": "; ".join(filter(None, [title, delta.note])),
            "p": p_value(test.p) if test else "", "p_sort": test.p if test else "",
            "p_title": f"{test.b} right only for the baseline, {test.c} only for this run, over {test.n} "
                       f"{delta.tested_on}" if test else ""}


def forest_spec(comparison: Comparison) -> dict[str, Any] | None:
    rows = []
    for row in comparison.rows:
        for label, delta in row.deltas.items():
            iv = delta.interval
            if row.unit == "fraction" and iv.estimate is not None and iv.low is not None:
                rows.append({"bench": row.title, "run": label, "delta": 100 * iv.estimate, "low": 100 * iv.low,
                             "high": 100 * iv.high})
    if not rows:
        return None
    return charts.forest(rows, list(dict.fromkeys(r["run"] for r in rows)), "Δ vs " + comparison.baseline.label,
                         "Δ (percentage points)")


def flatten(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, number)`` for every number (or missing value) under a metrics ``scores`` tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif node is None or (isinstance(node, (int, float)) and not isinstance(node, bool)):
        yield prefix, node


def benchmark_view(row: BenchmarkRow, comparison: Comparison) -> dict[str, Any]:
    holders = [r for r in comparison.runs if row.name in r.benchmarks]
    base = comparison.baseline if row.name in comparison.baseline.benchmarks else None
    facts, notes, warnings = [], [], list(row.warnings)
    values: dict[str, dict[str, Any]] = {}
    for run in holders:
        result, cell = run.benchmarks[row.name], row.cells[run.label]
        m = result.metrics
        facts.append({"run": run.label, "protocol": cell.protocol, "grader": cell.grader,
                      "scored": f"{cell.n} / {cell.n_dataset}", "unparsed": rate(cell.n_unparsed, cell.n),
                      "errors": str(cell.n_errors), "units": f"{cell.interval.n_units} {row.unit_name}s"})
        notes += [n for n in m.get("notes", []) if n not in notes]
        warnings += [f"{run.label}: {w}" for w in m.get("warnings", [])]
        values[run.label] = dict(flatten(m.get("scores", {})))
    paths = list(dict.fromkeys(p for v in values.values() for p in v))
    columns = [r.label for r in holders]
    deltas = [r for r in holders if base is not None and r is not base]
    columns += [f"Δ {r.label}" for r in deltas]
    rows = []
    for path in paths:
        cells = [number_cell(values[r.label].get(path), row.unit) for r in holders]
        for r in deltas:
            a, b = values[base.label].get(path), values[r.label].get(path)
            diff = None if a is None or b is None else b - a
            text = "" if diff is None else f"{diff:+d}" if isinstance(diff, int) else signed(diff, row.unit)
            cells.append({"text": text, "sort": "" if diff is None else diff,
                          "css": "ns-up" if (diff or 0) > 0 else "ns-down" if (diff or 0) < 0 else ""})
        rows.append({"path": path, "cells": cells})
    return {"name": row.name, "title": row.title, "metric": row.metric, "facts": facts, "notes": notes,
            "warnings": warnings, "columns": columns, "rows": rows}


def number_cell(value: Any, unit: str) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {"text": "n/a", "sort": "", "css": ""}
    return {"text": shown(value, unit), "sort": value, "css": ""}


def rate(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f}%)" if total else str(count)


def provenance_rows(runs: list[Run]) -> list[tuple[str, list[str]]]:
    def get(manifest: dict[str, Any], path: str) -> Any:
        for key in path.split("."):
            manifest = manifest.get(key) if isinstance(manifest, dict) else None
        return manifest

    fields = [("model", "model.spec"), ("checkpoint sha256", "model.checkpoint.sha256"), ("dtype", "model.dtype"),
              ("attention", "model.attn_implementation"), ("device", "model.device"), ("seed", "seed"),
              ("batch size", "batch_size"), ("data", "data_source"), ("data root", "data_root"),
              ("judge", "judge.model"), ("sgt-eval", "environment.sgt_eval"), ("git", "environment.git.sha"),
              ("python", "environment.python"), ("torch", "environment.packages.torch"),
              ("transformers", "environment.packages.transformers"), ("created", "created"), ("updated", "updated")]
    rows = [("run directory", [str(r.path) for r in runs])]
    for name, path in fields:
        values = [get(r.manifest, path) for r in runs]
        if name == "git":
            values = [f"{v}{' (dirty)' if get(r.manifest, 'environment.git.dirty') else ''}" if v else None
                      for v, r in zip(values, runs)]
        rows.append((name, ["—" if v is None else str(v) for v in values]))
    rows.append(("benchmarks", [", ".join(r.benchmarks) or "—" for r in runs]))
    rows.append(("probe data", [", ".join(r.probes) or "—" for r in runs]))
    return rows
