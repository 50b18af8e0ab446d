"""Run directories made by the real ``sgt-eval run`` with the ShapesWorld oracle (tests/reports/oracle.py).

``base`` answers 45% of questions right, ``sgt`` 70% (its wrong answers are HTML/script injections), both
on the seven ShapesWorld benchmarks; ``pope-vlmevalkit`` is ``base`` on POPE under another protocol.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sgt_eval.cli import main
from sgt_eval.models import BACKENDS

if "oracle" not in BACKENDS.names():
    BACKENDS.add("oracle", "oracle:load_oracle", "oracle:<accuracy>: knows ShapesWorld's answers (tests only)")


def make_run(out: Path, accuracy: float, *extra: str) -> Path:
    assert main(["run", "--model", f"oracle:{accuracy}", "--out", str(out), *extra]) == 0
    return out


def make_suite(out: Path, accuracy: float, *extra: str) -> Path:
    """All five understanding benchmarks, and the first 12 GenEval prompts (48 images) and 48 GEdit edits:
    the exact shape detector takes about 60 ms an image."""
    make_run(out, accuracy, "--suite", "understanding", *extra)
    return make_run(out, accuracy, "--suite", "generation", "--limit", "48", *extra)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report-runs")
    return {
        "base": make_suite(root / "base", 0.45),
        "sgt": make_suite(root / "sgt", 0.7, "--model-args", "payload=1"),
        "pope-vlmevalkit": make_run(root / "pope-vlmevalkit", 0.45, "--bench", "pope", "--protocol", "vlmevalkit"),
    }


@pytest.fixture(scope="session")
def probe_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny random checkpoints probed on 60 ShapesWorld images, the second against the first."""
    root = tmp_path_factory.mktemp("probe-runs")
    base, sgt = root / "probe-base", root / "probe-sgt"
    assert main(["probe", "attention", "--model", "tiny-random", "--data", "shapes:40", "--out", str(base)]) == 0
    common = ["--data", "shapes:40", "--out", str(sgt), "--baseline", str(base)]
    assert main(["probe", "attention", "--model", "tiny-random", "--seed", "1", *common]) == 0
    assert main(["probe", "embed", *common]) == 0  # both panels, in the baseline's coordinates
    assert main(["probe", "separability", "--pair", "pentagon,hexagon", *common]) == 0  # both runs' curves
    return {"base": base, "sgt": sgt}
