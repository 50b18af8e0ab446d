"""Training configs: YAML files of nested sections, overridable from the command line.

``sgt-train --config FILE.yaml --train.steps 100 --data.ratio 3:1`` loads the file, then applies each
``--section.key value``. Every value is checked against the field's type, and an unknown key gets a
did-you-mean: a mistyped key never trains silently with the default. Errors are one line naming the
file (or the flag) and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sgt_eval.errors import UserError
from sgt_train.models.build import ModelConfig


@dataclass(frozen=True)
class ModelSection:
    """``model.init``: ``tiny`` (a fresh tiny UMM built from ``model.size``) or a checkpoint folder."""

    init: str = "tiny"
    init_weights: str = "raw"  # raw or ema, when init is a checkpoint folder
    seed: int = 0              # weight initialisation of a fresh model
    size: ModelConfig = field(default_factory=ModelConfig)


@dataclass(frozen=True)
class DataConfig:
    shapes_seed: int = 1            # ShapesWorld training data, used when seg_list and sft are not given
    shapes_scale: int = 4
    seg_list: str | None = None     # SAM-SGT list file
    seg_root: str | None = None     # what its relative lines are relative to (default: its folder)
    sft: tuple[str, ...] = ()       # LLaVA-OneVision JSON / JSONL files
    sft_image_root: str | None = None
    proxy: str = "segmentation"     # segmentation, edge, depth or reconstruction
    mask_source: str = "colour"     # segmentation targets: colour (sam_mask/) or instances (sam_instances/)
    edge_source: str = "sobel"      # edge targets: sobel (computed) or file (sam_edge/)
    depth_model: str | None = None
    ratio: str = "2:1"              # proxy : VQA samples in every optimizer step
    mixing: str = "mix"             # mix (samples of both kinds in a micro-batch) or cycle (one kind per micro-batch)
    seed: int = 0
    num_workers: int = 1
    max_length: int = 512
    skip_bad_samples: bool = False


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 600
    micro_batch: int = 12
    grad_accum: int = 1
    text_weight: float = 1.5
    image_weight: float = 1.0
    timestep_shift: float = 1.0
    precision: str = "fp32"         # fp32 or bf16 (autocast; weights and optimizer stay fp32)
    grad_checkpointing: bool = False
    freeze_vision: bool = False     # keep the vision tower's weights as they start (a pretrained encoder)
    strategy: str = "auto"          # auto, single, ddp, fsdp or deepspeed
    deepspeed: str | None = None    # DeepSpeed JSON config (strategy deepspeed), relative to the YAML file
    threads: int = 0                # torch threads per process; 0 = cores / processes - data workers


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 50
    schedule: str = "constant"      # constant or cosine (after warm-up)
    min_lr_ratio: float = 0.1       # cosine ends at lr * min_lr_ratio
    grad_clip: float = 1.0
    ema_decay: float = 0.999


@dataclass(frozen=True)
class CheckpointConfig:
    every: int = 200                # steps between checkpoints (the last step always saves)
    keep: int = 2                   # newest checkpoints kept, besides final/


@dataclass(frozen=True)
class LogConfig:
    every: int = 10                 # progress-bar refresh; metrics.jsonl gets every step
    tensorboard: bool = False
    wandb: bool = False
    sample_every: int = 0           # steps between seg-sample grids (0: only at the end)
    samples: int = 8                # images in a sample grid
    sample_steps: int = 20          # Euler steps when drawing samples


@dataclass(frozen=True)
class Config:
    out: str = "runs/train"
    seed: int = 0
    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def load_config(path: Path | None, overrides: list[str] = ()) -> Config:
    """The config of ``path`` (None: all defaults) with ``--section.key value`` overrides applied.

    A file may start from another with ``base: other.yaml`` (relative to the file); its own keys
    then replace the base's, section by section. ``train.deepspeed`` is relative to the file too.
    """
    data = _read(Path(path)) if path is not None else {}
    config = _build(Config, data, str(path) if path else "defaults", "")
    return apply_overrides(config, list(overrides))


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise UserError(f"{path}: a config is a mapping of sections (model:, data:, train: ...)")
    data = dict(loaded or {})
    deepspeed = (data.get("train") or {}).get("deepspeed")
    if isinstance(deepspeed, str) and not Path(deepspeed).is_absolute():
        data["train"] = {**data["train"], "deepspeed": str(path.parent / deepspeed)}
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = path.parent / str(base)
    if base_path.resolve() in seen:
        raise UserError(f"{path}: base {base} includes itself")
    return _merge(_read(base_path, (*seen, path.resolve())), data)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """``["--train.steps", "100", ...]`` applied to ``config``; values are read by the field's type."""
    if len(overrides) % 2:
        raise UserError(f"override {overrides[-1]!r} has no value; overrides come as --section.key VALUE pairs")
    data = config.to_dict()
    for flag, text in zip(overrides[::2], overrides[1::2]):
        if not flag.startswith("--"):
            raise UserError(f"expected an override --section.key, got {flag!r}")
        keys = flag[2:].replace("-", "_").split(".")
        node = data
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                raise UserError(f"{flag}: {key!r} is not a config section (sections: {', '.join(data)})")
            node = node[key]
        node[keys[-1]] = _FromFlag(text)
    return _build(Config, data, "the command line", "")


class _FromFlag(str):
    """A command-line value: read by the field's type, not by YAML (which reads ``2:1`` as 121)."""


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise UserError(f"{source}: {prefix.rstrip('.') or 'the config'} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (keys: {', '.join(names)})"
            raise UserError(f"{source}: unknown key {prefix}{key}{hint}")
        kwargs[key] = _value(hints[key], value, source, f"{prefix}{key}")
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise UserError(f"{source}: {err}") from None


def _value(hint: Any, value: Any, source: str, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source, name + ".")
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        if value is None or (isinstance(value, _FromFlag) and value.lower() in ("none", "null", "")):
            return None
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is tuple:
        items = value.split(",") if isinstance(value, _FromFlag) else value
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, (list, tuple)):
            raise UserError(f"{source}: {name} must be a list, got {value!r}")
        inner = typing.get_args(hint)
        types_ = inner[:1] * len(items) if len(inner) == 2 and inner[1] is Ellipsis else inner
        if len(types_) != len(items):
            raise UserError(f"{source}: {name} needs {len(types_)} values, got {len(items)}")
        return tuple(_value(t, _FromFlag(v) if isinstance(value, _FromFlag) else v, source, name)
                     for t, v in zip(types_, items))
    return _scalar(hint, value, source, name)


def _scalar(hint: type, value: Any, source: str, name: str) -> Any:
    if isinstance(value, _FromFlag):
        text = str(value)
        try:
            if hint is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                return text.lower() in ("true", "1", "yes")
            return hint(text)
        except ValueError:
            raise UserError(f"{source}: --{name} {text!r} is not a valid {hint.__name__}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, int) and not isinstance(value, bool) and name.endswith("ratio"):
        raise UserError(f"{source}: {name} was read as the number {value} (YAML reads 2:1 as base 60); "
                        f'quote it: ratio: "2:1"')
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise UserError(f"{source}: {name} must be {hint.__name__}, got {value!r}")
    return value


def _plain(value: Any) -> Any:
    """Tuples as lists, recursively (for YAML and JSON)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
