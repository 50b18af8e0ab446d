"""How a micro-batch's gradients become an optimizer step: one process, DDP, FSDP2 (torch) or DeepSpeed.

Every engine offers the same few calls, so the recipe has one loop:

- ``forward(batch)`` under the chosen precision (bf16 autocast keeps fp32 weights and optimizer);
- ``backward(loss, last)`` for each micro-batch, ``loss`` already normalised by the *step's* counts;
  each engine rescales it to undo its own averaging, so the step's gradient is the gradient of the
  step loss however it is split over ranks and accumulation steps;
- ``step(lr, clip)`` -> gradient norm;
- ``local_tensors()`` (what the EMA tracks on this rank), ``gather(tensors)`` (full tensors on rank 0)
  and ``load_local``, and checkpoint save and load of the optimizer.

This module holds the torch engine; :mod:`sgt_train.deepspeed_engine` the DeepSpeed one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict, set_optimizer_state_dict
from torch.nn.parallel import DistributedDataParallel

from sgt_train.config import OptimConfig
from sgt_train.models.umm import TinyUMM
from sgt_train.runtime import Runtime

STRATEGIES = ("single", "ddp", "fsdp", "deepspeed")


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: norms, biases and embeddings' scales are not decayed."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class TorchEngine:
    """``single``, ``ddp`` or ``fsdp`` (FSDP2 ``fully_shard`` on each transformer block, then the root)."""

    def __init__(self, model: TinyUMM, runtime: Runtime, strategy: str, optim: OptimConfig, precision: str) -> None:
        self.model, self.runtime, self.strategy, self.precision = model, runtime, strategy, precision
        model.to(runtime.device)
        if strategy == "ddp":
            self.module: torch.nn.Module = DistributedDataParallel(
                model, device_ids=[runtime.local_rank] if runtime.device.type == "cuda" else None)
        elif strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            for block in _blocks(model):
                fully_shard(block)
            self.module = fully_shard(model)
        else:
            self.module = model
        self.optimizer = torch.optim.AdamW(param_groups(model, optim.weight_decay), lr=optim.lr, betas=optim.betas,
                                           eps=optim.eps)
        # DDP and FSDP average gradients over ranks; the loss is already a whole-step average
        self.loss_scale = runtime.world_size if strategy in ("ddp", "fsdp") else 1

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = {k: v.to(self.runtime.device) for k, v in batch.items()}
        with autocast(self.precision, self.runtime.device):
            return self.module(batch)

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        with self._sync(last):
            (loss * self.loss_scale).backward()

    @contextlib.contextmanager
    def _sync(self, last: bool) -> Iterator[None]:
        """Gradients are reduced over ranks on the step's last micro-batch only."""
        if self.strategy == "ddp" and not last:
            with self.module.no_sync():
                yield
        elif self.strategy == "fsdp":
            self.module.set_requires_gradient_sync(last)
            yield
        else:
            yield

    def step(self, lr: float, clip: float) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip if clip > 0 else float("inf"))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)

    def local_tensors(self) -> dict[str, torch.Tensor]:
        return {name: p.detach() for name, p in self.model.named_parameters()}

    def gather(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """Full CPU copies on rank 0 (None elsewhere); every rank must call (FSDP all-gathers)."""
        full = {name: (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().cpu().clone()
                for name, t in tensors.items()}
        return full if self.runtime.main else None

    def optimizer_state(self) -> dict[str, Any] | None:
        """The full optimizer state keyed by parameter name, on rank 0."""
        state = get_optimizer_state_dict(self.module, self.optimizer,
                                         options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return state if self.runtime.main else None

    def load_optimizer(self, state: dict[str, Any]) -> None:
        """Restore :meth:`optimizer_state` output (every rank passes the full state it read)."""
        set_optimizer_state_dict(self.module, self.optimizer, optim_state_dict=state,
                                 options=StateDictOptions(full_state_dict=True))

    def load_local(self, ema_tensors: dict[str, torch.Tensor], full: dict[str, torch.Tensor]) -> None:
        """Copy full tensors into this rank's (possibly sharded) tracked tensors, in place."""
        with torch.no_grad():
            for name, target in ema_tensors.items():
                if hasattr(target, "to_local"):  # FSDP: this rank's rows of the full tensor
                    from torch.distributed.tensor import distribute_tensor

                    target.to_local().copy_(distribute_tensor(full[name], target.device_mesh, target.placements,
                                                              src_data_rank=None).to_local())
                else:
                    target.copy_(full[name])


def full_model_state(engine: Any) -> dict[str, torch.Tensor] | None:
    """The model's full state dict (parameters and persistent buffers) on rank 0; every rank must call."""
    full = engine.gather(engine.local_tensors())
    if full is not None:
        params = set(full)  # under ZeRO-3 / FSDP the module's own state dict holds only slices of these
        full.update({k: v.detach().cpu().clone() for k, v in engine.model.state_dict().items() if k not in params})
    return full


def _blocks(model: TinyUMM) -> list[torch.nn.Module]:
    """The transformer blocks FSDP shards one by one: decoder layers, vision blocks, head blocks."""
    inner = model.backbone.model
    return [*inner.language_model.layers, *inner.visual.blocks, *model.head.refiner, *model.head.blocks]
