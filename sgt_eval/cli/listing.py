"""``sgt-eval list``: what can be run. Imports benchmark modules (pure Python) but never torch."""

from __future__ import annotations

import argparse

from benchmarks import BENCHMARKS, SUITES
from sgt_eval.models import BACKENDS


def run(args: argparse.Namespace) -> int:
    print("benchmarks:")
    for entry in BENCHMARKS.entries():
        cls = BENCHMARKS.load(entry.name)
        options = "".join(f"  --{k.replace('_', '-')} {'|'.join(v)}" for k, v in cls.option_choices.items())
        options += "".join(f"  --{k.replace('_', '-')} ({v or 'default'})" for k, v in cls.option_defaults.items())
        print(f"  {entry.name:<15} {entry.summary}")
        print(f"  {'':<15} protocols: {', '.join(cls.protocols)}{options}")
    print("\nsuites:")
    for name, members in SUITES.items():
        print(f"  {name:<15} {', '.join(members) if members else '(no benchmarks in this version yet)'}")
    print("\nmodel backends (--model):")
    for entry in BACKENDS.entries():
        print(f"  {entry.name:<15} {entry.summary}")
    return 0
