"""What a run is made of before it trains: its data, its initial checkpoint and its manifest."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.base import sha256_file
from sgt_eval import manifest as eval_manifest
from sgt_eval.errors import UserError
from sgt_eval.paths import build_once, cache_root
from sgt_train.config import Config
from sgt_train.data.common import SkipLog
from sgt_train.data.pipeline import Sources
from sgt_train.data.sam import read_list
from sgt_train.data.sft import read_sft
from sgt_train.mixing import MixingPlan, parse_ratio
from sgt_train.models.build import VERSION, build_tiny_umm
from sgt_train.proxies import Proxy, make_proxy


@dataclass(frozen=True)
class RunData:
    sources: Sources
    proxy: Proxy
    ratio: dict[str, int]
    files: dict[str, Any]  # what was read: paths, hashes, counts (for run.json)


def read_data(config: Config, skips: SkipLog) -> RunData:
    """Read and check the configured lists (the ShapesWorld training set when none is given)."""
    d = config.data
    ratio = parse_ratio(d.ratio)
    proxy = make_proxy(d.proxy, edge_source=d.edge_source, depth_model=d.depth_model, mask_source=d.mask_source)
    seg_list, sft, files = d.seg_list, list(d.sft), {}
    seg_root = d.seg_root
    if seg_list is None and not sft:
        from sgt_train.data.shapes import MANIFEST, SEG_LIST, SFT_FILE, ensure_training_data

        folder = ensure_training_data(cache_root() / "train-data", seed=d.shapes_seed, scale=d.shapes_scale)
        seg_list, sft = str(folder / SEG_LIST), [str(folder / SFT_FILE)]
        files["shapesworld"] = {"folder": str(folder), "manifest": sha256_file(folder / MANIFEST)}
    if ratio["seg"] and seg_list is None:
        raise UserError(f"data.ratio {d.ratio} asks for {proxy.name} samples: give data.seg_list (a SAM-SGT list file)")
    if ratio["vqa"] and not sft:
        raise UserError(f"data.ratio {d.ratio} asks for VQA samples: give data.sft (LLaVA-OneVision JSON/JSONL files)")
    skip = skips if d.skip_bad_samples else None
    seg = read_list(Path(seg_list), Path(seg_root) if seg_root else None, needs=proxy.needs, skip=skip) \
        if ratio["seg"] else []
    vqa = [item for path in sft for item in read_sft(Path(path), Path(d.sft_image_root) if d.sft_image_root else None,
                                                      skip=skip)] if ratio["vqa"] else []
    if ratio["seg"]:
        files["seg_list"] = {"path": str(seg_list), "sha256": sha256_file(Path(seg_list)), "items": len(seg)}
    if ratio["vqa"]:
        files["sft"] = [{"path": str(p), "sha256": sha256_file(Path(p))} for p in sft]
        files["sft_items"] = len(vqa)
    if skips.entries:
        print(f"sgt-train: {skips.summary()} while reading the data", file=sys.stderr)
    return RunData(Sources(seg, vqa), proxy, ratio, files)


def init_checkpoint(config: Config) -> Path:
    """The folder the model starts from: a fresh tiny UMM (built once per size and seed) or the given one."""
    model = config.model
    if model.init != "tiny":
        folder = Path(model.init)
        if not folder.is_dir():
            raise UserError(f"model.init {model.init!r} is neither 'tiny' nor a checkpoint folder")
        return folder
    folder = cache_root() / "models" / f"{VERSION}-{model.size.key()}-seed{model.seed}"
    return build_once(folder, lambda scratch: build_tiny_umm(scratch, model.size, model.seed), "head_config.json")


def run_manifest(config: Config, data: RunData, plan: MixingPlan, strategy: str, world_size: int,
                 init: Path) -> dict[str, Any]:
    """``run.json``: config, data files and hashes, ratio and layout, proxy, launcher, code version."""
    return {
        "kind": "sgt-train run",
        "created": eval_manifest.now(),
        "command": ["sgt-train", *sys.argv[1:]],
        "config": config.to_dict(),
        "data": data.files,
        "ratio": data.ratio,
        "per_step": plan.per_step,
        "mixing": plan.mode,
        "proxy": {"name": data.proxy.name, **data.proxy.settings},
        "init": {"folder": str(init), "kind": "fresh tiny UMM" if config.model.init == "tiny" else "checkpoint"},
        "strategy": strategy,
        "world_size": world_size,
        "environment": eval_manifest.environment(),
    }
