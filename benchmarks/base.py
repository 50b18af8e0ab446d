"""The benchmark interface: load -> prompt -> parse -> score -> aggregate.

A benchmark module holds one :class:`Benchmark` subclass. Its instance carries the chosen
protocol and options; every method is a pure function of its inputs, so the runner and
``sgt-eval score`` produce byte-identical metrics from the same predictions.
"""

from __future__ import annotations

import functools
import hashlib
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from PIL import Image

from benchmarks.headline import HeadlineParts, tally
from sgt_eval.errors import UserError
from sgt_eval.judges import Judge
from sgt_eval.records import Parsed, Prediction, Sample, graded


@dataclass(frozen=True)
class Dataset:
    """A loaded benchmark split.

    Attributes
    ----------
    root
        Folder that ``Sample.image`` paths are relative to.
    samples
        Items in the order of the official files (never reordered: MMVP pairs depend on it).
    files
        The metadata files read, hashed into ``run.json`` and ``metrics.json``.
    version
        A known release name when the files' hashes identify one (e.g. ``"llava15@e3e3926"``).
    excluded_ids
        Ids in the official files that this protocol leaves out (e.g. HallusionBench's text-only
        questions under ``vlmevalkit``); predictions for them are skipped, not refused.
    """

    root: Path
    samples: list[Sample]
    files: tuple[Path, ...]
    version: str = ""
    excluded_ids: frozenset[str] = frozenset()

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version or "unrecognised",
            "n": len(self.samples),
            "files": {f.name: sha256_file(f) for f in self.files},
        }


class Benchmark(ABC):
    """Base class for one benchmark.

    Subclasses set the class attributes and implement the abstract methods. Options are
    strings chosen from ``option_choices`` (first value = default) so the CLI can offer them.

    Parameters
    ----------
    protocol
        Scoring convention, one of ``protocols`` (first = default, always ``"official"``).
    **options
        Benchmark options such as ``mmvp_gt="original"`` or ``split="random"``.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    task: ClassVar[str]  # what the model is asked to do: "answer", "generate" or "edit"
    protocols: ClassVar[tuple[str, ...]] = ("official",)
    option_choices: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # free-form options (a number, a model id) -> default; the subclass validates their values
    option_defaults: ClassVar[Mapping[str, str]] = {}
    # what the numbers in scores are: "fraction" (accuracy-type, shown as percent) or e.g. "0-10"
    unit: ClassVar[str] = "fraction"
    # what headline_parts resamples: one question, unless the headline ties questions together
    unit_name: ClassVar[str] = "question"

    def __init__(self, protocol: str | None = None, **options: str) -> None:
        self.protocol = protocol or self.protocols[0]
        if self.protocol not in self.protocols:
            raise UserError(
                f"{self.name} has no protocol {self.protocol!r} (choose from: {', '.join(self.protocols)})"
            )
        unknown = set(options) - set(self.option_choices) - set(self.option_defaults)
        if unknown:
            raise UserError(f"{self.name} takes no option {sorted(unknown)[0]!r}")
        self.options = {**{k: v[0] for k, v in self.option_choices.items()}, **self.option_defaults}
        for key, value in options.items():
            if key in self.option_choices and value not in self.option_choices[key]:
                allowed = ", ".join(self.option_choices[key])
                raise UserError(f"{self.name}: --{key.replace('_', '-')} must be one of {allowed}, not {value!r}")
            self.options[key] = value

    # -- data -------------------------------------------------------------------------------
    @abstractmethod
    def load(self, path: Path) -> Dataset:
        """Read the official files from a benchmark folder (or the metadata file itself).

        Raises :class:`UserError` naming the missing file and the ``sgt-eval data fetch``
        command when the data is not there.
        """

    # -- prompting and grading ----------------------------------------------------------
    @abstractmethod
    def prompt(self, sample: Sample) -> str:
        """The text shown to the model with the sample's image."""

    @abstractmethod
    def grade(self, samples: Sequence[Sample], outputs: Sequence[str], judge: Judge | None = None) -> list[Prediction]:
        """Turn a batch of model outputs (text, or image paths for image benchmarks) into records."""

    def grader(self, judge: Judge | None) -> str:
        """Names what decided correctness, recorded in metrics (``"rules"`` or a judge id)."""
        return "rules"

    @abstractmethod
    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Metrics from predictions alone (their ``meta`` carries the grouping fields).

        Must return ``{"headline": {"metric": name, "value": v}, "scores": {...}}`` and be
        independent of the order of ``predictions`` (use integer counts, not running floats).
        """

    def headline_parts(self, predictions: Sequence[Prediction]) -> HeadlineParts:
        """The headline as ratios of sums over resampling units (:mod:`benchmarks.headline`).

        The default is accuracy over questions, each its own unit; a benchmark whose headline is
        anything else overrides this, and its tests check the two agree.
        """
        return tally((p.id, "", "accuracy", float(bool(p.correct)), 1.0) for p in predictions)

    def settings(self) -> dict[str, Any]:
        """What this instance scores by (protocol, options, prompt wording); generation length is run.json's."""
        return {"protocol": self.protocol, "options": dict(self.options)}

    def generation(self) -> dict[str, Any]:
        """How the model is asked (recorded in run.json; a change refuses to resume the run)."""
        return {}


class AnswerBenchmark(Benchmark):
    """A benchmark whose model output is text: parse it by rules (or a judge), then score it."""

    task = "answer"
    max_new_tokens: ClassVar[int] = 64

    @abstractmethod
    def parse(self, output: str, sample: Sample) -> Parsed:
        """Read the answer out of a raw output by rules; ``method="none"`` when unreadable."""

    @abstractmethod
    def score(self, parsed: Parsed, sample: Sample) -> bool:
        """Whether the parsed answer is right. Unparsed answers are always wrong."""

    def grade(self, samples: Sequence[Sample], outputs: Sequence[str], judge: Judge | None = None) -> list[Prediction]:
        """Parse and score a batch. Benchmarks with an LLM judge override this to batch judge calls."""
        records = []
        for sample, output in zip(samples, outputs, strict=True):
            parsed = self.parse(output, sample)
            correct = parsed.method != "none" and self.score(parsed, sample)
            records.append(graded(sample, output, parsed, correct))
        return records

    def generation(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens}


class ImageBenchmark(Benchmark):
    """A benchmark whose model output is an image: text-to-image (``task = "generate"``) or editing
    (``task = "edit"``).

    Generated images are written in the benchmark's official folder layout under a root folder
    (``<run>/<bench>/`` in a run, or a folder given to ``sgt-eval score --images``); the
    ``output`` of each record is the image path relative to that root, which :meth:`grade`
    reads from :attr:`outputs_root`.
    """

    outputs_root: Path | None = None

    @abstractmethod
    def output_path(self, sample: Sample) -> str:
        """Where the sample's image goes, relative to the outputs root, in the official layout."""

    def write_sidecars(self, sample: Sample, dataset: Dataset, root: Path) -> None:
        """Files the official layout wants beside an image (GenEval metadata.jsonl, GEdit SRCIMG)."""

    def source_image(self, sample: Sample, dataset: Dataset) -> Image.Image:
        """The input image of an edit, at the size the benchmark feeds the model."""
        raise UserError(f"{self.name} is a text-to-image benchmark: it has no source images")

    @abstractmethod
    def read_outputs(self, images: Path, dataset: Dataset | None) -> tuple[Dataset, dict[str, str]]:
        """An image folder in the official layout, made by anyone: the dataset it answers and
        ``{sample id: image path relative to images}``. ``dataset`` is None when the folder
        carries its own prompts (GenEval's metadata.jsonl)."""

    def image_file(self, output: str) -> Path:
        """The image a record's ``output`` names, resolved under the outputs root."""
        if self.outputs_root is None:
            raise RuntimeError("outputs_root must be set before grading image outputs")
        return self.outputs_root / safe_relpath(output, "output", self.outputs_root)


def metrics_document(bench: Benchmark, predictions: Sequence[Prediction], grader: str,
                     data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metrics.json`` object: the benchmark's aggregate plus the fields every report needs.

    ``data`` is the dataset's :meth:`Dataset.describe`. The document holds no timestamps or paths, so
    the same predictions always give byte-identical files.
    """
    body = bench.aggregate(predictions)
    return {
        "benchmark": bench.name,
        "protocol": bench.protocol,
        "settings": bench.settings(),
        "grader": grader,
        "unit": bench.unit,
        "data": dict(data),
        "n": len(predictions),
        "n_dataset": data.get("n", len(predictions)),
        "n_unparsed": sum(p.unparsed for p in predictions),
        "n_errors": sum(p.error is not None for p in predictions),
        **body,
    }


def shown(value: Any, unit: str) -> str:
    """A number as people read it: fractions in percent, other scales as they are."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{100 * value:.2f}" if unit == "fraction" else f"{value:.3f}"
    return str(value)


def protocol_label(metrics: Mapping[str, Any]) -> str:
    """``"official"``, or ``"official (mmvp_gt=original)"`` when options were part of the scoring."""
    options = metrics.get("settings", {}).get("options") or {}
    extra = ", ".join(f"{k}={v}" for k, v in options.items())
    return f"{metrics['protocol']} ({extra})" if extra else str(metrics["protocol"])


def safe_relpath(value: str, field: str, where: Path) -> str:
    """Validate a dataset-provided relative path: no absolute paths, no ``..`` escapes."""
    p = PurePosixPath(value.replace("\\", "/"))
    parts = [x for x in p.parts if x not in (".", "")]
    if p.is_absolute() or ".." in parts:
        raise UserError(f"{where}: field {field!r} has path {value!r} outside the data folder; fix or remove that row")
    return "/".join(parts)


def missing_data(bench: str, path: Path, expected: str) -> UserError:
    return UserError(
        f"no {bench} data at {path} (expected {expected}); "
        f"fetch it with `sgt-eval data fetch --bench {bench} --root {path.parent}`"
    )


def sha256_file(path: Path) -> str:
    """The file's sha256, computed once per (path, size, modification time) in a process: data files
    of several GB are hashed for run.json and again for every metrics.json."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ratio(numerator: int, denominator: int) -> float | None:
    """A fraction, or None when nothing was counted (never a fake 0)."""
    return numerator / denominator if denominator else None


def accuracy_counts(predictions: Sequence[Prediction], field: str) -> dict[str, tuple[int, int]]:
    """Integer counts ``{meta[field]: (correct, total)}`` over the predictions that have ``field``.

    Parameters
    ----------
    predictions
        Graded predictions; their order does not matter.
    field
        A ``meta`` key such as ``"source"`` or ``"relation"``.
    """
    total = Counter(str(p.meta[field]) for p in predictions if field in p.meta)
    right = Counter(str(p.meta[field]) for p in predictions if field in p.meta and p.correct)
    return {key: (right[key], n) for key, n in total.items()}


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Unweighted mean of scores, or None when any is missing (a partial mean would be another metric).

    ``math.fsum`` is exactly rounded, so the result does not depend on the order of ``values``.
    """
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return math.fsum(values) / len(values)


def f1_score(precision: float | None, recall: float | None, tp: int, fp: int, fn: int) -> float | None:
    """F1 as the official scripts compute it (2PR/(P+R), so the digits match); where P or R is
    undefined or both are 0, the count form 2TP/(2TP+FP+FN), which is 0 unless nothing was counted.
    """
    if precision is not None and recall is not None and precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return ratio(2 * tp, 2 * tp + fp + fn)
