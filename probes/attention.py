"""Attention reallocation: how much of the attention of chosen query rows lands on each key category.

For query rows Q (the prompt's words, the answer tokens or the last prompt token) and all keys N of
one layer, the share of category c is ``sum over keys k in c of softmax_k(q . k / sqrt(d) + mask)``,
per head, averaged over the rows. Full attention maps are never formed: the logits of the chosen
rows only are computed from the Q and K the attention module already made (after q/k norm and
rotary embedding), so memory is O(heads x min(|Q|, 32) x N), and it works whatever kernel the model runs
(eager, SDPA, flash-attention), because the tap sits in transformers' attention-function registry
and hands the call on to the real kernel unchanged.

Attention sinks (a few tokens with massive activations that soak up attention whatever the text,
Sun et al. 2024; Kang et al. 2025 for visual tokens) are detected from the hidden states entering
the layer and reported three ways: shares with sinks counted in their own category, the share held
by sinks, and shares with sink keys removed and the rest renormalised.

:func:`shares_from_maps` computes the same numbers from full ``output_attentions`` maps; it is the
slow path kept for verification (tests compare the two to 1e-5).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

# Key categories in the order of the last axis of every share array.
KEY_CATEGORIES: tuple[str, ...] = ("visual", "object", "colour", "position", "other", "special", "answer")
# A token is a sink when its largest |hidden value| is this many times the sample's median |hidden value|
# (Sun et al. call activations ~1000x the median "massive"; 100 keeps a margin for small models).
SINK_RATIO = 100.0
# Query rows handled at once: memory is O(heads x ROW_CHUNK x N) however many rows a prompt has.
ROW_CHUNK = 32


@dataclass
class Rows:
    """The query rows and key categories of one batch (B samples, N positions, Q = most rows in a sample).

    Attributes
    ----------
    index
        (B, Q) long: positions of each sample's query rows, padded with 0.
    valid
        (B, Q) bool: which entries of ``index`` are real rows.
    category
        (B, N) long: each key's index in ``KEY_CATEGORIES``; -1 for padding.
    """

    index: torch.Tensor
    valid: torch.Tensor
    category: torch.Tensor


def massive_tokens(hidden: torch.Tensor, category: torch.Tensor, ratio: float = SINK_RATIO) -> torch.Tensor:
    """(B, N) bool: tokens whose largest |activation| is ``ratio`` x the sample's median |activation|."""
    magnitude = hidden.detach().float().abs()                        # (B, N, D)
    peak = magnitude.amax(-1)                                        # (B, N)
    real = category >= 0
    median = magnitude.masked_fill(~real[..., None], float("nan")).flatten(1).nanmedian(-1).values  # (B,)
    return (peak > ratio * median[:, None]) & real


def shares_from_logits(logits: torch.Tensor, allowed: torch.Tensor, rows: Rows,
                       sinks: torch.Tensor | None, weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Category shares from the logits of the query rows.

    Parameters
    ----------
    logits
        (B, H, Q, N) float32 attention logits of the query rows (scaled, before the mask).
    allowed
        (B, 1 or H, Q, N) bool: which keys each row may attend to (causal, padding, window).
    sinks
        (B, N) bool or None.
    weight
        (B, Q) weight of each row; default 1 / (valid rows of the sample), i.e. the mean over rows.
        A chunk of a sample's rows passes its slice of the full weights, so chunk results add up.

    Returns
    -------
    ``shares`` (B, H, C), ``sink`` (B, H) and ``shares_without_sinks`` (B, H, C), each averaged over
    the valid rows of each sample.
    """
    allowed = allowed | ~rows.valid[:, None, :, None]                # padding rows: any finite softmax, weight 0
    probs = logits.masked_fill(~allowed, float("-inf")).softmax(-1)  # (B, H, Q, N)
    onehot = torch.nn.functional.one_hot(rows.category.clamp(min=0), len(KEY_CATEGORIES)).float()
    onehot = onehot * (rows.category >= 0)[..., None]                # (B, N, C); padding in no category
    if weight is None:
        weight = row_weights(rows)

    sink = torch.zeros_like(rows.category, dtype=torch.bool) if sinks is None else sinks
    per_key = torch.einsum("bhqn,bq->bhn", probs, weight)            # (B, H, N): rows pooled first, it is linear
    held = torch.einsum("bhn,bn->bh", per_key, sink.float())         # (B, H)
    kept = probs * (~sink)[:, None, None, :]
    kept_weight = weight[:, None, :] / kept.sum(-1).clamp(min=1e-30)  # (B, H, Q): renormalise each row
    kept_per_key = torch.einsum("bhqn,bhq->bhn", kept, kept_weight)
    return {"shares": per_key @ onehot, "sink": held, "shares_without_sinks": kept_per_key @ onehot}


def row_weights(rows: Rows) -> torch.Tensor:
    """(B, Q): 1 / (number of valid rows) on valid rows, 0 elsewhere."""
    return rows.valid.float() / rows.valid.sum(-1, keepdim=True).clamp(min=1)


def row_logits(query: torch.Tensor, key: torch.Tensor, rows: Rows, scaling: float) -> torch.Tensor:
    """(B, H, Q, N) float32 logits of the query rows; grouped-query keys are shared without copying."""
    b, h, _, d = query.shape
    kv = key.shape[1]
    picked = query.gather(2, rows.index[:, None, :, None].expand(b, h, rows.index.shape[1], d))  # (B, H, Q, D)
    picked = picked.float().view(b, kv, h // kv, -1, d)              # (B, KV, G, Q, D)
    logits = torch.einsum("bkgqd,bknd->bkgqn", picked, key.float()) * scaling
    return logits.reshape(b, h, rows.index.shape[1], key.shape[2])   # (B, H, Q, N)


def allowed_keys(mask: torch.Tensor | None, rows: Rows, n_keys: int, sliding_window: int | None,
                 causal_module: bool = True, offset: int = 0) -> torch.Tensor:
    """(B, 1 or H, Q, N) bool from whatever mask the kernel was given, restricted to the query rows.

    Eager kernels get an additive float mask, SDPA a boolean one or None (pure causal), flash
    kernels a 2-D padding mask or None. ``rows.index`` counts within the call's queries, which sit
    at key positions ``offset`` on (0 without a cache; the cache length when a chunk attends to it).
    """
    keys = torch.arange(n_keys, device=rows.index.device)
    position = rows.index[:, :, None] + offset                       # (B, Q, 1): each row's key position
    causal = keys[None, None, :] <= position                         # (B, Q, N)
    if not causal_module:
        causal = torch.ones_like(causal)
    if sliding_window is not None:
        causal &= keys[None, None, :] > position - sliding_window
    if mask is None:
        return causal[:, None]
    if mask.dim() == 2:                                              # (B, N) padding, 1 = real token
        return (causal & mask[:, None, :n_keys].bool())[:, None]
    full = mask[..., :n_keys].expand(rows.index.shape[0], -1, -1, -1)  # (B, 1 or H, N, N)
    index = rows.index[:, None, :, None].expand(-1, full.shape[1], -1, n_keys)
    picked = full.gather(2, index)                                   # (B, 1 or H, Q, N)
    return picked if picked.dtype == torch.bool else picked > torch.finfo(picked.dtype).min / 2


def shares_from_maps(attentions: torch.Tensor, rows: Rows, sinks: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The slow path: the same shares from full (B, H, N, N) attention maps (eager ``output_attentions``)."""
    b, h, _, n = attentions.shape
    probs = attentions.float().gather(2, rows.index[:, None, :, None].expand(b, h, -1, n))  # (B, H, Q, N)
    # log(p) is a valid logit row: softmax(log p) = p, and zero-probability keys stay excluded.
    return shares_from_logits(probs.log(), probs > 0, rows, sinks)


class AttentionTap:
    """Computes category shares inside the attention calls of chosen modules during one forward pass.

    Use as a context manager around the forward pass, after setting ``rows`` (and ``sinks`` per
    layer, if sinks are tracked). Results land in ``results[layer]``.

    Parameters
    ----------
    modules
        Attention module -> layer index, for the decoder layers to measure (other attention calls,
        e.g. the vision tower's, pass through untouched).
    """

    def __init__(self, modules: Mapping[torch.nn.Module, int]) -> None:
        self.layers = {id(m): layer for m, layer in modules.items()}
        self.rows: Rows | None = None
        self.sinks: dict[int, torch.Tensor] = {}
        self.results: dict[int, dict[str, torch.Tensor]] = {}

    def measure(self, module: Any, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None,
                scaling: float | None, sliding_window: int | None, offset: int = 0,
                causal: bool | None = None) -> None:
        """Add the shares of the rows among this call's queries to ``results[layer]``.

        ``query`` (B, H, Nq, D) are the queries of positions ``offset .. offset + Nq``; ``key`` (B, KV, N, D)
        every key they see. A model that runs a prompt in several calls (BAGEL: image, question, answer
        against a KV cache) calls this once per chunk; each call adds its rows' part of the mean.
        """
        layer = self.layers.get(id(module))
        if layer is None or self.rows is None:
            return
        n_q = query.shape[2]
        inside = self.rows.valid & (self.rows.index >= offset) & (self.rows.index < offset + n_q)
        if not inside.any():
            return
        local = Rows((self.rows.index - offset).clamp(0, n_q - 1), inside, self.rows.category[:, :key.shape[2]])
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        weight = row_weights(self.rows) * inside                     # the mean over all rows of each sample
        is_causal = getattr(module, "is_causal", True) if causal is None else causal
        total: dict[str, torch.Tensor] = dict(self.results.get(layer, {}))
        # float32 whatever the model runs in: an autocast region (BAGEL's bf16) would round the shares
        with torch.no_grad(), torch.autocast(query.device.type, enabled=False):
            for start in range(0, local.index.shape[1], ROW_CHUNK):  # bounded memory for long prompts
                stop = start + ROW_CHUNK
                rows = Rows(local.index[:, start:stop], local.valid[:, start:stop], local.category)
                logits = row_logits(query, key, rows, scale)
                allowed = allowed_keys(mask, rows, key.shape[2], sliding_window, is_causal, offset)
                sinks = self.sinks.get(layer)
                part = shares_from_logits(logits, allowed, rows, None if sinks is None else sinks[:, :key.shape[2]],
                                          weight[:, start:stop])
                total = {k: total[k] + v for k, v in part.items()} if total else part
        self.results[layer] = total

    @contextmanager
    def installed(self, implementation: str) -> Iterator[AttentionTap]:
        """Wrap ``implementation`` in transformers' registry for the duration of the block."""
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        registry = ALL_ATTENTION_FUNCTIONS._global_mapping
        previous = registry.get(implementation)

        def kernel_of(module: Any) -> Callable[..., Any]:
            if previous is not None:
                return previous
            # "eager" is each model file's own eager_attention_forward, not a registry entry
            return sys.modules[type(module).__module__].eager_attention_forward

        def tapped(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   attention_mask: torch.Tensor | None, **kwargs: Any) -> Any:
            self.measure(module, query, key, attention_mask, kwargs.get("scaling"), kwargs.get("sliding_window"))
            return kernel_of(module)(module, query, key, value, attention_mask, **kwargs)

        registry[implementation] = tapped
        try:
            yield self
        finally:
            if previous is None:
                del registry[implementation]
            else:
                registry[implementation] = previous
