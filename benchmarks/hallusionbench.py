"""HallusionBench: yes/no questions on charts, tables, maps, illusions and videos, some without image.

Protocols:

- ``official`` (default): all 1,129 questions (178 text-only), the question as prompt. With a
  judge, every non-empty output is judged against ``gt_answer_details`` as the official
  ``evaluation.py`` does; the reply is classed "incorrect" (contains "incorrect"), else "correct"
  (contains "correct"), else "unclear", and ``assign_correctness`` applies: "unclear" counts as
  correct only for a VS question with figure_id 0 (no image: "I don't know" is right there).
  Without a judge, rules: :func:`benchmarks.answers.yes_or_no` against ``gt_answer``; an output
  with neither/both of yes and no is unparsed and wrong, also for the no-image questions.
  Metrics as upstream ``utils.py``: ``aAcc`` (questions), ``fAcc`` (figures keyed
  category_subcategory_set_figure, VS figure 0 skipped, all questions right), ``qAcc`` (pairs keyed
  category_subcategory_set_question, text-only question included), easy/hard pair accuracy
  (questions with visual_input != "2" / == "2"; the leaderboard calls them "easy/hard aAcc"), the
  same per category (VD/VS) and the yes/no bias statistics. Headline ``aAcc``; ``overall`` =
  mean(aAcc, fAcc, qAcc) is reported beside it.
- ``vlmevalkit``: the 951 image questions only (visual_input != "0"); yes/no by rule, an
  unreadable output goes to the judge (asked to map it to Yes/No/Unknown, in our own words) or is
  unparsed without one; ``Hallusion_rating``: aAcc, fAcc (category_subcategory_set_figure), qAcc
  (category_subcategory_set_question), overall and per category / subcategory. Headline
  ``overall`` = mean(aAcc, fAcc, qAcc), VLMEvalKit's "Overall Acc".

An empty output is never sent to a judge: it is unparsed and wrong (a judge's "unclear" would
otherwise credit it on the no-image questions). The judge prompt comes from
``<data>/hallusionbench/judge_prompt.json`` when :meth:`HallusionBench.load` finds it (the
official wording, written by ``sgt-eval data fetch``), else it is this project's own wording
(``sgt-eval-own-v1``); the version is in ``settings()`` and in the grader string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.answers import yes_or_no
from benchmarks.base import (
    AnswerBenchmark,
    Dataset,
    mean_or_none,
    missing_data,
    ratio,
    safe_relpath,
    sha256_file,
)
from benchmarks.headline import HeadlineParts, tally
from sgt_eval.data.hallusion_prompt import load_judge_prompt
from sgt_eval.errors import UserError
from sgt_eval.judges import Judge, JudgeRequest
from sgt_eval.records import Parsed, Prediction, Sample, graded

METADATA = "HallusionBench.json"
JUDGE_PROMPT_FILE = "judge_prompt.json"
IMAGE_DIR = "hallusion_bench"
KNOWN_FILES = {"ca6e0fb677dd56e5fb0e2700d06c58d01f8a6ae66e0f1773b2ac48c0a095d051": "tianyi-lab@c226ce4"}
# gt_answer is kept in meta too: the yes/no bias statistics are computed from predictions alone.
META_FIELDS = ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id", "gt_answer",
               "gt_answer_details")
YES_NO = {"1": "yes", "0": "no"}
VERDICTS = ("incorrect", "correct", "unclear")  # the official classes "0", "1", "2"

# Our own wording (never the official text); the same template syntax as judge_prompt.json.
OWN_JUDGE_PROMPT = {
    "version": "sgt-eval-own-v1",
    "template": (
        "You are checking a model's answer to a yes/no question against a reference answer.\n"
        "Question: {question}\n"
        "Reference answer: {reference}\n"
        "Model answer: {prediction}\n"
        "Reply with exactly one word: correct if the model answer agrees with the reference answer, "
        "incorrect if it contradicts it, or unclear if the model answer does not commit to an answer."
    ),
}
YES_NO_PROMPT = {
    "version": "sgt-eval-yes-no-v1",
    "template": (
        "Below is a question and a model's answer to it. Decide whether the answer means Yes or No.\n"
        "Question: {question}\n"
        "Answer: {prediction}\n"
        "Reply with exactly one word: Yes, No, or Unknown if the answer says neither."
    ),
}
_FIELD = re.compile(r"\{\{|\}\}|\{(question|reference|prediction)\}")


def fill_template(template: str, fields: dict[str, str]) -> str:
    """Fill ``{question}``, ``{reference}``, ``{prediction}`` in one pass (``{{``/``}}`` are literal braces).

    Unlike ``str.format`` this never evaluates anything, and unlike chained ``str.replace`` a model
    output that contains ``{reference}`` is inserted verbatim instead of being expanded.
    """
    return _FIELD.sub(lambda m: fields[m.group(1)] if m.group(1) else m.group(0)[0], template)


def judge_verdict(reply: str) -> str:
    """The official classing of a judge reply: "incorrect", else "correct", else "unclear"."""
    text = reply.lower()
    return next((v for v in VERDICTS[:2] if v in text), "unclear")


class HallusionBench(AnswerBenchmark):
    """HallusionBench from ``HallusionBench.json`` (ids are 0-based positions in that file)."""

    name = "hallusionbench"
    title = "HallusionBench"
    unit_name = "question set"
    protocols = ("official", "vlmevalkit")
    max_new_tokens = 128  # lmms-eval's setting

    def __init__(self, protocol: str | None = None, **options: str) -> None:
        super().__init__(protocol, **options)
        # Replaced by load() when the data folder holds the official prompt (judge_prompt.json).
        self.judge_prompt: dict[str, str] = OWN_JUDGE_PROMPT

    def load(self, path: Path) -> Dataset:
        """Read ``HallusionBench.json`` from its folder (or the file itself).

        Also picks up ``judge_prompt.json`` from the same folder for judged grading. Under the
        ``vlmevalkit`` protocol only the image questions are returned.
        """
        file = path / METADATA if path.is_dir() else path
        if not file.is_file():
            raise missing_data("hallusionbench", path, f"{METADATA} (and {IMAGE_DIR}/ for the images)")
        prompt_file = file.parent / JUDGE_PROMPT_FILE
        self.judge_prompt = load_judge_prompt(prompt_file) if prompt_file.is_file() else OWN_JUDGE_PROMPT
        samples = read_samples(file)
        excluded: frozenset[str] = frozenset()
        if self.protocol == "vlmevalkit":
            excluded = frozenset(s.id for s in samples if s.meta["visual_input"] == "0")
            samples = [s for s in samples if s.id not in excluded]
        return Dataset(root=file.parent, samples=samples, files=(file,), version=KNOWN_FILES.get(sha256_file(file), ""),
                       excluded_ids=excluded)

    def prompt(self, sample: Sample) -> str:
        return sample.question

    def parse(self, output: str, sample: Sample) -> Parsed:
        value = yes_or_no(output)
        return Parsed(value, "rule" if value is not None else "none")

    def score(self, parsed: Parsed, sample: Sample) -> bool:
        if parsed.value in VERDICTS:  # an official judge verdict, read with assign_correctness
            return parsed.value == "correct" or (parsed.value == "unclear" and _no_visual_supplement(sample.meta))
        return parsed.value is not None and parsed.value == YES_NO[sample.answer]

    def grade(self, samples: Sequence[Sample], outputs: Sequence[str], judge: Judge | None = None) -> list[Prediction]:
        """Rules first; then one ``judge.ask_many`` call for every output the judge must read.

        Official protocol with a judge: every non-empty output is judged. VLMEvalKit protocol:
        only outputs the yes/no rule cannot read.
        """
        parsed = [self.parse(output, sample) for sample, output in zip(samples, outputs, strict=True)]
        if judge is not None:
            official = self.protocol == "official"
            todo = [i for i, (p, output) in enumerate(zip(parsed, outputs))
                    if output.strip() and (official or p.method == "none")]
            prompt = self.judge_prompt if official else YES_NO_PROMPT
            requests = [JudgeRequest(fill_template(prompt["template"], {
                "question": samples[i].question, "reference": str(samples[i].meta["gt_answer_details"]),
                "prediction": outputs[i]}), prompt_version=prompt["version"]) for i in todo]
            replies = judge.ask_many(requests) if requests else []
            for i, reply in zip(todo, replies, strict=True):
                value = judge_verdict(reply) if official else yes_or_no(reply)
                parsed[i] = Parsed(value, "judge" if value is not None else "none", judge_reply=reply)
        return [graded(s, o, p, p.method != "none" and self.score(p, s)) for s, o, p in zip(samples, outputs, parsed)]

    def grader(self, judge: Judge | None) -> str:
        if judge is None:
            return "rules"
        if self.protocol == "official":
            return f"judge:{judge.id}|prompt:{self.judge_prompt['version']}"
        return f"rules+judge:{judge.id}|prompt:{YES_NO_PROMPT['version']}"

    def settings(self) -> dict[str, Any]:
        judge_prompt = self.judge_prompt if self.protocol == "official" else YES_NO_PROMPT
        return {**super().settings(), "prompt": "question-as-is", "judge_prompt": judge_prompt["version"]}

    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """aAcc, fAcc, qAcc and their mean ``overall``, overall and per group (fractions in [0, 1]).

        Official: ``scores`` holds the overall block (plus easy/hard pair accuracy, figure
        consistency and yes/no bias), ``categories`` (VD, VS). VLMEvalKit: image questions only,
        ``categories`` and ``subcategories`` (``VD_ocr``...), as ``Hallusion_rating``.
        """
        if self.protocol == "official":
            scores = {**_official_block(predictions), **_bias(predictions),
                      "categories": _by(predictions, lambda m: m["category"], _official_block)}
            return {"headline": {"metric": "aAcc", "value": scores["aAcc"]}, "scores": scores}
        images = [p for p in predictions if p.meta["visual_input"] != "0"]
        scores = {**_vlmevalkit_block(images),
                  "categories": _by(images, lambda m: m["category"], _vlmevalkit_block),
                  "subcategories": _by(images, lambda m: f"{m['category']}_{m['subcategory']}", _vlmevalkit_block)}
        return {"headline": {"metric": "overall", "value": scores["overall"]}, "scores": scores}

    def headline_parts(self, predictions: Sequence[Prediction]) -> HeadlineParts:
        """aAcc (official), or the mean of aAcc, fAcc and qAcc over image questions (vlmevalkit), with a
        question set as the unit: its figures and question pairs are drawn together."""
        if self.protocol != "official":
            predictions = [p for p in predictions if p.meta["visual_input"] != "0"]
        sets: dict[str, list[Prediction]] = {}
        for p in predictions:
            sets.setdefault(_key(p.meta), []).append(p)

        def contributions() -> Iterator[tuple[str, str, str, float, float]]:
            for unit, members in sets.items():
                yield from ((unit, "", "aAcc", float(p.correct), 1.0) for p in members)
                if self.protocol != "official":
                    for name, field in (("fAcc", "figure_id"), ("qAcc", "question_id")):
                        groups = _groups(members, lambda m, field=field: m[field])
                        yield from ((unit, "", name, float(all(v)), 1.0) for v in groups.values())

        weights = {"aAcc": 1.0} if self.protocol == "official" else dict.fromkeys(("aAcc", "fAcc", "qAcc"), 1 / 3)
        return tally(contributions(), weights)


# -- data ---------------------------------------------------------------------------------------
def read_samples(file: Path) -> list[Sample]:
    """All questions of ``HallusionBench.json``, checked field by field, in file order."""
    try:
        rows = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{file} is not valid JSON ({err}); re-fetch it with `sgt-eval data fetch`") from None
    if not isinstance(rows, list):
        raise UserError(f"{file}: expected a JSON list of questions; re-fetch it with `sgt-eval data fetch`")
    samples, keys = [], set()
    for i, row in enumerate(rows):
        where = f"{file}: question {i}"
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected a JSON object; re-fetch the file")
        for field in (*META_FIELDS, "question"):
            if not isinstance(row.get(field), str):
                raise UserError(f"{where}: field {field!r} must be a string; re-fetch the file")
        if row["gt_answer"] not in YES_NO or row["visual_input"] not in ("0", "1", "2"):
            raise UserError(f"{where}: fields 'gt_answer' must be 0/1 and 'visual_input' 0/1/2")
        if (row.get("filename") is None) != (row["visual_input"] == "0"):
            raise UserError(f"{where}: field 'filename' must be null exactly when visual_input is '0'")
        key = _key(row, "figure_id", "question_id")
        if key in keys:
            raise UserError(f"{where}: {key} appears twice (category, subcategory, set, figure and question ids)")
        keys.add(key)
        image = None if row["filename"] is None else f"{IMAGE_DIR}/{safe_relpath(row['filename'], 'filename', file)}"
        samples.append(Sample(id=str(i), question=row["question"], answer=row["gt_answer"], image=image,
                              meta={field: row[field] for field in META_FIELDS}))
    return samples


# -- aggregation --------------------------------------------------------------------------------
def _key(meta: Any, *last: str) -> str:
    return "_".join([meta["category"], meta["subcategory"], meta["set_id"], *(meta[k] for k in last)])


def _no_visual_supplement(meta: Any) -> bool:
    return meta["category"] == "VS" and meta["figure_id"] == "0"


def _groups(predictions: Sequence[Prediction], key: Callable[[Any], str | None]) -> dict[str, list[bool]]:
    groups: dict[str, list[bool]] = {}
    for p in predictions:
        k = key(p.meta)
        if k is not None:
            groups.setdefault(k, []).append(p.correct)
    return groups


def _all_right(groups: dict[str, list[bool]]) -> float | None:
    return ratio(sum(all(v) for v in groups.values()), len(groups))


def _pairs(predictions: Sequence[Prediction]) -> dict[str, list[bool]]:
    return _groups(predictions, lambda m: _key(m, "question_id"))


def _official_block(predictions: Sequence[Prediction]) -> dict[str, Any]:
    figures = _groups(predictions, lambda m: None if _no_visual_supplement(m) else _key(m, "figure_id"))
    pairs = _pairs(predictions)
    a, f, q = ratio(sum(p.correct for p in predictions), len(predictions)), _all_right(figures), _all_right(pairs)
    easy = _pairs([p for p in predictions if p.meta["visual_input"] != "2"])
    hard = _pairs([p for p in predictions if p.meta["visual_input"] == "2"])
    right = [sum(v) for v in figures.values()]
    return {"aAcc": a, "fAcc": f, "qAcc": q, "overall": mean_or_none((a, f, q)),
            "easy_pair_acc": _all_right(easy), "hard_pair_acc": _all_right(hard),
            "n": len(predictions), "n_figures": len(figures), "n_pairs": len(pairs),
            "n_easy_pairs": len(easy), "n_hard_pairs": len(hard),
            "figures_inconsistent": ratio(sum(0 < r < len(v) for r, v in zip(right, figures.values())), len(figures)),
            "figures_all_wrong": ratio(right.count(0), len(figures)),
            "n_judge_unclear": sum(p.parsed == "unclear" for p in predictions)}


def _vlmevalkit_block(predictions: Sequence[Prediction]) -> dict[str, Any]:
    figures, pairs = _groups(predictions, lambda m: _key(m, "figure_id")), _pairs(predictions)
    a, f, q = ratio(sum(p.correct for p in predictions), len(predictions)), _all_right(figures), _all_right(pairs)
    return {"aAcc": a, "fAcc": f, "qAcc": q, "overall": mean_or_none((a, f, q)),
            "n": len(predictions), "n_figures": len(figures), "n_pairs": len(pairs)}


def _by(predictions: Sequence[Prediction], group: Callable[[Any], str],
        block: Callable[[Sequence[Prediction]], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    parts: dict[str, list[Prediction]] = {}
    for p in predictions:
        parts.setdefault(group(p.meta), []).append(p)
    return {name: block(parts[name]) for name in sorted(parts)}


def _bias(predictions: Sequence[Prediction]) -> dict[str, float | None]:
    """``yes_ratio_stats`` of the official utils.py, from correctness and ground truth alone.

    ``yes_bias_pct_diff``: share of implied yes answers (right on a yes question or wrong on a
    no question) minus the share of yes questions. ``yes_bias_fp_ratio``: share of the wrong
    answers whose ground truth is no.
    """
    n = len(predictions)
    gt_yes = sum(p.meta["gt_answer"] == "1" for p in predictions)
    said_yes = sum(p.correct == (p.meta["gt_answer"] == "1") for p in predictions)
    wrong_on_no = sum(not p.correct and p.meta["gt_answer"] == "0" for p in predictions)
    n_wrong = sum(not p.correct for p in predictions)
    diff = None if n == 0 else said_yes / n - gt_yes / n
    return {"yes_bias_pct_diff": diff, "yes_bias_fp_ratio": ratio(wrong_on_no, n_wrong)}
