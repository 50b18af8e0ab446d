"""GenEval's summary (summary_scores.py): overall is the mean of the task accuracies, not of images."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from benchmarks.geneval import GenEval
from sgt_eval.records import Prediction

# (tag, prompt, images correct out of images): 4 prompts, 14 images
HAND_MADE = [("single_object", "a photo of a dog", 4, 4), ("single_object", "a photo of a cat", 2, 4),
             ("counting", "a photo of two clocks", 1, 4), ("position", "a photo of a cup left of a dog", 0, 2)]


def records() -> list[Prediction]:
    out = []
    for index, (tag, prompt, right, total) in enumerate(HAND_MADE):
        meta = {"tag": tag, "include": [{"class": prompt.split()[-1], "count": 1}], "prompt_index": index}
        out += [Prediction(id=f"{index:05d}/{j:04d}", output=f"images/{index:05d}/samples/{j:04d}.png",
                           parsed="", method="rule", correct=j < right, meta=meta, question=prompt)
                for j in range(total)]
    return out


def test_overall_is_the_mean_of_tasks_and_differs_from_the_mean_of_images():
    scores = GenEval().aggregate(records())
    # tasks: single_object 6/8, counting 1/4, position 0/2
    assert scores["scores"]["tasks"] == {"single_object": 0.75, "counting": 0.25, "position": 0.0}
    assert scores["headline"] == {"metric": "overall", "value": pytest.approx((0.75 + 0.25 + 0.0) / 3)}
    assert scores["scores"]["images_correct"] == 7 / 14 != scores["headline"]["value"]
    assert scores["scores"]["prompts_correct"] == 3 / 4  # the position prompt has no correct image
    assert scores["scores"]["counts"]["counting"] == {"correct": 1, "total": 4}
    assert scores["scores"]["n_images"] == 14 and scores["scores"]["n_prompts"] == 4
    assert "colors" in scores["warnings"][0]  # three of the six tasks are missing: said, not hidden


def test_matches_summary_scores_computed_with_pandas_as_upstream_does():
    recs = records()
    df = pd.DataFrame([{"tag": r.meta["tag"], "metadata": r.question, "correct": r.correct} for r in recs])
    tasks = [task["correct"].mean() for _, task in df.groupby("tag", sort=False)]
    scores = GenEval().aggregate(recs)["scores"]
    assert scores["overall"] == pytest.approx(sum(tasks) / len(tasks), abs=1e-15)
    assert scores["images_correct"] == df["correct"].mean()
    assert scores["prompts_correct"] == df.groupby("metadata")["correct"].any().mean()


def test_summary_does_not_depend_on_record_order():
    recs = records()
    shuffled = recs[:]
    random.Random(0).shuffle(shuffled)
    assert GenEval().aggregate(shuffled) == GenEval().aggregate(recs)


def test_error_records_count_as_wrong_images():
    recs = records()
    broken = Prediction(id="00003/0002", output="", parsed=None, method="none", correct=False,
                        meta=recs[-1].meta, question=recs[-1].question, error="unreadable image")
    scores = GenEval().aggregate([*recs, broken])["scores"]
    assert scores["counts"]["position"] == {"correct": 0, "total": 3}
