"""Pieces ``run`` and ``score`` share: building benchmarks and the judge from flags, the results table."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import BENCHMARKS
from benchmarks.base import AnswerBenchmark, Benchmark, protocol_label, shown
from sgt_eval.errors import UserError
from sgt_eval.judges import Judge
from sgt_eval.paths import cache_root

# CLI flag -> benchmark option key
OPTION_FLAGS = {"mmvp_gt": "--mmvp-gt", "split": "--split", "prompt_set": "--prompt-set",
                "images_per_prompt": "--images-per-prompt", "detector": "--detector",
                "detector_model": "--detector-model", "clip_model": "--clip-model"}


def make_benchmarks(names: Sequence[str], args: argparse.Namespace) -> list[Benchmark]:
    """Instantiate benchmarks with the options given on the command line.

    A flag applies to every selected benchmark that has that option; a flag no selected
    benchmark understands is an error rather than silently ignored.
    """
    classes = [BENCHMARKS.load(name) for name in names]
    given = {key: getattr(args, key) for key in OPTION_FLAGS if getattr(args, key, None) is not None}
    def takes(cls: type[Benchmark], key: str) -> bool:
        return key in cls.option_choices or key in cls.option_defaults

    for key in given:
        if not any(takes(cls, key) for cls in classes):
            raise UserError(f"{OPTION_FLAGS[key]} does not apply to {', '.join(names)}")
    if args.protocol:
        lacking = [cls.name for cls in classes if args.protocol not in cls.protocols]
        if lacking:
            raise UserError(f"--protocol {args.protocol} is not defined for {', '.join(lacking)} "
                            f"(see `sgt-eval list` for each benchmark's protocols)")
    benches = []
    for cls in classes:
        bench = cls(args.protocol, **{k: v for k, v in given.items() if takes(cls, k)})
        if args.max_new_tokens is not None and isinstance(bench, AnswerBenchmark):
            bench.max_new_tokens = args.max_new_tokens
        benches.append(bench)
    return benches


def make_judge(args: argparse.Namespace) -> Judge | None:
    if not args.judge_model:
        return None
    from sgt_eval.judges.client import JudgeConfig, OpenAIJudge

    temperature = args.judge_temperature.strip().lower()
    try:
        value = None if temperature == "none" else float(temperature)
    except ValueError:
        raise UserError(f"--judge-temperature must be a number or 'none', not {args.judge_temperature!r}") from None
    config = JudgeConfig(base_url=args.judge_base_url, model=args.judge_model, api_key_env=args.judge_api_key_env,
                         max_concurrency=args.judge_concurrency, temperature=value, max_tokens=args.judge_max_tokens)
    return OpenAIJudge(config, cache_dir=cache_root() / "judge")


def results_table(all_metrics: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of headline numbers (accuracy-type values shown as percentages)."""
    header = ("benchmark", "protocol", "metric", "score", "n", "unparsed", "errors", "graded by")
    rows = [header] + [(m["benchmark"], protocol_label(m), m["headline"]["metric"], shown(m["headline"]["value"], m.get("unit", "fraction")),
                        f'{m["n"]}/{m["n_dataset"]}', str(m["n_unparsed"]), str(m["n_errors"]), m["grader"])
                       for m in all_metrics]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"warning: {m['benchmark']}: {w}" for m in all_metrics for w in m.get("warnings", ())]
    return "\n".join(lines)


def existing_dir(path: str, flag: str, hint: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{flag} {p} does not exist; {hint}")
    return p


def breakdown(metrics: dict[str, Any]) -> str:
    """Every number under ``scores``, one ``path  value`` line each (fractions in percent)."""
    lines: list[tuple[str, str]] = []
    unit = metrics.get("unit", "fraction")

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif node is None or isinstance(node, (int, float)):
            lines.append((prefix, shown(node, unit)))

    walk("", metrics.get("scores", {}))
    width = max((len(k) for k, _ in lines), default=0)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in lines)
