"""Paper tables from ``sgt-eval compare --format md|csv|latex``; the LaTeX one is compiled with pdflatex."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import pytest
from report_env import required

from sgt_eval.cli import main


def compare_output(capsys, *args: str) -> str:
    assert main(["compare", *args, "--n-boot", "200"]) == 0
    return capsys.readouterr().out


def test_csv_holds_the_raw_numbers_of_the_runs(runs, capsys):
    rows = list(csv.DictReader(io.StringIO(compare_output(capsys, str(runs["base"]), str(runs["sgt"]), "--format", "csv"))))
    assert len(rows) == 14  # 7 benchmarks x 2 runs
    for row in rows:
        metrics = json.loads((runs[row["run"]] / row["benchmark"] / "metrics.json").read_text())
        assert float(row["value"]) == pytest.approx(metrics["headline"]["value"], abs=1e-12)
        assert int(row["n_unparsed"]) == metrics["n_unparsed"] and row["graded_by"] == metrics["grader"]
        assert float(row["ci_low"]) <= float(row["value"]) <= float(row["ci_high"])
    sgt_vsr = next(r for r in rows if r["run"] == "sgt" and r["benchmark"] == "vsr")
    base_vsr = next(r for r in rows if r["run"] == "base" and r["benchmark"] == "vsr")
    assert float(sgt_vsr["delta"]) == pytest.approx(float(sgt_vsr["value"]) - float(base_vsr["value"]))
    assert base_vsr["delta"] == "" and base_vsr["baseline"] == "True"


def test_markdown_table_shape(runs, capsys):
    text = compare_output(capsys, str(runs["base"]), str(runs["sgt"]), "--format", "md")
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 7 and all(line.count(" | ") == table[0].count(" | ") for line in table[2:])
    assert table[0].startswith("| Benchmark | Metric | base | sgt | Δ sgt (95% CI) | p |")
    assert re.search(r"\| VSR \| accuracy \(official \(split=zeroshot\)\) \| \d+\.\d\d \[", text)


def test_latex_is_balanced_escaped_and_compiles(runs, capsys, tmp_path):
    # a run folder with LaTeX specials in its name, which becomes a column header
    odd = tmp_path / "sgt_v2&50%"
    shutil.copytree(runs["sgt"], odd)
    text = compare_output(capsys, str(runs["base"]), str(odd), "--format", "latex")
    body = [line for line in text.splitlines() if not line.startswith("%")]
    assert body[0].startswith(r"\begin{tabular}{ll") and body[-1] == r"\end{tabular}"
    columns = len(re.match(r"\\begin\{tabular\}\{(\w+)\}", body[0]).group(1))
    rows = [line for line in body if line.endswith(r"\\")]
    assert len(rows) == 1 + 7
    for line in rows:
        assert len(re.findall(r"(?<!\\)&", line)) == columns - 1, line
        assert not re.search(r"(?<!\\)[_%#]", line), line
    assert r"sgt\_v2\&50\%" in text and text.count("{") - text.count(r"\{") == text.count("}") - text.count(r"\}")
    if not shutil.which("pdflatex"):
        required("pdflatex (Debian texlive-latex-recommended)")
        return
    (tmp_path / "table.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[margin=5mm,"
                                        "landscape]{geometry}\n\\begin{document}\n\\tiny\n" + text + "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "table.pdf").stat().st_size > 1000
