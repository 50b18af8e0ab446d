"""``sgt-eval vlmeval`` (an sgt-eval model on VLMEvalKit's datasets) and ``sgt-eval vlmeval-parity``.

Both need the ``vlmeval`` extra; without it they stop with one line saying how to install it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from sgt_eval import distributed, manifest
from sgt_eval.errors import UserError
from sgt_eval.store import write_json_atomic
from sgt_eval.vlmeval_bridge import bridge


def add_parsers(sub: Any) -> None:
    run = sub.add_parser("vlmeval", help="evaluate a model on VLMEvalKit datasets (MMStar, RealWorldQA, MathVista...) "
                                         "through VLMEvalKit's runner; needs the vlmeval extra")
    run.add_argument("--model", required=True, metavar="SPEC", help="any sgt-eval model spec (tiny-random, hf:..., bagel:...)")
    run.add_argument("--model-args", default="", metavar="K=V,...", help="backend options, as for `sgt-eval run`")
    run.add_argument("--data", required=True, help="comma-separated VLMEvalKit dataset names (or NAME for $LMUData/NAME.tsv)")
    run.add_argument("--work-dir", required=True, help="where VLMEvalKit writes predictions and scores (resumed if it exists)")
    run.add_argument("--lmudata", help="folder of VLMEvalKit TSVs (sets $LMUData; default: VLMEvalKit's ~/LMUData)")
    run.add_argument("--max-new-tokens", type=int, default=512, help="answer length limit for every row")
    run.add_argument("--judge", default="exact_matching", help="VLMEvalKit judge name (default exact_matching: rules only)")
    run.add_argument("--judge-nproc", type=int, default=4, help="parallel judge calls in VLMEvalKit's evaluate")
    run.add_argument("--seed", type=int, default=0)

    parity = sub.add_parser("vlmeval-parity", help="score the same outputs with VLMEvalKit and with our vlmevalkit "
                                                   "protocol; list every difference (exit 1 if any)")
    parity.add_argument("bench", nargs="?", help="pope | hallusionbench | mmvp | cvbench (or --run for all in a run)")
    parity.add_argument("--run", help="a run directory: compare every shared benchmark it holds")
    parity.add_argument("--data", help="the benchmark's official files (as for `sgt-eval score`)")
    parity.add_argument("--predictions", help='JSONL rows {"id": ..., "output": "<raw text>"}, or LLaVA answers with --questions')
    parity.add_argument("--questions", help="POPE: LLaVA's llava_pope_test.jsonl, to read LLaVA-format answers")
    parity.add_argument("--mmvp-gt", choices=["original", "corrected"], default="original")
    parity.add_argument("--json", help="also write the full report (numbers and differing samples) to this file")


def run_vlmeval(args: argparse.Namespace) -> int:
    """VLMEvalKit's inference and evaluation of each dataset, the model being an sgt-eval adapter."""
    if args.lmudata:
        os.environ["LMUData"] = str(Path(args.lmudata).expanduser().resolve())
    names = [n.strip() for n in args.data.split(",") if n.strip()]
    models = bridge("models")
    from vlmeval.dataset import build_dataset
    from vlmeval.inference import infer_data_job
    from vlmeval.smp import get_pred_file_path

    from sgt_eval.models import load_model
    from sgt_eval.models.base import parse_model_args

    datasets = {}
    for name in names:
        datasets[name] = build_dataset(name)
        if datasets[name] is None:
            raise UserError(f"--data {name}: VLMEvalKit does not know it and {os.environ.get('LMUData', '~/LMUData')} "
                            f"has no {name}.tsv; give a VLMEvalKit dataset name or put the TSV there (--lmudata)")
    ranks = distributed.join()
    model_args = parse_model_args(args.model_args)
    model = load_model(args.model, model_args, args.seed)
    if "answer" not in model.capabilities:
        raise UserError(f"model {args.model} cannot answer questions; it can: {', '.join(sorted(model.capabilities))}")
    vlm = models.SGTModel(model, args.max_new_tokens)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9.]+", "-", args.model).strip("-")  # VLMEvalKit's file names: <model>_<dataset>.xlsx
    scores: dict[str, Any] = {}
    for dataset_name, dataset in datasets.items():
        infer_data_job(vlm, work_dir=str(work), model_name=name, dataset=dataset)
        if ranks.main:
            result = dataset.evaluate(get_pred_file_path(str(work), name, dataset_name), model=args.judge,
                                      nproc=args.judge_nproc)
            scores[dataset_name] = json.loads(result.to_json(orient="records") if hasattr(result, "to_json")
                                              else json.dumps(result, default=str))
        ranks.barrier()
    distributed.leave(ranks)
    if not ranks.main:
        return 0
    import vlmeval

    write_json_atomic(work / "sgt_eval_vlmeval.json", {
        "command": ["sgt-eval", *sys.argv[1:]], "updated": manifest.now(), "model": {"spec": args.model,
        "args": model_args, **model.describe()}, "max_new_tokens": args.max_new_tokens, "judge": args.judge,
        "datasets": names, "vlmeval": getattr(vlmeval, "__version__", None), "ranks": ranks.world,
        "environment": manifest.environment(), "scores": scores})
    for dataset_name, rows in scores.items():
        print(f"{dataset_name}:\n{json.dumps(rows, indent=1)}")
    print(f"\nVLMEvalKit work dir: {work}")
    return 0


def parity(args: argparse.Namespace) -> int:
    """Compare, print a table, exit 1 when anything differs."""
    compare = bridge("parity")
    from benchmarks import BENCHMARKS
    from sgt_eval.cli.score import read_outputs, text_outputs

    if bool(args.run) == bool(args.bench):
        raise UserError("give a benchmark (with --data and --predictions) or --run RUN_DIR, not both or neither")
    jobs = []  # (benchmark name, dataset, outputs)
    if args.run:
        run_dir = Path(args.run)
        recorded = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else None
        if recorded is None:
            raise UserError(f"--run {run_dir}: no run.json; give a run directory made by `sgt-eval run`")
        for name in compare.SHARED:
            predictions = run_dir / name / "predictions.jsonl"
            if predictions.is_file():
                options = dict(recorded["benchmarks"][name]["settings"].get("options", {}))
                dataset = BENCHMARKS.load(name)("vlmevalkit", **options).load(Path(recorded["data_root"]) / name)
                jobs.append((name, dataset, read_outputs(predictions, dataset)))
        if not jobs:
            raise UserError(f"--run {run_dir} holds none of {', '.join(compare.SHARED)}")
    else:
        if args.bench not in compare.SHARED:
            raise UserError(f"{args.bench!r} is not a benchmark both kits score; one of {', '.join(compare.SHARED)}")
        if not args.data or not args.predictions:
            raise UserError("give the official files with --data PATH and the outputs with --predictions FILE")
        options = {"mmvp_gt": args.mmvp_gt} if args.bench == "mmvp" else {}
        bench = BENCHMARKS.load(args.bench)("vlmevalkit", **options)
        dataset = bench.load(Path(args.data))
        jobs.append((args.bench, dataset, text_outputs(bench, dataset, args.data, args)))
    reports = []
    with tempfile.TemporaryDirectory(prefix="sgt-eval-parity-") as scratch:
        for name, dataset, outputs in jobs:
            reports += compare.compare(name, dataset, outputs, Path(scratch) / name)
    kit = compare.installed_vlmevalkit()
    named = f"{kit['distribution']} {kit['version']}" + (f" @ {kit['commit'][:8]}" if kit["commit"] else "")
    print(f"VLMEvalKit ({named}) vs sgt-eval's vlmevalkit protocol (VLMEvalKit @ {compare.PROTOCOL_COMMIT}; "
          f"rules only, no LLM judge)")
    if not (kit["commit"] or "").startswith(compare.PROTOCOL_COMMIT):
        print(f"note: the installed VLMEvalKit is not {compare.PROTOCOL_COMMIT}: differences can come from its "
              f"own changes since (install a clone at that commit to check the protocol itself)")
    header = ("benchmark", "vlmeval dataset", "samples", "numbers", "differing numbers", "differing samples")
    rows = [header] + [(r.benchmark, r.dataset, str(r.n), str(len(r.numbers)), str(len(r.metric_differences)),
                        str(len(r.sample_differences))) for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows))
    for r in reports:
        for metric, ours, theirs in r.metric_differences:
            print(f"  {r.dataset} {metric}: ours {ours} vs VLMEvalKit {theirs}")
        for sample, output, ours, theirs in r.sample_differences[:20]:
            print(f"  {r.dataset} sample {sample}: output {output!r}: ours {ours} vs VLMEvalKit {theirs}")
    if args.json:
        write_json_atomic(Path(args.json), {"vlmeval": kit, "protocol_commit": compare.PROTOCOL_COMMIT,
                                            "reports": [r.describe() for r in reports]})
    return 0 if all(r.clean for r in reports) else 1
