"""``sgt-train``: the console script exists now so installs are stable; recipes land with the training issue."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sgt-train",
        description="Train SGT checkpoints (segmentation-as-generation mixed with VQA). "
                    "No training recipe ships in this version of sgt-eval yet.",
    )
    parser.parse_args(argv)
    parser.exit(2, "sgt-train: no training recipe is installed in this version; nothing was run.\n")
    return 2
