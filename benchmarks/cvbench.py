"""CV-Bench (Cambrian-1): 2D count/relation and 3D depth/distance multiple choice, 2,638 rows.

Three protocols, each reproducing one reference end to end:

``official``
    Cambrian's evaluation (``eval/eval/{ade,coco,omni}``, cambrian@539ffc3): the dataset ``prompt``
    plus the letter instruction, extraction by ``extract_mcq_answer`` (ADE20K/COCO strip ".",
    Omni3D ".:,"; then the first character), and the headline from the dataset card:
    ``cv_bench = ½·(mean(acc ADE20K, acc COCO) + acc Omni3D)``.
``lmms-eval``
    ``lmms_eval/tasks/cv_bench`` (lmms-eval@75571cfe): a "respond with A, B, ..." note before the
    prompt, a letter regex anchored at the start of the answer, plain accuracy over all rows.
``vlmevalkit``
    VLMEvalKit's ``CVBench`` (VLMEvalKit@e8e78f05): the dataset prompt alone, ``can_infer``
    matching, CV-Bench-2D = mean over its sources, CV-Bench-3D = plain accuracy. VLMEvalKit never
    combines them; the headline here is their mean, named so. Where ``can_infer`` fails VLMEvalKit
    asks an LLM and finally picks a random option; we record the answer as unparsed instead.
"""

from __future__ import annotations

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
from benchmarks.base import (
    AnswerBenchmark,
    Dataset,
    accuracy_counts,
    mean_or_none,
    missing_data,
    ratio,
    safe_relpath,
)
from benchmarks.headline import HeadlineParts, tally
from sgt_eval.errors import UserError
from sgt_eval.records import Parsed, Prediction, Sample
from sgt_eval.store import read_jsonl

FILES = ("test_2d.jsonl", "test_3d.jsonl")
SOURCES_2D = ("ADE20K", "COCO")
SOURCE_3D = "Omni3D"
_REQUIRED = ("idx", "prompt", "choices", "answer", "filename", "type", "task", "source")
_GT = re.compile(r"\(([A-Z])\)")

_LMMS_NOTE = "Note: You only need to respond with {} without providing any additional information.\n"
_LMMS_LETTER = re.compile(r"[\(\s]*([A-Z])[\)\.\s]*", re.IGNORECASE)

PROMPT_VERSIONS = {
    "official": "cambrian@539ffc3",
    "lmms-eval": "lmms-eval@75571cfe",
    "vlmevalkit": "vlmevalkit@e8e78f05",
}

# -- the benchmark -------------------------------------------------------------------------------
class CVBench(AnswerBenchmark):
    """CV-Bench with the official (Cambrian + dataset card), lmms-eval and VLMEvalKit protocols."""

    name = "cvbench"
    title = "CV-Bench"
    protocols = ("official", "lmms-eval", "vlmevalkit")
    # Below the references' caps (Cambrian 512, lmms-eval 1024, VLMEvalKit: the model wrapper's).
    # Every prompt asks for a letter, so only outputs longer than 64 tokens can be scored
    # differently; pass --max-new-tokens to reproduce a reference run exactly.
    max_new_tokens = 64

    def load(self, path: Path) -> Dataset:
        """Read ``test_2d.jsonl`` and ``test_3d.jsonl`` from a cvbench folder, or one ``.jsonl`` file.

        Image paths (``filename``) are relative to the folder holding the files.
        """
        if path.is_file():
            files = (path,)
        elif path.is_dir() and all((path / f).is_file() for f in FILES):
            files = tuple(path / f for f in FILES)
        else:
            raise missing_data("cvbench", path, " and ".join(FILES))
        samples: list[Sample] = []
        seen: set[str] = set()
        for file in files:
            for number, row in read_jsonl(file):
                sample = _sample(row, f"{file}:{number}")
                if sample.id in seen:
                    raise UserError(f"{file}:{number}: idx {sample.id} appears twice; "
                                    "use the unmodified CV-Bench files")
                seen.add(sample.id)
                samples.append(sample)
        return Dataset(root=files[0].parent, samples=samples, files=files)

    def prompt(self, sample: Sample) -> str:
        if self.protocol == "official":
            return f"{sample.question}\n{LETTER_INSTRUCTION}"
        if self.protocol == "lmms-eval":
            # Every option letter, up to F on some Count rows (lmms-eval PR #1005; before it the
            # note stopped at E).
            listed = ", ".join(option_letters(len(sample.choices)))
            return _LMMS_NOTE.format(listed) + "\n" + sample.question
        return sample.question

    def parse(self, output: str, sample: Sample) -> Parsed:
        letters = option_letters(len(sample.choices))
        if self.protocol == "official":
            raw = cambrian_first_char(output, sample.meta["source"])
            if raw in [letter.lower() for letter in letters]:
                return Parsed(raw.upper(), "rule")
            # Omni3D's script also accepts the extracted text equal to an option text, compared as is.
            if sample.meta["source"] == SOURCE_3D and raw and raw in sample.choices:
                return Parsed(raw, "rule")
            return Parsed(None, "none")
        if self.protocol == "lmms-eval":
            match = _LMMS_LETTER.match(output.strip())
            letter = match.group(1).upper() if match else ""
            return Parsed(letter, "rule") if letter in letters else Parsed(None, "none")
        letter = vlmevalkit_can_infer(output, dict(zip(letters, sample.choices)))
        return Parsed(letter, "rule") if letter else Parsed(None, "none")

    def score(self, parsed: Parsed, sample: Sample) -> bool:
        gt = sample.answer[1]
        if parsed.value is None:
            return False
        if self.protocol == "official" and sample.meta["source"] == SOURCE_3D:
            # The Omni3D script compares the extracted character with the letter and the option text.
            raw = parsed.value.lower() if parsed.value in option_letters(len(sample.choices)) else parsed.value
            return raw == gt.lower() or raw == sample.choices[ord(gt) - ord("A")]
        return parsed.value == gt

    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Per-source, per-task, 2D/3D and overall accuracies; the headline depends on the protocol.

        ``plain_accuracy`` (all rows pooled) is what lmms-eval's ``cv_bench`` reports; the
        official headline weights the three sources as the dataset card's formula does.
        """
        tallies = {field: accuracy_counts(predictions, field) for field in ("source", "task", "type")}
        correct, total = sum(p.correct for p in predictions), len(predictions)
        source_acc = {s: ratio(*tallies["source"].get(s, (0, 0))) for s in (*SOURCES_2D, SOURCE_3D)}
        notes: list[str] = []
        missing = [s for s, acc in source_acc.items() if acc is None]
        if missing:
            notes.append(f"no rows from {', '.join(missing)}: the CV-Bench formula needs ADE20K, COCO and Omni3D")
        acc_2d = mean_or_none(source_acc[s] for s in SOURCES_2D)
        official = mean_or_none((acc_2d, source_acc[SOURCE_3D]))
        # VLMEvalKit's CV-Bench-2D averages the sources present in its 2D rows (sorted: sums must not
        # depend on record order).
        sources_2d = accuracy_counts([p for p in predictions if p.meta.get("type") == "2D"], "source")
        vlm_2d = mean_or_none(ratio(c, t) for _, (c, t) in sorted(sources_2d.items()))
        vlm_3d = ratio(*tallies["type"].get("3D", (0, 0)))
        scores: dict[str, float | None] = {
            "cv_bench": official,
            "2d": acc_2d,
            "3d": source_acc[SOURCE_3D],
            "plain_accuracy": ratio(correct, total),
            "vlmevalkit_2d": vlm_2d,
            "vlmevalkit_3d": vlm_3d,
            "vlmevalkit_2d_3d_mean": mean_or_none((vlm_2d, vlm_3d)),
        }
        for field in ("source", "task"):
            scores.update({f"{field}/{k}": ratio(c, t) for k, (c, t) in sorted(tallies[field].items())})
        headline = {"official": "cv_bench", "lmms-eval": "plain_accuracy", "vlmevalkit": "vlmevalkit_2d_3d_mean"}
        metric = headline[self.protocol]
        counts = {f"{field}/{k}": {"correct": c, "total": t}
                  for field in ("source", "task") for k, (c, t) in sorted(tallies[field].items())}
        return {
            "headline": {"metric": metric, "value": scores[metric]},
            "scores": scores,
            "counts": {"correct": correct, "total": total, **counts},
            "labels": {
                "cv_bench": "½·(mean(ADE20K, COCO) + Omni3D), the dataset card's formula",
                "plain_accuracy": "accuracy over all rows: what lmms-eval's cv_bench task reports",
                "vlmevalkit_2d_3d_mean": "mean of VLMEvalKit's CV-Bench-2D (source mean) and CV-Bench-3D (plain)",
            },
            "notes": notes,
        }

    def headline_parts(self, predictions: Sequence[Prediction]) -> HeadlineParts:
        """Official: the three sources' accuracies weighted 1/4, 1/4, 1/2; vlmevalkit: the 2D sources
        present share 1/2 and the 3D rows the other 1/2; lmms-eval: accuracy over all rows."""
        if self.protocol == "lmms-eval":
            return super().headline_parts(predictions)
        if self.protocol == "official":
            weights = {SOURCES_2D[0]: 0.25, SOURCES_2D[1]: 0.25, SOURCE_3D: 0.5}

            def part(p: Prediction) -> str:
                return str(p.meta["source"])
        else:
            def part(p: Prediction) -> str:
                return {"2D": str(p.meta["source"]), "3D": "3D"}.get(str(p.meta.get("type")), "")

            sources_2d = sorted({part(p) for p in predictions if p.meta.get("type") == "2D"}) or ["2D"]
            weights = {**dict.fromkeys(sources_2d, 0.5 / len(sources_2d)), "3D": 0.5}
        return tally(((p.id, part(p), part(p), float(p.correct), 1.0) for p in predictions), weights)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "prompt_version": PROMPT_VERSIONS[self.protocol]}


def cambrian_first_char(output: str, source: str) -> str:
    """What Cambrian's ``extract_mcq_answer`` returns: the first character of the extracted text.

    The Omni3D script strips ``".:,"`` from the right where the ADE20K/COCO scripts strip ``"."``.
    """
    return cambrian_extract(output, rstrip=".:," if source == SOURCE_3D else ".")[:1]


def _sample(row: Mapping[str, Any], where: str) -> Sample:
    for field in _REQUIRED:
        if field not in row:
            raise UserError(f"{where}: missing field {field!r}; use the unmodified nyu-visionx/CV-Bench jsonl files")
    choices = row["choices"]
    if not isinstance(choices, list) or not choices:
        raise UserError(f"{where}: field 'choices' must be a non-empty list of option texts")
    gt = _GT.fullmatch(str(row["answer"]).strip())
    if not gt or gt.group(1) not in option_letters(len(choices)):
        raise UserError(f"{where}: field 'answer' is {row['answer']!r}; expected one of the option letters as '(A)'")
    return Sample(
        id=str(row["idx"]),
        question=str(row["prompt"]),
        answer=gt.group(0),
        image=safe_relpath(str(row["filename"]), "filename", Path(where)),
        choices=tuple(str(c) for c in choices),
        meta={"type": str(row["type"]), "task": str(row["task"]), "source": str(row["source"])},
    )
