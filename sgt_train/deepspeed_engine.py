"""The DeepSpeed engine (ZeRO-1/2/3), with the same calls as :class:`sgt_train.engines.TorchEngine`.

The DeepSpeed JSON a config names holds what only DeepSpeed knows (``zero_optimization`` and the
like); batch sizes, the optimizer (torch AdamW, ``"torch_adam": true``: no cpu_adam compile) and
gradient clipping are filled in from the training config, and a JSON that sets them differently is
refused rather than silently overridden.

Under ZeRO-3 each rank holds a contiguous, padded ``1/world`` slice of every flattened parameter
(``param.ds_tensor``); the EMA tracks those slices and :meth:`DeepSpeedEngine.gather` all-gathers them
into full tensors, the same consolidation ``zero_to_fp32`` performs offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from sgt_eval.errors import UserError
from sgt_train.config import OptimConfig, TrainConfig
from sgt_train.engines import autocast, param_groups
from sgt_train.models.umm import TinyUMM
from sgt_train.runtime import Runtime

FILLED = ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping",
          "optimizer")
CHECKPOINT_TAG = "deepspeed"


def deepspeed_config(path: Path, train: TrainConfig, optim: OptimConfig, world_size: int) -> dict[str, Any]:
    """The JSON at ``path`` completed from the training config (see the module docstring)."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"train.deepspeed {path} does not exist; give a DeepSpeed JSON such as "
                        f"sgt_train/configs/ds_zero2.json") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    ours = {
        "train_micro_batch_size_per_gpu": train.micro_batch,
        "gradient_accumulation_steps": train.grad_accum,
        "train_batch_size": train.micro_batch * train.grad_accum * world_size,
        "gradient_clipping": optim.grad_clip,
        "optimizer": {"type": "AdamW", "params": {"lr": optim.lr, "betas": list(optim.betas), "eps": optim.eps,
                                                  "weight_decay": optim.weight_decay, "torch_adam": True}},
    }
    for key in FILLED:
        if key in config and config[key] != ours[key]:
            raise UserError(f"{path}: {key} is {config[key]!r} but the training config gives {ours[key]!r}; remove "
                            f"{key} from the JSON (sgt-train fills it from train.* and optim.*)")
    return {**config, **ours}


class DeepSpeedEngine:
    """``deepspeed.initialize`` around the model, driven micro-batch by micro-batch."""

    def __init__(self, model: TinyUMM, runtime: Runtime, config: dict[str, Any], precision: str) -> None:
        import deepspeed

        self.model, self.runtime, self.precision = model, runtime, precision
        weight_decay = config["optimizer"]["params"]["weight_decay"]
        self.module, self.optimizer, _, _ = deepspeed.initialize(model=model, config=config,
                                                                 model_parameters=param_groups(model, weight_decay))
        self.stage = int(config.get("zero_optimization", {}).get("stage", 0))
        # DeepSpeed divides the loss by the accumulation steps and averages gradients over ranks
        self.loss_scale = config["gradient_accumulation_steps"] * runtime.world_size

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = {k: v.to(self.runtime.device) for k, v in batch.items()}
        with autocast(self.precision, self.runtime.device):
            return self.module(batch)

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        self.module.backward(loss * self.loss_scale)
        if not last:
            self.module.step()  # only counts the micro-step: DeepSpeed steps the optimizer on the boundary

    def step(self, lr: float, clip: float) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.module.step()
        norm = self.module.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    def local_tensors(self) -> dict[str, torch.Tensor]:
        if self.stage == 3:
            return {name: p.ds_tensor.detach() for name, p in self.model.named_parameters()}
        return {name: p.detach() for name, p in self.model.named_parameters()}

    def gather(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """Full CPU tensors on rank 0 (None elsewhere); every rank must call."""
        if self.stage != 3:
            return {k: v.detach().cpu().clone() for k, v in tensors.items()} if self.runtime.main else None
        params = dict(self.model.named_parameters())
        full = {}
        for name, part in tensors.items():
            pieces = [torch.empty_like(part) for _ in range(self.runtime.world_size)]
            dist.all_gather(pieces, part.contiguous())
            param = params[name]
            full[name] = torch.cat(pieces)[:param.ds_numel].view(param.ds_shape).cpu().clone()
        return full if self.runtime.main else None

    def load_local(self, ema_tensors: dict[str, torch.Tensor], full: dict[str, torch.Tensor]) -> None:
        """Copy full tensors into this rank's tracked tensors (ZeRO-3: this rank's slice)."""
        with torch.no_grad():
            for name, target in ema_tensors.items():
                if self.stage == 3:
                    flat = full[name].flatten()
                    size = target.numel()
                    padded = torch.zeros(size * self.runtime.world_size, dtype=flat.dtype)
                    padded[:flat.numel()] = flat
                    target.copy_(padded[self.runtime.rank * size:(self.runtime.rank + 1) * size])
                else:
                    target.copy_(full[name])

    def save(self, folder: Path) -> None:
        """DeepSpeed's own checkpoint (module and partitioned optimizer states) under ``folder``; all ranks."""
        self.module.save_checkpoint(str(folder), tag=CHECKPOINT_TAG)

    def load(self, folder: Path) -> None:
        """Restore :meth:`save` (module weights and optimizer) on every rank."""
        path, _ = self.module.load_checkpoint(str(folder), tag=CHECKPOINT_TAG, load_optimizer_states=True,
                                              load_lr_scheduler_states=False)
        if path is None:
            raise UserError(f"{folder}: no DeepSpeed checkpoint '{CHECKPOINT_TAG}' to resume from")
