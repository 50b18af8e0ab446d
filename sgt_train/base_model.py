"""``sgt-train base``: build the pretrained tiny UMM that the demo's two models are post-trained from.

SGT is a post-training recipe: SGT-BAGEL and SGT-OmniGen2 start from models that already see. A
tiny UMM trained from a random start for the few hundred steps a CPU demo affords answers every
question with its prior, so both demo models would sit at chance and their comparison would say
nothing. The base is made in two stages, both offline and seeded:

1. its vision tower learns shape kinds and colours from per-token labels
   (:mod:`sgt_train.vision_pretraining`);
2. the whole model is trained through ``sgt-train`` (``configs/tiny_base.yaml``) on captions and
   scene questions of fresh scenes (:mod:`sgt_train.data.pretraining`) and on the benchmark-format
   questions of a ShapesWorld training world whose seed is not the demo's.

No proxy image is generated in either stage: the base has seen no segmentation target, and its
image head is still the fresh one. The result is exported in float16 without EMA weights (the
EMA weights are exported as its weights) to ``sgt_train/assets/shapes-base`` (about 5 MB, shipped
with the package) with ``build.json``: how it was made, its stage metrics and the files' sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sgt_eval.errors import UserError
from sgt_eval.paths import build_once, cache_root
from sgt_eval.store import write_json_atomic
from sgt_train.vision_pretraining import VisionPlan

PACKAGE = Path(__file__).resolve().parent
CONFIG = PACKAGE / "configs" / "tiny_base.yaml"
ASSET = PACKAGE / "assets" / "shapes-base"
BUILD = "build.json"
PRETRAINING_SEED, WORLD_SEED = 3, 2  # the demo trains on world seed 1 and is evaluated on seed 0


def verified(folder: Path = ASSET) -> Path:
    """``folder`` (a ``model.init`` for ``sgt-train``) after checking every file against its ``build.json``."""
    record = folder / BUILD
    if not record.is_file():
        raise UserError(f"{folder} has no {BUILD}: the demo's base model is missing; restore it "
                        f"(git checkout -- {folder}) or rebuild it with `sgt-train base` (about 35 min on 2 CPU cores)")
    for name, digest in json.loads(record.read_text(encoding="utf-8"))["sha256"].items():
        if not (folder / name).is_file() or _sha256(folder / name) != digest:
            raise UserError(f"{folder / name} is missing or does not match its sha256 in {record}; restore it "
                            f"(git checkout -- {folder}) or rebuild the base with `sgt-train base`")
    return folder


def build_base(work: Path, export: Path, vision: VisionPlan, *, steps: int, images: int, scale: int,
               overrides: list[str]) -> dict[str, Any]:
    """Run both stages in ``work`` (each resumes) and export the base to ``export``."""
    from sgt_train.config import load_config
    from sgt_train.data.pretraining import ensure_pretraining_data
    from sgt_train.data.shapes import SFT_FILE, ensure_training_data
    from sgt_train.recipe import run
    from sgt_train.setup import init_checkpoint

    start = time.monotonic()
    fresh = init_checkpoint(load_config(CONFIG, overrides))
    pretrained = _vision_stage(fresh, work / "vision", vision)

    sft = [ensure_pretraining_data(cache_root() / "pretraining-data", PRETRAINING_SEED, images) / SFT_FILE,
           ensure_training_data(cache_root() / "train-data", seed=WORLD_SEED, scale=scale) / SFT_FILE]
    training = ["--out", str(work / "train"), "--model.init", str(pretrained["folder"]), "--train.steps", str(steps),
                "--data.sft", ",".join(map(str, sft)), *overrides]
    final = run(load_config(CONFIG, training), resume=True)  # its run.json records `sgt-train base ...`
    record = {"vision": {"plan": asdict(vision), "metrics": pretrained["metrics"]},
              "training": {"config": str(CONFIG), "overrides": training, "pretraining_seed": PRETRAINING_SEED,
                           "images": images, "world_seed": WORLD_SEED, "world_scale": scale},
              "last_invocation_minutes": round((time.monotonic() - start) / 60, 1)}  # a resumed build: its own part
    export_base(final, export, record)
    return record


def _vision_stage(fresh: Path, folder: Path, plan: VisionPlan) -> dict[str, Any]:
    """The fresh model with its vision tower pretrained, saved once under ``folder``."""
    from sgt_train.models.umm import load_umm, save_umm
    from sgt_train.vision_pretraining import pretrain_vision

    def build(scratch: Path) -> None:
        import transformers

        model = load_umm(fresh, "raw")
        processor = transformers.AutoImageProcessor.from_pretrained(fresh)
        metrics = pretrain_vision(model.backbone.model.visual, processor, plan)
        save_umm(scratch, model, transformers.AutoTokenizer.from_pretrained(fresh), processor)
        write_json_atomic(scratch / "vision.json", metrics)

    done = build_once(folder, build, "vision.json")
    return {"folder": done, "metrics": json.loads((done / "vision.json").read_text(encoding="utf-8"))}


def export_base(final: Path, export: Path, record: dict[str, Any]) -> None:
    """Write ``final``'s EMA weights as a float16 checkpoint folder with ``build.json``."""
    import torch
    import transformers

    from sgt_train.models.umm import load_umm, save_umm

    model = load_umm(final, "ema").to(torch.float16)
    scratch = export.with_name(f".{export.name}-new")
    shutil.rmtree(scratch, ignore_errors=True)
    save_umm(scratch, model, transformers.AutoTokenizer.from_pretrained(final),
             transformers.AutoImageProcessor.from_pretrained(final))
    digests = {p.name: _sha256(p) for p in sorted(scratch.iterdir())}
    write_json_atomic(scratch / BUILD, {**record, "sha256": digests})
    shutil.rmtree(export, ignore_errors=True)
    scratch.rename(export)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sgt-train base", description=__doc__.splitlines()[0].split(": ", 1)[1],
                                     epilog="Other --section.key VALUE pairs override configs/tiny_base.yaml.")
    parser.add_argument("--work", type=Path, default=Path("runs/train/shapes-base"),
                        help="folder of the two stages (re-running resumes)")
    parser.add_argument("--export", type=Path, default=ASSET, help="where the exported base goes")
    parser.add_argument("--vision-steps", type=int, default=VisionPlan.steps, help="steps of the vision stage")
    parser.add_argument("--vision-images", type=int, default=VisionPlan.images, help="scenes of the vision stage")
    parser.add_argument("--steps", type=int, default=3000, help="steps of the training stage")
    parser.add_argument("--images", type=int, default=8000, help="fresh scenes of the pretraining set")
    parser.add_argument("--scale", type=int, default=4, help="size of the benchmark-format training world")
    args, overrides = parser.parse_known_args(argv)
    vision = VisionPlan(steps=args.vision_steps, images=args.vision_images)
    record = build_base(args.work, args.export, vision, steps=args.steps, images=args.images, scale=args.scale,
                        overrides=overrides)
    print(f"base exported to {args.export} ({record['last_invocation_minutes']} min)")
    return 0
