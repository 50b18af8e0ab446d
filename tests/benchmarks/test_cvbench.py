"""CV-Bench: loader, the three protocols' prompts and extraction, and the aggregation formulas.

No real CV-Bench file is available offline, so a small fixture in the official jsonl layout is
written per test; expected numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from benchmarks.answers import vlmevalkit_can_infer
from benchmarks.cvbench import CVBench, cambrian_first_char
from sgt_eval.errors import UserError
from sgt_eval.records import Sample


def _row(idx: int, source: str, task: str, choices: list[str], answer: str) -> dict:
    lines = "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(choices))
    return {
        "idx": idx, "type": "3D" if source == "Omni3D" else "2D", "task": task, "source": source,
        "question": f"question {idx}?", "choices": choices, "answer": answer,
        "prompt": f"question {idx}? Select from the following choices.\n{lines}",
        "filename": f"img/{source}/{idx}.png",
    }


# ADE20K 2 rows, COCO 4 rows, Omni3D 3 rows: unequal sources, so the formula and plain accuracy differ.
ROWS_2D = [
    _row(0, "ADE20K", "Count", ["0", "1", "2", "3"], "(B)"),
    _row(1, "ADE20K", "Relation", ["left", "right"], "(A)"),
    _row(2, "COCO", "Count", ["1", "2", "3"], "(C)"),
    _row(3, "COCO", "Count", ["4", "5", "6"], "(A)"),
    _row(4, "COCO", "Relation", ["above", "below"], "(B)"),
    _row(5, "COCO", "Relation", ["left", "right"], "(A)"),
]
ROWS_3D = [
    _row(6, "Omni3D", "Depth", ["lamp", "chair"], "(A)"),
    _row(7, "Omni3D", "Depth", ["sofa", "table"], "(B)"),
    _row(8, "Omni3D", "Distance", ["door", "window"], "(A)"),
]
# ADE20K 1/2, COCO 4/4, Omni3D 1/3 right.
OUTPUTS = {"0": "B", "1": "B", "2": "C", "3": "A", "4": "B", "5": "A", "6": "A", "7": "A", "8": "B"}


def _write(folder: Path, rows_2d: list[dict] = ROWS_2D, rows_3d: list[dict] = ROWS_3D) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("test_2d.jsonl", rows_2d), ("test_3d.jsonl", rows_3d)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def _graded(bench: CVBench, folder: Path, outputs: dict[str, str] = OUTPUTS):
    samples = bench.load(folder).samples
    return bench.grade(samples, [outputs[s.id] for s in samples])


def test_load_reads_both_files_in_order(tmp_path):
    data = CVBench().load(_write(tmp_path / "cvbench"))
    assert [s.id for s in data.samples] == [str(i) for i in range(9)]
    first = data.samples[0]
    assert first.question == ROWS_2D[0]["prompt"]
    assert first.answer == "(B)" and first.choices == ("0", "1", "2", "3")
    assert first.image == "img/ADE20K/0.png"
    assert first.meta == {"type": "2D", "task": "Count", "source": "ADE20K"}
    assert data.root == tmp_path / "cvbench"
    assert [f.name for f in data.files] == ["test_2d.jsonl", "test_3d.jsonl"]


def test_load_accepts_a_single_jsonl(tmp_path):
    folder = _write(tmp_path / "cvbench")
    data = CVBench().load(folder / "test_3d.jsonl")
    assert [s.id for s in data.samples] == ["6", "7", "8"]


@pytest.mark.parametrize("change, message", [
    ({"filename": "../../etc/passwd"}, "outside the data folder"),
    ({"answer": "(C)"}, "field 'answer'"),
    ({"choices": []}, "field 'choices'"),
])
def test_load_rejects_bad_rows(tmp_path, change, message):
    bad = {**ROWS_2D[1], **change}
    with pytest.raises(UserError, match=message):
        CVBench().load(_write(tmp_path / "cvbench", ROWS_2D[:1] + [bad]))


def test_load_rejects_missing_files_and_repeated_ids(tmp_path):
    with pytest.raises(UserError, match="sgt-eval data fetch --bench cvbench"):
        CVBench().load(tmp_path / "nothing")
    with pytest.raises(UserError, match="idx 0 appears twice"):
        CVBench().load(_write(tmp_path / "cvbench", ROWS_2D, [ROWS_2D[0]]))


def test_official_headline_is_the_source_balanced_formula_not_plain_accuracy(tmp_path):
    bench = CVBench()
    metrics = bench.aggregate(_graded(bench, _write(tmp_path / "cvbench")))
    scores = metrics["scores"]
    # 2D = (1/2 + 4/4)/2 = 3/4; 3D = 1/3; CV-Bench = (3/4 + 1/3)/2 = 13/24; plain = 6/9.
    assert scores["source/ADE20K"] == pytest.approx(1 / 2)
    assert scores["source/COCO"] == pytest.approx(1.0)
    assert scores["source/Omni3D"] == pytest.approx(1 / 3)
    assert scores["2d"] == pytest.approx(3 / 4)
    assert scores["3d"] == pytest.approx(1 / 3)
    assert metrics["headline"] == {"metric": "cv_bench", "value": pytest.approx(13 / 24)}
    assert scores["plain_accuracy"] == pytest.approx(2 / 3)
    # Count: rows 0, 2, 3 all right; Relation: 1 wrong, 4 and 5 right; Depth 1/2; Distance 0/1.
    assert scores["task/Count"] == pytest.approx(1.0)
    assert scores["task/Relation"] == pytest.approx(2 / 3)
    assert scores["task/Depth"] == pytest.approx(1 / 2)
    assert scores["task/Distance"] == pytest.approx(0.0)
    assert metrics["counts"]["source/COCO"] == {"correct": 4, "total": 4}


def test_other_protocols_headlines(tmp_path):
    folder = _write(tmp_path / "cvbench")
    lmms = CVBench("lmms-eval")
    assert lmms.aggregate(_graded(lmms, folder))["headline"] == {
        "metric": "plain_accuracy", "value": pytest.approx(2 / 3)}
    vlm = CVBench("vlmevalkit")
    metrics = vlm.aggregate(_graded(vlm, folder))
    # CV-Bench-2D = mean over its sources = 3/4; CV-Bench-3D = plain 3D accuracy = 1/3.
    assert metrics["scores"]["vlmevalkit_2d"] == pytest.approx(3 / 4)
    assert metrics["scores"]["vlmevalkit_3d"] == pytest.approx(1 / 3)
    assert metrics["headline"] == {"metric": "vlmevalkit_2d_3d_mean", "value": pytest.approx(13 / 24)}


def test_aggregate_ignores_record_order_and_flags_missing_sources(tmp_path):
    bench = CVBench()
    records = _graded(bench, _write(tmp_path / "cvbench"))
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    assert bench.aggregate(shuffled) == bench.aggregate(records)
    partial = bench.aggregate([r for r in records if r.meta["source"] != "COCO"])
    assert partial["headline"]["value"] is None
    assert "COCO" in partial["notes"][0]


# A COCO row with options A-C and answer B.
COCO_ROW = Sample(id="1", question="q?\n(A) 1\n(B) 2\n(C) 3", answer="(B)", choices=("1", "2", "3"),
                  meta={"type": "2D", "task": "Count", "source": "COCO"})


@pytest.mark.parametrize("output, value", [
    ("(B)", "B"),
    ("B.", "B"),
    ("The answer is C.", "C"),
    ("answer: (a)", "A"),
    ("b) left", "B"),
    ("", None),
    ("I think it's D", None),  # first character "i": not an option letter
    ("D", None),  # a letter, but not one of this row's options
    ("2", None),  # option text: ADE20K/COCO scripts compare letters only
])
def test_official_extraction(output, value):
    parsed = CVBench().parse(output, COCO_ROW)
    assert parsed.value == value
    assert parsed.method == ("none" if value is None else "rule")


def test_official_omni3d_rules():
    omni = Sample(id="6", question="q", answer="(B)", choices=("x", "y"),
                  meta={"type": "3D", "task": "Depth", "source": "Omni3D"})
    bench = CVBench()
    # Omni3D's script also accepts the extracted character equal to the right option's text.
    assert bench.score(bench.parse("y", omni), omni)
    assert not bench.score(bench.parse("x", omni), omni)
    coco = dataclasses.replace(omni, meta={**omni.meta, "source": "COCO"})
    assert bench.parse("y", coco).method == "none"
    # ".:," are stripped on the right for Omni3D only; this changes the extracted text, though it
    # cannot change a letter (rstrip only alters the first character when it removes everything).
    assert cambrian_first_char("):", "COCO") == ")"
    assert cambrian_first_char("):", "Omni3D") == ""
    assert cambrian_first_char("Answer: (B),", "Omni3D") == "b"


def test_lmms_eval_prompt_and_start_anchored_letter():
    bench = CVBench("lmms-eval")
    assert bench.prompt(COCO_ROW) == ("Note: You only need to respond with A, B, C without providing any "
                                      "additional information.\n\n" + COCO_ROW.question)
    assert bench.parse("The answer is B", COCO_ROW).method == "none"  # reads "T": wrong, as in lmms-eval
    assert bench.parse("(b) because", COCO_ROW).value == "B"
    assert bench.parse("  c.", COCO_ROW).value == "C"


def test_lmms_eval_note_lists_every_option_letter():
    # Some Count rows have six options with answer (F); lmms-eval@75571cfe lists all letters
    # (its PR #1005), where older versions stopped at E.
    six = Sample(id="2", question="How many cups are in the image? Select from the following choices.\n"
                 "(A) 0\n(B) 1\n(C) 2\n(D) 3\n(E) 4\n(F) 5", answer="(F)",
                 choices=("0", "1", "2", "3", "4", "5"), meta=COCO_ROW.meta)
    bench = CVBench("lmms-eval")
    assert bench.prompt(six).startswith("Note: You only need to respond with A, B, C, D, E, F without ")
    assert bench.score(bench.parse("F", six), six)


def test_official_and_vlmevalkit_prompts():
    assert CVBench().prompt(COCO_ROW) == (COCO_ROW.question +
                                          "\nAnswer with the option's letter from the given choices directly.")
    assert CVBench("vlmevalkit").prompt(COCO_ROW) == COCO_ROW.question


@pytest.mark.parametrize("answer, expected", [
    ("The answer is C.", "C"),
    ("B", "B"),
    ("I think it's D", None),  # D is not an option and no option text occurs
    ("B is what I would never pick here, it is wrong", None),  # letter too far from the end
    ("A cat is there, so the answer is B", "B"),  # two letters: the "answer is" pattern decides
    ("It is above.", "A"),  # unique option text
    ("above or below", None),  # two option texts
    ("Cannot determine the answer", None),  # refusal: VLMEvalKit's "Z"
])
def test_vlmevalkit_can_infer(answer, expected):
    assert vlmevalkit_can_infer(answer, {"A": "above", "B": "below", "C": "left"}) == expected


@pytest.mark.parametrize("protocol", CVBench.protocols)
@pytest.mark.parametrize("output", ["", "   ", "no idea", "E"])
def test_unreadable_outputs_get_no_credit(protocol, output):
    bench = CVBench(protocol)
    record = bench.grade([COCO_ROW], [output])[0]
    assert record.method == "none" and not record.correct and record.unparsed


def test_settings_name_the_prompt():
    assert CVBench().settings()["prompt_version"].startswith("cambrian@")
    assert CVBench("lmms-eval").settings()["prompt_version"].startswith("lmms-eval@")
    assert CVBench().max_new_tokens == 64
