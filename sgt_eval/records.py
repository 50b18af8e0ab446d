"""The typed records that flow between loaders, models, graders and the run directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

ParseMethod = Literal["rule", "judge", "none"]


@dataclass(frozen=True)
class Sample:
    """One benchmark item, as read from the benchmark's official files.

    Attributes
    ----------
    id
        The prediction id documented for the benchmark (CV-Bench ``idx``, MMVP ``Index``,
        VSR row number, POPE ``"<split>/<question_id>"``, HallusionBench position), as a string.
    question
        The question text exactly as the dataset has it (prompt templates are applied later).
    answer
        Ground truth in the dataset's own terms (``"(A)"``, ``"yes"``, ``"1"``...).
    image
        Image path relative to the benchmark's data folder (posix), or None for text-only items.
    choices
        Option texts for multiple-choice items, in option order.
    meta
        Fields the aggregation groups by (source, task, split, relation...). Copied verbatim
        into each prediction so metrics are a function of ``predictions.jsonl`` alone.
    """

    id: str
    question: str
    answer: str
    image: str | None = None
    choices: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parsed:
    """What a grader read out of a raw model output.

    ``method`` is ``"none"`` when neither rules nor judge could read the output: the
    prediction is then unparsed, scored wrong and counted.
    """

    value: str | None
    method: ParseMethod
    judge_reply: str | None = None


@dataclass(frozen=True)
class Prediction:
    """One line of ``<bench>/predictions.jsonl``: raw output, parsed value, method and score.

    ``output`` is the model's raw text, or for image benchmarks the generated image's path
    relative to the benchmark folder of the run. ``correct`` is None for benchmarks scored on a
    scale (GEdit-Bench), whose numbers are in ``values`` (e.g. ``{"SC": 7, "PQ": 8, "O": 7.48}``).
    """

    id: str
    output: str
    parsed: str | None
    method: ParseMethod
    correct: bool | None
    meta: Mapping[str, Any] = field(default_factory=dict)
    question: str = ""
    image: str | None = None
    error: str | None = None
    judge_reply: str | None = None
    values: Mapping[str, float] = field(default_factory=dict)

    @property
    def unparsed(self) -> bool:
        return self.method == "none" and self.error is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Prediction:
        return cls(
            id=str(row["id"]),
            output=row.get("output") or "",
            parsed=row.get("parsed"),
            method=row.get("method", "none"),
            correct=None if row.get("correct") is None else bool(row["correct"]),
            meta=row.get("meta") or {},
            question=row.get("question", ""),
            image=row.get("image"),
            error=row.get("error"),
            judge_reply=row.get("judge_reply"),
            values=row.get("values") or {},
        )


def graded(sample: Sample, output: str, parsed: Parsed, correct: bool | None,
           values: Mapping[str, float] | None = None) -> Prediction:
    """Build the prediction record for a sample the model answered."""
    return Prediction(
        id=sample.id,
        output=output,
        parsed=parsed.value,
        method=parsed.method,
        correct=correct,
        meta=dict(sample.meta),
        question=sample.question,
        image=sample.image,
        judge_reply=parsed.judge_reply,
        values=dict(values or {}),
    )


def failed(sample: Sample, error: str, correct: bool | None = False) -> Prediction:
    """Build the record for a sample that could not be run (e.g. a corrupt image): scored wrong."""
    return Prediction(
        id=sample.id,
        output="",
        parsed=None,
        method="none",
        correct=correct,
        meta=dict(sample.meta),
        question=sample.question,
        image=sample.image,
        error=error,
    )
