"""The perf/ scripts still run and still print their ratios, on the smallest inputs.

Timings are never asserted (this machine is noisy); what must hold is that each script finishes,
prints its side-by-side ratio, and, where it compares two code paths, that both gave the same records.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_script(name: str, *args: str) -> str:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(REPO / "perf" / name), *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_geneval_scoring_compares_identical_records():
    out = run_script("geneval_scoring.py", "--images", "4", "--batch-size", "2", "--rounds", "1")
    rows = re.findall(r"^\s+(shapes|hf \(tiny\)).*ratio\s+([\d.]+)\s+identical records: (\w+)$", out, re.M)
    assert [(name, same) for name, _, same in rows] == [("shapes", "yes"), ("hf (tiny)", "yes")], out
    assert all(float(ratio) > 0 for _, ratio, _ in rows)


def test_judge_concurrency_prints_both_rates():
    out = run_script("judge_concurrency.py", "--samples", "4", "--latency-ms", "20")
    assert re.search(r"concurrency 1: [\d.]+ judged samples/s", out), out
    assert re.search(r"ratio 8 vs 1: [\d.]+x", out), out


def test_eval_overhead_prints_ratio():
    out = run_script("eval_overhead.py", "--bench", "pope", "--samples", "8", "--rounds", "1",
                     "--max-new-tokens", "4")
    assert re.search(r"throughput ratio sgt-eval / raw = [\d.]+", out), out


@pytest.mark.slow  # four fresh processes load torch for the memory section
def test_probe_overhead_prints_every_section():
    out = run_script("probe_overhead.py", "--length", "2048", "--tsne-n", "300", "--tsne-d", "64", "--rounds", "1")
    assert len(re.findall(r"ratio [\d.]+ \(goal <= 1.3\)", out)) == 2, out
    assert len(re.findall(r"ratio hook / eager = [\d.]+", out)) == 2, out
    assert "ratio scikit-learn" in out, out


def test_report_bootstrap_prints_both_intervals_and_the_ratio():
    out = run_script("report_bootstrap.py", "--replicates", "5", "--rounds", "1")
    assert len(re.findall(r"per replicate: +[\d.]+ ms +95% interval of delta", out)) == 2, out
    assert re.search(r"speed-up ratio aggregate / parts = \d+x", out), out


def test_gpu_throughput_compares_identical_answers():
    out = run_script("gpu_throughput.py", "--samples", "8", "--batch-size", "4", "--rounds", "1",
                     "--max-new-tokens", "2")
    assert "identical answers: yes" in out, out
    assert re.search(r"throughput ratio sgt-eval / VLMEvalKit[\w -]* = [\d.]+", out), out


def test_train_throughput_prints_the_mixing_ratio_and_wait_share():
    out = run_script("train_throughput.py", "--steps", "3", "--micro-batch", "3", "--rounds", "1", "--workers", "0")
    assert re.search(r"ratio mixing / single = [\d.]+ \(overhead [+-][\d.]+%; goal <= 5%\)", out), out
    assert re.search(r"data-loader wait share of step time [\d.]+%", out), out
