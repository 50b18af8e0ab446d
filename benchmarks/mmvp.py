"""MMVP: 150 pairs of "CLIP-blind" images with the same two-option question; pair accuracy.

Protocols (each reproduces one reference script; none uses an LLM grader):

``official``
    Cambrian's deterministic MMVP evaluation (``eval/eval/mmvp/mmvp_{eval,test}.py``,
    cambrian@539ffc3): "<question> Options:" with lettered options and the letter instruction;
    extraction lower-cases, keeps what follows "answer is"/"answer:", strips ``".:,"`` and brackets;
    right when the result is the answer's letter or its full option text. Option lines are written
    "A. <text>" from the parsed options; Cambrian rewrites "(a)" in place, which gives the same
    text for the file's "(a) <text>" spelling.
``bagel``
    BAGEL's and SGT's ``eval/vlm/eval/mmvp/evaluate_mmvp.py`` (Bagel@056b5fd), ``post_process``:
    a one-character answer is taken as is, else its first character if that is an option letter,
    else the first option whose text occurs in the answer (both case-sensitive).
``vlmevalkit``
    VLMEvalKit's generic multiple-choice prompt and ``can_infer`` (VLMEvalKit@e8e78f05);
    ``report_acc_MMVP`` calls pair accuracy "Overall" and per-question accuracy "Average".

Pairs are rows ``(1, 2), (3, 4), ...`` by ``Index``, never by file or prediction order. The original
``Questions.csv`` has the answers of pairs 99/100 (elephant tusks) and 279/280 (elderly person)
swapped (tsb0601/MMVP issues #14 and #30, lmms-eval issue #1018; ``lmms-lab-eval/MMVP`` ships them
corrected). The default ``mmvp_gt="original"`` scores the file as it is, as the official scripts
(Cambrian, BAGEL, SGT) did for their published numbers; ``mmvp_gt="corrected"`` swaps those answers
back, but only where the rows are exactly the known erratum, so already-corrected or unrelated files
are kept as they are. Metrics record the mode and how many answers were corrected.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.answers import (
    LETTER_INSTRUCTION,
    cambrian_extract,
    option_letters,
    vlmevalkit_can_infer,
)
from benchmarks.base import AnswerBenchmark, Dataset, missing_data, ratio
from benchmarks.headline import HeadlineParts, tally
from sgt_eval.errors import UserError
from sgt_eval.records import Parsed, Prediction, Sample

CSV_NAME = "Questions.csv"
IMAGE_DIR = "MMVP Images"
_INDEX_HEADERS = ("Index", "lndex")  # some copies of the CSV spell the first header with a lower-case L
_OPTION_MARK = re.compile(r"\(\s*([a-z])\s*\)", re.IGNORECASE)
_ANSWER = re.compile(r"\(?\s*([a-z])\s*\)?", re.IGNORECASE)

# (first Index of the pair, normalised question prefix, option texts) of the known erratum; the
# original file answers the pair (A, B) where the images show (B, A).
ERRATA = (
    (99, "does the elephant have long or short tusks", ("long", "short")),
    (279, "is the elderly person standing or sitting", ("standing", "sitting")),
)

PROMPT_VERSIONS = {
    "official": "cambrian@539ffc3",
    "bagel": "bagel@056b5fd",
    "vlmevalkit": "vlmevalkit@e8e78f05",
}
_VLM_INSTRUCTION = "Please select the correct answer from the options above. \n"


class MMVP(AnswerBenchmark):
    """MMVP with Cambrian's (official), BAGEL's and VLMEvalKit's grading; headline pair accuracy."""

    name = "mmvp"
    title = "MMVP"
    unit_name = "pair"
    protocols = ("official", "bagel", "vlmevalkit")
    option_choices = {"mmvp_gt": ("original", "corrected")}  # first = default
    # BAGEL's cap. Cambrian's (the official protocol's) is 512 and VLMEvalKit leaves it to the model
    # wrapper: only outputs longer than 100 tokens can be scored differently (--max-new-tokens).
    max_new_tokens = 100

    def load(self, path: Path) -> Dataset:
        """Read ``Questions.csv`` (from an mmvp folder or the file itself), keeping the file's row order."""
        file = path if path.is_file() else path / CSV_NAME
        if not file.is_file():
            raise missing_data("mmvp", path, CSV_NAME)
        with open(file, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            index_key = next((h for h in _INDEX_HEADERS if h in header), None)
            missing = [h for h in ("Question", "Options", "Correct Answer") if h not in header]
            if index_key is None or missing:
                absent = missing[0] if missing else "Index"
                raise UserError(f"{file}: no {absent!r} column; expected the MMVP header "
                                f"Index,Question,Options,Correct Answer")
            samples = [_sample(row, index_key, f"{file}:{number}") for number, row in enumerate(reader, 2)]
        ids = [s.id for s in samples]
        if len(set(ids)) != len(ids):
            raise UserError(f"{file}: an Index appears twice; use the unmodified MMVP Questions.csv")
        if self.options["mmvp_gt"] == "corrected":
            samples = correct_errata(samples)
        return Dataset(root=file.parent, samples=samples, files=(file,))

    def prompt(self, sample: Sample) -> str:
        lines = "\n".join(f"{letter}. {text}" for letter, text in zip(option_letters(len(sample.choices)),
                                                                      sample.choices))
        if self.protocol == "official":
            return f"{sample.question} Options:\n{lines}\n{LETTER_INSTRUCTION}"
        if self.protocol == "bagel":
            return f"{sample.question}\n{lines}\n{LETTER_INSTRUCTION}"
        return f"Question: {sample.question}\nOptions:\n{lines}\n{_VLM_INSTRUCTION}"

    def parse(self, output: str, sample: Sample) -> Parsed:
        letters = option_letters(len(sample.choices))
        if self.protocol == "official":
            found = _cambrian(output, letters, sample.choices)
        elif self.protocol == "bagel":
            found = _bagel(output, letters, sample.choices)
        else:
            found = vlmevalkit_can_infer(output, dict(zip(letters, sample.choices)))
        return Parsed(found, "rule") if found in letters else Parsed(None, "none")

    def score(self, parsed: Parsed, sample: Sample) -> bool:
        return parsed.value == sample.answer

    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Pair accuracy over complete pairs (both questions scored) and per-question accuracy."""
        pairs = _pairs(predictions)
        complete = [members for members in pairs.values() if len(members) == 2]
        both_right = sum(all(members.values()) for members in complete)
        correct = sum(p.correct for p in predictions)
        incomplete = len(pairs) - len(complete)
        notes = []
        if incomplete:
            notes.append(f"{incomplete} pairs with only one question scored are left out of pair_accuracy")
        pair_accuracy = ratio(both_right, len(complete))
        return {
            "headline": {"metric": "pair_accuracy", "value": pair_accuracy},
            "scores": {"pair_accuracy": pair_accuracy, "accuracy": ratio(correct, len(predictions))},
            "counts": {
                "correct": correct,
                "total": len(predictions),
                "pairs_correct": both_right,
                "pairs_scored": len(complete),
                "pairs_incomplete": incomplete,
                "gt_corrections_applied": sum(bool(p.meta.get("gt_corrected")) for p in predictions),
            },
            "gt": self.options["mmvp_gt"],
            "labels": {
                "pair_accuracy": "both questions of a pair right: MMVP's and Cambrian's metric, "
                                 "VLMEvalKit 'Overall', lmms-eval mmvp_pair_accuracy",
                "accuracy": "per question: VLMEvalKit 'Average', lmms-eval mmvp_accuracy",
            },
            "notes": notes,
        }

    def headline_parts(self, predictions: Sequence[Prediction]) -> HeadlineParts:
        """Pair accuracy with the pair as the unit: its two questions are drawn together."""
        return tally((str(pair), "", "pair_accuracy", float(all(members.values())), 1.0)
                     for pair, members in _pairs(predictions).items() if len(members) == 2)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "prompt_version": PROMPT_VERSIONS[self.protocol]}


def _pairs(predictions: Sequence[Prediction]) -> dict[int, dict[int, bool]]:
    """``{pair: {position: correct}}``; a pair is complete when both positions are scored."""
    pairs: dict[int, dict[int, bool]] = {}
    for p in predictions:
        pairs.setdefault(int(p.meta["pair"]), {})[int(p.meta["position"])] = bool(p.correct)
    return pairs


def correct_errata(samples: Sequence[Sample]) -> list[Sample]:
    """Swap the answers of the erratum pairs where both rows are exactly as the original file has them.

    Corrected rows carry ``meta["gt_corrected"] = True`` so metrics can count them.
    """
    by_index = {int(s.id): i for i, s in enumerate(samples)}
    fixed = list(samples)
    for first, question, options in ERRATA:
        rows = [by_index.get(first), by_index.get(first + 1)]
        if None in rows:
            continue
        pair = [samples[i] for i in rows]
        if all(_is_erratum_row(s, question, options) for s in pair) and [s.answer for s in pair] == ["A", "B"]:
            for i, answer in zip(rows, ("B", "A")):
                meta = {**samples[i].meta, "gt_corrected": True}
                fixed[i] = dataclasses.replace(samples[i], answer=answer, meta=meta)
    return fixed


def _is_erratum_row(sample: Sample, question: str, options: tuple[str, ...]) -> bool:
    normalised = " ".join(sample.question.lower().split())
    return normalised.startswith(question) and tuple(c.lower() for c in sample.choices) == options


def _sample(row: Mapping[str, str], index_key: str, where: str) -> Sample:
    raw_index = (row.get(index_key) or "").strip()
    if not raw_index.isdigit() or int(raw_index) < 1:
        raise UserError(f"{where}: {index_key} is {raw_index!r}; expected a row number 1, 2, ...")
    index = int(raw_index)
    choices = parse_options(row.get("Options") or "", where)
    answer = _ANSWER.fullmatch((row.get("Correct Answer") or "").strip())
    letter = answer.group(1).upper() if answer else ""
    if letter not in option_letters(len(choices)):
        raise UserError(f"{where}: Correct Answer is {row.get('Correct Answer')!r}; expected an option such as '(a)'")
    return Sample(
        id=str(index),
        question=row.get("Question") or "",
        answer=letter,
        image=f"{IMAGE_DIR}/{index}.jpg",
        choices=choices,
        meta={"pair": (index - 1) // 2, "position": (index - 1) % 2},
    )


def parse_options(text: str, where: str) -> tuple[str, ...]:
    """Option texts from ``"(a) Open (b) Closed"`` (any spacing or case of the markers)."""
    marks = list(_OPTION_MARK.finditer(text))
    letters = [m.group(1).upper() for m in marks]
    if len(marks) < 2 or letters != list(option_letters(len(marks))) or text[:marks[0].start()].strip():
        raise UserError(f"{where}: Options is {text!r}; expected '(a) <text> (b) <text>'")
    ends = [m.start() for m in marks[1:]] + [len(text)]
    choices = tuple(text[m.end():end].strip() for m, end in zip(marks, ends))
    if not all(choices):
        raise UserError(f"{where}: Options is {text!r}; an option has no text")
    return choices


def _cambrian(output: str, letters: Sequence[str], choices: Sequence[str]) -> str | None:
    """Cambrian's MMVP rule: the whole extracted text must be a letter or an option text (any case)."""
    extracted = cambrian_extract(output, rstrip=".:,")
    for letter, text in zip(letters, choices):
        if extracted in (letter.lower(), text.lower()):
            return letter
    return None


def _bagel(output: str, letters: Sequence[str], choices: Sequence[str]) -> str | None:
    """BAGEL's ``post_process``; an empty answer (where BAGEL would crash) is unreadable."""
    pred = output.strip()
    if len(pred) <= 1:
        return pred or None
    if pred[0] in letters:
        return pred[0]
    return next((letter for letter, text in zip(letters, choices) if text in pred), None)
