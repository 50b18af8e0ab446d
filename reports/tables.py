"""The summary as paper-ready tables: Markdown, CSV (long, raw numbers) and LaTeX (booktabs).

Markdown and LaTeX print values as the HTML report does (accuracy-type headlines in percent, deltas
in percentage points, 95% intervals in brackets); CSV keeps the raw numbers of ``metrics.json``
(fractions in [0, 1]) with one row per benchmark and run, for scripts.
"""

from __future__ import annotations

import csv
import io

from benchmarks.base import shown
from reports.compare import BenchmarkRow, Comparison
from reports.stats import Interval


def signed(value: float | None, unit: str) -> str:
    """A delta in display units with its sign: ``+6.02`` (percentage points) or ``-0.125``."""
    if value is None:
        return "n/a"
    text = shown(float(value), unit)
    return text if text.startswith("-") or value == 0 else "+" + text


def bracket(interval: Interval, unit: str, sign: bool = False) -> str:
    if interval.low is None or interval.high is None:
        return ""
    show = (lambda v: signed(v, unit)) if sign else (lambda v: shown(float(v), unit))
    return f"[{show(interval.low)}, {show(interval.high)}]"


def p_value(p: float | None) -> str:
    if p is None:
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def header(comparison: Comparison) -> list[str]:
    columns = ["Benchmark", "Metric"] + [r.label for r in comparison.runs]
    for run in comparison.compared:
        columns += [f"Δ {run.label} (95% CI)", "p"]
    if comparison.references:
        columns += [f"{model} ({comparison.references.source})" for model in comparison.references.models]
    return columns


def row_cells(row: BenchmarkRow, comparison: Comparison, with_ci: bool = True) -> list[str]:
    cells = [row.title, f"{row.metric} ({_protocols(row)})"]
    for run in comparison.runs:
        cell = row.cells.get(run.label)
        if cell is None:
            cells.append("")
            continue
        ci = bracket(cell.interval, row.unit) if with_ci else ""
        cells.append(f"{shown(cell.value, row.unit)} {ci}".strip())
    for run in comparison.compared:
        delta = row.deltas.get(run.label)
        if delta is None:
            cells += ["", ""]
            continue
        cells += [f"{signed(delta.interval.estimate, row.unit)} {bracket(delta.interval, row.unit, sign=True)}".strip(),
                  p_value(delta.test.p if delta.test else None)]
    if comparison.references:
        cells += [shown_reference(row.references.get(model), row.unit) for model in comparison.references.models]
    return cells


def shown_reference(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if unit == "fraction" else f"{value:.3f}"


def _protocols(row: BenchmarkRow) -> str:
    return " / ".join(dict.fromkeys(c.protocol for c in row.cells.values()))


def markdown(comparison: Comparison) -> str:
    lines = [header(comparison)] + [row_cells(r, comparison) for r in comparison.rows]
    escaped = [[c.replace("|", "\\|") for c in line] for line in lines]
    out = ["| " + " | ".join(escaped[0]) + " |", "|" + "|".join(["---"] * 2 + ["--:"] * (len(escaped[0]) - 2)) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in escaped[1:]]
    out += [f"\n{_legend(comparison)}"] + [f"- warning: {w}" for w in comparison.warnings]
    return "\n".join(out) + "\n"


def _legend(comparison: Comparison) -> str:
    return (f"Accuracy-type scores in percent, deltas in percentage points vs {comparison.baseline.label}; "
            f"[95% paired bootstrap interval, {comparison.n_boot} resamples, seed {comparison.seed}]; "
            "p: McNemar's exact test.")


CSV_FIELDS = ("benchmark", "metric", "protocol", "unit", "run", "baseline", "value", "ci_low", "ci_high", "n",
              "n_dataset", "n_unparsed", "n_errors", "graded_by", "delta", "delta_low", "delta_high", "n_common",
              "mcnemar_p", "mcnemar_b", "mcnemar_c", "tested_on")


def csv_table(comparison: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in comparison.rows:
        for run in comparison.runs:
            cell = row.cells.get(run.label)
            if cell is None:
                continue
            delta = row.deltas.get(run.label)
            writer.writerow({
                "benchmark": row.name, "metric": row.metric, "protocol": cell.protocol, "unit": row.unit,
                "run": run.label, "baseline": run is comparison.baseline, "value": cell.value,
                "ci_low": cell.interval.low, "ci_high": cell.interval.high, "n": cell.n, "n_dataset": cell.n_dataset,
                "n_unparsed": cell.n_unparsed, "n_errors": cell.n_errors, "graded_by": cell.grader,
                **({"delta": delta.interval.estimate, "delta_low": delta.interval.low,
                    "delta_high": delta.interval.high, "n_common": delta.n_common,
                    "tested_on": delta.tested_on} if delta else {}),
                **({"mcnemar_p": delta.test.p, "mcnemar_b": delta.test.b, "mcnemar_c": delta.test.c}
                   if delta and delta.test else {}),
            })
    return buffer.getvalue()


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "<": r"\textless{}", ">": r"\textgreater{}", "Δ": r"$\Delta$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex(comparison: Comparison) -> str:
    columns = header(comparison)
    spec = "ll" + "r" * (len(columns) - 2)
    lines = ["% sgt-eval compare: needs \\usepackage{booktabs}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(latex_escape(c) for c in columns) + r" \\", "\\midrule"]
    lines += [" & ".join(latex_escape(c) for c in row_cells(r, comparison)) + r" \\" for r in comparison.rows]
    lines += ["\\bottomrule", "\\end{tabular}", "% " + latex_escape(_legend(comparison))]
    return "\n".join(lines) + "\n"


FORMATS = {"md": markdown, "csv": csv_table, "latex": latex}
