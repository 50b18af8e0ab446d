"""The comparison model on real run directories: deltas, intervals, McNemar, warnings, damaged runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reports.compare import compare
from reports.references import load_references
from reports.runs import load_runs
from sgt_eval.errors import UserError


@pytest.fixture(scope="module")
def comparison(runs):
    return compare(load_runs([runs["base"], runs["sgt"]]), n_boot=500)


def metrics(run: Path, bench: str) -> dict:
    return json.loads((run / bench / "metrics.json").read_text())


def predictions(run: Path, bench: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in (run / bench / "predictions.jsonl").read_text().splitlines()]
    return {r["id"]: r for r in rows}


def test_every_benchmark_has_both_headlines_and_a_delta_inside_its_interval(comparison, runs):
    assert [r.name for r in comparison.rows] == ["cvbench", "mmvp", "vsr", "pope", "hallusionbench", "geneval", "gedit"]
    for row in comparison.rows:
        base, sgt = (metrics(runs[k], row.name)["headline"]["value"] for k in ("base", "sgt"))
        assert row.cells["base"].value == base and row.cells["sgt"].value == sgt
        delta = row.deltas["sgt"].interval
        assert delta.estimate == pytest.approx(sgt - base, abs=1e-12)
        assert delta.low <= delta.estimate <= delta.high
        cell = row.cells["sgt"].interval
        assert cell.low <= sgt <= cell.high
    # the oracle is right 70% vs 45% of the time: on 140-180 questions that is a clear gain
    for name in ("cvbench", "vsr", "pope"):
        row = next(r for r in comparison.rows if r.name == name)
        assert row.deltas["sgt"].interval.low > 0, name


def test_mcnemar_counts_match_the_predictions(comparison, runs):
    for name, tested_on in (("vsr", "questions"), ("pope", "questions"), ("mmvp", "pairs"), ("geneval", "images")):
        row = next(r for r in comparison.rows if r.name == name)
        test = row.deltas["sgt"].test
        a, b = predictions(runs["base"], name), predictions(runs["sgt"], name)
        if name == "mmvp":  # a pair is right when both of its questions are
            pair = lambda rows: {k: all(r["correct"] for r in rows.values() if r["meta"]["pair"] == k)  # noqa: E731
                                 for k in {r["meta"]["pair"] for r in rows.values()}}
            a, b = ({k: {"correct": v} for k, v in pair(x).items()} for x in (a, b))
        assert test.b == sum(a[i]["correct"] and not b[i]["correct"] for i in a)
        assert test.c == sum(b[i]["correct"] and not a[i]["correct"] for i in a)
        assert row.deltas["sgt"].tested_on == tested_on and 0 <= test.p <= 1
    gedit = next(r for r in comparison.rows if r.name == "gedit")
    assert gedit.deltas["sgt"].test is None  # a 0-10 scale: no right/wrong to test


def test_intervals_are_seeded(runs):
    loaded = load_runs([runs["base"], runs["sgt"]])
    first, again, other = (compare(loaded, n_boot=300, seed=s).rows[0].deltas["sgt"].interval for s in (1, 1, 2))
    assert first == again and (first.low, first.high) != (other.low, other.high)


def test_different_protocol_or_judge_is_a_warning(runs, tmp_path):
    loaded = load_runs([runs["base"], runs["pope-vlmevalkit"]])
    warnings = compare(loaded, n_boot=50).warnings
    assert any(w.startswith("POPE: settings.protocol differs") and "official" in w and "vlmevalkit" in w
               for w in warnings), warnings
    judged = tmp_path / "judged"
    shutil.copytree(runs["base"], judged)
    for file in (judged / "hallusionbench" / "metrics.json", judged / "run.json"):
        text = file.read_text().replace('"grader": "rules"', '"grader": "gpt-4o-2024-08-06 (hallusion-judge@v1)"')
        file.write_text(text)
    warnings = compare(load_runs([runs["base"], judged]), n_boot=50).warnings
    assert any(w.startswith("HallusionBench: grader differs") and "gpt-4o" in w for w in warnings), warnings
    assert not compare(load_runs([runs["base"], runs["sgt"]]), n_boot=50).warnings


def test_a_killed_run_is_rederived_and_compared_on_shared_samples(runs, tmp_path):
    killed = tmp_path / "killed"
    shutil.copytree(runs["sgt"], killed)
    log = killed / "vsr" / "predictions.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:60]) + lines[60][:25])  # 60 records, then a torn line
    comparison = compare(load_runs([runs["base"], killed]), n_boot=200)
    vsr = next(r for r in comparison.rows if r.name == "vsr")
    assert vsr.cells["killed"].rederived and vsr.cells["killed"].n == 60
    kept = {json.loads(x)["id"] for x in lines[:60]}
    right = sum(json.loads(x)["correct"] for x in lines[:60])
    assert vsr.cells["killed"].value == pytest.approx(right / 60)
    delta = vsr.deltas["killed"]
    assert delta.n_common == 60 and "60 samples both runs scored" in delta.note
    base_right = sum(r["correct"] for i, r in predictions(runs["base"], "vsr").items() if i in kept)
    assert delta.interval.estimate == pytest.approx((right - base_right) / 60)
    assert log.read_text().endswith(lines[60][:25])  # the report never writes into a run


def test_bad_run_directories_are_one_line_errors(runs, tmp_path):
    with pytest.raises(UserError, match="not a run directory"):
        load_runs([tmp_path])
    with pytest.raises(UserError, match="no such run directory"):
        load_runs([tmp_path / "missing"])
    broken = tmp_path / "broken"
    shutil.copytree(runs["base"], broken)
    (broken / "mmvp" / "metrics.json").write_text("{not json")
    with pytest.raises(UserError, match=r"mmvp/metrics.json: not valid JSON .*sgt-eval score"):
        load_runs([broken])
    (broken / "mmvp" / "metrics.json").unlink()
    log = broken / "pope" / "predictions.jsonl"
    log.write_text("{bad\n" + log.read_text())
    with pytest.raises(UserError, match=r"pope/predictions.jsonl:1: not valid JSON"):
        load_runs([broken])
    with pytest.raises(UserError, match="given twice"):
        load_runs([runs["base"], runs["base"]])
    with pytest.raises(UserError, match="--baseline nope: not one of the runs"):
        compare(load_runs([runs["base"], runs["sgt"]]), baseline="nope")


def test_baseline_by_label_and_labels_made_unique(runs, tmp_path):
    twin = tmp_path / "other" / "base"
    shutil.copytree(runs["base"], twin)
    loaded = load_runs([runs["sgt"], twin, runs["base"]])
    assert [r.label for r in loaded] == ["report-runs0/sgt", "other/base", "report-runs0/base"]
    comparison = compare(loaded, baseline=str(runs["base"]), n_boot=50)
    assert comparison.baseline is loaded[2]


def test_references(tmp_path, runs):
    good = tmp_path / "refs.yaml"
    good.write_text("source: SGT paper, Table 1\nmodels:\n  BAGEL: {cvbench: 73.21}\n  SGT-BAGEL: {cvbench: 79.23, gedit: 6.94}\n")
    refs = load_references(good)
    comparison = compare(load_runs([runs["base"], runs["sgt"]]), references=refs, n_boot=50)
    assert next(r for r in comparison.rows if r.name == "cvbench").references == {"BAGEL": 73.21, "SGT-BAGEL": 79.23}
    for text, message in (("models: {A: {cvbnch: 1}}", r"models.A.cvbnch.*did you mean 'cvbench'"),
                          ("models: {A: {cvbench: high}}", "models.A.cvbench' must be a number"),
                          ("models: {A: {cvbench: 732.1}}", "outside 0-100"),
                          ("models: {A: {gedit: 69.4}}", "outside 0-10"),
                          ("scores: {}", "non-empty 'models'"), ("models: [", "not valid YAML")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(UserError, match=message):
            load_references(bad)


def test_folders_scored_by_sgt_eval_score_are_reported(shared_data, tmp_path, capsys):
    """Predictions made elsewhere (LLaVA-1.5-13B's released POPE answers), scored with ``score --out``, have
    no run.json; they are compared all the same and their numbers are the published ones."""
    from sgt_eval.cli import main

    pope = shared_data / "pope"
    for protocol in ("official", "lmms-eval"):
        assert main(["score", "pope", "--data", str(pope / "v2023-08_e3e3926_llava15"), "--questions",
                     str(pope / "llava15_32cebc3" / "llava_pope_test.jsonl"), "--predictions",
                     str(pope / "llava15_32cebc3" / "answers_llava-v1.5-13b.jsonl"), "--protocol", protocol,
                     "--out", str(tmp_path / protocol)]) == 0
    capsys.readouterr()
    comparison = compare(load_runs([tmp_path / "official", tmp_path / "lmms-eval"]), n_boot=200)
    row = comparison.rows[0]
    # LLaVA-1.5-13B's published POPE F1s: random 87.14, popular 86.25, adversarial 84.46
    assert row.cells["official"].value == pytest.approx((0.8714 + 0.8625 + 0.8446) / 3, abs=1e-4)
    assert row.cells["official"].interval.n_units == 8910
    assert any("settings.protocol differs" in w for w in comparison.warnings)
