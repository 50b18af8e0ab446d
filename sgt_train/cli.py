"""``sgt-train``: train SGT checkpoints, make the ShapesWorld training data, run ablation sweeps.

    sgt-train --config sgt_train/configs/tiny_shapes.yaml [--out DIR] [--resume] [--skip-bad-samples]
              [--section.key VALUE ...]
    torchrun --nproc_per_node 2 -m sgt_train.cli --config sgt_train/configs/tiny_shapes_ddp.yaml
    deepspeed --num_gpus 2 --module sgt_train.cli --config sgt_train/configs/tiny_shapes_zero2.yaml
    sgt-train shapes --out DIR [--seed 1] [--scale 4]
    sgt-train sweep --config sgt_train/configs/sweep_shapes.yaml [--list]
    sgt-train base [--work DIR] [--export DIR]      (rebuild the demo's pretrained base)

The final checkpoint is ``OUT/final``: ``sgt-eval run --model tiny:OUT/final --suite all --out RUN``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sgt_eval.errors import UserError

COMMANDS = ("shapes", "sweep", "base")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        if argv and argv[0] in COMMANDS:
            return {"shapes": _shapes, "sweep": _sweep, "base": _base}[argv[0]](argv[1:])
        return _train(argv)
    except UserError as err:
        print(f"sgt-train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sgt-train: interrupted; run the same command with --resume to continue", file=sys.stderr)
        return 130


def _train(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="sgt-train", description="Train a unified model on a proxy-as-generation + VQA mix (SGT).",
        epilog="Any config field can be overridden as --section.key VALUE, e.g. --train.steps 100 --data.ratio 3:1. "
               "Subcommands: sgt-train shapes --help, sgt-train sweep --help.")
    parser.add_argument("--config", type=Path, help="YAML training config (default: built-in defaults)")
    parser.add_argument("--out", help="run folder (overrides the config's out)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run folder")
    parser.add_argument("--skip-bad-samples", action="store_true",
                        help="count, log and replace unusable samples instead of stopping at the first")
    # the deepspeed launcher passes --local_rank=N (the LOCAL_RANK variable says the same)
    parser.add_argument("--local_rank", "--local-rank", type=int, help=argparse.SUPPRESS)
    args, overrides = parser.parse_known_args(argv)
    from sgt_train.config import load_config

    extra = (["--out", args.out] if args.out else []) + (["--data.skip_bad_samples", "true"]
                                                         if args.skip_bad_samples else [])
    config = load_config(args.config, overrides + extra)
    from sgt_train.recipe import run

    final = run(config, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"final checkpoint: {final}\nevaluate it: sgt-eval run --model tiny:{final} --suite all "
              f"--out {Path(config.out) / 'eval'}")
    return 0


def _shapes(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sgt-train shapes",
                                     description="Write ShapesWorld training data in the SAM-SGT and LLaVA-OneVision formats.")
    parser.add_argument("--out", type=Path, required=True, help="new or empty folder")
    parser.add_argument("--seed", type=int, default=1, help="training world seed (0 is the evaluation world)")
    parser.add_argument("--scale", type=int, default=4, help="multiplier of the benchmark writers' counts")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        raise UserError(f"{args.out} is not empty; give a new or empty folder")
    from sgt_train.data.shapes import SEG_LIST, SFT_FILE, build_training_data

    manifest = build_training_data(args.out, seed=args.seed, scale=args.scale)
    print(f"{manifest['seg_items']} proxy images ({args.out / SEG_LIST}), {manifest['sft_rows']} SFT rows "
          f"({args.out / SFT_FILE})")
    return 0


def _sweep(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sgt-train sweep",
                                     description="Run a sweep config's runs one after another under one folder.")
    parser.add_argument("--config", type=Path, required=True, help="sweep YAML (base config, out, sweeps)")
    parser.add_argument("--list", action="store_true", help="print each run's command instead of running it")
    args, overrides = parser.parse_known_args(argv)
    from sgt_train.sweep import load_sweep, run_sweep

    sweep = load_sweep(args.config, overrides)
    if args.list:
        for run in sweep.runs:
            print(" ".join(run.command))
        return 0
    summary = run_sweep(sweep)
    print(f"{len(sweep.runs)} runs under {sweep.out} (summary: {summary})")
    return 0


def _base(argv: list[str]) -> int:
    from sgt_train.base_model import main as base_main

    return base_main(argv)


if __name__ == "__main__":
    sys.exit(main())
