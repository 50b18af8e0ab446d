"""The image head: a small diffusion transformer conditioned on the backbone's hidden states.

OmniGen2-shaped: the MLLM's last hidden states (every prompt position, image tokens included) pass a
context refiner, then join the noisy image patches in single-stream transformer blocks whose
LayerNorms are modulated by the timestep (adaLN-Zero, as in DiT). The head predicts the flow-matching
velocity in pixel space (no VAE: at 64 x 64 there is nothing to compress), as patches. Like SGT's
OmniGen2 fork (``reca_flag = True``), the input image reaches the head only through the backbone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class HeadConfig:
    """Sizes of the image head; ``cond_dim`` is the backbone's hidden size."""

    cond_dim: int
    image_size: int = 64
    patch: int = 4
    channels: int = 3
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    refiner_layers: int = 1
    mlp_ratio: int = 2

    def __post_init__(self) -> None:
        if self.image_size % self.patch:
            raise ValueError(f"head image_size {self.image_size} is not a multiple of patch {self.patch}")
        if self.hidden % self.heads:
            raise ValueError(f"head hidden {self.hidden} is not a multiple of heads {self.heads}")

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch) ** 2

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, dim) sinusoidal features (of 1000 t, as DiT's integer steps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def sincos_2d(side: int, dim: int) -> torch.Tensor:
    """(side * side, dim) fixed 2-D sine-cosine position embedding of a patch grid, row-major."""
    quarter = dim // 4
    freqs = 1.0 / 10_000.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter)
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    parts = [f(c.flatten()[:, None] * freqs[None, :]) for c in (ys, xs) for f in (torch.sin, torch.cos)]
    return torch.cat(parts, dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block; with ``modulated``, adaLN-Zero from the timestep embedding."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, modulated: bool) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_ratio * dim, dim))
        self.modulation = nn.Linear(dim, 6 * dim) if modulated else None
        if self.modulation is not None:  # zero gates: every block starts as the identity (DiT)
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        # x (B, N, D); mask (B, 1, 1, N) bool, True = attend; temb (B, D)
        if self.modulation is None:
            x = self._attend(x, self.norm1(x), mask)
            return x + self.mlp(self.norm2(x))
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(temb))[:, None].chunk(6, dim=-1)
        x = self._attend(x, self.norm1(x) * (1 + scale1) + shift1, mask, gate1)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)

    def _attend(self, x: torch.Tensor, h: torch.Tensor, mask: torch.Tensor, gate: torch.Tensor | float = 1.0) -> torch.Tensor:
        b, n, d = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, d)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)                   # (B, H, N, d)
        return x + gate * self.proj(attended.transpose(1, 2).reshape(b, n, d))


class ImageHead(nn.Module):
    """Velocity prediction ``v(x_t, t | context)`` for images of ``config.image_size``."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        d, p = config.hidden, config.patch
        self.context_in = nn.Sequential(nn.LayerNorm(config.cond_dim), nn.Linear(config.cond_dim, d))
        self.refiner = nn.ModuleList(Block(d, config.heads, config.mlp_ratio, False) for _ in range(config.refiner_layers))
        self.patch_in = nn.Linear(config.channels * p * p, d)
        self.register_buffer("position", sincos_2d(config.image_size // p, d), persistent=False)
        self.time_in = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(d, config.heads, config.mlp_ratio, True) for _ in range(config.layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.modulation_out = nn.Linear(d, 2 * d)
        self.patch_out = nn.Linear(d, config.channels * p * p)
        for layer in (self.modulation_out, self.patch_out):  # the untrained head predicts zero velocity
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.gradient_checkpointing = False

    def encode_context(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, M, cond_dim) backbone states and (B, M) bool mask -> (B, M, D) refined context."""
        context = self.context_in(hidden)
        attend = mask[:, None, None, :]
        for block in self.refiner:
            context = self._run(block, context, attend)
        return context

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x_t (B, C, S, S), t (B,), context (B, M, D) from :meth:`encode_context`, mask (B, M) -> (B, C, S, S)."""
        b = x_t.shape[0]
        patches = self.patch_in(self._patchify(x_t)) + self.position.to(x_t.dtype)    # (B, T, D)
        temb = self.time_in(timestep_embedding(t, self.config.hidden).to(x_t.dtype))  # (B, D)
        tokens = torch.cat([context, patches], dim=1)                                   # (B, M + T, D)
        ones = torch.ones(b, patches.shape[1], dtype=torch.bool, device=x_t.device)
        attend = torch.cat([mask, ones], dim=1)[:, None, None, :]                       # (B, 1, 1, M + T)
        for block in self.blocks:
            tokens = self._run(block, tokens, attend, temb)
        shift, scale = self.modulation_out(F.silu(temb))[:, None].chunk(2, dim=-1)
        out = self.patch_out(self.norm_out(tokens[:, context.shape[1]:]) * (1 + scale) + shift)  # (B, T, C p p)
        return self._unpatchify(out)

    def _run(self, block: Block, x: torch.Tensor, mask: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        if self.gradient_checkpointing and self.training:
            return checkpoint(block, x, mask, temb, use_reentrant=False)
        return block(x, mask, temb)

    def _patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, s, _ = x.shape
        p, g = self.config.patch, s // self.config.patch
        return x.view(b, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, c * p * p)

    def _unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, p = x.shape[0], self.config.channels, self.config.patch
        g = self.config.image_size // p
        return x.view(b, g, g, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, g * p, g * p)
