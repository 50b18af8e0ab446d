"""Training throughput with the count-based mixing sampler vs a plain single-source loader, side by side.

    python perf/train_throughput.py [--steps 30] [--micro-batch 12] [--workers 1] [--rounds 3]

Both paths train the same tiny UMM on the same ShapesWorld items with the same encoder, data loader
workers and optimizer step; they differ only in how a step's samples are chosen and handed over:

- ``mixing``: :class:`sgt_train.mixing.MixingPlan` + :class:`sgt_train.data.pipeline.StepData`, exactly as
  ``sgt-train`` runs them, at ratio 0:1 so every sample is a VQA sample like the baseline's;
- ``single``: ``torch.utils.data.DataLoader(batch_size=micro_batch)`` over the VQA items, the loader a
  single-dataset trainer would use, given the plan's item order so both paths compute identical batches.

Rounds alternate the two paths so machine noise hits both; medians are compared (goal: mixing costs at
most 5% of samples/s). The 2:1 run's data-loader wait share of step time is printed too (the share of
each step spent blocked on the next batch; near 0 when workers keep up).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
import transformers

from sgt_eval.paths import cache_root
from sgt_train.config import Config, OptimConfig
from sgt_train.data.encode import Encoder, collate
from sgt_train.data.pipeline import Sources, StepData, identity
from sgt_train.data.sam import read_list
from sgt_train.data.sft import read_sft
from sgt_train.data.shapes import SEG_LIST, SFT_FILE, ensure_training_data
from sgt_train.engines import TorchEngine
from sgt_train.mixing import MixingPlan, parse_ratio
from sgt_train.models.umm import load_umm
from sgt_train.proxies import make_proxy
from sgt_train.runtime import start
from sgt_train.setup import init_checkpoint

HEAD_SIZE = Config().model.size.head_image_size


class SingleSource(torch.utils.data.Dataset):
    """One source's items, encoded one at a time (what a single-dataset loader maps over)."""

    def __init__(self, items: list, data: StepData) -> None:
        self.items, self.data = items, data

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.data.encode("vqa", self.items[index], index)


def train_loop(engine: TorchEngine, batches: Any, steps: int) -> tuple[float, float]:
    """Wall time of ``steps`` optimizer steps and the part of it spent waiting for batches."""
    waited, start_time = 0.0, time.perf_counter()
    iterator = iter(batches)
    for _ in range(steps):
        before = time.perf_counter()
        batch = next(iterator)
        waited += time.perf_counter() - before
        out = engine.forward(batch)
        loss = out["ce_sum"] / out["ce_count"].clamp(min=1) + out["mse_sum"] / out["mse_count"].clamp(min=1)
        engine.backward(loss, last=True)
        engine.step(1e-4, 1.0)
    return time.perf_counter() - start_time, waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--micro-batch", type=int, default=12)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1, help="ShapesWorld training-set scale")
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()
    folder = ensure_training_data(cache_root() / "train-data", seed=1, scale=args.scale)
    init = init_checkpoint(Config())
    sources = Sources(read_list(folder / SEG_LIST), read_sft(folder / SFT_FILE))
    encoder = Encoder(transformers.AutoTokenizer.from_pretrained(init),
                      transformers.AutoImageProcessor.from_pretrained(init), max_length=512)
    proxy = make_proxy("segmentation")
    runtime = start()
    engine = TorchEngine(load_umm(init), runtime, "single", OptimConfig(), "fp32")
    loader_args = {"num_workers": args.workers, "prefetch_factor": 2 if args.workers else None}

    def step_data(ratio: str) -> StepData:
        plan = MixingPlan(sources.sizes(), parse_ratio(ratio), micro_batch=args.micro_batch, grad_accum=1,
                          world_size=1)
        return StepData(plan, 0, sources, encoder, proxy, head_size=HEAD_SIZE, seed=0, timestep_shift=1.0, skip_bad=False,
                        steps=args.steps)

    def mixing(ratio: str) -> Any:
        loader = torch.utils.data.DataLoader(step_data(ratio), batch_size=None, sampler=range(args.steps),
                                             collate_fn=identity, **loader_args)
        return (payload["micro"][0] for payload in loader)

    def single() -> Any:
        pad = encoder.tokenizer.pad_token_id
        data = step_data("0:1")
        order = [ref.index for step in range(args.steps) for ref in data.plan.step(step)[0]]
        return torch.utils.data.DataLoader(SingleSource(list(sources.vqa), data), batch_size=args.micro_batch,
                                           sampler=order, collate_fn=lambda items: _with_empty_targets(collate(items, pad)),
                                           **loader_args)

    times: dict[str, list[float]] = {"mixing": [], "single": []}
    train_loop(engine, single(), 2)  # warm-up: first-call allocations and thread pools
    for _ in range(args.rounds):
        for name, batches in (("mixing", mixing("0:1")), ("single", single())):
            times[name].append(train_loop(engine, batches, args.steps)[0])
    wall, waited = train_loop(engine, mixing("2:1"), args.steps)
    rate = {name: args.steps * args.micro_batch / statistics.median(t) for name, t in times.items()}
    print(f"samples/s (median of {args.rounds} alternating rounds, {args.steps} steps x {args.micro_batch} samples, "
          f"{args.workers} worker(s), {torch.get_num_threads()} thread(s)):")
    print(f"  single-source DataLoader   {rate['single']:8.1f}")
    print(f"  mixing sampler (0:1)       {rate['mixing']:8.1f}")
    overhead = 1 - rate["mixing"] / rate["single"]
    print(f"  ratio mixing / single = {rate['mixing'] / rate['single']:.3f} (overhead {overhead:+.1%}; goal <= 5%)")
    print(f"2 seg : 1 VQA run: {args.steps * args.micro_batch / wall:.1f} samples/s, data-loader wait share of step "
          f"time {waited / wall:.1%}")


def _with_empty_targets(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A VQA-only batch in the trainer's layout: no image targets."""
    empty = torch.zeros(0, 3, HEAD_SIZE, HEAD_SIZE)
    return {**batch, "target": empty, "noise": empty, "t": torch.zeros(0)}


if __name__ == "__main__":
    main()
