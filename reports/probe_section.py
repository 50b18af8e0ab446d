"""The probes section: what ``sgt-eval probe`` wrote under ``RUN/probes/<data>/``, as charts.

Per probe data set: the text->visual attention share per layer (with and without sinks, 95% CI),
its change against the baseline (the paired CI that ``probe attention --baseline`` computed; a plain
difference of means, labelled so, when only separate captures exist), stacked key-category shares,
shared-coordinate embedding panels, per-layer separability with CI bands and the control task, and
the attribution overlays.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reports import charts
from reports.images import FIGURE, ImageStore
from reports.runs import Run

MAX_ATTRIBUTIONS = 4


def collect_probes(runs: Sequence[Run], baseline: Run, images: ImageStore) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(sections, specs)``: one section per probe data set, and the Vega-Lite specs they refer to."""
    sections, specs = [], {}
    names = sorted({name for run in runs for name in run.probes})
    for index, name in enumerate(names):
        folders = {run.label: run.probes[name] for run in runs if name in run.probes}
        section = ProbeSection(f"probe{index}", name, runs, baseline, folders)
        section.attention()
        section.embeddings()
        section.separability()
        section.attributions(images)
        if section.charts or section.figures:
            sections.append(section.summary())
            specs.update(section.specs)
    return sections, specs


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


class ProbeSection:
    """Builds the charts of one probe data set across the runs that have it."""

    def __init__(self, prefix: str, name: str, runs: Sequence[Run], baseline: Run, folders: dict[str, Path]) -> None:
        self.prefix, self.name = prefix, name
        self.runs = [r for r in runs if r.label in folders]
        # deltas are against the report's baseline, or the first run probed on this data if it was not
        self.baseline = baseline if baseline.label in folders else self.runs[0]
        self.folders = folders
        self.labels = [r.label for r in self.runs]
        self.by_probe_name = {r.probe_name: r.label for r in self.runs}
        self.charts: list[dict[str, str]] = []
        self.specs: dict[str, Any] = {}
        self.figures: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "charts": self.charts, "figures": self.figures, "notes": self.notes}

    def add(self, spec: dict[str, Any], caption: str) -> None:
        chart_id = f"{self.prefix}-{len(self.charts)}"
        self.specs[chart_id] = spec
        self.charts.append({"id": chart_id, "caption": caption})

    def files(self, pattern: str) -> dict[str, dict[str, Any]]:
        """``{file name: the copy that covers the most runs}`` over the runs' probe folders."""
        best: dict[str, dict[str, Any]] = {}
        for folder in self.folders.values():
            for path in sorted(folder.glob(pattern)):
                document = read_json(path)
                if document is None or not isinstance(document.get("runs", document.get("coords")), dict):
                    continue
                if len(self.covered(document)) > len(self.covered(best.get(path.name, {}))):
                    best[path.name] = document
        return best

    def covered(self, document: dict[str, Any]) -> list[str]:
        entries = document.get("runs", document.get("coords")) or {}
        return [self.by_probe_name[n] for n in entries if n in self.by_probe_name]

    # -- attention --------------------------------------------------------------------------------
    def attention(self) -> None:
        entries: dict[str, dict[str, Any]] = {}
        documents = {label: read_json(folder / "attention.json") for label, folder in self.folders.items()}
        categories: list[str] = []
        for document in filter(None, documents.values()):
            categories = categories or list(document.get("categories", []))
            for probe_name, entry in document.get("runs", {}).items():
                label = self.by_probe_name.get(probe_name)
                if label and (label not in entries or documents.get(label) is document):
                    entries[label] = entry
        if not entries or "visual" not in categories:
            return
        col = categories.index("visual")
        rows = []
        for label in self.labels:
            entry = entries.get(label)
            if entry is None:
                continue
            for layer, (shares, plain, ci) in enumerate(zip(entry["shares"], entry["shares_without_sinks"],
                                                            entry["visual_ci"])):
                rows.append({"run": label, "layer": layer, "value": shares[col], "low": ci[0], "high": ci[1],
                             "keys": "all keys"})
                rows.append({"run": label, "layer": layer, "value": plain[col], "low": None, "high": None,
                             "keys": "sinks removed"})
        self.add(charts.layer_curves(rows, self.labels, "Text → visual attention share per layer",
                                     "share on visual tokens", dash="keys"),
                 "Mean over heads and images of the query rows' attention on visual tokens; band: 95% bootstrap "
                 "CI over images; dashed: attention sinks removed and the rest renormalised.")
        self._attention_delta(documents, entries, col)
        shares = [{"run": label, "layer": layer, "category": cat, "share": value, "order": k}
                  for label in self.labels if label in entries
                  for layer, values in enumerate(entries[label]["shares"]) for k, (cat, value) in
                  enumerate(zip(categories, values))]
        self.add(charts.stacked_shares(shares, self.labels, categories, "Attention by key category per layer"),
                 "Share of attention on visual tokens, the question's object / colour / position / other words, "
                 "special tokens, answer tokens and sinks.")

    def _attention_delta(self, documents: dict[str, Any], entries: dict[str, dict[str, Any]], col: int) -> None:
        base = self.baseline.label
        rows, largest = [], []
        for label in self.labels:
            if label == base:
                continue
            own = documents.get(label) or {}
            paired = "delta" in own and self.baseline.probe_name in own.get("runs", {})
            if paired:
                delta = own["delta"]
                rows += [{"run": label, "layer": layer, "value": v, "low": ci[0], "high": ci[1]}
                         for layer, (v, ci) in enumerate(zip(delta["visual"], delta["visual_ci"]))]
                largest.append(f"{label}: largest change at layer {delta['largest_layer']}")
            elif label in entries and base in entries:
                rows += [{"run": label, "layer": layer, "value": a[col] - b[col], "low": None, "high": None}
                         for layer, (a, b) in enumerate(zip(entries[label]["shares"], entries[base]["shares"]))]
                self.notes.append(f"{label}: attention change is a difference of means without a paired CI; run "
                                  f"`sgt-eval probe attention --data {self.name} --out RUN --baseline BASELINE` for it")
        if rows:
            self.add(charts.layer_curves(rows, self.labels, f"Change of the visual share vs {base}",
                                         "Δ share on visual tokens", zero_rule=True),
                     "Per layer, this run minus the baseline over the samples both traced; band: paired 95% "
                     "bootstrap CI over images. " + "; ".join(largest))

    # -- embeddings and separability ------------------------------------------------------------------
    def embeddings(self) -> None:
        for file_name, document in self.files("embed_*.json").items():
            coords, labels = document["coords"], document.get("labels", {})
            rows = [{"run": self.by_probe_name[n], "x": xy[0], "y": xy[1], "label": str(lab)}
                    for n in coords if n in self.by_probe_name for xy, lab in zip(coords[n], labels.get(n, []))]
            if not rows:
                continue
            reference = self.by_probe_name.get(document.get("reference"), document.get("reference"))
            title = f"{document.get('method', '?')} of '{document.get('reducer', '?')}' at layer {document.get('layer')}"
            self.add(charts.scatter_panels(rows, self.labels, title),
                     f"{file_name}: fitted on {reference}; the other panels are placed into its map, so positions "
                     "are comparable across panels.")

    def separability(self) -> None:
        for file_name, document in self.files("separability_*.json").items():
            pair = " vs ".join(map(str, document.get("pair", [])))
            for probe, what in (("pair", f"the confusable pair ({pair})"), ("all", "all classes")):
                rows = []
                for probe_name, curves in document["runs"].items():
                    label = self.by_probe_name.get(probe_name)
                    for r in (curves.get(probe) or []) if label else []:
                        rows.append({"run": label, "layer": r["layer"], "value": r["accuracy"], "low": r["ci_low"],
                                     "high": r["ci_high"], "task": "probe", "chance": r["chance"]})
                        rows.append({"run": label, "layer": r["layer"], "value": r["control_accuracy"],
                                     "low": None, "high": None, "task": "control (shuffled labels)",
                                     "chance": r["chance"]})
                if rows:
                    self.add(charts.layer_curves(rows, self.labels, f"Linear separability of {what}",
                                                 "out-of-fold accuracy", dash="task", reference="chance"),
                             f"{file_name}: logistic-regression probe per layer, cross-validated by image; band: 95% "
                             "CI; dashed: the control task; dotted rule: chance (the majority-class rate).")

    def attributions(self, images: ImageStore) -> None:
        # the latest run's overlays already hold the baseline's panel beside its own
        for label in reversed(self.labels):
            overlays = sorted((self.folders[label] / "attribution").glob("overlay_*.png"))[:MAX_ATTRIBUTIONS]
            for path in overlays:
                key = images.add(path, FIGURE)
                if key:
                    self.figures.append({"image": key, "caption": f"{label}: integrated gradients, {path.stem}"})
            if self.figures:
                return
