"""``sgt-eval data fetch|check``: download the official benchmark files, or re-verify them offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import SUITES
from sgt_eval.data.sources import check_bench
from sgt_eval.errors import UserError


def run(args: argparse.Namespace) -> int:
    """Fetch or check each selected benchmark; 0 when every folder is complete and verified, else 1."""
    benches = _selection(args.bench)
    if args.version and len(benches) > 1:
        raise UserError("--version names a release of one benchmark; use it with a single --bench")
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, not {args.jobs}")
    root = Path(args.root).expanduser()
    status = 0
    if args.action == "fetch":
        from sgt_eval.data.fetch import fetch

        for bench in benches:
            result = fetch(bench, root, args.version, images=not args.no_images, jobs=args.jobs)
            print(result.summary())
            status |= _report(bench, result.problems)
    else:
        from sgt_eval.data.check import check

        for bench in benches:
            verdict = check(bench, root, args.version)
            if verdict.ok:
                print(verdict.summary)
            status |= _report(bench, list(verdict.problems))
    return status


def _selection(value: str) -> list[str]:
    """A suite name (``understanding``, ``generation``, ``all``) or a comma-separated list of benchmarks."""
    if value.strip() in SUITES:
        return list(SUITES[value.strip()])
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise UserError(f"--bench is empty; name a benchmark or a suite ({', '.join(SUITES)})")
    for name in names:
        check_bench(name)
    return names


def _report(bench: str, problems: list[str]) -> int:
    if not problems:
        return 0
    print(f"{bench}: {len(problems)} problem{'s' * (len(problems) > 1)}:")
    for problem in problems:
        print(f"  - {problem}")
    return 1
