"""GEdit-Bench statistics against hand computations: macro over 11 groups (official), micro, cn, intersection."""

from __future__ import annotations

import random

import pytest
from gedit_data import GROUP_SIZES

from benchmarks.gedit import GEditBench
from sgt_eval.records import Prediction

GROUPS = sorted(GROUP_SIZES)
OTHERS = [g for g in GROUPS if g != "text_change"]


def record(n: int, task: str, language: str, intersection: bool, sc: float | None = None, pq: float | None = None,
           o: float | None = None, error: str | None = None) -> Prediction:
    """A graded record with hand-given SC, PQ, O (unparsed when ``sc`` is None)."""
    meta = {"task_type": task, "language": language, "intersection": intersection, "key": f"k{n}"}
    values = {} if sc is None else {"SC": sc, "PQ": pq, "O": o}
    return Prediction(id=f"{task}/{language}/k{n}", output="x.png", parsed=None, method="judge" if values else "none",
                      correct=None, meta=meta, values=values, error=error)


def records() -> list[Prediction]:
    rows = [
        # en, text_change: three samples; SC and PQ means 14/3, O mean (6 + 6 + 1)/3 = 13/3 (not sqrt(14/3 * 14/3))
        record(0, "text_change", "en", True, 9, 4, 6.0),
        record(1, "text_change", "en", True, 4, 9, 6.0),
        record(2, "text_change", "en", False, 1, 1, 1.0),
        record(3, "ps_human", "en", True),  # unparsed: excluded from every mean, counted
        # cn: every group 10/10 but tone_transfer 0/10; ps_human has only an unparsed and a failed sample
        record(4, "ps_human", "cn", True),
        record(5, "ps_human", "cn", False, error="unreadable image x.png"),
    ]
    # en: the 10 other groups one sample each, SC 8, PQ 2, O 4; the first five in the intersection
    rows += [record(10 + i, task, "en", i < 5, 8, 2, 4.0) for i, task in enumerate(OTHERS)]
    rows += [record(30 + i, task, "cn", True, 0 if task == "tone_transfer" else 10, 10,
                    0.0 if task == "tone_transfer" else 10.0) for i, task in enumerate(OTHERS) if task != "ps_human"]
    rows.append(record(50, "text_change", "cn", False, 10, 10, 10.0))
    return rows


def test_macro_and_micro_match_the_hand_computation():
    metrics = GEditBench().aggregate(records())
    en = metrics["scores"]["en"]["fullset"]
    # macro = mean over the 11 groups of the group means; micro = mean over the 13 scored samples
    assert (en["SC"], en["PQ"], en["O"]) == pytest.approx(((14 / 3 + 80) / 11, (14 / 3 + 20) / 11, (13 / 3 + 40) / 11))
    assert en["micro"] == pytest.approx({"SC": 94 / 13, "PQ": 34 / 13, "O": 53 / 13})
    assert (en["n"], en["n_unparsed"], en["n_errors"], en["n_groups"]) == (13, 1, 0, 11)
    assert en["groups"]["text_change"] == pytest.approx({"SC": 14 / 3, "PQ": 14 / 3, "O": 13 / 3, "n": 3,
                                                         "n_unparsed": 0, "n_errors": 0})
    assert en["groups"]["ps_human"] == {"SC": 8.0, "PQ": 2.0, "O": 4.0, "n": 1, "n_unparsed": 1, "n_errors": 0}
    assert metrics["headline"] == {"metric": "en_fullset_O", "value": pytest.approx(133 / 33)}


def test_intersection_subset_is_respected():
    inter = GEditBench().aggregate(records())["scores"]["en"]["intersection"]
    # text_change: (9, 4, 6) and (4, 9, 6); five other groups (8, 2, 4); ps_human's one is unparsed
    assert (inter["SC"], inter["PQ"], inter["O"]) == pytest.approx(((6.5 + 40) / 6, (6.5 + 10) / 6, (6 + 20) / 6))
    assert inter["micro"] == pytest.approx({"SC": 53 / 7, "PQ": 23 / 7, "O": 32 / 7})
    assert (inter["n"], inter["n_unparsed"], inter["n_groups"]) == (7, 1, 6)


def test_cn_is_its_own_language_and_groups_without_scores_leave_the_macro():
    cn = GEditBench().aggregate(records())["scores"]["cn"]
    full = cn["fullset"]
    assert (full["SC"], full["PQ"], full["O"]) == pytest.approx((9.0, 10.0, 9.0))  # 10 groups, tone_transfer 0
    assert (full["n"], full["n_unparsed"], full["n_errors"], full["n_groups"]) == (10, 1, 1, 10)
    assert full["groups"]["ps_human"] == {"SC": None, "PQ": None, "O": None, "n": 0, "n_unparsed": 1, "n_errors": 1}
    assert cn["intersection"]["SC"] == pytest.approx(80 / 9)  # text_change's cn sample is not in it
    assert cn["intersection"]["n_groups"] == 9


def test_statistics_do_not_depend_on_record_order():
    rows = records()
    expected = GEditBench().aggregate(rows)
    random.Random(7).shuffle(rows)
    assert GEditBench().aggregate(rows) == expected


def test_no_records_give_none_not_zero():
    metrics = GEditBench().aggregate([])
    assert metrics["headline"] == {"metric": "en_fullset_O", "value": None}
    assert metrics["scores"]["cn"]["intersection"]["micro"] == {"SC": None, "PQ": None, "O": None}


def test_a_group_left_out_of_the_macro_is_warned_about():
    # cn ps_human has only an unparsed and a failed sample (in the full set, one of them in the intersection);
    # upstream's np.mean over the 11 groups would be NaN, ours averages the other groups and says so
    metrics = GEditBench().aggregate(records())
    assert metrics["warnings"] == [
        "cn fullset: SC/PQ/O average 10 of 11 task groups; no scored sample in ps_human",
        "cn intersection: SC/PQ/O average 9 of 10 task groups; no scored sample in ps_human"]
    # a group missing from one language altogether is named too
    no_cn_text = [r for r in records() if not (r.meta["language"] == "cn" and r.meta["task_type"] == "text_change")]
    assert GEditBench().aggregate(no_cn_text)["warnings"][0] == (
        "cn fullset: SC/PQ/O average 9 of 11 task groups; no scored sample in ps_human, text_change")
    complete = [r for r in records() if r.meta["language"] == "en"]
    assert "warnings" not in GEditBench().aggregate(complete)
