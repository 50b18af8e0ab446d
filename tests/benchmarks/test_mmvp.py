"""MMVP: loader, the ground-truth erratum, pairing by Index, and the three protocols' rules.

No real Questions.csv is available offline; the fixture reproduces the erratum rows as the
original file has them (rows 279/280 as quoted in tsb0601/MMVP issue #14).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks.mmvp import MMVP, parse_options
from sgt_eval.errors import UserError
from sgt_eval.records import Sample

HEADER = "Index,Question,Options,Correct Answer\n"
ROWS = (
    "1,Is the door of the truck cab open?,(a) Yes (b) No,(a)\n"
    "2,Is the door of the truck cab open?,(a) Yes (b) No,(b)\n"
    "99,Does the elephant have long or short tusks?,(a) Long (b) Short,(a)\n"
    "100,Does the elephant have long or short tusks?,(a) Long (b) Short,(b)\n"
    "279,Is the elderly person standing or sitting in the picture?,(a) Standing (b) Sitting,(a)\n"
    "280,Is the elderly person standing or sitting in the picture?,(a) Standing (b) Sitting,(b)\n"
)


def _csv(folder: Path, text: str = HEADER + ROWS, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Questions.csv").write_text(text, encoding=encoding)
    return folder


def _answers(bench: MMVP, folder: Path) -> dict[str, str]:
    return {s.id: s.answer for s in bench.load(folder).samples}


def test_load_keeps_file_order_and_fields(tmp_path):
    data = MMVP().load(_csv(tmp_path / "mmvp"))
    assert [s.id for s in data.samples] == ["1", "2", "99", "100", "279", "280"]
    first = data.samples[0]
    assert first.question == "Is the door of the truck cab open?"
    assert first.choices == ("Yes", "No") and first.answer == "A"
    assert first.image == "MMVP Images/1.jpg"
    assert [s.meta["pair"] for s in data.samples] == [0, 0, 49, 49, 139, 139]
    assert [s.meta["position"] for s in data.samples] == [0, 1, 0, 1, 0, 1]


def test_corrected_gt_swaps_exactly_the_erratum_rows(tmp_path):
    folder = _csv(tmp_path / "mmvp")
    corrected = {"1": "A", "2": "B", "99": "B", "100": "A", "279": "B", "280": "A"}
    assert _answers(MMVP(mmvp_gt="corrected"), folder) == corrected
    original = {"1": "A", "2": "B", "99": "A", "100": "B", "279": "A", "280": "B"}
    assert _answers(MMVP(mmvp_gt="original"), folder) == original
    assert _answers(MMVP(), folder) == original  # the default scores the file as the official scripts did


def test_corrections_are_counted_in_metrics(tmp_path):
    folder = _csv(tmp_path / "mmvp")
    for mode, applied in (("corrected", 4), ("original", 0)):
        bench = MMVP(mmvp_gt=mode)
        samples = bench.load(folder).samples
        metrics = bench.aggregate(bench.grade(samples, ["A"] * len(samples)))
        assert metrics["counts"]["gt_corrections_applied"] == applied
        assert metrics["gt"] == mode


def test_files_that_are_not_the_erratum_are_left_alone(tmp_path):
    # A copy that is already corrected, and a mini MMVP whose rows 99/100 ask something else.
    fixed = ("99,Does the elephant have long or short tusks?,(a) Long (b) Short,(b)\n"
             "100,Does the elephant have long or short tusks?,(a) Long (b) Short,(a)\n")
    assert _answers(MMVP(mmvp_gt="corrected"), _csv(tmp_path / "fixed", HEADER + fixed)) == {"99": "B", "100": "A"}
    other = ("99,Is the square left of the circle?,(a) Yes (b) No,(a)\n"
             "100,Is the square left of the circle?,(a) Yes (b) No,(b)\n")
    assert _answers(MMVP(mmvp_gt="corrected"), _csv(tmp_path / "mini", HEADER + other)) == {"99": "A", "100": "B"}
    # Only half of a pair present (e.g. a trimmed file): nothing is swapped.
    half = ROWS.splitlines(keepends=True)[2]
    assert _answers(MMVP(mmvp_gt="corrected"), _csv(tmp_path / "half", HEADER + half)) == {"99": "A"}


def test_lndex_header_and_byte_order_mark(tmp_path):
    plain = _answers(MMVP(), _csv(tmp_path / "plain"))
    assert _answers(MMVP(), _csv(tmp_path / "lndex", HEADER.replace("Index", "lndex") + ROWS)) == plain
    assert _answers(MMVP(), _csv(tmp_path / "bom", HEADER + ROWS, encoding="utf-8-sig")) == plain


@pytest.mark.parametrize("text, message", [
    ("Idx,Question,Options,Correct Answer\n1,q,(a) x (b) y,(a)\n", "no 'Index' column"),
    (HEADER + "1,q,(a) x (b) y,(c)\n", "Correct Answer"),
    (HEADER + "1,q,x or y,(a)\n", "Options"),
    (HEADER + "zero,q,(a) x (b) y,(a)\n", "expected a row number"),
    (HEADER + "1,q,(a) x (b) y,(a)\n1,q,(a) x (b) y,(b)\n", "appears twice"),
])
def test_bad_csv_is_a_user_error(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        MMVP().load(_csv(tmp_path / "mmvp", text))


def test_missing_data_names_the_fetch_command(tmp_path):
    with pytest.raises(UserError, match="sgt-eval data fetch --bench mmvp"):
        MMVP().load(tmp_path / "mmvp")


def test_options_are_parsed_whatever_the_spacing():
    assert parse_options("(a)Open  (b)   Closed ", "x") == ("Open", "Closed")
    assert parse_options("(A) Yes (B) No", "x") == ("Yes", "No")
    assert parse_options("( a ) Up (b) Down", "x") == ("Up", "Down")


# Corrected GT: 1 A, 2 B, 99 B, 100 A, 279 B, 280 A. Right: 1, 2, 99, 279; wrong: 100, 280.
# By Index: pair 0 right, pairs 49 and 139 wrong -> 1/3. Consecutive records in the shuffled order
# below would pair (1, 99) and (2, 279) as right instead: 2/3.
OUTPUTS = {"1": "A", "2": "B", "99": "B", "100": "B", "279": "B", "280": "B"}
SHUFFLED = ["1", "99", "2", "279", "100", "280"]


def test_pairs_are_scored_by_index_not_by_order(tmp_path):
    bench = MMVP()
    by_id = {s.id: s for s in bench.load(_csv(tmp_path / "mmvp")).samples}
    records = bench.grade([by_id[i] for i in SHUFFLED], [OUTPUTS[i] for i in SHUFFLED])
    metrics = bench.aggregate(records)
    assert metrics["headline"] == {"metric": "pair_accuracy", "value": pytest.approx(1 / 3)}
    assert metrics["scores"]["accuracy"] == pytest.approx(4 / 6)
    assert metrics["counts"]["pairs_scored"] == 3
    random.Random(1).shuffle(records)
    assert bench.aggregate(records) == metrics


def test_incomplete_pairs_are_not_counted(tmp_path):
    bench = MMVP()
    samples = [s for s in bench.load(_csv(tmp_path / "mmvp")).samples if s.id != "280"]
    metrics = bench.aggregate(bench.grade(samples, [OUTPUTS[s.id] for s in samples]))
    # Pairs 0 (right) and 49 (wrong) are complete; 139 lost a member.
    assert metrics["headline"]["value"] == pytest.approx(1 / 2)
    assert metrics["counts"]["pairs_scored"] == 2 and metrics["counts"]["pairs_incomplete"] == 1
    assert "one question scored" in metrics["notes"][0]


DOOR = Sample(id="1", question="Is the door open?", answer="B", choices=("Open", "Closed"),
              meta={"pair": 0, "position": 0})


def test_prompts():
    options = "A. Open\nB. Closed"
    instruction = "Answer with the option's letter from the given choices directly."
    assert MMVP().prompt(DOOR) == f"Is the door open? Options:\n{options}\n{instruction}"
    assert MMVP("bagel").prompt(DOOR) == f"Is the door open?\n{options}\n{instruction}"
    assert MMVP("vlmevalkit").prompt(DOOR) == (f"Question: Is the door open?\nOptions:\n{options}\n"
                                               "Please select the correct answer from the options above. \n")


@pytest.mark.parametrize("protocol, output, value", [
    ("official", "B", "B"),
    ("official", "(b)", "B"),
    ("official", "Closed.", "B"),  # the full option text counts
    ("official", "The answer is B.", "B"),
    ("official", "The answer is: Closed,", None),  # split on "answer is" leaves ": closed"
    ("official", "B, because it is closed", None),  # no first-character rule for MMVP
    ("bagel", "B", "B"),
    ("bagel", "b", None),  # a single character is taken as is: "b" is not "B"
    ("bagel", "Answer: B", "A"),  # first character "A" is an option key
    ("bagel", "The door is Closed", "B"),  # option text, case-sensitive
    ("bagel", "the door is closed", None),
    ("vlmevalkit", "The answer is B", "B"),
    ("vlmevalkit", "closed", "B"),
    ("vlmevalkit", "A or B", None),
])
def test_extraction(protocol, output, value):
    parsed = MMVP(protocol).parse(output, DOOR)
    assert parsed.value == value
    assert parsed.method == ("none" if value is None else "rule")


@pytest.mark.parametrize("protocol", MMVP.protocols)
@pytest.mark.parametrize("output", ["", "  ", "maybe", "C"])
def test_unreadable_outputs_get_no_credit(protocol, output):
    record = MMVP(protocol).grade([DOOR], [output])[0]
    assert record.unparsed and not record.correct


def test_settings_and_options():
    bench = MMVP("bagel", mmvp_gt="original")
    assert bench.settings()["options"] == {"mmvp_gt": "original"}
    assert bench.settings()["prompt_version"].startswith("bagel@")
    assert bench.max_new_tokens == 100
    with pytest.raises(UserError, match="--mmvp-gt must be one of"):
        MMVP(mmvp_gt="fixed")
