"""GenEval: text-to-image compositional prompts, scored by an object detector and GenEval's rules.

Data: ``evaluation_metadata.jsonl`` (prompt set ``original``, djghosh13/geneval ``prompts/``) or
BAGEL's rewritten ``evaluation_metadata_long.jsonl`` (``bagel_long``, the set BAGEL and SGT report;
same tags and clauses, long prompts). One sample per (prompt ``i``, image ``j``), id
``"{i:05d}/{j:04d}"``; ``--images-per-prompt`` (official 4) images each.

Images live in the official layout, so the official scorer reads our folders and we read anyone's:
``images/<5-digit i>/metadata.jsonl`` (the prompt's metadata line, as upstream's generator writes
it) and ``images/<i>/samples/<j>.png``.

Grading: ``--detector`` picks the backend (:mod:`benchmarks.detectors`): ``auto`` is ``shapes``
when the data folder (or image folder) holds ShapesWorld's marker ``shapesworld.json``, else
``hf``. The rules are :mod:`benchmarks.geneval_rules`. The headline ``overall`` is the mean of the
task accuracies; every metrics file names the detector (its ``grader``), because the detector
decides the score.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.base import Dataset, ImageBenchmark, missing_data, sha256_file
from benchmarks.detectors import Detector, detector_id, make_detector
from benchmarks.geneval_rules import (
    COLORS,
    RELATIONS,
    TAGS,
    ImageResult,
    color_queries,
    evaluate,
    prompt_key,
    queries_for,
    select_objects,
    summarize,
)
from benchmarks.headline import HeadlineParts, tally
from sgt_eval.errors import UserError
from sgt_eval.judges import Judge
from sgt_eval.records import Parsed, Prediction, Sample, failed, graded
from sgt_eval.runner import ImageError, open_image
from sgt_eval.store import read_jsonl, write_bytes_atomic

PROMPT_FILES = {"original": "evaluation_metadata.jsonl", "bagel_long": "evaluation_metadata_long.jsonl"}
# where a metadata file may sit below the folder given: the folder itself, the geneval repository's
# (and BAGEL's eval/gen/geneval/) prompts/, the shared data layout's bagel_rewritten/
SUBFOLDERS = ("", "prompts", "bagel_rewritten")
# sha256 of unmodified upstream files -> (prompt set, release)
KNOWN_FILES = {
    "5c48e0813e812e3c373fa5c8ed07a8f0a483be30272b4427b0559c8048e67c13": ("original", "geneval@af4902f"),
    "09472cc9c24e225417b1d5df27e688e5f2a0fcac9ec772f33d9debe4e5d49f27": ("bagel_long", "bagel@056b5fd"),
}
MARKER = "shapesworld.json"
IMAGES = "images"
SAMPLE_FILE = re.compile(r"\d+\.png")  # upstream's re.match: a prefix match, as it reads folders
NOTES = [
    "overall = unweighted mean of the task accuracies present (summary_scores.py), not the share of correct images",
    "prompts_correct = share of prompts with at least one correct image",
]


class GenEval(ImageBenchmark):
    """GenEval (553 prompts, six tasks) with a choice of detector backend."""

    name = "geneval"
    title = "GenEval"
    unit_name = "prompt"
    task = "generate"
    option_choices = {"prompt_set": ("original", "bagel_long"), "detector": ("auto", "shapes", "hf", "mmdet")}
    option_defaults = {"images_per_prompt": "4", "detector_model": "facebook/mask2former-swin-small-coco-instance",
                       "clip_model": "openai/clip-vit-large-patch14"}

    def __init__(self, protocol: str | None = None, **options: str) -> None:
        super().__init__(protocol, **options)
        value = self.options["images_per_prompt"]
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise UserError(f"geneval: --images-per-prompt must be a positive integer, not {value!r}")
        self.images_per_prompt = int(value)
        self.shapes_data = False  # set when the data or image folder carries ShapesWorld's marker
        self._detector: Detector | None = None
        self._observed: dict[str, str] = {}  # what a scored image folder holds, in place of the options

    # -- data -------------------------------------------------------------------------------
    def load(self, path: Path) -> Dataset:
        """Read the prompt set's metadata file in ``path`` (or ``path/prompts/``), or the file itself.

        ``Dataset.version`` names the upstream release when the file's sha256 is known; a known
        file of the other prompt set is refused.
        """
        file = self._metadata_file(path)
        known = KNOWN_FILES.get(sha256_file(file))
        if known and known[0] != self.options["prompt_set"]:
            raise UserError(f"{file} is the {known[0]} prompt set; pass --prompt-set {known[0]} or give the "
                            f"{PROMPT_FILES[self.options['prompt_set']]} file")
        lines = [check_line(row, f"{file}:{number}") for number, row in read_jsonl(file)]
        if not lines:
            raise UserError(f"{file}: no prompts; give GenEval's {file.name}")
        self.shapes_data = (file.parent / MARKER).is_file()
        samples = [self._sample(i, j, line) for i, line in enumerate(lines) for j in range(self.images_per_prompt)]
        return Dataset(root=file.parent, samples=samples, files=(file,), version=known[1] if known else "")

    def _metadata_file(self, path: Path) -> Path:
        if path.is_file():
            return path
        name = PROMPT_FILES[self.options["prompt_set"]]
        for sub in SUBFOLDERS:
            if (path / sub / name).is_file():
                return path / sub / name
        raise missing_data("geneval", path, name)

    @staticmethod
    def _sample(i: int, j: int, line: Mapping[str, Any]) -> Sample:
        meta = {key: line[key] for key in ("tag", "include", "exclude") if key in line}
        return Sample(id=f"{i:05d}/{j:04d}", question=line["prompt"], answer="", meta={**meta, "prompt_index": i})

    def prompt(self, sample: Sample) -> str:
        return sample.question

    # -- the official folder layout ---------------------------------------------------------------
    def output_path(self, sample: Sample) -> str:
        folder, image = sample.id.split("/")
        return f"{IMAGES}/{folder}/samples/{image}.png"

    def write_sidecars(self, sample: Sample, dataset: Dataset, root: Path) -> None:
        """``images/<i>/metadata.jsonl`` once per prompt: ``json.dump`` of the line, as upstream writes it
        (no newline); plus the ShapesWorld marker beside the folders, so ``auto`` finds it again."""
        folder = root / IMAGES / sample.id.split("/")[0]
        if not (folder / "metadata.jsonl").is_file():
            write_bytes_atomic(folder / "metadata.jsonl", json.dumps(metadata_line(sample.meta, sample.question)).encode())
        marker = dataset.root / MARKER
        if marker.is_file() and not (root / IMAGES / MARKER).is_file():
            write_bytes_atomic(root / IMAGES / MARKER, marker.read_bytes())

    def read_outputs(self, images: Path, dataset: Dataset | None) -> tuple[Dataset, dict[str, str]]:
        """Read an official-layout folder as upstream's scorer does: subfolders whose name is all
        digits, their ``metadata.jsonl``, and ``samples/`` files matching ``\\d+\\.png``.

        ``images`` may also be a run's ``geneval/`` folder (the layout is then under ``images/``).
        With ``dataset``, each folder's metadata must be that prompt's line; without, the
        prompts come from the folders.
        """
        base, prefix = _layout_root(images)
        folders = sorted((int(p.name), p) for p in base.iterdir() if p.is_dir() and p.name.isdecimal())
        if not folders:
            raise UserError(f"{images}: no prompt folders (expected <5-digit index>/metadata.jsonl and samples/*.png)")
        self.shapes_data = (base / MARKER).is_file() or (dataset is not None and (dataset.root / MARKER).is_file())
        lines = dataset_lines(dataset)
        samples: dict[str, Sample] = {s.id: s for s in (dataset.samples if dataset else [])}
        outputs: dict[str, str] = {}
        found_lines: dict[int, dict[str, Any]] = {}
        for i, folder in folders:
            line = _folder_line(folder, lines, i)
            found_lines[i] = line
            for j, file in _sample_files(folder):
                sample = self._sample(i, j, line)
                if sample.id in outputs:
                    raise UserError(f"{file}: a second image for prompt {i} image {j} ({outputs[sample.id]}); "
                                    f"keep one of them")
                samples.setdefault(sample.id, sample)
                outputs[sample.id] = f"{prefix}{folder.name}/samples/{file.name}"
        ordered = sorted(samples.values(), key=lambda s: tuple(map(int, s.id.split("/"))))
        counts = Counter(key.split("/")[0] for key in outputs).values() or [0]
        low, high = min(counts), max(counts)
        self._observed = {"images_per_prompt": str(low) if low == high else f"{low}-{high}"}
        if dataset is not None:
            return Dataset(dataset.root, ordered, dataset.files, dataset.version), outputs
        version = _folders_version(found_lines)
        known = [name for name, release in KNOWN_FILES.values() if version.startswith(release)]
        self._observed["prompt_set"] = known[0] if known else "from folders"
        return Dataset(images, ordered, (), version), outputs

    # -- grading ----------------------------------------------------------------------------
    def detector_backend(self) -> str:
        """The backend ``--detector`` resolves to (``auto``: shapes for ShapesWorld data, else hf)."""
        chosen = self.options["detector"]
        if chosen != "auto":
            return chosen
        return "shapes" if self.shapes_data else "hf"

    def settings(self) -> dict[str, Any]:
        """The options that decide the score: the resolved detector (with its models unless it is
        ``shapes``), and for a scored folder the prompt set and images per prompt it holds."""
        options = {"prompt_set": self.options["prompt_set"], "images_per_prompt": self.options["images_per_prompt"],
                   "detector": self.detector_backend()}
        if options["detector"] != "shapes":
            options |= {"detector_model": self.options["detector_model"], "clip_model": self.options["clip_model"]}
        return {"protocol": self.protocol, "options": options | self._observed}

    def grader(self, judge: Judge | None) -> str:
        return detector_id(self.detector_backend(), self.options["detector_model"], self.options["clip_model"])

    def detector(self) -> Detector:
        """The detector, built on first use (loading models is slow; listing benchmarks must not be)."""
        if self._detector is None:
            self._detector = make_detector(self.detector_backend(), self.options["detector_model"],
                                           self.options["clip_model"])
        return self._detector

    def grade(self, samples: Sequence[Sample], outputs: Sequence[str], judge: Judge | None = None) -> list[Prediction]:
        """Detect objects in all images of the batch at once, classify the colours asked about at once,
        then apply the rules to each image; an unreadable image is an error record, scored wrong."""
        detector = self.detector()
        _check_classes(samples, detector, self.detector_backend())
        records: dict[str, Prediction] = {}
        ready, images = [], []
        for sample, output in zip(samples, outputs, strict=True):
            try:
                images.append(open_image(self.image_file(output), output))
                ready.append((sample, output))
            except ImageError as err:
                records[sample.id] = failed(sample, str(err))
        detections = detector.detect(images) if images else []
        objects = [select_objects(d, s.meta["tag"]) for (s, _), d in zip(ready, detections, strict=True)]
        needed = [color_queries(o, s.meta) for (s, _), o in zip(ready, objects)]
        queries = [q for image, n in zip(images, needed) for q in queries_for(image, n)]
        answers = iter(detector.colors(queries) if queries else [])
        for (sample, output), found, asked in zip(ready, objects, needed):
            colors = {n: next(answers) for n in sorted(asked)}
            correct, reason = evaluate(found, sample.meta, colors)
            records[sample.id] = graded(sample, output, Parsed(reason, "rule"), correct)
        return [records[s.id] for s in samples]

    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Per-task accuracy, ``overall`` (mean of tasks), % correct images and % correct prompts."""
        scores = summarize(ImageResult(str(p.meta["tag"]), prompt_key(metadata_line(p.meta, p.question)),
                                       bool(p.correct)) for p in predictions)
        body: dict[str, Any] = {"headline": {"metric": "overall", "value": scores["overall"]}, "scores": scores,
                                "notes": list(NOTES)}
        missing = [t for t in TAGS if t not in scores["tasks"]]
        if scores["tasks"] and missing:
            body["warnings"] = [f"no images of task(s) {', '.join(missing)}: overall is the mean of the "
                                f"{len(scores['tasks'])} tasks present"]
        return body

    def headline_parts(self, predictions: Sequence[Prediction]) -> HeadlineParts:
        """The mean of the task accuracies present; tasks are strata, a prompt (all its images) a unit."""
        return tally((prompt_key(metadata_line(p.meta, p.question)), str(p.meta["tag"]), str(p.meta["tag"]),
                      float(bool(p.correct)), 1.0) for p in predictions)


def metadata_line(meta: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    """A sample's (or record's) prompt as an upstream metadata line: keys tag, include, exclude, prompt."""
    line = {key: meta[key] for key in ("tag", "include", "exclude") if key in meta}
    return {**line, "prompt": prompt}


def check_line(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A metadata line checked against what the rules read; a one-line error naming the field otherwise."""
    def bad(field: str, problem: str) -> UserError:
        return UserError(f"{where}: field {field!r} {problem}; fix that line of the GenEval metadata")

    if not isinstance(row.get("tag"), str) or not isinstance(row.get("prompt"), str):
        raise bad("tag" if not isinstance(row.get("tag"), str) else "prompt", "must be a string")
    include = row.get("include")
    if not isinstance(include, list) or not include:
        raise bad("include", "must be a non-empty list of {class, count} objects")
    for n, clause in enumerate(include):
        _check_clause(clause, f"include[{n}]", bad)
        if "color" in clause and clause["color"] not in COLORS:
            raise bad(f"include[{n}].color", f"must be one of {', '.join(COLORS)}")
        position = clause.get("position")
        if position is not None and not (isinstance(position, list) and len(position) == 2
                                         and position[0] in RELATIONS and position[1] in range(n)):
            raise bad(f"include[{n}].position", "must be [relation, index of an earlier include clause]")
    exclude = row.get("exclude", [])
    if not isinstance(exclude, list):
        raise bad("exclude", "must be a list of {class, count} objects")
    for n, clause in enumerate(exclude):
        _check_clause(clause, f"exclude[{n}]", bad)
    return {key: row[key] for key in ("tag", "include", "exclude", "prompt") if key in row}


def _check_clause(clause: Any, field: str, bad: Any) -> None:
    if not isinstance(clause, dict) or not isinstance(clause.get("class"), str):
        raise bad(f"{field}.class", "must be a class name")
    count = clause.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad(f"{field}.count", "must be a positive integer")


def dataset_lines(dataset: Dataset | None) -> dict[int, dict[str, Any]] | None:
    """Each prompt's metadata line of a loaded dataset, by prompt index."""
    if dataset is None:
        return None
    return {int(s.meta["prompt_index"]): metadata_line(s.meta, s.question) for s in dataset.samples}


def _layout_root(images: Path) -> tuple[Path, str]:
    if not images.is_dir():
        raise UserError(f"--images {images} is not a folder")
    if not any(p.is_dir() and p.name.isdecimal() for p in images.iterdir()) and (images / IMAGES).is_dir():
        return images / IMAGES, f"{IMAGES}/"
    return images, ""


def _folder_line(folder: Path, lines: dict[int, dict[str, Any]] | None, i: int) -> dict[str, Any]:
    file = folder / "metadata.jsonl"
    try:
        row = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{file}: missing; every prompt folder needs its metadata.jsonl") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{file}: not one JSON object ({err}); write the prompt's metadata line") from None
    if not isinstance(row, dict):
        raise UserError(f"{file}: expected one JSON object")
    line = check_line(row, str(file))
    if lines is not None and lines.get(i) != line:
        raise UserError(f"{file}: differs from prompt {i} of the --data file (wrong --data or --prompt-set?)")
    return line


def _sample_files(folder: Path) -> list[tuple[int, Path]]:
    samples = folder / "samples"
    if not samples.is_dir():
        return []
    found = [(int(m.group(0)[:-4]), p) for p in samples.iterdir()
             if p.is_file() and (m := SAMPLE_FILE.match(p.name))]
    return sorted(found)


def _folders_version(lines: dict[int, dict[str, Any]]) -> str:
    """The upstream release when folders 0..N-1 carry exactly the lines of a known metadata file."""
    if sorted(lines) != list(range(len(lines))):
        return ""
    text = "".join(json.dumps(lines[i]) + "\n" for i in range(len(lines)))
    known = KNOWN_FILES.get(hashlib.sha256(text.encode()).hexdigest())
    return f"{known[1]} (from folders)" if known else ""


def _check_classes(samples: Sequence[Sample], detector: Detector, backend: str) -> None:
    """Refuse prompts naming classes the detector can never report: they would fail silently."""
    named = {c["class"] for s in samples for key in ("include", "exclude") for c in s.meta.get(key, [])}
    unknown = sorted(named - detector.labels)
    if unknown:
        hint = "ShapesWorld prompts need --detector shapes" if backend != "shapes" else "use --detector hf for COCO"
        raise UserError(f"--detector {backend} cannot detect {', '.join(map(repr, unknown[:3]))} named by the "
                        f"prompts ({hint})")


