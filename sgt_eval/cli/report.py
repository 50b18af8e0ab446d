"""``sgt-eval report RUN`` and ``sgt-eval compare RUN_A RUN_B ...``: the HTML report or paper tables.

Both read run directories only (never a model). ``report`` is ``compare`` with one run: headlines with
their bootstrap intervals, breakdowns, galleries, probes and provenance, without deltas or flips.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from sgt_eval.errors import UserError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="one run's self-contained HTML report (or tables)")
    report.add_argument("runs", nargs=1, metavar="RUN_DIR", help="a run directory written by `sgt-eval run`")
    _common(report, default_out="RUN_DIR/report.html")
    compare = sub.add_parser("compare", help="compare runs (checkpoints) on one page: deltas, CIs, flips, probes")
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR", help="two or more run directories")
    compare.add_argument("--baseline", help="the run the others are compared with (its folder or label; default: the first)")
    _common(compare, default_out="compare.html")


def _common(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--out", help=f"output file (default: {default_out} for html; stdout for md/csv/latex)")
    parser.add_argument("--format", choices=["html", "md", "csv", "latex"], default="html")
    parser.add_argument("--reference", metavar="FILE", help="published numbers to show beside ours (YAML; see docs/reports.md)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (the same seed gives the same intervals)")
    parser.add_argument("--max-flips", type=int, default=50, help="flips shown per benchmark, run and direction (all are counted)")
    parser.add_argument("--gallery", type=int, default=24, help="prompts per generation gallery (0: no galleries)")
    parser.add_argument("--data-root", help="where the benchmark images are, if not where run.json says (for flips)")
    parser.add_argument("--title", help="page title")


def run(args: argparse.Namespace) -> int:
    from reports.compare import compare
    from reports.references import load_references
    from reports.runs import load_runs
    from sgt_eval.store import write_bytes_atomic

    if args.command == "compare" and len(args.runs) < 2:
        raise UserError("compare needs at least two run directories (use `sgt-eval report RUN` for one)")
    for flag in ("n_boot", "max_flips", "gallery"):
        if getattr(args, flag) < (1 if flag == "n_boot" else 0):
            raise UserError(f"--{flag.replace('_', '-')} must be {'at least 1' if flag == 'n_boot' else '0 or more'}")
    runs = load_runs([Path(p) for p in args.runs], Path(args.data_root) if args.data_root else None)
    references = load_references(Path(args.reference)) if args.reference else None
    comparison = compare(runs, getattr(args, "baseline", None), references, n_boot=args.n_boot, seed=args.seed)
    if args.format == "html":
        from reports.html import render_html

        text = render_html(comparison, flips=args.max_flips, gallery=args.gallery, title=args.title,
                           command=shlex.join(["sgt-eval", *sys.argv[1:]]))
        out = Path(args.out) if args.out else (runs[0].path / "report.html" if args.command == "report"
                                               else Path("compare.html"))
    else:
        from reports.tables import FORMATS

        text = FORMATS[args.format](comparison)
        out = Path(args.out) if args.out else None
    for warning in comparison.warnings:
        print(f"sgt-eval: warning: {warning}", file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
        return 0
    write_bytes_atomic(out, text.encode("utf-8"))
    print(f"{out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0
