"""GenEval's per-image rules on hand-built detections, one test per clause of evaluate_images.py."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.detectors import Detection
from benchmarks.geneval_rules import color_queries, evaluate, relative_position, select_objects


def det(label: str, score: float = 0.99, box: tuple[float, float, float, float] = (0, 0, 10, 10)) -> Detection:
    return Detection(label, score, box)


def judge(detections: list[Detection], meta: dict, colors: dict[int, list[str]] | None = None) -> tuple[bool, str]:
    objects = select_objects(detections, meta["tag"])
    asked = color_queries(objects, meta)
    assert set(asked) == set(colors or {}), "the colour look-ups asked for differ from the test's answers"
    return evaluate(objects, meta, colors or {})


COUNT_TWO_CLOCKS = {"tag": "counting", "include": [{"class": "clock", "count": 2}],
                    "exclude": [{"class": "clock", "count": 3}], "prompt": "a photo of two clocks"}


def test_counting_prompts_need_confidence_above_0_9_others_above_0_3():
    clocks = [det("clock", 0.85, (0, 0, 10, 10)), det("clock", 0.95, (30, 0, 40, 10))]
    assert judge(clocks, COUNT_TWO_CLOCKS) == (False, "expected clock>=2, found 1")
    two_objects = {"tag": "two_object", "include": [{"class": "clock", "count": 1}, {"class": "cup", "count": 1}]}
    assert judge([det("clock", 0.31), det("cup", 0.35)], two_objects)[0] is True
    assert judge([det("clock", 0.29), det("cup", 0.35)], two_objects) == (False, "expected clock>=1, found 0")


def test_thresholds_are_strict_and_compared_in_float32_like_upstream():
    at_threshold = float(np.float32(0.3))  # 0.30000001192...: above 0.3 in float64, equal in float32
    assert select_objects([det("cat", at_threshold)], "single_object") == {}
    above = float(np.nextafter(np.float32(0.3), np.float32(1)))
    assert len(select_objects([det("cat", above)], "single_object")["cat"]) == 1
    assert select_objects([det("cat", float(np.float32(0.9)))], "counting") == {}


def test_at_most_16_objects_per_class_most_confident_first():
    many = [det("cup", 0.4 + i / 100) for i in range(20)]
    kept = select_objects(many, "single_object")["cup"]
    assert [d.score for d in kept] == sorted((d.score for d in many), reverse=True)[:16]


def test_exclude_clause_is_count_plus_one_and_fails_at_that_count():
    far = [(0, 0, 10, 10), (30, 0, 40, 10), (60, 0, 70, 10)]
    assert judge([det("clock", 0.95, b) for b in far[:2]], COUNT_TWO_CLOCKS)[0] is True
    assert judge([det("clock", 0.95, b) for b in far], COUNT_TWO_CLOCKS) == (False, "expected clock<3, found 3")
    # a third clock under the counting threshold is not seen, so it does not trip the exclude clause
    assert judge([det("clock", 0.95, far[0]), det("clock", 0.95, far[1]), det("clock", 0.5, far[2])],
                 COUNT_TWO_CLOCKS)[0] is True


def test_colour_needs_count_objects_of_the_colour_among_the_most_confident():
    meta = {"tag": "colors", "include": [{"class": "car", "count": 2, "color": "red"}]}
    cars = [det("car", 0.9), det("car", 0.8), det("car", 0.7)]
    objects = select_objects(cars, "colors")
    asked = color_queries(objects, meta)
    assert asked == {0: ("car", tuple(cars[:2]))}  # only the two most confident cars are classified
    assert evaluate(objects, meta, {0: ["red", "red"]})[0] is True
    ok, reason = evaluate(objects, meta, {0: ["red", "blue"]})
    assert not ok and reason == "expected red car>=2, found 1 red (1 red, 1 blue)"
    # no colour look-up when the count already fails
    assert color_queries(select_objects(cars[:1], "colors"), meta) == {}


@pytest.mark.parametrize(("box_a", "box_b", "expected"), [
    # offset (-20, 0), margin 0.1*(10+10)=2 -> revised (-18, 0), /|offset| 20 -> dx -0.9
    ((0, 0, 10, 10), (20, 0, 30, 10), {"left of"}),
    ((20, 0, 30, 10), (0, 0, 10, 10), {"right of"}),
    ((0, 40, 10, 50), (0, 0, 10, 10), {"below"}),
    # offset (-1.5, 0) is inside the margin of 2 -> revised (0, 0): no relation at all
    ((0, 0, 10, 10), (1.5, 0, 11.5, 10), set()),
    # offset (-10, 10), revised (-8, 8) / 14.14 = (-0.566, 0.566): both relations hold
    ((0, 10, 10, 20), (10, 0, 20, 10), {"left of", "below"}),
    # offset (-10, 6), revised (-8, 4) / 11.66 = (-0.686, 0.343): only "left of"
    ((0, 6, 10, 16), (10, 0, 20, 10), {"left of"}),
    # offset (-6, 0), margin 0.1*(10+30)=4 -> revised (-2, 0) / 6 = -0.333: a relation, but not past 0.5
    ((0, 0, 10, 10), (-4, 0, 26, 10), set()),
])
def test_relative_position_margin_rule(box_a, box_b, expected):
    assert relative_position(box_a, box_b) == expected


POSITION = {"tag": "position", "include": [{"class": "dog", "count": 1},
                                           {"class": "cat", "count": 1, "position": ["left of", 0]}]}


def test_position_clause_checks_every_object_against_the_target_group():
    dog, cat_left = det("dog", box=(50, 0, 60, 10)), det("cat", box=(0, 0, 10, 10))
    assert judge([dog, cat_left], POSITION)[0] is True
    ok, reason = judge([dog, det("cat", box=(80, 0, 90, 10))], POSITION)
    assert not ok and reason == "expected cat left of target, found right of target"
    ok, reason = judge([dog, det("cat", box=(51, 0, 61, 10))], POSITION)  # within the margin: no relation
    assert not ok and "found no relation" in reason


def test_a_failed_target_group_fails_the_position_clause():
    ok, reason = judge([det("cat", box=(0, 0, 10, 10))], POSITION)
    assert not ok and reason == "expected dog>=1, found 0; no target for cat to be left of"
    coloured = {"tag": "color_attr", "include": [{"class": "dog", "count": 1, "color": "red"},
                                                 {"class": "cat", "count": 1, "position": ["left of", 0]}]}
    dets = [det("dog", box=(50, 0, 60, 10)), det("cat", box=(0, 0, 10, 10))]
    assert judge(dets, coloured, {0: ["red"]})[0] is True
    ok, reason = judge(dets, coloured, {0: ["blue"]})  # the dog is found but the wrong colour -> no target
    assert not ok and reason.endswith("no target for cat to be left of")


def test_include_clauses_are_anded_and_classes_not_named_are_ignored():
    meta = {"tag": "two_object", "include": [{"class": "dog", "count": 1}, {"class": "cat", "count": 1}]}
    assert judge([det("dog"), det("cat"), det("person"), det("person")], meta)[0] is True
    ok, reason = judge([det("dog")], meta)
    assert not ok and reason == "expected cat>=1, found 0"
