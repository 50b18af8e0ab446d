"""The ablation sweep: proxies x ratios as separate runs under one folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgt_train.sweep import load_sweep, run_sweep
from tests.train.conftest import SMALL_MODEL

SWEEP = Path(__file__).resolve().parents[2] / "sgt_train" / "configs" / "sweep_shapes.yaml"


def test_the_shipped_sweep_is_the_sgt_ablation_shape():
    sweep = load_sweep(SWEEP)
    runs = {r.name: (r.config.data.proxy, r.config.data.ratio) for r in sweep.runs}
    assert runs == {
        "segmentation-2to1": ("segmentation", "2:1"), "edge-2to1": ("edge", "2:1"), "depth-2to1": ("depth", "2:1"),
        "reconstruction-2to1": ("reconstruction", "2:1"), "segmentation-1to1": ("segmentation", "1:1"),
        "segmentation-3to1": ("segmentation", "3:1"),
    }
    assert {Path(r.config.out).parent for r in sweep.runs} == {sweep.out}
    assert all(r.command[:2] == ("sgt-train", "--config") and "--resume" in r.command for r in sweep.runs)


@pytest.mark.slow
def test_the_sweep_runs_every_point_once_and_skips_finished_runs(tmp_path: Path, shapes_data):
    extra = ["--train.steps", "3", "--data.shapes_scale", "1", "--log.samples", "0", "--data.num_workers", "0",
             *SMALL_MODEL]
    spec = tmp_path / "sweep.yaml"
    spec.write_text(SWEEP.read_text().replace("base: tiny_shapes.yaml", f"base: {SWEEP.parent / 'tiny_shapes.yaml'}")
                    .replace("out: runs/train/sweep", f"out: {tmp_path / 'sweep'}"))
    sweep = load_sweep(spec, extra)
    summary = json.loads(run_sweep(sweep).read_text())
    assert len(summary["runs"]) == 6 and all(r["final"]["step"] == 3 for r in summary["runs"])
    for run in summary["runs"]:
        manifest = json.loads((Path(run["folder"]) / "run.json").read_text())
        assert manifest["proxy"]["name"] == run["proxy"] and manifest["config"]["data"]["ratio"] == run["ratio"]
        assert (Path(run["folder"]) / "final" / "head_config.json").is_file()
    stamps = {r["folder"]: (Path(r["folder"]) / "metrics.jsonl").stat().st_mtime_ns for r in summary["runs"]}
    run_sweep(sweep)  # finished runs are not run again
    assert stamps == {f: (Path(f) / "metrics.jsonl").stat().st_mtime_ns for f in stamps}
