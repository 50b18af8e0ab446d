"""``sgt-eval demo``: the whole product on the embedded default, offline.

Two tiny UMMs are trained from the same fresh initialisation through the real ``sgt-train`` launcher:
a VQA-only baseline and an SGT model that sees the same VQA samples in the same order plus two
segmentation samples for every VQA sample (the SGT setting: proxy data is added to the SFT data, not
swapped for it). Both are evaluated on all seven ShapesWorld benchmarks and probed, and one HTML
report compares them. ``--size full`` adds the proxy ablation (edge, depth, reconstruction in the
segmentation model's place).

Every stage is a command a user could type, run in this process. ``OUT/demo.json`` records each
finished stage with its command; a re-run skips a stage whose command is unchanged and whose
predecessors were all skipped, and resumes the interrupted one (each command resumes by itself).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from sgt_eval.errors import UserError
from sgt_eval.store import write_bytes_atomic, write_json_atomic

CONFIG = Path(__file__).resolve().parents[1] / "sgt_train" / "configs" / "tiny_shapes.yaml"
STATE = "demo.json"
VQA_PER_STEP = 4  # both models' VQA samples per optimizer step; SGT adds 2 proxy samples per VQA sample


@dataclass(frozen=True)
class Size:
    steps: int                     # optimizer steps of each model
    limit: int | None              # samples per benchmark (None: all)
    probe_images: int              # ShapesWorld images traced by the probes
    image_steps: int               # Euler steps per generated or edited image
    sweep: bool = False            # also train and evaluate the other proxies
    train_args: tuple[str, ...] = ()


SIZES = {
    "tiny": Size(steps=12, limit=8, probe_images=24, image_steps=2,
                 train_args=("--data.shapes_scale", "1", "--checkpoint.every", "6", "--log.samples", "2")),
    "small": Size(steps=200, limit=None, probe_images=200, image_steps=20),
}
SIZES["full"] = replace(SIZES["small"], sweep=True)

# model name -> sgt-train overrides; every model shares CONFIG, the seed and the VQA stream
MODELS = {"baseline": ("--data.ratio", "0:1", "--train.micro_batch", str(VQA_PER_STEP)),
          "sgt": ("--data.ratio", "2:1", "--train.micro_batch", str(3 * VQA_PER_STEP))}
SWEEP = {proxy: (*MODELS["sgt"], "--data.proxy", proxy) for proxy in ("edge", "depth", "reconstruction")}


@dataclass(frozen=True)
class Stage:
    name: str
    program: str                   # "sgt-train", "sgt-eval" or "python" (a function of this module)
    argv: tuple[str, ...]

    def command(self) -> list[str]:
        return [self.program, *self.argv]


def plan(out: Path, size: Size, seed: int) -> list[Stage]:
    """The demo's stages in order."""
    models = {**MODELS, **(SWEEP if size.sweep else {})}
    limit = ("--limit", str(size.limit)) if size.limit else ()
    data = f"shapes:{size.probe_images}"
    stages = [Stage("data", "python", ("prepare_data",))]
    for name, overrides in models.items():
        stages.append(Stage(f"train {name}", "sgt-train", (
            "--config", str(CONFIG), "--out", str(out / "train" / name), "--resume", "--seed", str(seed),
            "--model.seed", str(seed), "--train.steps", str(size.steps), *overrides, *size.train_args)))
    for name in models:
        suite = "all" if name in MODELS else "understanding"  # the ablation is read on understanding
        stages.append(Stage(f"evaluate {name}", "sgt-eval", (
            "run", "--model", f"tiny:{out / 'train' / name}", "--model-args", f"steps={size.image_steps}",
            "--suite", suite, "--out", str(out / "runs" / name), "--batch-size", "16", "--seed", str(seed), *limit)))
    base = str(out / "runs" / "baseline")
    for name in MODELS:
        against = ("--baseline", base) if name != "baseline" else ()
        common = ("--model", f"tiny:{out / 'train' / name}", "--model-args", f"steps={size.image_steps}",
                  "--data", data, "--out", str(out / "runs" / name))
        for action in ("attention", "embed", "separability"):
            stages.append(Stage(f"probe {action} {name}", "sgt-eval", ("probe", action, *common, *against)))
        if against:  # one attribution example, side by side with the baseline's
            stages.append(Stage(f"probe attribute {name}", "sgt-eval",
                                ("probe", "attribute", *common, *against, "--samples", "1")))
    runs = [str(out / "runs" / name) for name in models]
    report = ("compare", *runs, "--baseline", base, "--reference", str(out / "floors.yaml"),
              "--title", "sgt-eval demo: SGT vs a VQA-only baseline on ShapesWorld")
    stages.append(Stage("floors", "python", ("write_floors", *limit)))
    stages.append(Stage("report", "sgt-eval", (*report, "--out", str(out / "report.html"))))
    return stages


def summary_command(stages: Sequence[Stage]) -> list[str]:
    """The report's comparison as a Markdown table (printed after every demo, finished or not)."""
    report = stages[-1].argv
    return [*report[:report.index("--out")], "--format", "md"]


def run_demo(out: Path, size_name: str, seed: int) -> Path:
    """Run (or resume) the demo into ``out``; returns the report's path."""
    size = SIZES[size_name]
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("size", size_name) != size_name or state.get("seed", seed) != seed:
        raise UserError(f"{out} holds a demo of --size {state['size']} --seed {state['seed']}; "
                        f"give another --out or the same options")
    done = state.setdefault("stages", {})
    state.update(size=size_name, seed=seed)
    stages = plan(out, size, seed)
    fresh = False  # once a stage runs, everything after it runs again (its inputs may have changed)
    for number, stage in enumerate(stages, 1):
        shown = shlex.join(stage.command())
        if not fresh and done.get(stage.name, {}).get("command") == stage.command():
            print(f"[{number}/{len(stages)}] {stage.name}: done ({done[stage.name]['seconds']:.0f} s)", file=sys.stderr)
            continue
        print(f"[{number}/{len(stages)}] {stage.name}: {shown}", file=sys.stderr)
        start = time.monotonic()
        code = _runner(stage, out)(list(stage.argv))
        if code:
            raise UserError(f"demo stage {stage.name!r} failed (exit {code}); fix what it said and re-run "
                            f"`sgt-eval demo --out {out} --size {size_name} --seed {seed}` to resume")
        fresh = True
        done[stage.name] = {"command": stage.command(), "seconds": round(time.monotonic() - start, 1)}
        write_json_atomic(state_path, state)
    from sgt_eval.cli import main as eval_main

    eval_main(summary_command(stages))
    return out / "report.html"


def _runner(stage: Stage, out: Path) -> Callable[[list[str]], int]:
    if stage.program == "sgt-train":
        from sgt_train.cli import main as train_main

        return train_main
    if stage.program == "sgt-eval":
        from sgt_eval.cli import main as eval_main

        return eval_main
    return {"prepare_data": lambda argv: prepare_data(),
            "write_floors": lambda argv: write_floors(out / "floors.yaml", argv)}[stage.argv[0]]


def prepare_data() -> int:
    """Build (once) the ShapesWorld benchmarks and training set the other stages read from the cache."""
    from sgt_eval.paths import cache_root
    from sgt_eval.world import ensure_world
    from sgt_train.config import DataConfig
    from sgt_train.data.shapes import ensure_training_data

    defaults = DataConfig()
    world = ensure_world(cache_root() / "world")
    train = ensure_training_data(cache_root() / "train-data", seed=defaults.shapes_seed, scale=defaults.shapes_scale)
    print(f"benchmarks (official formats): {world}\ntraining data (SAM-SGT + LLaVA-OV): {train}")
    return 0


def write_floors(path: Path, argv: Sequence[str]) -> int:
    """The blind answerers' scores (:mod:`benchmarks.chance`) as a references file for the report."""
    from benchmarks import BENCHMARKS, UNDERSTANDING
    from benchmarks.chance import floors
    from sgt_eval.paths import cache_root
    from sgt_eval.world import ensure_world

    limit = int(argv[argv.index("--limit") + 1]) if "--limit" in argv else None
    world = ensure_world(cache_root() / "world")
    uniform, constant = {}, {}
    for name in UNDERSTANDING:
        bench = BENCHMARKS.load(name)()
        found = floors(bench, bench.load(world / name).samples[:limit])
        if found.uniform is not None:
            uniform[name], constant[name] = round(100 * found.uniform, 2), round(100 * found.constant, 2)
    document = {"source": "blind answerers", "models": {"uniform guess": uniform, "best constant answer": constant}}
    write_bytes_atomic(path, yaml.safe_dump(document, sort_keys=False).encode("utf-8"))
    return 0
