"""``sgt-eval probe {capture,attention,embed,separability,attribute}``: look inside a checkpoint.

Every subcommand works on one run directory (``--out``, one checkpoint) and one probe dataset
(``--data``). ``capture`` traces the dataset and streams pooled hidden states and attention shares
to ``RUN/probes/<data>/``; the analyses capture first when needed (resuming a partial capture),
then write their numbers (JSON) and figures (PNG + SVG) beside it. ``--baseline RUN0`` adds the
base checkpoint's captured run to the numbers and figures: attention deltas, t-SNE in the
baseline's coordinates, probe curves side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from sgt_eval import manifest
from sgt_eval.errors import UserError
from sgt_eval.store import RunDir, write_json_atomic

DEFAULT_REDUCERS = "visual,last,attention"


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from probes.capture import Capture
    from sgt_eval.cli import probe_analyses

    if args.action == "attribute":
        written = probe_analyses.attribute(args)  # from the model, not from a capture
    else:
        directory = ensure_capture(args)
        if args.action == "capture":
            print(f"capture complete: {directory}")
            return 0
        current = Capture(directory)
        baseline = Capture(capture_dir(Path(args.baseline), args.data)) if args.baseline else None
        names = (run_name(Path(args.out)), run_name(Path(args.baseline)) if args.baseline else None)
        written = getattr(probe_analyses, args.action)(current, baseline, names, args)
    for path in written:
        print(path)
    return 0


def ensure_capture(args: argparse.Namespace) -> Path:
    """The finished capture of ``--data`` in ``--out``, made (or resumed) with ``--model`` when incomplete."""
    from probes.capture import MANIFEST, CaptureSettings, capture
    from probes.categories import Lexicon
    from probes.datasets import load_probe_data
    from probes.reducers import parse_reducers

    directory = capture_dir(Path(args.out), args.data)
    if (directory / MANIFEST).exists() and args.action != "capture":
        return directory
    if not args.model:
        raise UserError(f"{directory} holds no finished capture; pass --model SPEC to make it")
    samples, described = load_probe_data(args.data, question=args.question,
                                         data_root=Path(args.data_root) if args.data_root else None)
    lexicon = Lexicon.from_file(args.lexicon) if args.lexicon else Lexicon.default()
    try:
        reducers = parse_reducers(args.reducers, query=args.query)
    except ValueError as err:
        raise UserError(f"--reducers: {err}") from err
    from sgt_eval.models import load_model
    from sgt_eval.models.base import parse_model_args

    model_args = parse_model_args(args.model_args)
    print(f"loading model {args.model} ...", file=sys.stderr)
    model = load_model(args.model, model_args, args.seed)
    if "hidden_states" not in model.capabilities:
        raise UserError(f"model {args.model} cannot be traced; it can: {', '.join(sorted(model.capabilities))}")
    run_dir = RunDir(Path(args.out))
    current = {"run_id": run_dir.path.resolve().name, "updated": manifest.now(), "command": ["sgt-eval", *sys.argv[1:]],
               "model": {"spec": args.model, "args": model_args, **model.describe()}, "seed": args.seed,
               "benchmarks": {}, "probes": {directory.name: described}, "environment": manifest.environment()}
    run_dir.write_manifest(manifest.merge(run_dir.read_manifest(), current))
    settings = CaptureSettings(batch_size=args.batch_size, shard_size=args.shard_size)
    return capture(model, samples, reducers, directory, dataset=described, settings=settings,
                   teacher_force=not args.no_teacher_force, lexicon=lexicon)


def capture_dir(run: Path, data: str) -> Path:
    """``RUN/probes/<data as a folder name>``: ``shapes:2000`` -> ``shapes-2000``."""
    return run / "probes" / re.sub(r"[^A-Za-z0-9._-]+", "-", data).strip("-")


def run_name(run: Path) -> str:
    """The checkpoint's name in figures and probe results (:meth:`RunDir.display_name`)."""
    return RunDir(run).display_name()


def write_result(directory: Path, name: str, result: dict[str, Any]) -> Path:
    path = directory / name
    write_json_atomic(path, json.loads(json.dumps(result, default=_plain)))
    return path


def _plain(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def add_parser(sub: Any) -> None:
    probe = sub.add_parser("probe", help="hidden states, attention reallocation, t-SNE, linear separability, attribution")
    probe.add_argument("action", choices=["capture", "attention", "embed", "separability", "attribute"])
    probe.add_argument("--model", metavar="SPEC", help="the checkpoint (needed until its capture is complete)")
    probe.add_argument("--model-args", default="", metavar="K=V,...", help="backend options, as for `run`")
    probe.add_argument("--data", default="shapes:2000", help="shapes[:N] | folder:PATH (a sub-folder per class) | "
                       "bench:NAME (default shapes:2000)")
    probe.add_argument("--data-root", help="benchmark data root for bench:NAME (default: the embedded ShapesWorld data)")
    probe.add_argument("--question", default="Describe the image.", help="the question asked of folder: images")
    probe.add_argument("--out", required=True, help="the checkpoint's run directory")
    probe.add_argument("--baseline", metavar="RUN", help="the base checkpoint's run directory, captured on the same --data")
    probe.add_argument("--reducers", default=DEFAULT_REDUCERS, help="visual, last, words:<category>, attention")
    probe.add_argument("--query", default="prompt", choices=["prompt", "answer", "last"],
                       help="query rows of the attention shares")
    probe.add_argument("--lexicon", metavar="FILE", help="YAML/JSON {object: [...], colour: [...], position: [...]} "
                       "of phrases added to the default word lexicon")
    probe.add_argument("--no-teacher-force", action="store_true", help="do not append the dataset's answers")
    probe.add_argument("--batch-size", type=int, default=8)
    probe.add_argument("--shard-size", type=int, default=256, help="samples per shard file")
    probe.add_argument("--seed", type=int, default=0)
    probe.add_argument("--reducer", default="visual", help="embed/separability: which pooled states (visual, last...)")
    probe.add_argument("--layer", type=int, help="embed: hidden-state index (0 = embeddings; default the last)")
    probe.add_argument("--method", default="tsne", choices=["tsne", "pca", "umap"], help="embed: the map")
    probe.add_argument("--pair", default="pentagon,hexagon", help="the confusable class pair, A,B")
    probe.add_argument("--samples", type=int, default=4, help="attribute: how many samples to explain")
    probe.add_argument("--steps", type=int, default=32, help="attribute: integrated-gradients steps")
