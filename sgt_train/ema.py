"""Exponential moving average of the weights, on whatever each rank holds (full or sharded tensors).

The EMA is kept beside the tensors the engine exposes (full parameters, FSDP DTensors or the local
ZeRO-3 partitions), so it never needs a gather until a checkpoint consolidates it. The decay warms
up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (timm's schedule), so a short run's EMA
is not dominated by the random initialisation.
"""

from __future__ import annotations

import torch


class EMA:
    """Shadow copies of ``tensors`` updated after every optimizer step.

    Parameters
    ----------
    tensors
        Name -> tensor to track (detached views of the engine's parameters).
    decay
        The decay the warm-up approaches; 0 disables the EMA (the shadow follows the weights).
    """

    def __init__(self, tensors: dict[str, torch.Tensor], decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"optim.ema_decay must be in [0, 1), not {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow = {name: t.detach().clone() for name, t in tensors.items()}

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, tensors: dict[str, torch.Tensor]) -> None:
        weight = 1.0 - self.current_decay()
        for name, shadow in self.shadow.items():
            shadow.lerp_(tensors[name].detach(), weight)
        self.updates += 1

    @torch.no_grad()
    def load(self, shadow: dict[str, torch.Tensor], updates: int) -> None:
        """Restore shadows (same names and shapes as tracked) and the update count."""
        missing = set(self.shadow) ^ set(shadow)
        if missing:
            raise ValueError(f"EMA state does not match the model: {sorted(missing)[:3]}")
        for name, value in shadow.items():
            self.shadow[name].copy_(value)
        self.updates = updates
