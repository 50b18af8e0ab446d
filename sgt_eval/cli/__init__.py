"""The ``sgt-eval`` command line.

Only argparse and the name registries are imported here, so ``sgt-eval --help`` and
``sgt-eval list`` start in well under a second; each subcommand's module (and torch, when it
needs a model) is imported only when that subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sgt_eval.cli.probe import add_parser as add_probe_parser
from sgt_eval.cli.report import add_parsers as add_report_parsers
from sgt_eval.cli.vlmeval import add_parsers as add_vlmeval_parsers
from sgt_eval.errors import UserError

# subcommand -> "module:function" taking the parsed args and returning an exit code
HANDLERS = {
    "list": "sgt_eval.cli.listing:run",
    "run": "sgt_eval.cli.run:run",
    "score": "sgt_eval.cli.score:run",
    "data": "sgt_eval.cli.data:run",
    "probe": "sgt_eval.cli.probe:run",
    "report": "sgt_eval.cli.report:run",
    "compare": "sgt_eval.cli.report:run",
    "vlmeval": "sgt_eval.cli.vlmeval:run_vlmeval",
    "vlmeval-parity": "sgt_eval.cli.vlmeval:parity",
    "demo": "sgt_eval.cli.demo:run",
}


def add_benchmark_options(parser: argparse.ArgumentParser) -> None:
    """Options that change how a benchmark is scored; ``run`` and ``score`` accept them alike."""
    group = parser.add_argument_group("benchmark options (recorded in run.json and metrics.json)")
    group.add_argument("--protocol", help="scoring convention: official (default), vlmevalkit, lmms-eval where a benchmark has them")
    group.add_argument("--mmvp-gt", choices=["original", "corrected"], help="MMVP ground truth for pairs 99/100 and 279/280: original (default, as the official scripts) or corrected")
    group.add_argument("--split", help="VSR split: zeroshot (default) or random")
    group.add_argument("--max-new-tokens", type=int, help="override each answer benchmark's generation length")
    group.add_argument("--prompt-set", help="GenEval prompts: original (default, 553 short prompts) or bagel_long")
    group.add_argument("--images-per-prompt", help="GenEval images per prompt (official: 4)")
    group.add_argument("--detector", help="GenEval detector: auto (default: shapes on ShapesWorld, else hf), hf, mmdet, shapes")
    group.add_argument("--detector-model", help="GenEval hf detector: Mask2Former checkpoint (hub id or folder)")
    group.add_argument("--clip-model", help="GenEval hf detector: CLIP checkpoint for colours (hub id or folder)")


def add_judge_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("LLM judge (OpenAI-compatible; the API key is read from the environment only)")
    group.add_argument("--judge-model", help="judge model id; without it, grading uses rules only and says so")
    group.add_argument("--judge-base-url", default="https://api.openai.com/v1", help="OpenAI-compatible endpoint")
    group.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key")
    group.add_argument("--judge-concurrency", type=int, default=8, help="concurrent judge requests")
    group.add_argument("--judge-temperature", default="0", help="sampling temperature, or 'none' to send none "
                       "(the server's default, as upstream GEdit-Bench scoring does); default 0")
    group.add_argument("--judge-max-tokens", type=int, default=1024, help="reply length limit (upstream GEdit: 1400)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgt-eval",
        description="Evaluate, probe and compare unified multimodal models post-trained with SGT.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("list", help="benchmarks, suites and model backends")

    run = sub.add_parser("run", help="evaluate a model; re-running the same command resumes")
    run.add_argument("--model", required=True, metavar="SPEC", help="tiny-random | hf:<path-or-hub-id> | bagel:... | omnigen2:... | openai:... (see `sgt-eval list`); under torchrun each rank takes a share")
    run.add_argument("--model-args", default="", metavar="K=V,...", help="backend options, e.g. dtype=bfloat16,device=cuda,attn_implementation=sdpa")
    select = run.add_mutually_exclusive_group(required=True)
    select.add_argument("--suite", help="all | understanding | generation")
    select.add_argument("--bench", help="comma-separated benchmark names")
    run.add_argument("--data-root", help="folder with one sub-folder per benchmark; default: the embedded ShapesWorld data")
    run.add_argument("--out", required=True, help="run directory (created, or resumed if it exists)")
    run.add_argument("--batch-size", type=int, default=8)
    run.add_argument("--limit", type=int, help="evaluate only the first N samples of each benchmark")
    run.add_argument("--seed", type=int, default=0, help="seed for the model and the embedded data world")
    run.add_argument("--retry-errors", action="store_true", help="re-run samples recorded with an error")
    add_benchmark_options(run)
    add_judge_options(run)

    score = sub.add_parser("score", help="score predictions made by anyone against the official files")
    score.add_argument("bench", help="benchmark name")
    score.add_argument("--data", help="the benchmark folder or its metadata file (images are not needed)")
    score.add_argument("--predictions", help='JSONL rows {"id": ..., "output": "<raw text>"}, or LLaVA answers with --questions')
    score.add_argument("--labels", help="POPE: folder of coco_pope_*.json label files (same as --data)")
    score.add_argument("--images", help="GenEval / GEdit-Bench: a folder of generated images in the official layout")
    score.add_argument("--questions", help="POPE: LLaVA's llava_pope_test.jsonl, to score LLaVA-format answers")
    score.add_argument("--json", action="store_true", help="print only the metrics object, as JSON, on stdout")
    score.add_argument("--out", help="also write the scored predictions and metrics.json into this folder")
    add_benchmark_options(score)
    add_judge_options(score)

    data = sub.add_parser("data", help="fetch or check the official benchmark data")
    data.add_argument("action", choices=["fetch", "check"])
    data.add_argument("--bench", required=True, help="benchmark name(s), comma-separated, or a suite: understanding, generation, all")
    data.add_argument("--root", required=True, help="data root; each benchmark goes into <root>/<bench>")
    data.add_argument("--version", help="data release where several exist (POPE: head | llava15)")
    data.add_argument("--no-images", action="store_true", help="fetch only the metadata files")
    data.add_argument("--jobs", type=int, default=8, help="parallel downloads")

    demo = sub.add_parser("demo", help="train a VQA-only and an SGT tiny UMM, evaluate, probe and compare them (offline)")
    demo.add_argument("--out", default="runs/demo", help="demo folder (created, or resumed if it exists)")
    demo.add_argument("--size", choices=["tiny", "small", "full"], default="small",
                      help="tiny: a smoke run; small: the demo; full: also the proxy ablation (edge, depth, reconstruction)")
    demo.add_argument("--seed", type=int, default=0,
                      help="training seed of both models (data order, noise); both start from the shipped base")

    add_probe_parser(sub)
    add_report_parsers(sub)
    add_vlmeval_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, _, func = HANDLERS[args.command].partition(":")
    try:
        handler = getattr(importlib.import_module(module_name), func)
        return handler(args)
    except UserError as err:
        print(f"sgt-eval: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sgt-eval: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
