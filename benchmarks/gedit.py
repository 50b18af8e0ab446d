"""GEdit-Bench: instruction-based image editing, scored with VIEScore (SC, PQ, O) as Step1X-Edit does.

Data: the Hugging Face dataset ``stepfun-ai/GEdit-Bench`` (split ``train``, the only one), every
``*.parquet`` (or ``*.arrow``) file below the benchmark folder, with the columns ``task_type``,
``key``, ``instruction``, ``instruction_language`` (``en``/``cn``), ``input_image``,
``input_image_raw`` (image structs ``{"bytes", "path"}``) and ``Intersection_exist``: 606 rows per
language over 11 task groups. Sample ids are ``"<task_type>/<language>/<key>"``. Only the text
columns are read at load time; image bytes are read from the files when a sample needs them.

Generation (upstream ``generate_image_example.py``): the model edits ``input_image_raw`` resized to
about 512 x 512 pixels of area with both sides multiples of 32 (:func:`edit_size`). The edited
image goes to ``images/fullset/<task_type>/<language>/<key>.png`` and ``input_image`` beside it as
``<key>_SRCIMG.png``, the layout the official scorer reads; :meth:`GEditBench.read_outputs` reads
such a folder made by anyone.

Grading: with a judge, VIEScore as in :mod:`benchmarks.viescore`; without one, ShapesWorld data
(a ``shapesworld.json`` marker and ``shapesworld_truth.jsonl``) is scored by the programmatic judge
of :mod:`benchmarks.gedit_shapes_judge`; any other data needs ``--judge-model``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageOps

from benchmarks import gedit_shapes_judge as shapes
from benchmarks.base import Dataset, ImageBenchmark, missing_data
from benchmarks.headline import HeadlineParts
from benchmarks.viescore import OWN_PROMPTS, headline_parts, judge_requests, judged, scored, statistics
from sgt_eval.data.layout import open_arrow
from sgt_eval.data.viescore_prompt import PROMPTS_FILE, load_prompts
from sgt_eval.errors import UserError
from sgt_eval.judges import Judge, JudgeRequest
from sgt_eval.records import Prediction, Sample, failed
from sgt_eval.runner import ImageError, open_image
from sgt_eval.store import write_bytes_atomic
from sgt_eval.world.files import MARKER
from sgt_eval.world.gedit import TRUTH

TEXT_COLUMNS = ("task_type", "key", "instruction", "instruction_language", "Intersection_exist")
IMAGE_COLUMNS = ("input_image", "input_image_raw")
LANGUAGES = ("en", "cn")
SUFFIXES = (".parquet", ".arrow")
EDIT_AREA, SIDE_MULTIPLE = 512 * 512, 32


def edit_size(width: int, height: int, area: int = EDIT_AREA, multiple: int = SIDE_MULTIPLE) -> tuple[int, int]:
    """The model's input size for a source image, as upstream's ``calculate_dimensions``.

    Sides are rounded to multiples of ``multiple`` (Python's round-half-to-even, as upstream), then
    the width moves one step towards ``area``; a side that would be 0 (extreme aspect ratios,
    where upstream fails) is one step instead.

    Examples
    --------
    >>> edit_size(1000, 1000), edit_size(1024, 768), edit_size(768, 1024)
    ((512, 512), (608, 448), (480, 576))
    """
    ratio = width / height
    w = math.sqrt(area * ratio)
    h = w / ratio
    w, h = round(w / multiple) * multiple, round(h / multiple) * multiple
    if w * h < area:
        w += multiple
    elif w * h > area:
        w -= multiple
    return max(w, multiple), max(h, multiple)


class GEditBench(ImageBenchmark):
    """GEdit-Bench from the official parquet (or Arrow) files; see the module docstring."""

    name = "gedit"
    title = "GEdit-Bench"
    unit_name = "edit"
    task = "edit"
    unit = "0-10"  # VIEScore SC, PQ and O

    def __init__(self, protocol: str | None = None, **options: str) -> None:
        super().__init__(protocol, **options)
        self.prompts: dict[str, Any] = OWN_PROMPTS  # replaced by load() when the official prompts were fetched
        self.truth: dict[tuple[str, str], shapes.Truth] | None = None  # ShapesWorld ground truth, if any
        self._rows: dict[str, tuple[Path, int]] = {}  # sample id -> (data file, row)
        self._tables = _Tables()

    # -- data ---------------------------------------------------------------------------------
    def load(self, path: Path) -> Dataset:
        """Read the text columns of every data file below ``path`` (sorted), the prompts and any truth.

        Raises
        ------
        UserError
            When there is no data file, a column is missing, a value is unusable, an id repeats,
            or ShapesWorld truth lacks a row.
        """
        files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()) if path.is_dir() else []
        if not files:
            raise missing_data("gedit", path, "the stepfun-ai/GEdit-Bench *.parquet files")
        samples, self._rows = [], {}
        for file in files:
            for index, row in enumerate(self._tables.text_rows(file)):
                sample = _sample(row, f"{file}: row {index}")
                if sample.id in self._rows:
                    raise UserError(f"{file}: row {index}: id {sample.id} appears twice (task_type, language, key); "
                                    f"keep one copy of the data files under {path}")
                self._rows[sample.id] = (file, index)
                samples.append(sample)
        prompt_file = path / PROMPTS_FILE
        self.prompts = load_prompts(prompt_file) if prompt_file.is_file() else OWN_PROMPTS
        self.truth = self._read_truth(path, samples)
        version = json.loads((path / MARKER).read_text(encoding="utf-8")).get("version", "") if self.truth else ""
        return Dataset(root=path, samples=samples, files=tuple(files), version=str(version))

    def _read_truth(self, path: Path, samples: list[Sample]) -> dict[tuple[str, str], shapes.Truth] | None:
        if not ((path / MARKER).is_file() and (path / TRUTH).is_file()):
            return None
        truth = shapes.read_truth(path / TRUTH)
        lacking = [s.id for s in samples if (s.meta["key"], s.meta["language"]) not in truth]
        if lacking:
            raise UserError(f"{path / TRUTH}: no line for {lacking[0]} ({len(lacking)} rows lack one); rebuild the world")
        return truth

    def _image(self, sample: Sample, column: str) -> Image.Image:
        """A row's image, decoded as ``datasets`` (>= 2.19) decodes it for upstream's scripts: turned
        upright when it carries an EXIF orientation. An unreadable one is the sample's :class:`ImageError`."""
        if sample.id not in self._rows:
            raise RuntimeError(f"{sample.id} is not a row of the loaded data; load() the dataset first")
        file, index = self._rows[sample.id]
        try:
            image = Image.open(io.BytesIO(self._tables.image_bytes(file, index, column)))
            image.load()
            if image.getexif().get(ExifTags.Base.Orientation) is not None:
                image = ImageOps.exif_transpose(image)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise ImageError(f"unreadable {column} of {sample.id} in {file.name}: {err}") from None
        return image

    # -- generation ---------------------------------------------------------------------------
    def prompt(self, sample: Sample) -> str:
        return sample.question

    def source_image(self, sample: Sample, dataset: Dataset) -> Image.Image:
        """``input_image_raw`` at :func:`edit_size`, resized in its own mode with PIL's default filter (as upstream)."""
        raw = self._image(sample, "input_image_raw")
        return raw.resize(edit_size(*raw.size)).convert("RGB")

    def output_path(self, sample: Sample) -> str:
        return f"images/{_layout_path(sample)}.png"

    def write_sidecars(self, sample: Sample, dataset: Dataset, root: Path) -> None:
        """``<key>_SRCIMG.png`` (the ``input_image`` column, as upstream saves it) beside the edited image."""
        path = _srcimg(root / self.output_path(sample))
        if not path.exists():
            buffer = io.BytesIO()
            self._image(sample, "input_image").save(buffer, format="PNG")
            write_bytes_atomic(path, buffer.getvalue())  # a kill never leaves half a file that later looks done

    def read_outputs(self, images: Path, dataset: Dataset | None) -> tuple[Dataset, dict[str, str]]:
        """The edited images of a results folder: ``DIR/fullset/...`` (upstream) or ``DIR/images/fullset/...`` (a run)."""
        if dataset is None:
            raise UserError("gedit scores edited images against the benchmark rows: give the GEdit-Bench folder "
                            "with --data PATH")
        base = next((b for b in ("fullset", "images/fullset") if (images / b).is_dir()), None)
        if base is None:
            raise UserError(f"{images} has no fullset/ folder; expected fullset/<task_type>/<en|cn>/<key>.png "
                            f"(and <key>_SRCIMG.png beside each), as GEdit-Bench's generate_image_example.py writes")
        prefix = base.removesuffix("fullset")
        outputs = {s.id: f"{prefix}{_layout_path(s)}.png" for s in dataset.samples}
        found = {sid: rel for sid, rel in outputs.items() if (images / rel).is_file()}
        if not found:
            raise UserError(f"{images / base} holds none of the {len(outputs)} images the rows of {dataset.root} "
                            f"name (<task_type>/<language>/<key>.png); check --data and --images")
        return dataset, found

    # -- grading ------------------------------------------------------------------------------
    def grade(self, samples: Sequence[Sample], outputs: Sequence[str], judge: Judge | None = None) -> list[Prediction]:
        """SC/PQ/O for each edited image: one ``judge.ask_many`` call for the batch, or the ShapesWorld judge.

        A missing or unreadable image (edited or ``_SRCIMG``) is that sample's error record.
        """
        self.grader(judge)  # refuses before any work when nothing can score these edits
        records: list[Prediction] = []
        ready: list[tuple[Sample, str, Image.Image, Image.Image | None]] = []
        for sample, output in zip(samples, outputs, strict=True):
            edited_path = self.image_file(output)
            try:
                edited = open_image(edited_path, output)
                source = open_image(_srcimg(edited_path), _srcimg(Path(output)).as_posix()) if judge else None
            except ImageError as err:
                records.append(failed(sample, str(err), correct=None))
                continue
            ready.append((sample, output, edited, source))
        if judge is None:
            assert self.truth is not None
            for sample, output, edited, _ in ready:
                sc, pq = shapes.score_edit(edited, self.truth[(sample.meta["key"], sample.meta["language"])])
                records.append(scored(sample, output, sc, pq, "rule"))
            return records
        requests: list[JudgeRequest] = []
        for sample, _, edited, source in ready:
            assert source is not None  # opened above whenever there is a judge
            requests += judge_requests(sample.question, source, edited, self.prompts)
        replies = judge.ask_many(requests) if requests else []
        records += [judged(sample, output, replies[2 * i], replies[2 * i + 1])
                    for i, (sample, output, _, _) in enumerate(ready)]
        return records

    def grader(self, judge: Judge | None) -> str:
        """The judge id and prompt version, or the programmatic judge; refuses when there is neither."""
        if judge is not None:
            return f"judge:{judge.id}|prompt:{self.prompts['version']}"
        if self.truth is not None:
            return shapes.GRADER
        raise UserError("gedit needs an LLM judge to score edits (VIEScore): pass --judge-model and --judge-base-url "
                        "(only ShapesWorld GEdit data can be scored without one)")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "judge_prompt": self.prompts["version"],
                "judge_images": "JPEG at PIL's default quality; edited image resized to the _SRCIMG size"}

    def generation(self) -> dict[str, Any]:
        return {"source_image": "input_image_raw", "source_area": EDIT_AREA, "side_multiple": SIDE_MULTIPLE}

    def aggregate(self, predictions: Sequence[Prediction]) -> dict[str, Any]:
        """Per language and set, macro (official) and micro averages of SC, PQ, O (:func:`benchmarks.viescore.statistics`)."""
        return statistics(predictions)

    def headline_parts(self, predictions: Sequence[Prediction]) -> HeadlineParts:
        return headline_parts(predictions)


# -- rows ---------------------------------------------------------------------------------------
def _sample(row: dict[str, Any], where: str) -> Sample:
    for column in TEXT_COLUMNS[:4]:
        value = row.get(column)
        if not isinstance(value, str) or not value:
            raise UserError(f"{where}: field {column!r} must be a non-empty string; re-fetch the data")
    if row["instruction_language"] not in LANGUAGES:
        raise UserError(f"{where}: field 'instruction_language' is {row['instruction_language']!r}, not one of "
                        f"{', '.join(LANGUAGES)}; re-fetch the data")
    for column in ("task_type", "key"):  # both become folder and file names in the official layout
        if "/" in row[column] or "\\" in row[column] or row[column] in (".", ".."):
            raise UserError(f"{where}: field {column!r} is {row[column]!r}, which is not a usable file name")
    if not isinstance(row.get("Intersection_exist"), bool):
        raise UserError(f"{where}: field 'Intersection_exist' must be true or false; re-fetch the data")
    language = row["instruction_language"]
    return Sample(id=f"{row['task_type']}/{language}/{row['key']}", question=row["instruction"], answer="",
                  meta={"task_type": row["task_type"], "language": language,
                        "intersection": row["Intersection_exist"], "key": row["key"]})


def _layout_path(sample: Sample) -> str:
    return f"fullset/{sample.meta['task_type']}/{sample.meta['language']}/{sample.meta['key']}"


def _srcimg(edited: Path) -> Path:
    return edited.with_name(f"{edited.stem}_SRCIMG.png")


class _Tables:
    """Reads the data files with pyarrow: text columns whole, one image at a time.

    Parquet images are read one row group at a time (the last one is kept, as rows are asked in
    order); Arrow files (the ``datasets`` on-disk format) are memory-mapped, so nothing is copied.
    """

    def __init__(self) -> None:
        self._group: tuple[Path, int, str, Any] | None = None
        self._arrow: dict[Path, Any] = {}

    def text_rows(self, file: Path) -> list[dict[str, Any]]:
        names = self._table(file, schema_only=True).names
        missing = [c for c in (*TEXT_COLUMNS, *IMAGE_COLUMNS) if c not in names]
        if missing:
            raise UserError(f"{file}: no column {missing[0]!r} (columns: {', '.join(names)}); "
                            f"is this the stepfun-ai/GEdit-Bench data?")
        return self._table(file).select(list(TEXT_COLUMNS)).to_pylist()

    def image_bytes(self, file: Path, index: int, column: str) -> bytes:
        if file.suffix == ".arrow":
            cell = self._table(file).column(column)[index].as_py()
        else:
            cell = self._parquet_cell(file, index, column)
        data = cell.get("bytes") if isinstance(cell, dict) else None
        if not isinstance(data, bytes):
            raise ValueError(f"row {index} has no image bytes in {column!r}")
        return data

    def _table(self, file: Path, schema_only: bool = False) -> Any:
        """The text columns of a Parquet file (or its schema); a whole memory-mapped Arrow file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            if file.suffix == ".parquet":
                return pq.read_schema(file) if schema_only else pq.read_table(file, columns=list(TEXT_COLUMNS))
            if file not in self._arrow:
                self._arrow[file] = open_arrow(pa.memory_map(str(file))).read_all()
            table = self._arrow[file]
            return table.schema if schema_only else table
        except (pa.ArrowException, OSError) as err:
            raise UserError(f"{file} is not a readable {file.suffix[1:]} file ({err}); re-fetch the data") from None

    def _parquet_cell(self, file: Path, index: int, column: str) -> Any:
        import pyarrow.parquet as pq

        reader = pq.ParquetFile(file)
        start = 0
        for group in range(reader.num_row_groups):
            rows = reader.metadata.row_group(group).num_rows
            if index < start + rows:
                if self._group is None or self._group[:3] != (file, group, column):
                    self._group = (file, group, column, reader.read_row_group(group, columns=[column]).column(column))
                return self._group[3][index - start].as_py()
            start += rows
        raise ValueError(f"row {index} is past the end of the file")
