"""``sgt-eval demo``: see :mod:`sgt_eval.demo`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sgt_eval.demo import run_demo

    report = run_demo(Path(args.out), args.size, args.seed)
    print(f"report: {report}")
    return 0
