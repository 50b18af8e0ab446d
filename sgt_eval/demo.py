"""``sgt-eval demo``: the whole product on the embedded default, offline.

Two tiny UMMs are post-trained from the same pretrained base (``sgt_train/assets/shapes-base``,
made by ``sgt-train base``: SGT is a post-training recipe, and a model trained from a random start
for the demo's few hundred CPU steps answers from its prior) through the real ``sgt-train``
launcher: a VQA-only baseline and an SGT model that sees the same VQA samples in the same order
plus two segmentation samples for every VQA sample (the SGT setting: proxy data is added to the
SFT data, not swapped for it). Both are evaluated on all seven ShapesWorld benchmarks and probed, and one HTML
report compares them. ``--size full`` adds the proxy ablation (edge, depth, reconstruction in the
segmentation model's place).

Every stage but two (building the data, writing the floors: functions of this module) is an
``sgt-train`` or ``sgt-eval`` command a user could type, run in this process with that command as
``sys.argv`` so the run folders record it. ``OUT/demo.json`` records each finished stage with its
command; a re-run skips a stage whose command is unchanged and whose output is still there, until
the first stage that runs: that one and every later stage run again (each resumes by itself:
training from its last checkpoint, evaluation from its finished samples).
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from benchmarks import SUITES
from sgt_eval.errors import UserError
from sgt_eval.store import write_bytes_atomic, write_json_atomic
from sgt_train.base_model import ASSET as BASE

CONFIG = Path(__file__).resolve().parents[1] / "sgt_train" / "configs" / "tiny_shapes.yaml"
STATE = "demo.json"
VQA_PER_STEP = 4  # both models' VQA samples per optimizer step
SEG_PER_VQA = 2   # the SGT model's proxy samples per VQA sample (its ratio)


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
    "small": Size(steps=200, limit=None, probe_images=200, image_steps=20, train_args=("--checkpoint.every", "50")),
}
SIZES["full"] = replace(SIZES["small"], sweep=True)

# model name -> sgt-train overrides; every model shares CONFIG, the seed and the VQA stream
MODELS = {"baseline": ("--data.ratio", "0:1", "--train.micro_batch", str(VQA_PER_STEP)),
          "sgt": ("--data.ratio", f"{SEG_PER_VQA}:1", "--train.micro_batch", str((SEG_PER_VQA + 1) * VQA_PER_STEP))}
SWEEP = {proxy: (*MODELS["sgt"], "--data.proxy", proxy) for proxy in ("edge", "depth", "reconstruction")}
# probe action -> the file it writes in the probe data set's folder (a glob: the t-SNE file names its layer)
PROBE_OUTPUTS = {"attention": "attention.json", "embed": "embed_tsne_*.json", "separability": "separability_*.json",
                 "attribute": "attribution/maps.json"}


@dataclass(frozen=True)
class Stage:
    name: str
    program: str                   # "sgt-train", "sgt-eval" or "python" (a function of this module)
    argv: tuple[str, ...]
    output: Path | None = None     # what the stage leaves behind: gone means not done, whatever demo.json says

    def command(self) -> list[str]:
        return [self.program, *self.argv]

    def finished(self) -> bool:
        """Whether the stage's output is on disk (stages without one: always)."""
        return self.output is None or any(self.output.parent.glob(self.output.name))

    def shown(self) -> str:
        if self.program == "python":
            return f"{self.argv[0]}() of sgt_eval.demo (no command line of its own)"
        return shlex.join(self.command())


def plan(out: Path, size: Size, seed: int) -> list[Stage]:
    """The demo's stages in order."""
    models = {**MODELS, **(SWEEP if size.sweep else {})}
    limit = ("--limit", str(size.limit)) if size.limit else ()

    def model(name: str) -> tuple[str, ...]:  # evaluation and probes load the same checkpoint the same way
        return ("--model", f"tiny:{out / 'train' / name}", "--model-args", f"steps={size.image_steps}")

    stages = [Stage("data", "python", ("prepare_data", *size.train_args))]
    for name, overrides in models.items():
        stages.append(Stage(f"train {name}", "sgt-train", (
            "--config", str(CONFIG), "--out", str(out / "train" / name), "--resume", "--seed", str(seed),
            "--model.init", str(BASE), "--train.steps", str(size.steps), *overrides, *size.train_args),
            out / "train" / name / "final"))
    for name in models:
        suite = "all" if name in MODELS else "understanding"  # the ablation is read on understanding
        stages.append(Stage(f"evaluate {name}", "sgt-eval", (
            "run", *model(name), "--suite", suite, "--out", str(out / "runs" / name), "--batch-size", "16",
            "--seed", str(seed), *limit),
            out / "runs" / name / SUITES[suite][-1] / "metrics.json"))
    base = str(out / "runs" / "baseline")
    probed = f"shapes-{size.probe_images}"
    for name in MODELS:
        against = ("--baseline", base) if name != "baseline" else ()
        common = (*model(name), "--data", f"shapes:{size.probe_images}", "--out", str(out / "runs" / name))
        probes = out / "runs" / name / "probes" / probed
        for action, output in PROBE_OUTPUTS.items():
            if action != "attribute" or against:  # one attribution example, side by side with the baseline's
                extra = ("--samples", "1") if action == "attribute" else ()
                stages.append(Stage(f"probe {action} {name}", "sgt-eval",
                                    ("probe", action, *common, *against, *extra), probes / output))
    runs = [str(out / "runs" / name) for name in models]
    report = ("compare", *runs, "--baseline", base, "--reference", str(out / "floors.yaml"),
              "--title", "sgt-eval demo: SGT vs a VQA-only baseline on ShapesWorld")
    stages.append(Stage("floors", "python", ("write_floors", *limit), out / "floors.yaml"))
    stages.append(Stage("report", "sgt-eval", (*report, "--out", str(out / "report.html")), out / "report.html"))
    return stages


def summary_command(stages: Sequence[Stage]) -> list[str]:
    """The report's comparison as a Markdown table (printed at the end of every finished demo)."""
    report = stages[-1].argv
    return [*report[:report.index("--out")], "--format", "md"]


def run_demo(out: Path, size_name: str, seed: int) -> Path:
    """Run (or resume) the demo into ``out``; returns the report's path."""
    size = SIZES[size_name]
    out = out.resolve()  # the same folder spelt two ways must give the same commands
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("size", size_name) != size_name or state.get("seed", seed) != seed:
        raise UserError(f"{out} holds a demo of --size {state['size']} --seed {state['seed']}; "
                        f"give another --out or the same options")
    done = state.setdefault("stages", {})
    state.update(size=size_name, seed=seed)
    stages = plan(out, size, seed)
    resume = shlex.join(["sgt-eval", "demo", "--out", str(out), "--size", size_name, "--seed", str(seed)])
    for number, stage in enumerate(stages, 1):
        record = done.get(stage.name, {})
        if record.get("command") == stage.command() and stage.finished():
            print(f"[{number}/{len(stages)}] {stage.name}: done ({record['seconds']:.0f} s)", file=sys.stderr)
            continue
        for later in stages[number - 1:]:  # this stage's inputs changed: nothing after it is done any more
            done.pop(later.name, None)
        write_json_atomic(state_path, state)
        print(f"[{number}/{len(stages)}] {stage.name}: {stage.shown()}", file=sys.stderr)
        start = time.monotonic()
        with _argv(stage):
            code = _runner(stage, out)(list(stage.argv))
        if code:
            raise UserError(f"demo stage {stage.name!r} failed (exit {code}); fix what it said and re-run "
                            f"`{resume}` to resume")
        done[stage.name] = {"command": stage.command(), "seconds": round(time.monotonic() - start, 1)}
        write_json_atomic(state_path, state)
    code = _runner(stages[-1], out)(summary_command(stages))
    if code:
        raise UserError(f"the demo's summary table failed (exit {code}); re-run `{resume}`")
    return out / "report.html"


@contextmanager
def _argv(stage: Stage) -> Iterator[None]:
    """``sys.argv`` as if the stage's command had been typed: the run folders record it as their command."""
    saved = sys.argv
    sys.argv = stage.command()
    try:
        yield
    finally:
        sys.argv = saved


def _runner(stage: Stage, out: Path) -> Callable[[list[str]], int]:
    if stage.program == "sgt-train":
        from sgt_train.cli import main as train_main

        return train_main
    if stage.program == "sgt-eval":
        from sgt_eval.cli import main as eval_main

        return eval_main
    functions = {"prepare_data": prepare_data, "write_floors": lambda argv: write_floors(out / "floors.yaml", argv)}
    return lambda argv: functions[argv[0]](argv[1:])


def prepare_data(argv: Sequence[str]) -> int:
    """Check the base model, and build (once) the ShapesWorld benchmarks and the training set that CONFIG
    with the training overrides ``argv`` reads, in the cache the other stages read them from."""
    from sgt_eval.paths import cache_root
    from sgt_eval.world import ensure_world
    from sgt_train.base_model import verified
    from sgt_train.config import load_config
    from sgt_train.data.shapes import ensure_training_data

    data = load_config(CONFIG, list(argv)).data
    verified(BASE)  # a damaged base fails here, before anything is trained from it
    world = ensure_world(cache_root() / "world")
    train = ensure_training_data(cache_root() / "train-data", seed=data.shapes_seed, scale=data.shapes_scale)
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
