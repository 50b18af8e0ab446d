"""VLMEvalKit's rating code and our vlmevalkit protocol on the same raw outputs: no difference anywhere."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vlmeval", reason="needs the vlmeval extra (VLMEvalKit + torch 2.14.1 + torchvision 0.29.1): "
                                      "run `make test-vlmeval`")

from benchmarks import BENCHMARKS
from benchmarks.pope import llava_predictions
from sgt_eval.paths import cache_root
from sgt_eval.vlmeval_bridge.parity import PROTOCOL_COMMIT, SHARED, compare, installed_vlmevalkit
from sgt_eval.world import ensure_world

pytestmark = pytest.mark.slow
KIT = installed_vlmevalkit()
# Zero differences are owed by the VLMEvalKit our protocol reproduces; a release from before it
# (PyPI's ms-vlmeval 0.0.20 lacks e.g. the "correct answer is **B**" rule) differs where it changed since.
pinned = pytest.mark.skipif(not (KIT["commit"] or "").startswith(PROTOCOL_COMMIT),
                            reason=f"VLMEvalKit installed is {KIT['distribution']} {KIT['version']} "
                                   f"(commit {KIT['commit']}), the vlmevalkit protocol reproduces {PROTOCOL_COMMIT}: "
                                   f"set SGT_EVAL_VLMEVALKIT_REPO to a clone at that commit for `make test-vlmeval`")

# Answer styles models produce, including the ones the extraction rules treat specially.
YES_NO = ("Yes", "No.", "yes, there is one", "There is no such object.", "I don't know", "Yes and no", "", "NO",
          "Absolutely not", "yes!", "Nope", "The answer is yes.", "No, there isn't.", "YES", "Not sure, maybe yes")
CHOICES = ("A", "(B)", "B. {last}", "The answer is C", "Answer: A", "a", "{first}", "A or B", "", "None of these",
           "The best option is B", "I think (D) is right", "C.", "Option D", "{last} for sure",
           "The correct answer is **B**. Here's why: it is clearly not A or C.", "Cannot determine the answer",
           "**A**", "B\n", "Both A and B", "it's {first}, I think")


def style(key: str, styles: tuple[str, ...]) -> str:
    return styles[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(styles)]


def battery(dataset) -> dict[str, str]:
    return {s.id: (style(s.id, CHOICES).format(first=s.choices[0], last=s.choices[-1]) if s.choices
                   else style(s.id, YES_NO)) for s in dataset.samples}


def shapes(name: str):
    options = {"mmvp_gt": "original"} if name == "mmvp" else {}
    return BENCHMARKS.load(name)("vlmevalkit", **options).load(ensure_world(cache_root() / "world") / name)


def assert_clean(reports) -> None:
    assert reports
    for report in reports:
        assert report.numbers and report.n > 0
        assert not report.metric_differences, report.metric_differences
        assert not report.sample_differences, report.sample_differences[:5]


@pinned
@pytest.mark.parametrize("name", SHARED)
def test_every_answer_style_scores_the_same_on_shapesworld(name, tmp_path):
    dataset = shapes(name)
    assert_clean(compare(name, dataset, battery(dataset), tmp_path))


def test_the_check_sees_differences_when_the_protocols_differ(tmp_path):
    """A control: our official POPE rule (case-sensitive, first sentence) against VLMEvalKit's must differ."""
    dataset = shapes("pope")
    reports = compare("pope", dataset, battery(dataset), tmp_path, protocol="official")
    assert reports[0].sample_differences and reports[0].metric_differences


@pinned
def test_llava_13b_answers_on_the_real_pope_files(shared_data, tmp_path):
    folder = shared_data / "pope"
    labels = folder / "v2023-08_e3e3926_llava15"
    outputs = dict(llava_predictions(labels, folder / "llava15_32cebc3" / "llava_pope_test.jsonl",
                                     folder / "llava15_32cebc3" / "answers_llava-v1.5-13b.jsonl"))
    dataset = BENCHMARKS.load("pope")("vlmevalkit").load(labels)
    reports = compare("pope", dataset, outputs, tmp_path)
    assert reports[0].n == 8910
    assert_clean(reports)


@pinned
def test_gpt4v_and_every_style_on_the_real_hallusionbench_file(shared_data, tmp_path):
    folder = shared_data / "hallusionbench"
    dataset = BENCHMARKS.load("hallusionbench")("vlmevalkit").load(folder)
    rows = json.loads((folder / "HallusionBench.json").read_text())
    keys = ("category", "subcategory", "set_id", "figure_id", "question_id")
    position = {"_".join(r[k] for k in keys): str(i) for i, r in enumerate(rows)}
    outputs = battery(dataset)
    for p in json.loads((folder / "HallusionBench_result_sample.json").read_text()):
        sample_id = position["_".join(p[k] for k in keys)]
        if sample_id in outputs:
            outputs[sample_id] = p["model_prediction"]  # GPT-4V's real outputs where the sample file has them
    reports = compare("hallusionbench", dataset, outputs, tmp_path)
    assert reports[0].n == 951
    assert_clean(reports)


def test_the_command_compares_a_run_and_exits_zero(tmp_path):
    out = tmp_path / "run"
    run = [sys.executable, "-m", "sgt_eval"]
    subprocess.run([*run, "run", "--model", "tiny-random", "--bench", "pope,mmvp,cvbench,hallusionbench", "--limit",
                    "24", "--max-new-tokens", "4", "--out", str(out)], check=True, capture_output=True, timeout=900)
    result = subprocess.run([*run, "vlmeval-parity", "--run", str(out), "--json", str(tmp_path / "parity.json")],
                            capture_output=True, text=True, timeout=900)
    report = json.loads(Path(tmp_path / "parity.json").read_text())
    assert {r["benchmark"] for r in report["reports"]} == set(SHARED) and "CV-Bench-2D" in result.stdout
    clean = all(r["metric_differences"] == 0 and not r["sample_differences"] for r in report["reports"])
    assert result.returncode == (0 if clean else 1), result.stdout + result.stderr
    if (KIT["commit"] or "").startswith(PROTOCOL_COMMIT):
        assert clean, result.stdout
