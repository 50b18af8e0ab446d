"""flash-attention's ``flash_attn_varlen_func`` for machines without flash-attn (CPU, pre-Ampere GPUs).

BAGEL's inference code imports ``flash_attn_varlen_func`` unconditionally. When the real package
is installed it is used (fastest); otherwise :func:`flash_attn_varlen_func` here computes the same
attention with PyTorch's scaled-dot-product attention, one packed sequence at a time.

Semantics follow flash-attn 2.1+: sequences are packed along the first axis and delimited by
``cu_seqlens``; grouped-query keys/values are shared by consecutive query heads; with
``causal=True`` and fewer queries than keys, the mask is aligned to the bottom right (query ``i``
of ``n_q`` sees keys up to ``i + n_k - n_q``), which is how a query attends a KV cache.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F


def flash_attn_available() -> bool:
    """Whether the real flash-attn package can be imported (it needs CUDA and a matching build)."""
    return importlib.util.find_spec("flash_attn") is not None


def flash_attn_varlen_func(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor,
                           cu_seqlens_k: torch.Tensor, max_seqlen_q: int, max_seqlen_k: int, dropout_p: float = 0.0,
                           softmax_scale: float | None = None, causal: bool = False, **unused: Any) -> torch.Tensor:
    """Attention over packed variable-length sequences; the arguments of flash-attn's function.

    Parameters
    ----------
    q
        (total_q, H, D) queries of all sequences, packed.
    k, v
        (total_k, KV, D) keys and values; H must be a multiple of KV.
    cu_seqlens_q, cu_seqlens_k
        (B + 1,) int32 cumulative sequence lengths (0 first).
    causal
        Bottom-right aligned causal mask within each sequence.

    Returns
    -------
    (total_q, H, D) in the dtype of ``q``.
    """
    if dropout_p:
        raise ValueError("the flash_attn_varlen_func stand-in runs inference only (dropout_p must be 0)")
    out = torch.empty_like(q)
    group = q.shape[1] // k.shape[1]
    bounds_q, bounds_k = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    for (q0, q1), (k0, k1) in zip(zip(bounds_q, bounds_q[1:]), zip(bounds_k, bounds_k[1:])):
        query = q[q0:q1].transpose(0, 1)                                   # (H, Nq, D)
        key = k[k0:k1].transpose(0, 1).repeat_interleave(group, dim=0)     # (H, Nk, D)
        value = v[k0:k1].transpose(0, 1).repeat_interleave(group, dim=0)
        mask = None
        if causal:
            n_q, n_k = q1 - q0, k1 - k0
            rows = torch.arange(n_q, device=q.device)[:, None] + (n_k - n_q)
            mask = torch.arange(n_k, device=q.device)[None, :] <= rows      # (Nq, Nk)
        out[q0:q1] = F.scaled_dot_product_attention(query, key, value.to(query.dtype), attn_mask=mask,
                                                    scale=softmax_scale).transpose(0, 1)
    return out


@contextmanager
def importable_flash_attn() -> Iterator[None]:
    """Make ``from flash_attn import flash_attn_varlen_func`` work for the duration of an upstream import.

    Without flash-attn, a stand-in module holding the function above is registered under the name
    ``flash_attn`` and removed again afterwards, so that nothing imported later (transformers asks
    whether flash-attn is installed) mistakes it for the real package.
    """
    if flash_attn_available() or "flash_attn" in sys.modules:
        yield
        return
    module = ModuleType("flash_attn")
    module.__spec__ = importlib.machinery.ModuleSpec("flash_attn", None)
    module.flash_attn_varlen_func = flash_attn_varlen_func  # type: ignore[attr-defined]
    sys.modules["flash_attn"] = module
    try:
        yield
    finally:
        sys.modules.pop("flash_attn", None)
