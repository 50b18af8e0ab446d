"""``sgt-eval demo --size tiny`` end to end: real training, evaluation, probes and the report, then a re-run
that reuses every stage. The same code path as the README's main command, on fewer steps and samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from report_env import artifacts, offline_page  # noqa: E402

from benchmarks import BENCHMARKS, SUITES, UNDERSTANDING, chance
from sgt_eval.cli import main
from sgt_eval.demo import CONFIG, SIZES, STATE, plan
from sgt_eval.paths import cache_root
from sgt_eval.world import ensure_world


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    assert main(["demo", "--size", "tiny", "--out", str(out)]) == 0
    return out


def test_every_stage_ran_through_the_real_commands(demo: Path):
    state = json.loads((demo / STATE).read_text())
    assert {s.name for s in plan(demo, SIZES["tiny"], 0)} == set(state["stages"])
    for name in ("baseline", "sgt"):
        metrics = [json.loads(line) for line in (demo / "train" / name / "metrics.jsonl").read_text().splitlines()]
        assert len(metrics) == SIZES["tiny"].steps
        assert {r["ratio"]["vqa"] for r in metrics} == {4}  # the same VQA budget in both models
        assert {r["ratio"]["seg"] for r in metrics} == {0 if name == "baseline" else 8}
        for bench in SUITES["all"]:
            assert json.loads((demo / "runs" / name / bench / "metrics.json").read_text())["n"] == SIZES["tiny"].limit
    evaluated = json.loads((demo / "runs" / "sgt" / "run.json").read_text())
    assert evaluated["command"][:2] == ["sgt-eval", "probe"]  # the last stage's own command, not `sgt-eval demo`
    assert json.loads((demo / "train" / "sgt" / "run.json").read_text())["command"][:3] == ["sgt-train", "--config",
                                                                                           str(CONFIG)]
    same_init = [json.loads((demo / "train" / n / "run.json").read_text())["init"] for n in ("baseline", "sgt")]
    assert same_init[0] == same_init[1]
    floors = yaml.safe_load((demo / "floors.yaml").read_text())["models"]
    assert set(floors) == {"uniform guess", "best constant answer"}
    assert set(floors["uniform guess"]) <= set(UNDERSTANDING) and floors["uniform guess"]
    pope = BENCHMARKS.load("pope")()
    expected = chance.floors(pope, pope.load(ensure_world(cache_root() / "world") / "pope").samples[:SIZES["tiny"].limit])
    assert floors["best constant answer"]["pope"] == round(100 * expected.constant, 2)


def test_the_report_shows_every_section_offline(demo: Path):
    with offline_page(demo / "report.html") as (page, problems, outside):
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        page.screenshot(path=str(artifacts() / "demo-tiny.png"), full_page=True)
        assert problems == [] and outside == []
        assert page.locator("#summary-table tbody tr").count() == len(SUITES["all"])
        assert "uniform guess" in page.locator("#summary-table thead").inner_text()
        for bench in SUITES["all"]:
            assert page.locator(f"#bench-{bench}").inner_text().strip(), bench
        assert page.locator("#flip-totals tbody tr").count() > 0
        assert page.locator("details.gallery").count() >= 2  # GenEval and GEdit-Bench
        assert page.locator("#probes [data-chart] svg").count() > 0 and page.locator("#probes img.figure").count() > 0
        assert page.locator("#provenance table tbody tr").count() > 0


def test_a_second_run_reuses_every_stage(demo: Path, capsys):
    before = (demo / STATE).read_text()
    predictions = demo / "runs" / "sgt" / "pope" / "predictions.jsonl"
    stamp = predictions.stat().st_mtime_ns
    assert main(["demo", "--size", "tiny", "--out", str(demo)]) == 0
    assert (demo / STATE).read_text() == before and predictions.stat().st_mtime_ns == stamp
    err = capsys.readouterr().err
    assert err.count(": done (") == len(json.loads(before)["stages"])


def test_a_lost_output_runs_its_stage_again_and_only_what_follows(demo: Path, capsys):
    report = demo / "report.html"
    report.unlink()
    assert main(["demo", "--size", "tiny", "--out", str(demo)]) == 0
    err = capsys.readouterr().err
    assert report.is_file() and err.count(": done (") == len(plan(demo, SIZES["tiny"], 0)) - 1
    assert "report: sgt-eval compare" in err


def test_other_options_in_the_same_folder_are_refused(demo: Path, capsys):
    for options in (["--size", "tiny", "--seed", "1"], ["--size", "small"]):
        assert main(["demo", "--out", str(demo), *options]) == 2
        assert "holds a demo of --size tiny --seed 0" in capsys.readouterr().err
