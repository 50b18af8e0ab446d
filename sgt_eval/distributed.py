"""Evaluation over several processes (GPUs, nodes): ``torchrun --nproc_per_node N -m sgt_eval run ...``.

Each rank takes a strided, deterministic share of a benchmark (sample ``i``, or fixed image batch
``i``, goes to rank ``i % world``), appends what it grades to its own
``<bench>/predictions.rank<r>.jsonl``, and rank 0 folds the rank files into ``predictions.jsonl``
(in dataset order) and scores. Answers do not depend on batch composition and image batches keep
the one-process boundaries, so 1 and N ranks write the same records and the same metrics.

Resume works across kills and world sizes: before a benchmark starts, rank 0 repairs torn last
lines and folds every leftover rank file (of any earlier world size) into ``predictions.jsonl``;
the ranks then skip every id already recorded. The fold writes ``predictions.jsonl`` atomically
before it deletes the rank files, so a kill between the two leaves copies that the next fold
recognises (same id in the main file and a rank file) instead of duplicates.

The process group is gloo whatever the device: ranks only wait for each other (barriers), they
never exchange tensors. Multi-node runs need ``--out`` on a file system every node sees.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sgt_eval.errors import UserError
from sgt_eval.records import Prediction, Sample
from sgt_eval.store import PredictionLog

T = TypeVar("T")
# A barrier waits for the slowest rank to finish a whole benchmark (hours for a generation suite).
TIMEOUT_ENV = "SGT_EVAL_DIST_TIMEOUT_MIN"
DEFAULT_TIMEOUT_MIN = 48 * 60


@dataclass(frozen=True)
class Ranks:
    """This process's place among the evaluation processes (``world == 1``: a plain run)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def mine(self, items: Sequence[T]) -> list[T]:
        """Items ``rank, rank + world, ...``: a deterministic share that depends on the index alone."""
        return list(items[self.rank::self.world])

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def label(self) -> str:
        """``""`` for a plain run, ``"[rank 1/4] "`` under torchrun (prefix of progress lines)."""
        return "" if self.world == 1 else f"[rank {self.rank}/{self.world}] "


def join() -> Ranks:
    """The ranks of this process from torchrun's environment; joins the process group when world > 1.

    On CUDA machines each rank is bound to its local GPU (``cuda:LOCAL_RANK``), so a model loaded
    with ``device=auto``/``cuda`` lands on that rank's GPU.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Ranks()
    rank, local_rank = _env_int("RANK", -1), _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world:
        raise UserError(f"WORLD_SIZE={world} but RANK={os.environ.get('RANK')!r}; launch with "
                        f"`torchrun --nproc_per_node N -m sgt_eval run ...`, which sets both")
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    timeout = dt.timedelta(minutes=_env_int(TIMEOUT_ENV, DEFAULT_TIMEOUT_MIN))
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=timeout)
    return Ranks(rank, world, local_rank)


def leave(ranks: Ranks) -> None:
    """Leave the process group (after a last barrier, so no rank exits while others still wait)."""
    if ranks.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UserError(f"environment variable {name}={value!r} must be a whole number") from None


class ShardedLog:
    """One benchmark's predictions as written by one rank: the main file plus per-rank files.

    Parameters
    ----------
    log
        The benchmark's ``predictions.jsonl``.
    ranks
        This process's ranks; with ``world == 1`` records go straight into ``log``.
    """

    def __init__(self, log: PredictionLog, ranks: Ranks) -> None:
        self.log = log
        self.ranks = ranks
        own = log.path.with_name(f"predictions.rank{ranks.rank}.jsonl")
        self.writer = log if ranks.world == 1 else PredictionLog(own)

    def rank_files(self) -> list[PredictionLog]:
        """Every rank file beside the main file, of this world size or an earlier one."""
        return [PredictionLog(p) for p in sorted(self.log.path.parent.glob("predictions.rank*.jsonl"))]

    def start(self, samples: Sequence[Sample], retry_errors: bool) -> dict[str, Prediction]:
        """Rank 0 folds leftovers (and drops error records to retry them); then every rank reads what is done."""
        if self.ranks.main:
            self.log.repair_torn_tail()
            for part in self.rank_files():
                part.repair_torn_tail()
            self.fold(samples)
            if retry_errors:
                done = self.log.load()
                if any(r.error for r in done.values()):
                    self.log.rewrite(r for r in done.values() if r.error is None)
        self.ranks.barrier()
        return self.log.load()

    def finish(self, samples: Sequence[Sample]) -> list[Prediction]:
        """Wait for every rank, fold their files; rank 0 gets all records, the others an empty list."""
        self.ranks.barrier()
        if not self.ranks.main:
            return []
        self.fold(samples)
        return list(self.log.load().values())

    def fold(self, samples: Sequence[Sample]) -> None:
        """Move every rank file's records into the main file, in dataset order, then delete the rank files."""
        parts = self.rank_files()
        if not parts:
            return
        records = self.log.load()
        for part in parts:
            for record in part.load().values():
                records.setdefault(record.id, record)  # already in the main file: a fold a kill cut short
        order = {s.id: i for i, s in enumerate(samples)}
        ranked = sorted(records.values(), key=lambda r: (order.get(r.id, len(order)), r.id))
        self.log.rewrite(ranked)  # atomic: the rank files go only once the main file holds their records
        for part in parts:
            part.path.unlink(missing_ok=True)
