"""The process group: one process, or ranks started by ``torchrun`` / ``deepspeed`` (gloo on CPU, nccl on GPU).

Both launchers set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; a
plain ``sgt-train`` sets none and runs alone. Helpers are no-ops in a single process, so the
training loop has one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """The sum of ``values`` over ranks (a new tensor; float64 keeps counts exact)."""
        values = values.detach().to(torch.float64).clone()
        if self.distributed:
            buffer = values.to(self.device)  # nccl reduces device tensors only
            dist.all_reduce(buffer)
            values = buffer.cpu()
        return values

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def start(backend_hint: str | None = None) -> Runtime:
    """Join the launcher's process group (when there is one) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        if backend_hint == "deepspeed":
            import deepspeed

            deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo")
        else:
            dist.init_process_group("nccl" if cuda else "gloo")
    return Runtime(rank, world, local, device)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
