"""The two losses of SGT and the sampler that inverts the image one.

Flow matching as BAGEL trains it (``modeling/bagel/bagel.py``): ``t = sigmoid(n)``, ``n ~ N(0, 1)``
(logit-normal), shifted by ``shift * t / (1 + (shift - 1) * t)``; ``x_t = (1 - t) x_0 + t eps`` and the
model predicts the velocity ``v = eps - x_0``. Sampling integrates from noise at ``t = 1`` to the image
at ``t = 0`` with Euler steps on the same shifted schedule.

Both losses are returned as *sums* with their counts, so the trainer can divide by the counts of a
whole optimizer step (all micro-batches, all ranks): how a step is split never changes its gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Push times towards 1 (the noisy end) for ``shift > 1``; identity for ``shift = 1``."""
    return shift * t / (1 + (shift - 1) * t)


def sample_times(n: int, generator: torch.Generator, shift: float = 1.0) -> torch.Tensor:
    """(n,) logit-normal training times in (0, 1), shifted."""
    return shift_time(torch.sigmoid(torch.randn(n, generator=generator)), shift)


def noised(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_t, v)`` for clean images ``x0`` (B, C, H, W), noise of the same shape and times ``t`` (B,)."""
    tt = t.to(x0.dtype)[:, None, None, None]
    return (1 - tt) * x0 + tt * noise, noise - x0


def velocity_mse_sum(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over samples of each sample's mean squared velocity error (a scalar)."""
    return F.mse_loss(prediction.float(), target.float(), reduction="none").flatten(1).mean(1).sum()


def text_ce_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of the cross-entropies of (T, V) logits at their (T,) labels (a scalar)."""
    return F.cross_entropy(logits.float(), labels, reduction="sum")


def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise: torch.Tensor, steps: int,
                 shift: float = 1.0) -> torch.Tensor:
    """Integrate ``dx/dt = v(x, t)`` from ``noise`` at t = 1 to t = 0 in ``steps`` Euler steps.

    ``velocity(x, t)`` takes (B, C, H, W) images and (B,) times.
    """
    times = shift_time(torch.linspace(1.0, 0.0, steps + 1), shift)
    x = noise
    for t, t_next in zip(times[:-1], times[1:]):
        x = x + (t_next - t) * velocity(x, t.expand(x.shape[0]).to(x.dtype))
    return x
