"""The image head: a small diffusion transformer conditioned on the backbone's hidden states.

OmniGen2-shaped: the MLLM's last hidden states (every prompt position, image tokens included) pass a
context refiner, then join the noisy image patches in single-stream transformer blocks whose
LayerNorms are modulated by the timestep (adaLN-Zero, as in DiT). It works in pixel space (no VAE:
at 64 x 64 there is nothing to compress) and is trained on the flow-matching velocity, but the network
predicts the clean image and returns the velocity that implies, ``v = (x_t - x0_hat) / t`` ("x-prediction,
v-loss", as in JiT, Li & He 2025): a patch token (128 wide) cannot carry a 192-value patch of noise through
to the output, whereas the clean image lies on a low-dimensional manifold it can predict, and the last
Euler step then lands exactly on that prediction instead of leaving residual noise. Like SGT's OmniGen2
fork (``reca_flag = True``), the input image reaches the head only through the backbone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

MIN_TIME = 0.05  # in training, times below this divide by it instead (the loss weight of x0 errors is 1 / t^2)


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


def sincos_2d(ys: torch.Tensor, xs: torch.Tensor, dim: int) -> torch.Tensor:
    """(N, dim) fixed 2-D sine-cosine embedding of (N,) row and column coordinates (patch-grid units)."""
    quarter = dim // 4
    freqs = 1.0 / 10_000.0 ** (torch.arange(quarter, dtype=torch.float32, device=ys.device) / quarter)
    parts = [f(c.float()[:, None] * freqs[None, :]) for c in (ys, xs) for f in (torch.sin, torch.cos)]
    return torch.cat(parts, dim=-1)


@dataclass(frozen=True)
class Condition:
    """The head's conditioning: refined context tokens (B, M, D), their mask (B, M) and, per patch, the
    state of the visual token at its place (B, T, D)."""

    tokens: torch.Tensor
    mask: torch.Tensor
    aligned: torch.Tensor


def grid_embedding(side: int, dim: int) -> torch.Tensor:
    """(side * side, dim) embedding of a row-major patch grid."""
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    return sincos_2d(ys.flatten(), xs.flatten(), dim)  # (side * side, dim)


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
    """Velocity ``v(x_t, t | context)`` for images of ``config.image_size``, through a clean-image prediction."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        d, p = config.hidden, config.patch
        self.context_in = nn.Sequential(nn.LayerNorm(config.cond_dim), nn.Linear(config.cond_dim, d))
        self.refiner = nn.ModuleList(Block(d, config.heads, config.mlp_ratio, False) for _ in range(config.refiner_layers))
        self.patch_in = nn.Linear(config.channels * p * p, d)
        side = config.image_size // p
        self.register_buffer("position", grid_embedding(side, d), persistent=False)
        ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        self.register_buffer("patch_grid", torch.stack([ys.flatten(), xs.flatten()], -1).float(), persistent=False)
        self.aligned_in = nn.Linear(d, d)
        self.time_in = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(d, config.heads, config.mlp_ratio, True) for _ in range(config.layers))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.modulation_out = nn.Linear(d, 2 * d)
        self.patch_out = nn.Linear(d, config.channels * p * p)
        for layer in (self.modulation_out, self.patch_out):  # the untrained head predicts a blank (zero) image
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.gradient_checkpointing = False

    def encode_context(self, hidden: torch.Tensor, mask: torch.Tensor, where: torch.Tensor) -> Condition:
        """What the head is conditioned on, from (B, M, cond_dim) backbone states, their (B, M) bool mask and
        (B, M, 2) places: each visual token's centre (row, column) as fractions of its image, NaN for text.

        The backbone's states carry no absolute position (its RoPE only rotates queries and keys), so the
        visual tokens get the 2-D embedding of the head's patches at their place, and each patch also
        receives the refined state of the visual token above it (zeros without an input image): the mask of
        a region is drawn from what the backbone says is there, and the gradient says so to that token.
        """
        context = self.context_in(hidden)
        visual = ~where[..., 0].isnan()                                                 # (B, M)
        side = self.config.image_size // self.config.patch
        grid = where[visual] * side - 0.5                                               # (V, 2) in patch units
        context = context.clone()
        context[visual] = context[visual] + sincos_2d(grid[:, 0], grid[:, 1], self.config.hidden).to(context.dtype)
        attend = mask[:, None, None, :]
        for block in self.refiner:
            context = self._run(block, context, attend)
        centres = (self.patch_grid + 0.5) / side                                        # (T, 2)
        if context.shape[1] == 0:  # no image rows in this micro-batch (cycle mixing's VQA turns)
            return Condition(context, mask, context.new_zeros(len(where), len(centres), context.shape[-1]))
        places = torch.where(visual[..., None], where, torch.full_like(where, 1e4))    # text tokens: far away
        nearest = torch.cdist(centres[None].expand(len(where), -1, -1).to(places), places).argmin(-1)  # (B, T)
        aligned = torch.gather(context, 1, nearest[..., None].expand(-1, -1, context.shape[-1]))       # (B, T, D)
        return Condition(context, mask, aligned * visual.any(1)[:, None, None].to(aligned.dtype))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition) -> torch.Tensor:
        """The velocity (B, C, S, S) at x_t (B, C, S, S) and t (B,) under a :meth:`encode_context` condition."""
        b = x_t.shape[0]
        patches = self.patch_in(self._patchify(x_t)) + self.position.to(x_t.dtype)    # (B, T, D)
        patches = patches + self.aligned_in(condition.aligned)
        temb = self.time_in(timestep_embedding(t, self.config.hidden).to(x_t.dtype))  # (B, D)
        context = condition.tokens
        tokens = torch.cat([context, patches], dim=1)                                   # (B, M + T, D)
        ones = torch.ones(b, patches.shape[1], dtype=torch.bool, device=x_t.device)
        attend = torch.cat([condition.mask, ones], dim=1)[:, None, None, :]             # (B, 1, 1, M + T)
        for block in self.blocks:
            tokens = self._run(block, tokens, attend, temb)
        shift, scale = self.modulation_out(F.silu(temb))[:, None].chunk(2, dim=-1)
        out = self.patch_out(self.norm_out(tokens[:, context.shape[1]:]) * (1 + scale) + shift)  # (B, T, C p p)
        clean = self._unpatchify(out)                                                   # x0_hat (B, C, S, S)
        # training clamps small times (their 1/t^2-weighted loss would swamp a batch); sampling never reaches t = 0
        time = t.clamp(min=MIN_TIME) if self.training else t
        return (x_t - clean) / time.to(x_t.dtype)[:, None, None, None]

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
