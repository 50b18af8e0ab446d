"""The training data of one rank: step ``k`` -> the ``grad_accum`` collated micro-batches of that step.

Everything a step needs is a pure function of the step number (the plan, each proxy sample's
instruction, flow-matching noise and time), so data loader workers, resumed runs and other ranks all
produce the same batches. A bad sample (missing file, corrupt image) is an error naming its file and
line; with ``data.skip_bad_samples`` it is logged and replaced by the next good item of the same
source, so the step still holds the exact ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sgt_train.data import instructions
from sgt_train.data.common import BadSample, open_rgb, stream_seed
from sgt_train.data.encode import Encoded, Encoder, collate, image_tensor
from sgt_train.data.sam import ProxyItem
from sgt_train.data.sft import SftItem
from sgt_train.losses import sample_times
from sgt_train.mixing import MixingPlan, Ref
from sgt_train.proxies import Proxy

MAX_REPLACEMENTS = 64  # good items tried after a bad one before giving up on a source


@dataclass(frozen=True)
class Sources:
    """The items of each source: ``seg`` (proxy samples) and ``vqa`` (SFT conversations)."""

    seg: Sequence[ProxyItem]
    vqa: Sequence[SftItem]

    def sizes(self) -> dict[str, int]:
        return {"seg": len(self.seg), "vqa": len(self.vqa)}


class StepData(torch.utils.data.Dataset):
    """Map-style dataset over step numbers for one rank.

    Parameters
    ----------
    plan
        The mixing plan (all ranks share it).
    rank
        This process's data-parallel rank.
    sources, encoder, proxy
        The items, how to encode them, and the proxy that makes image targets.
    head_size
        Side of the image head's targets.
    seed
        Data seed (instructions, noise, times).
    timestep_shift
        Shift of the logit-normal training times.
    skip_bad
        Replace bad samples instead of failing (``data.skip_bad_samples``).
    """

    def __init__(self, plan: MixingPlan, rank: int, sources: Sources, encoder: Encoder, proxy: Proxy, *,
                 head_size: int, seed: int, timestep_shift: float, skip_bad: bool, steps: int) -> None:
        self.plan, self.rank, self.sources, self.encoder, self.proxy = plan, rank, sources, encoder, proxy
        self.head_size, self.seed, self.shift, self.skip_bad, self.steps = head_size, seed, timestep_shift, skip_bad, steps
        self.pad_id = encoder.tokenizer.pad_token_id

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> dict[str, Any]:
        """``{"step", "micro": [batch, ...], "counts": {source: n}, "skipped": [...], "error": str | None}``."""
        payload: dict[str, Any] = {"step": step, "micro": [], "counts": dict.fromkeys(self.plan.ratio, 0),
                                   "skipped": [], "error": None}
        try:
            for refs in self.plan.rank_step(step, self.rank):
                encoded = [self._sample(ref, payload["skipped"]) for ref in refs]
                for ref in refs:
                    payload["counts"][ref.source] += 1
                payload["micro"].append(self._collate(encoded))
        except BadSample as err:  # raised in a worker: carried to the main process as text
            payload["error"] = str(err)
        return payload

    def _sample(self, ref: Ref, skipped: list[dict[str, str]]) -> Encoded:
        items = self.sources.seg if ref.source == "seg" else self.sources.vqa
        index = ref.index
        for _ in range(MAX_REPLACEMENTS):
            try:
                return self.encode(ref.source, items[index], ref.position)
            except BadSample as err:
                if not self.skip_bad:
                    raise
                skipped.append({"source": ref.source, "reason": err.reason, "detail": err.detail})
                index = (index + 1) % len(items)
        raise BadSample("too many bad samples", f"{MAX_REPLACEMENTS} {ref.source} items in a row are bad "
                                                f"(last: {skipped[-1]['detail']})")

    def encode(self, source: str, item: ProxyItem | SftItem, position: int) -> Encoded:
        """One item of ``source`` at stream ``position``: its tokens, pixels and, for proxies, target and noise."""
        if source == "vqa":
            assert isinstance(item, SftItem)
            images = [open_rgb(path, item.where) for path in item.images]
            return self.encoder.conversation(item.turns, images, item.where)
        assert isinstance(item, ProxyItem)
        image = open_rgb(item.image, item.where)
        instruction = instructions.draw(self.proxy.name, self.seed, position)
        encoded = self.encoder.prompt(instruction, [image], item.where)
        encoded.target = image_tensor(self.proxy.target(item, image, self.head_size))  # (3, S, S)
        generator = torch.Generator().manual_seed(stream_seed(self.seed, "flow", position))
        encoded.noise = torch.randn(encoded.target.shape, generator=generator)
        encoded.t = sample_times(1, generator, self.shift)
        return encoded

    def _collate(self, encoded: list[Encoded]) -> dict[str, torch.Tensor]:
        batch = collate(encoded, self.pad_id)
        with_target = [e for e in encoded if e.target is not None]
        shape = (0, 3, self.head_size, self.head_size)
        batch["target"] = torch.stack([e.target for e in with_target]) if with_target else torch.zeros(shape)
        batch["noise"] = torch.stack([e.noise for e in with_target]) if with_target else torch.zeros(shape)
        batch["t"] = torch.cat([e.t for e in with_target]) if with_target else torch.zeros(0)
        return batch


def identity(payload: dict[str, Any]) -> dict[str, Any]:
    """The data loader's collate function: the payload is already collated (picklable for workers)."""
    return payload
