"""The same raw outputs scored by VLMEvalKit and by our ``vlmevalkit`` protocol, every difference listed.

For each benchmark both kits share (POPE, HallusionBench, MMVP, CV-Bench-2D/3D), the official files
are turned into the rows of VLMEvalKit's TSV, the outputs go into its ``prediction`` column, and
VLMEvalKit's own ``Dataset.evaluate`` scores them with ``exact_matching`` (no LLM judge: our
protocol without a judge is the same). Our side grades the same outputs with the benchmark in the
``vlmevalkit`` protocol. Compared: every sample's verdict (the Yes/No/Unknown VLMEvalKit extracted,
or its hit) and every number VLMEvalKit reports.

VLMEvalKit's TSVs cannot be downloaded here, so their rows are rebuilt from the official files
with the columns VLMEvalKit's code reads (documented per benchmark below); the check proves the
extraction and the rating arithmetic, for the commit of VLMEvalKit that is installed.

Conventions that are not differences: where a ratio is undefined (no "yes" predicted) we report
None and VLMEvalKit 0; VLMEvalKit reports YORN numbers in percent and MCQ numbers as fractions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from vlmeval.dataset.image_mcq import CVBench, ImageMCQDataset
from vlmeval.dataset.image_yorn import ImageYORNDataset
from vlmeval.smp import dump, get_intermediate_file_path, load

from benchmarks import BENCHMARKS
from benchmarks.base import Dataset
from sgt_eval.records import Prediction, Sample

SHARED = ("pope", "hallusionbench", "mmvp", "cvbench")
TOLERANCE = 1e-9
# The VLMEvalKit commit our vlmevalkit protocol reproduces (benchmarks/answers.py, mmvp.py, cvbench.py).
PROTOCOL_COMMIT = "e8e78f05"


def installed_vlmevalkit() -> dict[str, Any]:
    """Which VLMEvalKit is imported: the distribution that owns the imported ``vlmeval`` package, its version,
    and the git commit when it is an editable install of a clone (PyPI releases such as ms-vlmeval carry none)."""
    import json as json_module
    from importlib import metadata

    import vlmeval

    from sgt_eval.manifest import git_revision

    package = Path(vlmeval.__file__).resolve().parent
    for dist in metadata.distributions():
        origin = json_module.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
        source = Path(origin.removeprefix("file://")).resolve() if origin.startswith("file://") else None
        owns = any(Path(str(dist.locate_file(f))).resolve() == package / "__init__.py" for f in dist.files or ()
                   if str(f).replace("\\", "/").endswith("vlmeval/__init__.py"))
        if (source is not None and package.is_relative_to(source)) or owns:
            revision = git_revision(source) if source is not None else None
            return {"distribution": dist.metadata["Name"], "version": dist.version,
                    "commit": revision["sha"] if revision else None, "path": str(package)}
    return {"distribution": None, "version": None, "commit": None, "path": str(package)}


@dataclass
class Report:
    """One VLMEvalKit dataset compared: the numbers side by side and what differed."""

    benchmark: str
    dataset: str
    n: int
    numbers: list[tuple[str, float | None, float | None]] = field(default_factory=list)  # name, ours, theirs
    sample_differences: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, output, ours, theirs

    @property
    def metric_differences(self) -> list[tuple[str, float | None, float | None]]:
        return [(name, a, b) for name, a, b in self.numbers if not same_number(a, b)]

    @property
    def clean(self) -> bool:
        return not self.metric_differences and not self.sample_differences

    def describe(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "vlmeval_dataset": self.dataset, "n": self.n,
                "numbers": [{"name": n, "ours": a, "vlmevalkit": b} for n, a, b in self.numbers],
                "metric_differences": len(self.metric_differences),
                "sample_differences": [{"id": i, "output": o, "ours": a, "vlmevalkit": b}
                                       for i, o, a, b in self.sample_differences]}


def same_number(ours: float | None, theirs: float | None) -> bool:
    """Equal to 1e-9; our None (an undefined ratio) matches VLMEvalKit's 0 (its stand-in for one)."""
    if ours is None or theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
        return ours is None and (theirs is None or theirs == 0 or math.isnan(theirs))
    return abs(ours - theirs) <= TOLERANCE


def compare(name: str, dataset: Dataset, outputs: Mapping[str, str], work: Path,
            protocol: str = "vlmevalkit") -> list[Report]:
    """Score ``outputs`` (sample id -> raw text) both ways for one shared benchmark.

    Parameters
    ----------
    name
        One of :data:`SHARED`.
    dataset
        The benchmark loaded in the ``vlmevalkit`` protocol (HallusionBench: its image questions).
    outputs
        Raw outputs of the samples to compare (others are left out on both sides).
    work
        A scratch folder for VLMEvalKit's files.
    protocol
        Our side's protocol: ``vlmevalkit``; another one is a control that must show differences.
    """
    bench = BENCHMARKS.load(name)(protocol)
    samples = [s for s in dataset.samples if s.id in outputs]
    ours = {r.id: r for r in bench.grade(samples, [outputs[s.id] for s in samples], None)}
    return [side.run(bench, ours, group, outputs, work) for side, group in SIDES[name](samples)]


@dataclass(frozen=True)
class Side:
    """How one VLMEvalKit dataset is rebuilt and read."""

    dataset: str
    cls: type
    row: Callable[[int, Sample], dict[str, Any]]
    verdict: Callable[[Prediction], str]          # our verdict, in VLMEvalKit's terms
    theirs: str                                   # the column of VLMEvalKit's verdict per row
    numbers: Callable[[dict[str, Any], pd.DataFrame], list[tuple[str, float | None, float | None]]]

    def run(self, bench: Any, ours: Mapping[str, Prediction], samples: Sequence[Sample],
            outputs: Mapping[str, str], work: Path) -> Report:
        rows = [self.row(i, s) for i, s in enumerate(samples)]
        meta = pd.DataFrame(rows)
        eval_file = work / f"sgt-eval_{self.dataset}.tsv"
        eval_file.parent.mkdir(parents=True, exist_ok=True)
        dump(meta.assign(prediction=[outputs[s.id] for s in samples]), str(eval_file))
        kit = self.cls.__new__(self.cls)                 # the dataset class without downloading its TSV
        kit.dataset_name, kit.data = self.dataset, meta
        scored = kit.evaluate(str(eval_file), model="exact_matching", nproc=1)
        detail = load(get_intermediate_file_path(str(eval_file), "_auxmatch" if self.theirs == "extracted"
                                                 else "_exact_matching_result"))
        by_index = dict(zip(detail["index"], detail[self.theirs]))
        report = Report(bench.name, self.dataset, len(samples))
        for row, sample in zip(rows, samples):
            mine, kits = self.verdict(ours[sample.id]), str(by_index[row["index"]])
            if mine != kits:
                report.sample_differences.append((sample.id, outputs[sample.id], mine, kits))
        metrics = bench.aggregate([ours[s.id] for s in samples])["scores"]
        report.numbers = self.numbers(metrics, scored if isinstance(scored, pd.DataFrame) else pd.DataFrame(scored))
        return report


def _yes_no(record: Prediction) -> str:
    return {"yes": "Yes", "no": "No"}.get(record.parsed or "", "Unknown")


def _hit(record: Prediction) -> str:
    return str(int(bool(record.correct)))


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _row(table: pd.DataFrame, split: str) -> dict[str, Any]:
    found = table[table["split"] == split]
    return found.iloc[0].to_dict() if len(found) else {}


# -- POPE: VLMEvalKit "POPE" rows: index, question, answer Yes/No, category = the split ---------------
def _pope_row(i: int, s: Sample) -> dict[str, Any]:
    return {"index": i, "question": s.question, "answer": s.answer.capitalize(), "category": s.meta["split"]}


def _pope_numbers(ours: dict[str, Any], table: pd.DataFrame) -> list[tuple[str, float | None, float | None]]:
    out = []
    for split, mine in [("Overall", ours["all"]), *ours["splits"].items()]:
        theirs = _row(table, split)
        for kit, key in (("Overall", "f1"), ("acc", "accuracy"), ("precision", "precision"), ("recall", "recall")):
            out.append((f"{split}.{key}", _percent(mine[key]), theirs.get(kit)))
    return out


# -- HallusionBench: index category_subcategory_visual_set_figure_question (VLMEvalKit reads parts 3-5),
#    l2-category category_subcategory (e.g. "VD_ocr", as in VLMEvalKit issue #825), answer Yes/No -------
def _hallusion_row(i: int, s: Sample) -> dict[str, Any]:
    m = s.meta
    return {"index": "_".join(str(m[k]) for k in ("category", "subcategory", "visual_input", "set_id", "figure_id",
                                                   "question_id")),
            "question": s.question, "answer": "Yes" if s.answer == "1" else "No", "category": m["category"],
            "l2-category": f"{m['category']}_{m['subcategory']}"}


def _hallusion_numbers(ours: dict[str, Any], table: pd.DataFrame) -> list[tuple[str, float | None, float | None]]:
    groups = [("Overall", ours), *ours["categories"].items(), *ours["subcategories"].items()]
    return [(f"{split}.{key}", _percent(mine[key]), _row(table, split).get(key))
            for split, mine in groups for key in ("aAcc", "fAcc", "qAcc")]


# -- MMVP: index = Index, A/B = the options, answer = the letter -----------------------------------------
def _mcq_row(i: int, s: Sample) -> dict[str, Any]:
    letters = [chr(ord("A") + k) for k in range(len(s.choices))]
    return {"index": int(s.id), "question": s.question, **dict(zip(letters, s.choices)),
            "answer": s.answer.strip("()").upper(), **{k: v for k, v in s.meta.items() if k in ("source", "task")}}


def _mmvp_numbers(ours: dict[str, Any], table: pd.DataFrame) -> list[tuple[str, float | None, float | None]]:
    theirs = table.iloc[0].to_dict()
    return [("pair_accuracy", ours["pair_accuracy"], theirs.get("Overall")),
            ("accuracy", ours["accuracy"], theirs.get("Average"))]


# -- CV-Bench: two datasets as VLMEvalKit has them; split 2D/3D, source, category = task -----------------
def _cvbench_row(i: int, s: Sample) -> dict[str, Any]:
    row = _mcq_row(i, s)
    return {**row, "split": s.meta["type"], "category": row.pop("task"), "prompt": s.question}


def _cvbench_numbers(part: str) -> Callable[[dict[str, Any], pd.DataFrame], list[tuple[str, float | None, float | None]]]:
    def numbers(ours: dict[str, Any], table: pd.DataFrame) -> list[tuple[str, float | None, float | None]]:
        theirs = table.iloc[0].to_dict()
        out = [(f"vlmevalkit_{part.lower()}", ours[f"vlmevalkit_{part.lower()}"], theirs.get("Overall"))]
        if part == "2D":  # VLMEvalKit's source mean: one column per source
            out += [(key, value, theirs.get(key.split("/", 1)[1])) for key, value in ours.items()
                    if key.startswith("source/")]
        return out
    return numbers


def _split(part: str) -> Callable[[Sequence[Sample]], list[Sample]]:
    return lambda samples: [s for s in samples if s.meta["type"] == part]


SIDES: dict[str, Callable[[Sequence[Sample]], list[tuple[Side, Sequence[Sample]]]]] = {
    "pope": lambda samples: [(Side("POPE", ImageYORNDataset, _pope_row, _yes_no, "extracted", _pope_numbers),
                              samples)],
    "hallusionbench": lambda samples: [(Side("HallusionBench", ImageYORNDataset, _hallusion_row, _yes_no,
                                             "extracted", _hallusion_numbers), samples)],
    "mmvp": lambda samples: [(Side("MMVP", ImageMCQDataset, _mcq_row, _hit, "hit", _mmvp_numbers), samples)],
    "cvbench": lambda samples: [(Side(f"CV-Bench-{part}", CVBench, _cvbench_row, _hit, "hit", _cvbench_numbers(part)),
                                 _split(part)(samples)) for part in ("2D", "3D") if _split(part)(samples)],
}
