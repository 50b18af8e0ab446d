"""POPE: loader, versions, the three protocols' rules and metrics, and LLaVA-1.5-13B's published numbers."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from benchmarks.pope import POPE, llava_predictions
from sgt_eval.errors import UserError
from sgt_eval.records import Prediction, Sample

LLAVA_LABELS = "pope/v2023-08_e3e3926_llava15"
HEAD_LABELS = "pope/head_3df3ba1"
QUESTIONS = "pope/llava15_32cebc3/llava_pope_test.jsonl"
ANSWERS = "pope/llava15_32cebc3/answers_llava-v1.5-13b.jsonl"
LLAVA_STYLE = "\nAnswer the question using a single word or phrase."
# LLaVA-1.5-13B on POPE (accuracy, precision, recall, F1, yes-ratio), rounded to 4 digits (notes 4.2).
PUBLISHED = {
    "adversarial": (0.8550, 0.9099, 0.7880, 0.8446, 0.4330),
    "popular": (0.8743, 0.9525, 0.7880, 0.8625, 0.4137),
    "random": (0.8801, 0.9744, 0.7880, 0.8714, 0.4168),
}


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def reference_pope(labels_dir: Path, questions: Path, answers: Path) -> dict[str, tuple[float, ...]]:
    """A minimal re-statement of LLaVA's eval_pope.py: first sentence, commas dropped, split on
    spaces, "No"/"not"/"no" -> no else yes; answers grouped by category, zipped with labels by position."""
    category = {q["question_id"]: q["category"] for q in jsonl(questions)}
    rows = jsonl(answers)
    out = {}
    for split in ("adversarial", "popular", "random"):
        labels = [r["label"] == "yes" for r in jsonl(labels_dir / f"coco_pope_{split}.json")]
        preds = []
        for a in (r for r in rows if category[r["question_id"]] == split):
            words = a["text"].split(".")[0].replace(",", "").split(" ")
            preds.append(not any(w in ("No", "not", "no") for w in words))
        tp = sum(p and t for p, t in zip(preds, labels))
        fp = sum(p and not t for p, t in zip(preds, labels))
        tn = sum(not p and not t for p, t in zip(preds, labels))
        fn = sum(not p and t for p, t in zip(preds, labels))
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        out[split] = ((tp + tn) / len(labels), precision, recall,
                      2 * precision * recall / (precision + recall), sum(preds) / len(preds))
    return out


def score_llava(labels: Path, questions: Path, answers: Path, protocol: str = "official") -> dict:
    bench = POPE(protocol)
    dataset = bench.load(labels)
    outputs = dict(llava_predictions(labels, questions, answers))
    return bench.aggregate(bench.grade(dataset.samples, [outputs[s.id] for s in dataset.samples]))


def test_llava15_13b_answers_reproduce_the_published_pope(shared_data):
    labels, questions, answers = shared_data / LLAVA_LABELS, shared_data / QUESTIONS, shared_data / ANSWERS
    metrics = score_llava(labels, questions, answers)
    expected = reference_pope(labels, questions, answers)
    for split, block in metrics["scores"]["splits"].items():
        got = (block["accuracy"], block["precision"], block["recall"], block["f1"], block["yes_ratio"])
        assert got == expected[split], split  # to the last digit
        assert tuple(round(v, 4) for v in got) == PUBLISHED[split], split
    assert sorted(metrics["scores"]["splits"]) == sorted(PUBLISHED)
    assert metrics["headline"] == {"metric": "mean_f1", "value": metrics["scores"]["mean_f1"]}
    assert round(metrics["scores"]["mean_f1"], 4) == 0.8595
    assert round(100 * metrics["scores"]["mean_f1"], 1) == 85.9  # the LLaVA-1.5 paper
    assert metrics["scores"]["mean_f1"] == pytest.approx(sum(v[3] for v in expected.values()) / 3, abs=1e-15)


def test_head_labels_are_refused_with_both_counts(shared_data):
    with pytest.raises(UserError, match=r"2910 answers in category 'random'.*coco_pope_random\.json has 3000 labels"):
        llava_predictions(shared_data / HEAD_LABELS, shared_data / QUESTIONS, shared_data / ANSWERS)


def test_only_the_known_typo_fix_is_tolerated(shared_data, tmp_path):
    # HEAD popular fixed "imange" -> "image" in 44 questions: same order, so the zip is accepted
    popular = shared_data / HEAD_LABELS / "coco_pope_popular.json"
    pairs = llava_predictions(popular, shared_data / QUESTIONS, shared_data / ANSWERS)
    assert len(pairs) == 3000 and pairs[0][0] == "popular/1"
    # any other change of wording is an error naming both files' lines and both texts
    rows = popular.read_text().splitlines()
    row = json.loads(rows[6])
    row["text"] = row["text"].replace("Is there", "Was there")
    rows[6] = json.dumps(row)
    changed = tmp_path / "coco_pope_popular.json"
    changed.write_text("\n".join(rows) + "\n")
    with pytest.raises(UserError, match=r"llava_pope_test\.jsonl:\d+ \(question_id \d+\) vs .*coco_pope_popular"
                                        r"\.json:7: field 'text' differs \('Is there .*' vs 'Was there"):
        llava_predictions(changed, shared_data / QUESTIONS, shared_data / ANSWERS)


def test_swapped_images_and_unknown_question_ids_are_refused(shared_data, tmp_path):
    random_labels = (shared_data / LLAVA_LABELS / "coco_pope_random.json").read_text().splitlines()
    first, seventh = json.loads(random_labels[0]), json.loads(random_labels[6])
    first["image"], seventh["image"] = seventh["image"], first["image"]
    random_labels[0], random_labels[6] = json.dumps(first), json.dumps(seventh)
    swapped = tmp_path / "coco_pope_random.json"
    swapped.write_text("\n".join(random_labels) + "\n")
    with pytest.raises(UserError, match=r"coco_pope_random\.json:1: field 'image' differs"):
        llava_predictions(swapped, shared_data / QUESTIONS, shared_data / ANSWERS)
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"question_id": 99999999, "text": "Yes"}) + "\n")
    with pytest.raises(UserError, match=r"answers\.jsonl:1: question_id 99999999 is not in"):
        llava_predictions(swapped, shared_data / QUESTIONS, answers)


def test_load_names_the_release_by_hash(shared_data, tmp_path):
    llava = POPE().load(shared_data / LLAVA_LABELS)
    assert llava.version == "llava15@e3e3926" and len(llava.samples) == 8910
    head = POPE().load(shared_data / HEAD_LABELS)
    assert head.version == "head@3df3ba1" and len(head.samples) == 9000
    sample = head.samples[0]
    assert (sample.id, sample.question, sample.answer, sample.image, dict(sample.meta)) == (
        "random/1", "Is there a snowboard in the image?", "yes", "val2014/COCO_val2014_000000310196.jpg",
        {"split": "random", "label": "yes"})
    assert POPE().load(shared_data / HEAD_LABELS / "coco_pope_adversarial.json").version == "head@3df3ba1"
    mixed = tmp_path / "mixed"
    shutil.copytree(shared_data / HEAD_LABELS, mixed)
    shutil.copy(shared_data / LLAVA_LABELS / "coco_pope_random.json", mixed / "coco_pope_random.json")
    assert POPE().load(mixed).version == ""


def test_load_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(UserError, match="sgt-eval data fetch --bench pope"):
        POPE().load(tmp_path)
    bad = tmp_path / "coco_pope_random.json"
    escape = {"question_id": 1, "image": "../../etc/x.jpg", "text": "Is there?", "label": "yes"}
    bad.write_text(json.dumps(escape) + "\n")
    with pytest.raises(UserError, match=r"coco_pope_random\.json: field 'image' has path '\.\./\.\./etc/x\.jpg'"):
        POPE().load(bad)
    bad.write_text(json.dumps({"question_id": 1, "image": "a.jpg", "text": "Is there?", "label": "Yes"}) + "\n")
    with pytest.raises(UserError, match=r"coco_pope_random\.json:1: field 'label' is 'Yes'"):
        POPE().load(bad)
    renamed = tmp_path / "labels.json"
    renamed.write_text(bad.read_text())
    with pytest.raises(UserError, match="coco_pope_<split>.json"):
        POPE().load(renamed)


@pytest.mark.parametrize("output, official, vlmevalkit, lmms_eval", [
    ("No, there is not.", "no", "no", None),
    ("NO.", "yes", "no", None),  # the official rule is case-sensitive: "NO" is not a negation word
    ("", None, None, None),
    ("Yes, there is a dog. No cat.", "yes", None, None),  # official reads the first sentence only
    ("not sure", "no", None, None),
    (" Yes\n", "yes", "yes", "yes"),
])
def test_each_protocol_reads_outputs_by_its_own_rule(output, official, vlmevalkit, lmms_eval):
    sample = Sample(id="random/1", question="Is there a dog in the image?", answer="yes")
    for protocol, expected in (("official", official), ("vlmevalkit", vlmevalkit), ("lmms-eval", lmms_eval)):
        parsed = POPE(protocol).parse(output, sample)
        assert (parsed.value, parsed.method) == (expected, "rule" if expected else "none"), protocol


def test_prompts_record_their_wording():
    sample = Sample(id="random/1", question="Is there a cat in the image? ", answer="no")
    assert POPE().prompt(sample) == "Is there a cat in the image? " + LLAVA_STYLE
    assert POPE("lmms-eval").prompt(sample) == "Is there a cat in the image?" + LLAVA_STYLE
    assert POPE("vlmevalkit").prompt(sample) == sample.question
    assert POPE().settings()["prompt"] != POPE("vlmevalkit").settings()["prompt"]
    assert POPE.max_new_tokens == 128


def record(i: int, label: str, parsed: str | None, split: str = "random") -> Prediction:
    return Prediction(id=f"{split}/{i}", output="x", parsed=parsed, method="rule" if parsed else "none",
                      correct=parsed == label, meta={"split": split, "label": label})


# labels/answers: yes->yes, yes->no, yes->unparsed, no->no, no->unparsed, no->no
HAND = [record(1, "yes", "yes"), record(2, "yes", "no"), record(3, "yes", None),
        record(4, "no", "no"), record(5, "no", None), record(6, "no", "no")]


def test_unparsed_outputs_enter_each_protocols_confusion_matrix_as_documented():
    official = POPE().aggregate(HAND)["scores"]["splits"]["random"]
    # unparsed counted as the opposite of the label: #3 is a FN, #5 a FP
    assert (official["tp"], official["fp"], official["tn"], official["fn"], official["n_unparsed"]) == (1, 1, 2, 2, 2)
    assert (official["accuracy"], official["precision"], official["recall"]) == (3 / 6, 1 / 2, 1 / 3)
    assert official["f1"] == 2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3) and official["yes_ratio"] == 1 / 6
    kit = POPE("vlmevalkit").aggregate(HAND)["scores"]["all"]
    # unreadable = "no": #3 is a FN, #5 a TN, but both are wrong for accuracy
    assert (kit["tp"], kit["fp"], kit["tn"], kit["fn"], kit["accuracy"]) == (1, 0, 3, 2, 3 / 6)
    assert (kit["precision"], kit["recall"]) == (1.0, 1 / 3)
    lmms = POPE("lmms-eval").aggregate(HAND)["scores"]["all"]
    # lmms-eval's recall counts only exact "no" answers as misses: #3 is in no cell
    assert (lmms["tp"], lmms["fp"], lmms["tn"], lmms["fn"], lmms["recall"]) == (1, 0, 2, 1, 1 / 2)
    assert lmms["yes_ratio"] == 1 / 6  # the predictions' yes share, not lmms-eval's label share (3/6)


def test_undefined_ratios_are_none_and_headlines_follow_the_protocol():
    all_no = [record(1, "yes", "no"), record(2, "no", "no", "popular"), record(3, "yes", "no", "popular")]
    metrics = POPE().aggregate(all_no)
    random_block = metrics["scores"]["splits"]["random"]
    assert random_block["precision"] is None and random_block["recall"] == 0.0 and random_block["f1"] == 0.0
    only_no = POPE().aggregate([record(1, "no", "no")])["scores"]["all"]
    assert (only_no["precision"], only_no["recall"], only_no["f1"]) == (None, None, None)
    assert metrics["headline"] == {"metric": "mean_f1", "value": 0.0}
    assert metrics["scores"]["mean_accuracy"] == (0 / 1 + 1 / 2) / 2
    kit = POPE("vlmevalkit").aggregate(HAND)
    assert kit["headline"] == {"metric": "overall_f1", "value": kit["scores"]["all"]["f1"]}


def test_metrics_do_not_depend_on_prediction_order(shared_data):
    bench = POPE()
    dataset = bench.load(shared_data / LLAVA_LABELS)
    outputs = dict(llava_predictions(shared_data / LLAVA_LABELS, shared_data / QUESTIONS, shared_data / ANSWERS))
    records = bench.grade(dataset.samples, [outputs[s.id] for s in dataset.samples])
    shuffled = list(records)
    random.Random(0).shuffle(shuffled)
    assert bench.aggregate(shuffled) == bench.aggregate(records)
