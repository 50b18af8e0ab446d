"""POPE: yes/no object-existence questions on COCO val2014, in three splits.

Protocols (how an output becomes a verdict and which number is the headline):

- ``official`` (default): LLaVA's prompt (question + "\\nAnswer the question using a single word
  or phrase."), the rule of POPE's ``evaluate.py`` / LLaVA's ``eval_pope.py``
  (:func:`benchmarks.answers.pope_official`, case-sensitive: "NO." is read as yes, as upstream),
  per-split accuracy/precision/recall/F1/yes-ratio; headline ``mean_f1`` = mean of the three
  split F1s (the LLaVA-1.5 paper convention), ``mean_accuracy`` reported beside it. An output
  whose first sentence has no word in it, e.g. an empty one (upstream would count it as "yes"),
  is unparsed: it enters the confusion matrix as the answer *opposite* to the label (FN for a
  yes label, FP for a no label), so it is always wrong, and it is counted in ``n_unparsed``.
- ``vlmevalkit``: the question alone as prompt, :func:`benchmarks.answers.yes_or_no`; VLMEvalKit's
  ``POPE_rating``: an unreadable answer is wrong for accuracy and a "no" in the confusion matrix;
  headline ``overall_f1`` = F1 over all rows pooled, plus a row per split. This is VLMEvalKit
  without a judge (``exact_matching``): its default sends "Unknown" answers to an LLM first.
- ``lmms-eval``: lmms-eval's prompt and exact-match rule (``output.lower().strip()`` must be "yes"
  or "no"); its precision counts only exact "yes" answers and its recall only exact "yes"/"no"
  answers, reproduced here; headline ``overall_f1`` (its ``pope`` task pools the splits).
  lmms-eval's ``pope_yes_ratio`` is the share of yes *labels* (a bug); ours is the share of yes
  predictions in every protocol.

Everywhere: precision is None when nothing was predicted yes and recall None when no label is yes
(the kits print a fake 0 there); F1 is None only when it is undefined by counts too. Metrics are
built from integer counts, so the order of the predictions never changes a digit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.answers import pope_official, yes_or_no
from benchmarks.base import (
    AnswerBenchmark,
    Dataset,
    f1_score,
    mean_or_none,
    missing_data,
    ratio,
    safe_relpath,
    sha256_file,
)
from benchmarks.headline import HeadlineParts, tally
from sgt_eval.errors import UserError
from sgt_eval.records import Parsed, Prediction, Sample
from sgt_eval.store import read_jsonl

SPLITS = ("random", "popular", "adversarial")
LLAVA_SUFFIX = "\nAnswer the question using a single word or phrase."
IMAGE_DIR = "val2014"
# sha256 of each label file -> (release, split); computed from unmodified copies of RUCAIBox/POPE.
KNOWN_FILES = {
    "c16b65d2df6d70bb0814c8a4375833d39cdb09928fd936d3fc546491efa37f35": ("llava15@e3e3926", "random"),
    "5b16653023bf4f64d57eb0d168259de6627f5cde7538b85ebed3cc33034aa6cc": ("llava15@e3e3926", "popular"),
    "1d8f0906a9b50c05640f6f23abfac97523be2a1bed28f7eadc63b811699b2d26": ("llava15@e3e3926", "adversarial"),
    "ac25245170b975a5bdf9080b23fd431dfe6be458bc038259c1f4f09a6bef7994": ("head@3df3ba1", "random"),
    "72c1a8ad45d0c13514f5f22598261df41d3b533854d29682e924db50ed8aa753": ("head@3df3ba1", "popular"),
    "420b3407db1fa9f1187a805dca41cb7b97fd91504e6c2179706188c107fb8ef8": ("head@3df3ba1", "adversarial"),
}
# The one question-text change POPE made after LLaVA-1.5 copied the questions (commit edebdda).
TYPO_FIX = ("imange", "image")
PROMPT_VERSIONS = {
    "official": "question+llava-single-word-phrase",
    "vlmevalkit": "question-only",
    "lmms-eval": "stripped-question+llava-single-word-phrase",
}
# The official rule reads any first sentence without a negation word as "yes"; when it has no
# "yes" either (rambling, garbage), that reading is a default, counted so it is visible.
_YES_WORD = re.compile(r"\byes\b", re.IGNORECASE)
NOTES = {
    "official": "unparsed outputs count as the answer opposite to the label in tp/fp/tn/fn (always wrong); "
                "yes_ratio counts only outputs read as yes",
    "vlmevalkit": "unreadable outputs are wrong and count as 'no' in tp/fp/tn/fn, as VLMEvalKit's POPE_rating",
    "lmms-eval": "yes_ratio is the share of yes predictions; lmms-eval's pope_yes_ratio reports the share of "
                 "yes labels instead (a bug); outputs other than exactly yes/no are wrong and, as in lmms-eval, "
                 "count in neither precision nor recall",
}


class POPE(AnswerBenchmark):
    """POPE on the COCO label files (``coco_pope_{random,popular,adversarial}.json``)."""

    name = "pope"
    title = "POPE"
    protocols = ("official", "vlmevalkit", "lmms-eval")
    max_new_tokens = 128  # lmms-eval's setting; LLaVA answers in a word or two

    def load(self, path: Path) -> Dataset:
        """Read the label files of a POPE folder, or one ``coco_pope_<split>.json`` file.

        Sample ids are ``"<split>/<question_id>"``; ``Dataset.version`` names the POPE release
        when every file's sha256 is a known one (``llava15@e3e3926`` or ``head@3df3ba1``).
        """
        files = label_files(path)
        samples = [sample for split, file in files.items() for sample in _split_samples(split, file)]
        return Dataset(root=path if path.is_dir() else path.parent, samples=samples,
                       files=tuple(files.values()), version=_release(files))

    def prompt(self, sample: Sample) -> str:
        if self.protocol == "official":
            return sample.question + LLAVA_SUFFIX
        if self.protocol == "lmms-eval":
            return sample.question.strip() + LLAVA_SUFFIX
        return sample.question

    def parse(self, output: str, sample: Sample) -> Parsed:
        if self.protocol == "official":
            value = pope_official(output)
        elif self.protocol == "vlmevalkit":
            value = yes_or_no(output)
        else:
            exact = output.lower().strip()
            value = exact if exact in ("yes", "no") else None
        return Parsed(value, "rule" if value is not None else "none")

    def score(self, parsed: Parsed, sample: Sample) -> bool:
        return parsed.value is not None and parsed.value == sample.answer

    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Per split and pooled TP/FP/TN/FN, accuracy, precision, recall, F1 and yes-ratio.

        Returns ``scores`` with ``splits`` (one block per split present), ``all`` (all rows
        pooled), ``mean_f1`` and ``mean_accuracy`` (unweighted means over the splits present).
        """
        by_split: dict[str, list[Prediction]] = {}
        for p in predictions:
            by_split.setdefault(str(p.meta["split"]), []).append(p)
        splits = {split: self._block(by_split[split]) for split in sorted(by_split)}
        scores = {
            "splits": splits,
            "all": self._block(predictions),
            "mean_f1": mean_or_none([b["f1"] for b in splits.values()]),
            "mean_accuracy": mean_or_none([b["accuracy"] for b in splits.values()]),
        }
        headline = "mean_f1" if self.protocol == "official" else "overall_f1"
        value = scores["mean_f1"] if self.protocol == "official" else scores["all"]["f1"]
        body = {"headline": {"metric": headline, "value": value}, "scores": scores, "notes": [NOTES[self.protocol]]}
        guessed = scores["all"].get("yes_by_default", 0)
        if guessed:
            body["warnings"] = [f"{guessed} of {len(predictions)} outputs contain neither yes nor a negation word; "
                                f"the official rule counts them as 'yes' (scores.all.yes_by_default)"]
        return body

    def headline_parts(self, predictions: Sequence[Prediction]) -> HeadlineParts:
        """F1 = 2TP / (2TP + FP + FN) (equal to 2PR / (P + R)) of each split and their mean (official),
        or of all rows pooled; splits are strata, each question a unit."""
        def contribution(p: Prediction) -> tuple[str, str, str, float, float]:
            block, split = self._block([p]), str(p.meta["split"])
            component = split if self.protocol == "official" else "all"
            return p.id, split, component, 2.0 * block["tp"], 2.0 * block["tp"] + block["fp"] + block["fn"]

        return tally(map(contribution, predictions))

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "prompt": PROMPT_VERSIONS[self.protocol]}

    def _block(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Confusion counts (positive = yes) and the metrics derived from them."""
        counts = dict.fromkeys(("tp", "fp", "tn", "fn", "correct", "said_yes", "n_unparsed", "yes_by_default"), 0)
        for p in predictions:
            label, said = p.meta["label"], p.parsed
            counts["correct"] += p.correct
            counts["said_yes"] += said == "yes"
            if self.protocol == "official" and said == "yes" and not _YES_WORD.search(p.output.split(".")[0]):
                counts["yes_by_default"] += 1
            if said is None:
                counts["n_unparsed"] += 1
                said = {"official": "no" if label == "yes" else "yes", "vlmevalkit": "no"}.get(self.protocol)
            if said in ("yes", "no"):  # lmms-eval leaves unreadable answers out of the confusion matrix
                counts[("t" if said == label else "f") + ("p" if said == "yes" else "n")] += 1
        n, tp, fp, fn = len(predictions), counts["tp"], counts["fp"], counts["fn"]
        precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
        return {"n": n, "tp": tp, "fp": fp, "tn": counts["tn"], "fn": fn, "n_unparsed": counts["n_unparsed"],
                "accuracy": ratio(counts["correct"], n), "precision": precision, "recall": recall,
                "f1": f1_score(precision, recall, tp, fp, fn), "yes_ratio": ratio(counts["said_yes"], n),
                **({"yes_by_default": counts["yes_by_default"]} if self.protocol == "official" else {})}


# -- files --------------------------------------------------------------------------------------
def label_files(path: Path) -> dict[str, Path]:
    """``{split: file}`` for a POPE folder (all three splits) or a single label file."""
    if path.is_file():
        split = path.name.removeprefix("coco_pope_").removesuffix(".json")
        if split not in SPLITS or not path.name.startswith("coco_pope_"):
            raise UserError(f"{path}: a POPE label file is named coco_pope_<split>.json with split one of "
                            f"{', '.join(SPLITS)}; pass that file or its folder")
        return {split: path}
    files = {split: path / f"coco_pope_{split}.json" for split in SPLITS}
    if not path.is_dir() or not all(f.is_file() for f in files.values()):
        raise missing_data("pope", path, ", ".join(f.name for f in files.values()))
    return files


def read_labels(file: Path) -> list[tuple[int, dict[str, Any]]]:
    """The rows of one label file with their line numbers, checked field by field."""
    rows, seen = [], set()
    for number, row in read_jsonl(file):
        for key in ("question_id", "image", "text", "label"):
            if key not in row:
                raise UserError(f"{file}:{number}: missing field {key!r}; re-fetch the POPE label files")
        if row["label"] not in ("yes", "no"):
            raise UserError(f"{file}:{number}: field 'label' is {row['label']!r}, expected 'yes' or 'no'")
        if str(row["question_id"]) in seen:
            raise UserError(f"{file}:{number}: question_id {row['question_id']!r} appears twice")
        seen.add(str(row["question_id"]))
        rows.append((number, row))
    return rows


def _split_samples(split: str, file: Path) -> list[Sample]:
    return [Sample(id=f"{split}/{row['question_id']}", question=row["text"], answer=row["label"],
                   image=f"{IMAGE_DIR}/{safe_relpath(str(row['image']), 'image', file)}",
                   meta={"split": split, "label": row["label"]})
            for _, row in read_labels(file)]


def _release(files: dict[str, Path]) -> str:
    """The release every file belongs to under its own split name, or "" (unknown, renamed or mixed)."""
    entries = [KNOWN_FILES.get(sha256_file(f), ("", "")) for f in files.values()]
    releases = {release for release, _ in entries}
    if len(releases) == 1 and all(found == split for (_, found), split in zip(entries, files)):
        return releases.pop()
    return ""


# -- LLaVA's answer format ----------------------------------------------------------------------
def llava_predictions(labels_dir: Path, questions_file: Path, answers_file: Path) -> list[tuple[str, str]]:
    """Turn LLaVA's released POPE answers into ``(sample id, output)`` pairs, refusing bad zips.

    LLaVA's ``eval_pope.py`` splits the answers by their question's ``category`` and pairs them
    with the label file **by position**. That is only meaningful when both come from the same POPE
    release, so this checks, per split: equal counts, each answer's question_id in the questions
    file, the same image row by row, and the same question text once LLaVA's prompt suffix is
    removed (tolerating only the later "imange" -> "image" typo fix).

    Parameters
    ----------
    labels_dir
        POPE folder with ``coco_pope_<split>.json`` (or one such file).
    questions_file
        LLaVA's ``llava_pope_test.jsonl`` (``question_id``, ``image``, ``text``, ``category``).
    answers_file
        LLaVA's answers JSONL (``question_id``, ``text``), in the order LLaVA wrote them.

    Returns
    -------
    list of (str, str)
        ``("<split>/<label question_id>", raw answer text)`` in label order.

    Raises
    ------
    UserError
        On any disagreement, naming the files, line numbers and both values.
    """
    questions: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, row in read_jsonl(questions_file):
        for key in ("question_id", "image", "text", "category"):
            if key not in row:
                raise UserError(f"{questions_file}:{number}: missing field {key!r}; "
                                f"expected LLaVA's llava_pope_test.jsonl")
        if str(row["question_id"]) in questions:
            raise UserError(f"{questions_file}:{number}: question_id {row['question_id']!r} appears twice")
        questions[str(row["question_id"])] = (number, row)
    by_split: dict[str, list[tuple[int, str, tuple[int, dict[str, Any]]]]] = {}
    for number, row in read_jsonl(answers_file):
        if "question_id" not in row or "text" not in row:
            raise UserError(f"{answers_file}:{number}: LLaVA answers need 'question_id' and 'text' fields")
        question = questions.get(str(row["question_id"]))
        if question is None:
            raise UserError(f"{answers_file}:{number}: question_id {row['question_id']!r} is not in {questions_file}")
        by_split.setdefault(question[1]["category"], []).append((number, str(row["text"] or ""), question))
    pairs = []
    for split, label_file in label_files(labels_dir).items():
        labels, answers = read_labels(label_file), by_split.get(split, [])
        if len(answers) != len(labels):
            raise UserError(f"{answers_file} has {len(answers)} answers in category {split!r} but {label_file} has "
                            f"{len(labels)} labels; LLaVA pairs them by position, so use the label files of the "
                            f"same POPE release (LLaVA-1.5 used commit e3e3926: "
                            f"`sgt-eval data fetch --bench pope --version llava15`)")
        for (label_line, label), (_, output, (q_line, question)) in zip(labels, answers):
            _check_row(label_file, label_line, label, questions_file, q_line, question)
            pairs.append((f"{split}/{label['question_id']}", output))
    return pairs


def _check_row(label_file: Path, label_line: int, label: dict[str, Any],
               questions_file: Path, q_line: int, question: dict[str, Any]) -> None:
    where = f"{questions_file}:{q_line} (question_id {question['question_id']}) vs {label_file}:{label_line}"
    if question["image"] != label["image"]:
        raise UserError(f"{where}: field 'image' differs ({question['image']!r} vs {label['image']!r}); "
                        f"the answers and labels are not in the same order")
    text = question["text"].removesuffix(LLAVA_SUFFIX)
    if text != label["text"] and text.replace(*TYPO_FIX) != label["text"]:
        raise UserError(f"{where}: field 'text' differs ({text!r} vs {label['text']!r}); "
                        f"the answers and labels are not in the same order")
