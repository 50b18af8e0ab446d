"""VSR (Visual Spatial Reasoning): is a spatial caption true of the image? Zeroshot test, 1,222 rows.

VSR's own scripts grade classifiers (``src/eval.py``: correct/total; per relation and per
meta-category in ``analysis_scripts/``), so there is no official prompt for generative models. The
``official`` protocol asks the caption as a statement to be judged yes or no in our own words
(``PROMPT_VERSION`` names the wording and is recorded in settings), reads the answer with the
shared yes/no rule, and reports accuracy per relation and per meta-category exactly as the analysis
scripts group them (a relation listed twice in ``rel_meta_category_dict.txt`` belongs to its last
category, as in the script).

Precision, recall and F1 take "true" as the positive class; an unreadable answer to a true caption
is a miss. These are the numbers VLMEvalKit's ``VSR_rating`` reports (it prints acc, precision and
recall ×100 but ``f1_score`` as a fraction; all are fractions here). VLMEvalKit's own VSR prompt
lives in a TSV we have not seen, so there is no separate VLMEvalKit protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.answers import yes_or_no
from benchmarks.base import (
    AnswerBenchmark,
    Dataset,
    accuracy_counts,
    f1_score,
    missing_data,
    ratio,
    safe_relpath,
    sha256_file,
)
from sgt_eval.data.sources import github_releases
from sgt_eval.errors import UserError
from sgt_eval.records import Parsed, Prediction, Sample
from sgt_eval.store import read_jsonl

SPLITS = ("zeroshot", "random")
META_CATEGORY_FILE = "rel_meta_category_dict.txt"
PROMPT_VERSION = "sgt-eval-vsr-statement-yn@1"
PROMPT_TEMPLATE = "Statement: {caption}\nIs this statement true for the image? Answer yes or no."
_REQUIRED = ("image", "caption", "label", "relation")


class VSR(AnswerBenchmark):
    """VSR test split (``split`` option: zeroshot or random) graded as yes/no; headline accuracy."""

    name = "vsr"
    title = "VSR"
    protocols = ("official",)
    option_choices = {"split": SPLITS}
    max_new_tokens = 32

    def load(self, path: Path) -> Dataset:
        """Read the split's ``test.jsonl``.

        Accepts the GitHub layout (``splits/<split>/test.jsonl``), the Hugging Face layout
        (``test.jsonl`` at the folder root) or the file itself. Images are ``images/<image>``
        under the vsr folder, where ``rel_meta_category_dict.txt`` is looked for too.
        """
        split = self.options["split"]
        if path.is_file():
            file = path
            root = path.parents[2] if path.parent.parent.name == "splits" else path.parent
        elif (path / "splits" / split / "test.jsonl").is_file():
            file, root = path / "splits" / split / "test.jsonl", path
        elif (path / "test.jsonl").is_file():
            file, root = path / "test.jsonl", path
        else:
            raise missing_data("vsr", path, f"splits/{split}/test.jsonl")
        version = _check_split(file, split)
        categories_file = root / META_CATEGORY_FILE
        categories = read_meta_categories(categories_file) if categories_file.is_file() else {}
        samples = [_sample(row, str(i), split, categories, f"{file}:{number}")
                   for i, (number, row) in enumerate(read_jsonl(file))]
        files = (file, categories_file) if categories else (file,)
        return Dataset(root=root, samples=samples, files=files, version=version)

    def prompt(self, sample: Sample) -> str:
        return PROMPT_TEMPLATE.format(caption=sample.question)

    def parse(self, output: str, sample: Sample) -> Parsed:
        answer = yes_or_no(output)
        return Parsed(answer, "rule") if answer else Parsed(None, "none")

    def score(self, parsed: Parsed, sample: Sample) -> bool:
        return parsed.value == sample.answer

    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Accuracy, per relation, per meta-category, and precision/recall/F1 of "true"."""
        correct = sum(p.correct for p in predictions)
        positives = [p for p in predictions if p.meta.get("label") == "yes"]
        tp = sum(p.correct for p in positives)
        fp = sum(p.meta.get("label") == "no" and p.parsed == "yes" for p in predictions)
        precision, recall = ratio(tp, tp + fp), ratio(tp, len(positives))
        scores: dict[str, float | None] = {
            "accuracy": ratio(correct, len(predictions)),
            "precision": precision,
            "recall": recall,
            "f1": f1_score(precision, recall, tp, fp, len(positives) - tp),
        }
        counts: dict[str, Any] = {"correct": correct, "total": len(predictions), "tp": tp, "fp": fp,
                                  "fn": len(positives) - tp}
        groups = {"relation": accuracy_counts(predictions, "relation"),
                  "meta_category": accuracy_counts(predictions, "meta_category")}
        for field, tally in groups.items():
            for key, (c, t) in sorted(tally.items()):
                scores[f"{field}/{key}"] = ratio(c, t)
                counts[f"{field}/{key}"] = {"correct": c, "total": t}
        notes = []
        uncategorised = sum("meta_category" not in p.meta for p in predictions)
        if predictions and uncategorised == len(predictions):
            notes.append(f"no meta-categories ({META_CATEGORY_FILE} not in the vsr folder): "
                         "per-meta-category accuracy omitted")
        elif uncategorised:
            notes.append(f"{uncategorised} rows have a relation missing from {META_CATEGORY_FILE} "
                         "and are left out of the per-meta-category accuracy")
        return {"headline": {"metric": "accuracy", "value": scores["accuracy"]}, "scores": scores,
                "counts": counts, "notes": notes}

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "prompt_version": PROMPT_VERSION, "prompt_template": PROMPT_TEMPLATE}


def read_meta_categories(path: Path) -> dict[str, str]:
    """Relation -> meta-category from lines ``"Category: rel, rel, ..."`` (a later line wins, as in VSR)."""
    mapping: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            category, sep, relations = line.strip().partition(": ")
            if not sep:
                raise UserError(f"{path}:{number}: expected 'Category: relation, relation, ...'")
            for relation in relations.split(","):
                mapping[relation.strip()] = category.strip()
    return mapping


def _check_split(file: Path, split: str) -> str:
    """The pinned release the file is an unmodified copy of ("" if none); refuses the other split's file."""
    digest = sha256_file(file)
    for release in github_releases("vsr"):
        for known in release.files:
            if known.sha256 != digest:
                continue
            if known.local != f"splits/{split}/test.jsonl":
                other = known.local.split("/")[1]
                fix = f"pass --split {other}" if known.local.endswith("/test.jsonl") else "give a test.jsonl"
                raise UserError(f"{file} is VSR's {known.local}, not the {split} test split; {fix}")
            return release.version
    return ""


def _sample(row: Mapping[str, Any], row_id: str, split: str, categories: Mapping[str, str], where: str) -> Sample:
    for field in _REQUIRED:
        if field not in row:
            raise UserError(f"{where}: missing field {field!r}; use the unmodified VSR split files")
    label = row["label"]
    if label not in (0, 1) or isinstance(label, float):
        raise UserError(f"{where}: field 'label' is {label!r}; expected 1 (true) or 0 (false)")
    relation = str(row["relation"])
    meta: dict[str, Any] = {"split": split, "relation": relation, "label": "yes" if label else "no"}
    if relation in categories:
        meta["meta_category"] = categories[relation]
    meta.update({k: row[k] for k in ("subj", "obj") if row.get(k) is not None})
    return Sample(
        id=row_id,
        question=str(row["caption"]),
        answer=meta["label"],
        image=safe_relpath(f"images/{row['image']}", "image", Path(where)),
        meta=meta,
    )
