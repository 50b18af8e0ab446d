"""The SGT recipe as one class, torchtune-style: ``setup()``, ``train()``, ``save(step)``, ``resume(checkpoint)``.

One optimizer step: the rank's micro-batches of the step come from the data loader (exactly the
configured proxy : VQA ratio over all ranks, see :mod:`sgt_train.mixing`); the step's answer-token
and image counts are summed over ranks first, so each micro-batch's loss

    text_weight * CE_sum / answer_tokens_in_step  +  image_weight * MSE_sum / images_in_step

adds up to the step's mean losses whatever the layout; then clip, AdamW, EMA, log, and at checkpoint
steps save. ``sgt-train`` (:mod:`sgt_train.cli`) runs it in one process, under ``torchrun`` or under
``deepspeed``.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from sgt_eval.errors import UserError
from sgt_eval.store import write_json_atomic
from sgt_train import checkpoint as ckpt
from sgt_train.config import Config
from sgt_train.data.common import SkipLog
from sgt_train.data.encode import Encoder
from sgt_train.data.pipeline import StepData, identity
from sgt_train.ema import EMA
from sgt_train.engines import STRATEGIES, TorchEngine, full_model_state
from sgt_train.mixing import MixingPlan
from sgt_train.models.umm import EMA_WEIGHTS, load_umm, save_umm
from sgt_train.runtime import Runtime, start, stop
from sgt_train.setup import RunData, init_checkpoint, read_data, run_manifest
from sgt_train.tracking import CURVE, METRICS, Tracker, loss_curve, read_metrics

# Settings a resumed run may change: they decide how long, where and how loudly, not what is computed.
RESUME_FREE = ("out", "train.steps", "train.threads", "data.num_workers", "checkpoint.every", "checkpoint.keep",
               "log.every", "log.tensorboard", "log.wandb", "log.samples", "log.sample_steps")


def learning_rate(step: int, config: Config) -> float:
    """Linear warm-up over ``optim.warmup_steps``, then constant or cosine down to ``lr * min_lr_ratio``."""
    optim, total = config.optim, config.train.steps
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if optim.schedule == "constant":
        return optim.lr
    progress = (step - optim.warmup_steps) / max(1, total - optim.warmup_steps)
    floor = optim.lr * optim.min_lr_ratio
    return floor + (optim.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class SGTRecipe:
    """Train a tiny (or any ``sgt-train``-written) UMM on a proxy + VQA mix.

    Parameters
    ----------
    config
        The resolved training config.
    resume
        Continue from the newest complete checkpoint in ``config.out`` (a fresh start when there is none).
    """

    def __init__(self, config: Config, *, resume: bool = False) -> None:
        self.config, self.resume_requested = config, resume
        self.out = Path(config.out)
        self.start_step = 0

    # -- setup ------------------------------------------------------------------------------------
    def setup(self) -> None:
        c = self.config
        if c.optim.schedule not in ("constant", "cosine"):
            raise UserError(f"optim.schedule {c.optim.schedule!r} must be constant or cosine")
        if c.train.precision not in ("fp32", "bf16"):
            raise UserError(f"train.precision {c.train.precision!r} must be fp32 or bf16")
        if self._wants_deepspeed() and importlib.util.find_spec("deepspeed") is None:
            raise UserError("train.strategy deepspeed needs DeepSpeed: pip install 'sgt-eval[train]'")
        self.runtime: Runtime = start("deepspeed" if self._wants_deepspeed() else None)
        self.strategy = self._strategy()
        # the cores are shared by the ranks on this machine and their data loader workers
        cores = (os.cpu_count() or 1) // self._local_world() - c.data.num_workers
        torch.set_num_threads(c.train.threads or max(1, cores))
        latest = self._check_out()
        self.skips = SkipLog()
        self.data: RunData = self._on_rank0_first(lambda: read_data(c, self.skips))
        self.plan = MixingPlan(self.data.sources.sizes(), self.data.ratio, micro_batch=c.train.micro_batch,
                               grad_accum=c.train.grad_accum, world_size=self.runtime.world_size,
                               mode=c.data.mixing, seed=c.data.seed)
        self.init_dir = self._on_rank0_first(lambda: init_checkpoint(c))
        weights = c.model.init_weights if c.model.init != "tiny" else "raw"
        model = load_umm(latest / ckpt.MODEL if latest else self.init_dir, weights="raw" if latest else weights)
        import transformers

        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.init_dir)
        self.image_processor = transformers.AutoImageProcessor.from_pretrained(self.init_dir)
        self.encoder = Encoder(self.tokenizer, self.image_processor, c.data.max_length)
        if c.train.grad_checkpointing:
            model.checkpoint_activations()
        model.train()
        if c.train.freeze_vision:
            model.backbone.model.visual.requires_grad_(False)
        self.engine = self._engine(model)
        self.ema = EMA(self.engine.local_tensors(), c.optim.ema_decay)
        if latest is not None:
            self.resume(latest)
        if self.runtime.main:
            self.manifest = run_manifest(c, self.data, self.plan, self.strategy, self.runtime.world_size, self.init_dir)
            previous = self.out / "run.json"
            if latest is not None and previous.is_file():  # a resumed run keeps its birth date and says when it resumed
                old = json.loads(previous.read_text(encoding="utf-8"))
                self.manifest.update(created=old["created"], resumed=[*old.get("resumed", []), self.manifest["created"]])
            write_json_atomic(previous, self.manifest)
        self.tracker = Tracker(self.out, start_step=self.start_step, total_steps=c.train.steps, config=c.to_dict(),
                               enabled=self.runtime.main, tensorboard=c.log.tensorboard, wandb=c.log.wandb)

    def _wants_deepspeed(self) -> bool:
        return self.config.train.strategy == "deepspeed" or (self.config.train.strategy == "auto"
                                                             and self.config.train.deepspeed is not None)

    def _strategy(self) -> str:
        chosen = self.config.train.strategy
        if chosen == "auto":
            return "deepspeed" if self._wants_deepspeed() else "ddp" if self.runtime.distributed else "single"
        if chosen not in STRATEGIES:
            raise UserError(f"train.strategy {chosen!r} must be auto or one of {', '.join(STRATEGIES)}")
        if chosen == "single" and self.runtime.distributed:
            raise UserError(f"train.strategy single cannot run in {self.runtime.world_size} processes; "
                            f"use ddp, fsdp or deepspeed")
        return chosen

    def _local_world(self) -> int:
        return int(os.environ.get("LOCAL_WORLD_SIZE", self.runtime.world_size))

    def _on_rank0_first(self, make: Any) -> Any:
        """Rank 0 builds what is cached (data, the initial model); the other ranks then find it built."""
        result = make() if self.runtime.main else None
        self.runtime.barrier()
        return result if self.runtime.main else make()

    def _check_out(self) -> Path | None:
        """The checkpoint to resume from; refuses to train over another run's folder."""
        latest = ckpt.latest(self.out)
        has_run = latest is not None or (self.out / METRICS).is_file()
        if has_run and not self.resume_requested:
            raise UserError(f"{self.out} already holds a training run; pass --resume to continue it, or choose "
                            f"another --out")
        return latest if self.resume_requested else None

    def _engine(self, model: torch.nn.Module) -> Any:
        c = self.config
        if self.strategy != "deepspeed":
            return TorchEngine(model, self.runtime, self.strategy, c.optim, c.train.precision)
        if c.train.deepspeed is None:
            raise UserError("train.strategy deepspeed needs train.deepspeed: a DeepSpeed JSON such as "
                            "sgt_train/configs/ds_zero2.json")
        from sgt_train.deepspeed_engine import DeepSpeedEngine, deepspeed_config

        config = deepspeed_config(Path(c.train.deepspeed), c.train, c.optim, self.runtime.world_size)
        return DeepSpeedEngine(model, self.runtime, config, c.train.precision)

    # -- resume -----------------------------------------------------------------------------------
    def resume(self, checkpoint: Path) -> None:
        """Restore optimizer, EMA, RNG and data position from a checkpoint (the weights are already loaded)."""
        state = ckpt.read_state(checkpoint)
        for key in ("world_size", "strategy"):
            now = self.runtime.world_size if key == "world_size" else self.strategy
            if state[key] != now:
                raise UserError(f"{checkpoint}: saved with {key} {state[key]}, resumed with {now}; resume with the "
                                f"same launcher settings")
        _same_config(state["config"], self.config.to_dict(), checkpoint)
        if self.strategy == "deepspeed":
            self.engine.load(checkpoint)
        else:
            self.engine.load_optimizer(ckpt.load_optimizer(checkpoint))
        self.engine.load_local(self.ema.shadow, load_file(str(checkpoint / ckpt.MODEL / EMA_WEIGHTS)))
        self.ema.updates = state["ema_updates"]
        ckpt.load_rng(checkpoint, self.runtime.rank)
        self.skips.entries = list(state["skipped"])
        self.start_step = state["step"]

    # -- training ---------------------------------------------------------------------------------
    def train(self) -> Path:
        """Run the remaining steps; returns the ``final/`` checkpoint folder (on every rank)."""
        c = self.config
        data = StepData(self.plan, self.runtime.rank, self.data.sources, self.encoder, self.data.proxy,
                        head_size=self.engine.model.head.config.image_size, seed=c.data.seed,
                        timestep_shift=c.train.timestep_shift, skip_bad=c.data.skip_bad_samples, steps=c.train.steps)
        loader = torch.utils.data.DataLoader(
            data, batch_size=None, sampler=range(self.start_step, c.train.steps), collate_fn=identity,
            num_workers=c.data.num_workers, worker_init_fn=_worker_init,
            prefetch_factor=2 if c.data.num_workers else None)
        last = ckpt.latest(self.out) if self.start_step >= c.train.steps else None  # nothing left: republish
        waited_from = time.perf_counter()
        for payload in loader:
            fetched = time.perf_counter()
            if payload["error"]:
                raise UserError(payload["error"])
            record = self._step(payload)
            finished = time.perf_counter()
            record.update(data_wait_s=round(fetched - waited_from, 5), step_s=round(finished - waited_from, 5),
                          samples_per_s=self.plan.samples_per_step / max(finished - waited_from, 1e-9))
            self.tracker.log(record)
            step = payload["step"] + 1
            if step % c.checkpoint.every == 0 or step == c.train.steps:
                last = self.save(step)
            waited_from = time.perf_counter()
        return self._finish(last)

    def _step(self, payload: dict[str, Any]) -> dict[str, Any]:
        c, micro = self.config, payload["micro"]
        local = torch.tensor([sum(float((b["labels"][:, 1:] != -100).sum()) for b in micro),
                              sum(float(b["image_rows"].numel()) for b in micro),
                              *(payload["counts"][s] for s in self.plan.ratio), float(len(payload["skipped"]))])
        totals = self.runtime.all_sum(local)
        tokens, images = max(float(totals[0]), 1.0), max(float(totals[1]), 1.0)
        sums = torch.zeros(2, dtype=torch.float64)
        for k, batch in enumerate(micro):
            out = self.engine.forward(batch)
            loss = c.train.text_weight * out["ce_sum"] / tokens + c.train.image_weight * out["mse_sum"] / images
            self.engine.backward(loss, last=k == len(micro) - 1)
            sums += torch.stack([out["ce_sum"].detach().double().cpu(), out["mse_sum"].detach().double().cpu()])
        sums = self.runtime.all_sum(sums)
        lr = learning_rate(payload["step"], c)
        grad_norm = self.engine.step(lr, c.optim.grad_clip)
        self.ema.update(self.engine.local_tensors())
        self.skips.entries += payload["skipped"]
        text = float(sums[0]) / tokens if totals[0] else None
        image = float(sums[1]) / images if totals[1] else None
        loss = sum(w * v for w, v in ((c.train.text_weight, text), (c.train.image_weight, image)) if v is not None)
        return {"step": payload["step"] + 1, "loss": loss, "loss_text": text, "loss_image": image, "lr": lr,
                "grad_norm": grad_norm, "ratio": {s: int(totals[2 + i]) for i, s in enumerate(self.plan.ratio)},
                "skipped": int(totals[-1])}

    # -- saving -----------------------------------------------------------------------------------
    def save(self, step: int) -> Path:
        """Write checkpoint ``step`` (every rank takes part); returns its folder."""
        rt = self.runtime
        partial = ckpt.begin(self.out, step) if rt.main else ckpt.partial_dir(self.out, step)
        rt.barrier()
        state = full_model_state(self.engine)
        ema = self.engine.gather(self.ema.shadow)
        optimizer = None
        if self.strategy == "deepspeed":
            self.engine.save(partial)
        else:
            optimizer = self.engine.optimizer_state()
        ckpt.save_rng(partial, rt.rank)
        if rt.main:
            ema.update({k: v for k, v in state.items() if k not in ema})  # buffers: an EMA folder loads whole
            save_umm(partial / ckpt.MODEL, self.engine.model, self.tokenizer, self.image_processor, ema=ema,
                     state=state)
            if optimizer is not None:
                ckpt.save_optimizer(partial, optimizer)
        rt.barrier()
        if rt.main:
            ckpt.finish(self.out, step, {
                "step": step, "world_size": rt.world_size, "strategy": self.strategy, "config": self.config.to_dict(),
                "ema_updates": self.ema.updates, "lr": learning_rate(step - 1, self.config),
                "data_positions": {s: step * n for s, n in self.plan.per_step.items()},
                "skipped": self.skips.entries}, keep=self.config.checkpoint.keep)
        rt.barrier()
        return ckpt.step_dir(self.out, step)

    def _finish(self, last: Path | None) -> Path:
        if self.runtime.main:
            if last is None:
                raise UserError(f"{self.out}: no checkpoint to publish (train.steps is {self.config.train.steps})")
            metrics = read_metrics(self.out / METRICS)
            self.manifest["result"] = {"steps": self.config.train.steps, "final_metrics": metrics[-1] if metrics else None,
                                       "skipped": self.skips.counts()}
            write_json_atomic(self.out / "run.json", self.manifest)
            final = ckpt.publish_final(self.out, last, self.manifest)
            loss_curve(metrics, self.out / CURVE)
            if self.skips.entries:
                self.skips.write(self.out / "skipped.jsonl")
                self.tracker.note(f"sgt-train: {self.skips.summary()}; see {self.out / 'skipped.jsonl'}")
            if self.config.log.samples and self.data.sources.seg:
                from sgt_train.samples import sample_grid

                sample_grid(final, self.data.sources.seg[:self.config.log.samples], self.data.proxy,
                            self.out / "samples" / "seg_grid.png", steps=self.config.log.sample_steps,
                            seed=self.config.data.seed, shift=self.config.train.timestep_shift)
        self.runtime.barrier()
        return self.out / ckpt.FINAL

    def cleanup(self) -> None:
        """Close the progress bar and logs (also after an error, so its message is not torn) and leave the group."""
        tracker = getattr(self, "tracker", None)
        if tracker is not None:
            tracker.close()
        stop()


def _same_config(saved: dict[str, Any], current: dict[str, Any], where: Path, prefix: str = "") -> None:
    for key in sorted(set(saved) | set(current)):
        name = f"{prefix}{key}"
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            _same_config(old, new, where, name + ".")
        elif old != new and name not in RESUME_FREE:
            raise UserError(f"{where}: {name} was {old!r} and is now {new!r}; a resumed run must compute the same "
                            f"thing (start a new --out to change it)")


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # data workers decode and tokenise; the training process owns the cores


def run(config: Config, *, resume: bool = False) -> Path:
    """Set up, train and clean up; the ``final/`` folder."""
    recipe = SGTRecipe(config, resume=resume)
    try:
        recipe.setup()
        return recipe.train()
    finally:
        recipe.cleanup()
        sys.stderr.flush()
