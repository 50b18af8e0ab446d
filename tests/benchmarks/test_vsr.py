"""VSR: the real split files, both layouts, yes/no grading and the per-group metrics.

Per-relation and per-meta-category numbers are checked against a recomputation that reads the
real files directly, the way VSR's analysis scripts do.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks.vsr import VSR
from sgt_eval.errors import UserError


def _output(i: int) -> str:
    """A deterministic mix of answers, including unreadable ones."""
    return "maybe" if i % 7 == 0 else ("Yes, it is." if i % 3 else "No.")


def _expected_prediction(i: int) -> str | None:
    return None if i % 7 == 0 else ("yes" if i % 3 else "no")


def _write_split(folder: Path, rows: list[dict]) -> Path:
    (folder / "splits" / "zeroshot").mkdir(parents=True)
    (folder / "splits" / "zeroshot" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _row(caption: str, label: int, relation: str, image: str = "000000000001.jpg") -> dict:
    return {"image": image, "caption": caption, "label": label, "relation": relation, "subj": "cat", "obj": "dog"}


@pytest.mark.parametrize("split, n, relations, positives", [("zeroshot", 1222, 53, 629), ("random", 2195, 61, 1181)])
def test_real_test_splits(shared_data, split, n, relations, positives):
    data = VSR(split=split).load(shared_data / "vsr")
    assert len(data.samples) == n
    assert [s.id for s in data.samples] == [str(i) for i in range(n)]
    assert len({s.meta["relation"] for s in data.samples}) == relations
    assert sum(s.answer == "yes" for s in data.samples) == positives
    assert data.version == "b27a0af"
    assert all("meta_category" in s.meta for s in data.samples)
    first = json.loads((shared_data / "vsr" / "splits" / split / "test.jsonl").open().readline())
    assert data.samples[0].question == first["caption"]
    assert data.samples[0].image == f"images/{first['image']}"


def test_zeroshot_fields(shared_data):
    sample = VSR().load(shared_data / "vsr").samples[0]
    assert sample.meta == {"split": "zeroshot", "relation": "behind", "label": "yes",
                           "meta_category": "Projective", "subj": "car", "obj": "suitcase"}


def test_group_accuracies_match_an_independent_recomputation(shared_data):
    bench = VSR()
    samples = bench.load(shared_data / "vsr").samples
    metrics = bench.aggregate(bench.grade(samples, [_output(i) for i in range(len(samples))]))

    rel2cat = {}
    for line in (shared_data / "vsr" / "rel_meta_category_dict.txt").read_text().splitlines():
        category, relations = line.strip().split(": ")
        rel2cat.update({r.strip(): category for r in relations.split(",")})
    by_relation, by_category = defaultdict(list), defaultdict(list)
    tp = fp = fn = 0
    rows = (shared_data / "vsr" / "splits" / "zeroshot" / "test.jsonl").read_text().splitlines()
    for i, line in enumerate(rows):
        row = json.loads(line)
        truth, pred = ("yes" if row["label"] == 1 else "no"), _expected_prediction(i)
        by_relation[row["relation"]].append(pred == truth)
        by_category[rel2cat[row["relation"]]].append(pred == truth)
        tp += truth == "yes" and pred == "yes"
        fp += truth == "no" and pred == "yes"
        fn += truth == "yes" and pred != "yes"

    scores = metrics["scores"]
    assert {k: v for k, v in scores.items() if k.startswith("relation/")} == {
        f"relation/{r}": sum(v) / len(v) for r, v in by_relation.items()}
    assert {k: v for k, v in scores.items() if k.startswith("meta_category/")} == {
        f"meta_category/{c}": sum(v) / len(v) for c, v in by_category.items()}
    assert scores["accuracy"] == sum(sum(v) for v in by_relation.values()) / len(rows)
    assert scores["precision"] == pytest.approx(tp / (tp + fp))
    assert scores["recall"] == pytest.approx(tp / (tp + fn))
    assert metrics["counts"]["tp"] == tp and metrics["counts"]["fp"] == fp and metrics["counts"]["fn"] == fn


def test_precision_recall_f1_by_hand(tmp_path):
    rows = [_row(f"c{i}", label, "left of") for i, label in enumerate([1, 1, 1, 1, 0, 0])]
    bench = VSR()
    samples = bench.load(_write_split(tmp_path / "vsr", rows)).samples
    metrics = bench.aggregate(bench.grade(samples, ["yes", "Yes.", "no", "maybe", "yes", "No"]))
    # TP 2, FN 2 (one "no", one unreadable), FP 1, TN 1.
    assert metrics["headline"] == {"metric": "accuracy", "value": pytest.approx(3 / 6)}
    assert metrics["scores"]["precision"] == pytest.approx(2 / 3)
    assert metrics["scores"]["recall"] == pytest.approx(2 / 4)
    assert metrics["scores"]["f1"] == pytest.approx(4 / 7)
    # No rel_meta_category_dict.txt in this folder: no meta-category scores, and a note says so.
    assert not any(k.startswith("meta_category/") for k in metrics["scores"])
    assert "per-meta-category accuracy omitted" in metrics["notes"][0]


def test_meta_category_file_later_line_wins(tmp_path):
    folder = _write_split(tmp_path / "vsr", [_row("a", 1, "among"), _row("b", 0, "far")])
    (folder / "rel_meta_category_dict.txt").write_text("Topological: among, on\nUnallocated: among\n")
    samples = VSR().load(folder).samples
    assert samples[0].meta["meta_category"] == "Unallocated"
    assert "meta_category" not in samples[1].meta
    bench = VSR()
    notes = bench.aggregate(bench.grade(samples, ["yes", "no"]))["notes"]
    assert notes == ["1 rows have a relation missing from rel_meta_category_dict.txt and are left out "
                     "of the per-meta-category accuracy"]


def test_hugging_face_layout_and_file_path(shared_data, tmp_path):
    hf = tmp_path / "vsr_zeroshot"
    hf.mkdir()
    shutil.copy(shared_data / "vsr" / "splits" / "zeroshot" / "test.jsonl", hf / "test.jsonl")
    data = VSR().load(hf)
    assert len(data.samples) == 1222 and data.version == "b27a0af" and data.root == hf
    direct = VSR().load(shared_data / "vsr" / "splits" / "zeroshot" / "test.jsonl")
    assert direct.root == shared_data / "vsr"
    assert "meta_category" in direct.samples[0].meta


def test_the_other_splits_file_is_refused(shared_data, tmp_path):
    hf = tmp_path / "vsr_random"
    hf.mkdir()
    shutil.copy(shared_data / "vsr" / "splits" / "random" / "test.jsonl", hf / "test.jsonl")
    with pytest.raises(UserError, match="pass --split random"):
        VSR().load(hf)
    assert len(VSR(split="random").load(hf).samples) == 2195
    with pytest.raises(UserError, match="give a test.jsonl"):
        VSR().load(shared_data / "vsr" / "splits" / "zeroshot" / "dev.jsonl")


@pytest.mark.parametrize("row, message", [
    (_row("x", 1, "on", image="../../secret.jpg"), "outside the data folder"),
    ({**_row("x", 1, "on"), "label": "1"}, "field 'label'"),
    ({"image": "a.jpg", "caption": "x", "label": 1}, "missing field 'relation'"),
])
def test_bad_rows_are_user_errors(tmp_path, row, message):
    with pytest.raises(UserError, match=message):
        VSR().load(_write_split(tmp_path / "vsr", [row]))


def test_missing_data_names_the_fetch_command(tmp_path):
    with pytest.raises(UserError, match="sgt-eval data fetch --bench vsr"):
        VSR().load(tmp_path / "vsr")


@pytest.mark.parametrize("output, correct", [
    ("Yes", True), ("yes, the cat is left of the dog.", True), ("No.", False),
    ("", None), ("Yes and no", None), ("It is true.", None),
])
def test_yes_no_grading(tmp_path, output, correct):
    bench = VSR()
    sample = bench.load(_write_split(tmp_path / "vsr", [_row("The cat is left of the dog.", 1, "left of")])).samples[0]
    record = bench.grade([sample], [output])[0]
    assert record.correct is bool(correct)
    assert record.unparsed is (correct is None)


def test_prompt_and_settings(tmp_path):
    bench = VSR()
    sample = bench.load(_write_split(tmp_path / "vsr", [_row("The cat is left of the dog.", 1, "left of")])).samples[0]
    prompt = bench.prompt(sample)
    assert "The cat is left of the dog." in prompt and "yes or no" in prompt
    settings = bench.settings()
    assert settings["prompt_version"] and settings["options"] == {"split": "zeroshot"}
    assert bench.max_new_tokens == 32
