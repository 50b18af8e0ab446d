"""The benchmarks, registered by name; modules are imported only when a benchmark is used."""

from __future__ import annotations

from sgt_eval.errors import UserError
from sgt_eval.registry import Registry, unknown_name_message

BENCHMARKS: Registry = Registry("benchmark")
BENCHMARKS.add("cvbench", "benchmarks.cvbench:CVBench", "CV-Bench: 2D count/relation, 3D depth/distance MCQ (2,638)")
BENCHMARKS.add("mmvp", "benchmarks.mmvp:MMVP", "MMVP: 150 pairs of CLIP-blind image pairs, pair accuracy")
BENCHMARKS.add("vsr", "benchmarks.vsr:VSR", "VSR: true/false spatial captions, zeroshot test (1,222)")
BENCHMARKS.add("pope", "benchmarks.pope:POPE", "POPE: object-existence yes/no, 3 splits, mean F1")
BENCHMARKS.add("hallusionbench", "benchmarks.hallusionbench:HallusionBench", "HallusionBench: aAcc/fAcc/qAcc (1,129)")
BENCHMARKS.add("geneval", "benchmarks.geneval:GenEval", "GenEval: text-to-image, 553 prompts x 4 images, mean of 6 tasks")
BENCHMARKS.add("gedit", "benchmarks.gedit:GEditBench", "GEdit-Bench: image editing, 606 per language, VIEScore SC/PQ/O")

UNDERSTANDING = ("cvbench", "mmvp", "vsr", "pope", "hallusionbench")
GENERATION = ("geneval", "gedit")
SUITES: dict[str, tuple[str, ...]] = {
    "all": UNDERSTANDING + GENERATION,
    "understanding": UNDERSTANDING,
    "generation": GENERATION,
}


def resolve_selection(suite: str | None, bench: str | None) -> list[str]:
    """Benchmark names from ``--suite`` or a comma list in ``--bench`` (exactly one given)."""
    if bool(suite) == bool(bench):
        raise UserError("give exactly one of --suite or --bench")
    if suite:
        if suite not in SUITES:
            raise UserError(unknown_name_message("suite", suite, list(SUITES)))
        if not SUITES[suite]:
            raise UserError(f"suite {suite!r} has no benchmarks in this version of sgt-eval")
        return list(SUITES[suite])
    names = [n.strip() for n in bench.split(",") if n.strip()]
    for n in names:
        BENCHMARKS.entry(n)  # raises a did-you-mean error for unknown names
    return names
