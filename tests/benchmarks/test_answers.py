"""The shared answer rules, on hand-worked cases read off the reference scripts named in answers.py."""

from __future__ import annotations

import pytest

from benchmarks.answers import cambrian_extract, pope_official, vqa_punctuation, yes_or_no

# 32 numbered lines ("1." ... "32.") and then the answer: 33 periods, one more than the
# reference's accidental cap of 32 substitutions.
NUMBERED_LIST = "".join(f"{i}. A point\n" for i in range(1, 33)) + "So no."


def test_periods_after_digits_are_kept_and_do_not_use_up_the_substitution_cap():
    # VLMEvalKit@e8e78f05 strips a period only when no digit touches it, so the 32 list numbers
    # keep theirs and the answer's period is removed: the last word reads "no".
    assert vqa_punctuation("1. yes.") == "1. yes"
    assert vqa_punctuation(NUMBERED_LIST).split()[-1] == "no"
    assert yes_or_no(NUMBERED_LIST) == "no"


@pytest.mark.parametrize("text, expected", [
    ("Yes.", "yes"),
    ("No, it is not.", "no"),
    ("yes and no", None),  # both words: VLMEvalKit's "Unknown"
    ("I can't tell", None),
    ("The answer is yes (3.5 m away).", "yes"),  # "3.5" keeps its period, brackets go
    ("Yes-ish", "yes"),  # a "-" with no space beside it becomes a space: "yes ish"
])
def test_yes_or_no(text, expected):
    assert yes_or_no(text) == expected


@pytest.mark.parametrize("output, expected", [
    ("No, there is no dog.", "no"),
    ("Yes, there is not a cat. ", "no"),  # "not" in the first sentence
    ("Yes. No.", "yes"),  # only the first sentence counts
    ("NO", "yes"),  # case-sensitive, as upstream
    ("no\n", "yes"),  # split on spaces only: "no\n" is not the word "no"
    ("Nope", "yes"),
    ("", None),  # the documented departure: upstream reads these as "yes"
    ("  ", None),
    (". No", None),  # the first sentence is empty
])
def test_pope_official(output, expected):
    assert pope_official(output) == expected


@pytest.mark.parametrize("output, rstrip, expected", [
    ("(B).", ".", "b"),
    ("The answer is (C)", ".", "c"),
    ("Answer: a,", ".", "a,"),  # ADE20K/COCO strip only "." on the right
    ("Answer: a,", ".:,", "a"),
    ("The answer is: (B)", ".", ": (b"),  # "answer is" is split first, leaving the colon
])
def test_cambrian_extract(output, rstrip, expected):
    assert cambrian_extract(output, rstrip=rstrip) == expected
