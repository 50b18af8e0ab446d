"""Count-based batch mixing: every optimizer step holds exactly the configured proxy : VQA ratio.

Upstream BAGEL never states its ratio: it emerges from sampling weights and token packing. Here it
is a count. A step has ``G = micro_batch x grad_accum x world_size`` samples, of which exactly
``G * r_s / sum(r)`` come from source ``s``, across all ranks and accumulation steps together. Two
ways of laying a step out over its ``M = grad_accum x world_size`` micro-batches:

- ``mix``: micro-batches hold samples of both kinds, in a smooth interleaving (2:1 lays out
  ``seg vqa seg seg vqa seg ...``); needs ``G`` to be a multiple of ``sum(r)``.
- ``cycle``: each micro-batch holds one kind, following the expanded ratio (2:1 gives OmniGen2's
  ``[seg, seg, vqa]``) over the step's micro-batches; needs ``M`` to be a multiple of ``sum(r)``.

Micro-batch ``m`` of a step is accumulation step ``m // world_size`` on rank ``m % world_size``.
Each source is read as an endless stream: position ``p`` is item ``perm_e[p % n]`` of the epoch
``e = p // n``, with a permutation seeded by ``(seed, source, e)``. A step's samples are thus a pure
function of the step number: resuming needs no sampler state, and every rank agrees on the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sgt_eval.errors import UserError
from sgt_train.data.common import stream_seed

MODES = ("mix", "cycle")


@dataclass(frozen=True)
class Ref:
    """One sample of a plan: its source, the item index in that source, and its stream position."""

    source: str
    index: int
    position: int


def parse_ratio(text: str, sources: Sequence[str] = ("seg", "vqa")) -> dict[str, int]:
    """``"2:1"`` -> ``{"seg": 2, "vqa": 1}``: non-negative whole numbers, not all zero."""
    parts = str(text).split(":")
    if len(parts) != len(sources) or not all(p.strip().isdigit() for p in parts):
        raise UserError(f"data.ratio {text!r} must be {len(sources)} whole numbers {':'.join(sources)}, e.g. 2:1 "
                        f"(0:1 trains on VQA only)")
    ratio = {s: int(p) for s, p in zip(sources, parts)}
    if not any(ratio.values()):
        raise UserError(f"data.ratio {text!r} has no samples at all; e.g. 2:1 or 0:1")
    return ratio


def interleave(ratio: Mapping[str, int]) -> list[str]:
    """The sources of one ratio period in a smooth order: ``{"seg": 2, "vqa": 1}`` -> seg, vqa, seg."""
    total = sum(ratio.values())
    taken = dict.fromkeys(ratio, 0)
    order = []
    for k in range(total):
        source = max(ratio, key=lambda s: ratio[s] * (k + 1) / total - taken[s])  # ties: first source
        taken[source] += 1
        order.append(source)
    return order


class MixingPlan:
    """Which samples every micro-batch of every step holds.

    Parameters
    ----------
    sizes
        Number of items of each source (sources with ratio 0 may be empty).
    ratio
        Samples per source in each ratio period (``parse_ratio``).
    micro_batch, grad_accum, world_size
        The step's layout.
    mode
        ``"mix"`` or ``"cycle"`` (see the module docstring).
    seed
        Seed of the sources' epoch permutations.

    Raises
    ------
    UserError
        When the layout cannot hold the ratio exactly, naming the setting to change.
    """

    def __init__(self, sizes: Mapping[str, int], ratio: Mapping[str, int], *, micro_batch: int, grad_accum: int,
                 world_size: int, mode: str = "mix", seed: int = 0) -> None:
        if mode not in MODES:
            raise UserError(f"data.mixing {mode!r} must be one of {', '.join(MODES)}")
        for name, value in (("train.micro_batch", micro_batch), ("train.grad_accum", grad_accum),
                            ("world size", world_size)):
            if value < 1:
                raise UserError(f"{name} must be at least 1, not {value}")
        self.ratio, self.sizes, self.mode, self.seed = dict(ratio), dict(sizes), mode, seed
        self.micro_batch, self.grad_accum, self.world_size = micro_batch, grad_accum, world_size
        period = sum(ratio.values())
        micro_batches = grad_accum * world_size
        step = micro_batch * micro_batches
        ratio_text = ":".join(str(v) for v in ratio.values())
        layout = f"train.micro_batch {micro_batch} x train.grad_accum {grad_accum} x {world_size} rank(s)"
        if mode == "mix" and step % period:
            raise UserError(f"data.ratio {ratio_text} cannot be met exactly by {step} samples a step ({layout}); "
                            f"make the samples a step a multiple of {period}, e.g. train.micro_batch "
                            f"{next(x for x in range(micro_batch, micro_batch + period + 1) if x * micro_batches % period == 0)}")
        if mode == "cycle" and micro_batches % period:
            raise UserError(f"data.ratio {ratio_text} in cycle mode needs the micro-batches of a step "
                            f"(train.grad_accum {grad_accum} x {world_size} rank(s) = {micro_batches}) to be a "
                            f"multiple of {period}, e.g. train.grad_accum {_multiple(grad_accum, period)}; "
                            f"or use data.mixing mix")
        for source, share in ratio.items():
            if share and not sizes.get(source):
                raise UserError(f"data.ratio {ratio_text} asks for {source} samples but there are none")
        self.per_step = {s: step * r // period for s, r in ratio.items()}
        if mode == "mix":
            self._slots = interleave(ratio) * (step // period)
        else:  # the expanded ratio, as OmniGen2's interleave_pattern [gen, gen, sft]
            pattern = [s for s, r in ratio.items() for _ in range(r)]
            self._slots = [s for s in pattern * (micro_batches // period) for _ in range(micro_batch)]

    @property
    def samples_per_step(self) -> int:
        return self.micro_batch * self.grad_accum * self.world_size

    def step(self, step: int) -> list[list[Ref]]:
        """All ``M`` micro-batches of a step, in micro-batch order (see the module docstring)."""
        taken = dict.fromkeys(self.ratio, 0)
        refs = []
        for source in self._slots:
            position = step * self.per_step[source] + taken[source]
            taken[source] += 1
            refs.append(Ref(source, self.index(source, position), position))
        b = self.micro_batch
        return [refs[m * b:(m + 1) * b] for m in range(self.grad_accum * self.world_size)]

    def rank_step(self, step: int, rank: int) -> list[list[Ref]]:
        """The ``grad_accum`` micro-batches rank ``rank`` runs in a step, in order."""
        micro = self.step(step)
        return [micro[a * self.world_size + rank] for a in range(self.grad_accum)]

    def index(self, source: str, position: int) -> int:
        """The item at ``position`` of a source's endless stream."""
        n = self.sizes[source]
        return int(_permutation(self.seed, source, position // n, n)[position % n])


@lru_cache(maxsize=16)
def _permutation(seed: int, source: str, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng(stream_seed(seed, source, epoch)).permutation(n)


def _multiple(value: int, period: int) -> int:
    """The smallest multiple of ``period`` that is at least ``value``."""
    return -(-value // period) * period
