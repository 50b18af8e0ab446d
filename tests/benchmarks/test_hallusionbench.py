"""HallusionBench: loader on the real file, official and VLMEvalKit aggregation, judge grading."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks.answers import yes_or_no
from benchmarks.hallusionbench import HallusionBench, fill_template, judge_verdict
from sgt_eval.errors import UserError


def write_bench(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "HallusionBench.json").write_text(json.dumps(rows))
    return folder


def row(category: str, set_id: str, figure: str, question: str, visual: str, gt: str, sub: str = "chart") -> dict:
    filename = None if visual == "0" else f"./{category}/{sub}/{set_id}_{figure}.png"
    return {"category": category, "subcategory": sub, "visual_input": visual, "set_id": set_id, "figure_id": figure,
            "sample_note": "", "question_id": question, "question": f"Q{category}{set_id}{figure}{question}?",
            "gt_answer_details": f"details {category}{figure}{question}", "gt_answer": gt, "filename": filename}


# A tiny set: VS set 0 has two question pairs (each with its text-only question, figure 0),
# VD set 0 has two pairs over figures 0 (original) and 1 (edited).
TINY = [
    row("VS", "0", "0", "0", "0", "0"),  # 0 text-only, wrong below
    row("VS", "0", "1", "0", "1", "1"),  # 1
    row("VS", "0", "2", "0", "2", "0"),  # 2
    row("VS", "0", "0", "1", "0", "1"),  # 3 text-only
    row("VS", "0", "1", "1", "1", "1"),  # 4
    row("VD", "0", "0", "0", "1", "1", "illusion"),  # 5
    row("VD", "0", "1", "0", "2", "0", "illusion"),  # 6 wrong below
    row("VD", "0", "0", "1", "1", "0", "illusion"),  # 7
]
TINY_OUTPUTS = ["Yes.", "Yes, it is.", "No", "yes", "Yes", "Yes!", "Yes", "No, it is not."]


def graded_tiny(tmp_path: Path, protocol: str, judge=None):
    bench = HallusionBench(protocol)
    dataset = bench.load(write_bench(tmp_path / protocol, TINY))
    outputs = [TINY_OUTPUTS[int(s.id)] for s in dataset.samples]
    return bench, dataset, bench.grade(dataset.samples, outputs, judge)


def test_official_aggregation_by_hand(tmp_path):
    bench, _, records = graded_tiny(tmp_path, "official")
    assert [r.correct for r in records] == [False, True, True, True, True, True, False, True]
    scores = bench.aggregate(records)["scores"]
    # figures (VS figure 0 skipped): VS_1 {1,4} ok, VS_2 {2} ok, VD_0 {5,7} ok, VD_1 {6} wrong
    # pairs: VS_0 {0,1,2} fails on its text-only member, VS_1 {3,4} ok, VD_0 {5,6} wrong, VD_1 {7} ok
    assert (scores["aAcc"], scores["fAcc"], scores["qAcc"]) == (6 / 8, 3 / 4, 2 / 4)
    assert scores["overall"] == (6 / 8 + 3 / 4 + 2 / 4) / 3
    # easy = visual_input != "2": VS_0 {0,1} wrong, VS_1 ok, VD_0 {5} ok, VD_1 ok; hard: VS_0 {2} ok, VD_0 {6} wrong
    assert (scores["easy_pair_acc"], scores["hard_pair_acc"]) == (3 / 4, 1 / 2)
    assert (scores["n_figures"], scores["n_pairs"]) == (4, 4)
    # implied yes answers: rows 0,1,3,4,5,6 -> 6/8, yes questions 4/8; both wrong answers are on "no" questions
    assert (scores["yes_bias_pct_diff"], scores["yes_bias_fp_ratio"]) == (6 / 8 - 4 / 8, 1.0)
    assert scores["categories"]["VS"]["qAcc"] == 1 / 2 and scores["categories"]["VD"]["fAcc"] == 1 / 2
    assert bench.aggregate(records)["headline"] == {"metric": "aAcc", "value": 6 / 8}


def test_vlmevalkit_aggregation_leaves_out_text_only_questions(tmp_path):
    bench, dataset, records = graded_tiny(tmp_path, "vlmevalkit")
    assert [s.id for s in dataset.samples] == ["1", "2", "4", "5", "6", "7"]
    scores = bench.aggregate(records)["scores"]
    # the VS_0 pair no longer holds the wrong text-only question, so it now counts as right
    assert (scores["aAcc"], scores["fAcc"], scores["qAcc"]) == (5 / 6, 3 / 4, 3 / 4)
    assert bench.aggregate(records)["headline"] == {"metric": "overall", "value": (5 / 6 + 3 / 4 + 3 / 4) / 3}
    assert sorted(scores["subcategories"]) == ["VD_illusion", "VS_chart"]
    _, _, all_records = graded_tiny(tmp_path, "official")  # text-only records are left out when present too
    assert bench.aggregate(all_records) == bench.aggregate(records)


class ScriptedJudge:
    """Replies by the model output found in the request; records every call (not the thing under test)."""

    id = "scripted"

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies, self.calls = replies, []

    def ask_many(self, requests):
        self.calls.append(list(requests))
        return [next(reply for output, reply in self.replies.items() if output in r.text) for r in requests]


def test_uncertain_verdict_is_correct_only_without_visual_supplement(tmp_path):
    outputs = {0: "maybe-zero", 6: "maybe-six", 2: "wrong-two"}
    judge = ScriptedJudge({"maybe-zero": "Unclear.", "maybe-six": "It is unclear", "wrong-two": "Incorrect.",
                           "": "Correct"})
    bench = HallusionBench()
    dataset = bench.load(write_bench(tmp_path, TINY))
    texts = [outputs.get(i, f"answer {i}") for i in range(len(TINY))]
    texts[7] = "   "  # empty outputs never reach the judge
    records = bench.grade(dataset.samples, texts, judge)
    assert len(judge.calls) == 1 and len(judge.calls[0]) == 7
    assert [r.parsed for r in records] == ["unclear", "correct", "incorrect", "correct", "correct", "correct",
                                           "unclear", None]
    assert [r.correct for r in records] == [True, True, False, True, True, True, False, False]
    assert records[7].method == "none" and records[0].judge_reply == "Unclear."
    request = judge.calls[0][0]
    assert "QVS000?" in request.text and "details VS00" in request.text and "maybe-zero" in request.text
    assert request.prompt_version == "sgt-eval-own-v1"
    assert bench.grader(judge) == "judge:scripted|prompt:sgt-eval-own-v1" and bench.grader(None) == "rules"
    assert bench.aggregate(records)["scores"]["n_judge_unclear"] == 2


def test_judge_prompt_file_is_used_when_the_data_folder_has_one(tmp_path):
    folder = write_bench(tmp_path, TINY)
    template = "Q={question} R={reference} P={prediction} {{literal}}"
    document = {"version": "official@abc1234", "source": "x", "template": template}
    (folder / "judge_prompt.json").write_text(json.dumps(document))
    bench = HallusionBench()
    dataset = bench.load(folder)
    judge = ScriptedJudge({"": "correct"})
    bench.grade(dataset.samples[:1], ["No {reference}"], judge)
    assert judge.calls[0][0].text == "Q=QVS000? R=details VS00 P=No {reference} {literal}"
    assert judge.calls[0][0].prompt_version == "official@abc1234"
    assert bench.settings()["judge_prompt"] == "official@abc1234"
    (folder / "judge_prompt.json").write_text(json.dumps({"version": "v", "source": "x", "template": "{question}"}))
    with pytest.raises(UserError, match="judge_prompt.json: field 'template' lacks"):
        HallusionBench().load(folder)


def test_vlmevalkit_sends_only_unreadable_outputs_to_the_judge(tmp_path):
    judge = ScriptedJudge({"I think so": "Yes", "Hard to say": "Unknown"})
    bench = HallusionBench("vlmevalkit")
    dataset = bench.load(write_bench(tmp_path, TINY))
    texts = ["I think so", "No", "Hard to say", "", "Yes", "No"]
    records = bench.grade(dataset.samples, texts, judge)
    assert len(judge.calls) == 1 and len(judge.calls[0]) == 2
    assert [(r.parsed, r.method) for r in records] == [("yes", "judge"), ("no", "rule"), (None, "none"),
                                                       (None, "none"), ("yes", "rule"), ("no", "rule")]
    assert [r.correct for r in records] == [True, True, False, False, False, True]
    assert bench.grader(judge).startswith("rules+judge:scripted|prompt:")


@pytest.mark.parametrize("reply, verdict", [("Incorrect.", "incorrect"), ("correct", "correct"),
                                            ("I am unsure", "unclear"), ("The prediction is CORRECT", "correct")])
def test_judge_replies_are_classed_like_the_official_script(reply, verdict):
    assert judge_verdict(reply) == verdict


def test_fill_template_inserts_values_verbatim():
    filled = fill_template("{question}|{prediction}|{{x}}", {"question": "{prediction}", "prediction": "a}}b"})
    assert filled == "{prediction}|a}}b|{x}"


def test_loader_on_the_real_file(shared_data):
    dataset = HallusionBench().load(shared_data / "hallusionbench")
    samples = dataset.samples
    assert len(samples) == 1129 and sum(s.image is None for s in samples) == 178
    assert dataset.version == "tianyi-lab@c226ce4"
    first_image = next(s for s in samples if s.image)
    raw = json.loads((shared_data / "hallusionbench" / "HallusionBench.json").read_text())[int(first_image.id)]
    assert first_image.image == "hallusion_bench/" + raw["filename"].removeprefix("./")
    assert samples[0].id == "0" and samples[0].answer == samples[0].meta["gt_answer"] in ("0", "1")
    assert sum(s.meta["visual_input"] != "2" for s in samples) == 625  # easy questions (notes 5.1)
    image_ids = [s.id for s in HallusionBench("vlmevalkit").load(shared_data / "hallusionbench").samples]
    assert image_ids == [s.id for s in samples if s.image is not None] and len(image_ids) == 951
    bench = HallusionBench()
    records = bench.grade(samples, ["yes" if s.answer == "1" else "no" for s in samples])
    scores = bench.aggregate(records)["scores"]
    assert (scores["n_pairs"], scores["n_figures"], scores["aAcc"], scores["qAcc"]) == (455, 346, 1.0, 1.0)
    assert scores["n_easy_pairs"] + scores["n_hard_pairs"] > 455  # pairs mix easy and hard questions


def reference_aggregate(rows: list[dict], correct: list[bool]) -> dict[str, float]:
    """A minimal re-statement of get_eval_all / get_eval_fig / get_eval_pair_* from utils.py."""
    figures, pairs, easy, hard = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
    for r, ok in zip(rows, correct):
        base = f"{r['category']}_{r['subcategory']}_{r['set_id']}_"
        if not (r["category"] == "VS" and r["figure_id"] == "0"):
            figures[base + r["figure_id"]].append(ok)
        pairs[base + r["question_id"]].append(ok)
        (hard if r["visual_input"] == "2" else easy)[base + r["question_id"]].append(ok)
    share = lambda groups: sum(all(v) for v in groups.values()) / len(groups)  # noqa: E731
    gt_yes = [r["gt_answer"] == "1" for r in rows]
    implied_yes = [ok == yes for ok, yes in zip(correct, gt_yes)]  # yes_ratio_stats' "yes_pred"
    wrong_gt_yes = [yes for ok, yes in zip(correct, gt_yes) if not ok]
    return {"aAcc": sum(correct) / len(correct), "fAcc": share(figures), "qAcc": share(pairs),
            "easy_pair_acc": share(easy), "hard_pair_acc": share(hard),
            "yes_bias_pct_diff": sum(implied_yes) / len(rows) - sum(gt_yes) / len(rows),
            "yes_bias_fp_ratio": (len(wrong_gt_yes) - sum(wrong_gt_yes)) / len(wrong_gt_yes)}


def test_gpt4v_sample_predictions_match_an_independent_recomputation(shared_data):
    folder = shared_data / "hallusionbench"
    predictions = json.loads((folder / "HallusionBench_result_sample.json").read_text())
    key_fields = ("category", "subcategory", "set_id", "figure_id", "question_id")
    # the sample file is an older export (its visual_input differs): grouping fields come from the data file
    rows = json.loads((folder / "HallusionBench.json").read_text())
    position = {"_".join(r[k] for k in key_fields): i for i, r in enumerate(rows)}
    picked = [position["_".join(p[k] for k in key_fields)] for p in predictions]
    bench = HallusionBench()
    samples = {s.id: s for s in bench.load(folder).samples}
    records = bench.grade([samples[str(i)] for i in picked], [p["model_prediction"] for p in predictions])
    gt = {"1": "yes", "0": "no"}
    correct = [yes_or_no(p["model_prediction"]) == gt[rows[i]["gt_answer"]] for p, i in zip(predictions, picked)]
    scores = bench.aggregate(records)["scores"]
    expected = reference_aggregate([rows[i] for i in picked], correct)
    assert len(records) == 254 and {k: scores[k] for k in expected} == expected
    assert sum(r.method == "none" for r in records) == sum(yes_or_no(p["model_prediction"]) is None
                                                           for p in predictions) > 0
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)
    assert bench.aggregate(shuffled) == bench.aggregate(records)
    kit = HallusionBench("vlmevalkit")
    assert kit.aggregate(shuffled) == kit.aggregate(records)


def test_bad_rows_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="sgt-eval data fetch --bench hallusionbench"):
        HallusionBench().load(tmp_path / "missing")
    bad = dict(TINY[1], filename="./../../x.png")
    with pytest.raises(UserError, match="field 'filename' has path"):
        HallusionBench().load(write_bench(tmp_path / "a", [bad]))
    with pytest.raises(UserError, match="question 1: .*appears twice"):
        HallusionBench().load(write_bench(tmp_path / "b", [TINY[1], TINY[1]]))
    with pytest.raises(UserError, match="question 0: field 'filename' must be null"):
        HallusionBench().load(write_bench(tmp_path / "c", [dict(TINY[0], filename="./VS/chart/0_0.png")]))
