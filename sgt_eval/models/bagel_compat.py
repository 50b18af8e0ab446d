"""The transformers-4 names BAGEL's upstream code relies on, for running it under transformers 5.

BAGEL pins transformers 4.49 and its ``modeling/`` package uses four things transformers 5 removed
or changed. Each stand-in below reproduces the transformers 4 behaviour, is installed only when the
running transformers lacks it, and is scoped as narrowly as the upstream code allows; under
transformers 4 nothing here changes anything.

1. ``transformers.modeling_attn_mask_utils._prepare_4d_attention_mask`` (imported by BAGEL's SigLIP
   copy; BAGEL's vision path never calls it, but the import must succeed).
2. ``ROPE_INIT_FUNCTIONS["default"]`` (BAGEL's Qwen2 rotary embedding looks it up when built).
3. ``PretrainedConfig.pad_token_id`` defaulting to None (BAGEL's ``Qwen2Model`` reads it).
4. ``ModelOutput`` subclasses with a ``past_key_values`` field: transformers 5 renames that keyword
   to ``cache`` in every subclass's ``__init__``, which breaks BAGEL's ``BaseNavitOutputWithPast``;
   it is replaced by a plain dataclass with the same fields.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import torch

MASK_MODULE = "transformers.modeling_attn_mask_utils"


def _prepare_4d_attention_mask(mask: torch.Tensor, dtype: torch.dtype, tgt_len: int | None = None) -> torch.Tensor:
    """(B, S) 1/0 padding mask -> (B, 1, T, S) additive mask, as transformers 4 made it."""
    batch, source = mask.shape
    expanded = mask[:, None, None, :].expand(batch, 1, tgt_len or source, source).to(dtype)
    inverted = 1.0 - expanded
    return inverted.masked_fill(inverted.to(torch.bool), torch.finfo(dtype).min)


def _default_rope(config: Any, device: Any = None, seq_len: int | None = None, **unused: Any) -> tuple[torch.Tensor, float]:
    """transformers 4's ``_compute_default_rope_parameters``: plain RoPE inverse frequencies, no scaling."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    dim = int(head_dim * getattr(config, "partial_rotary_factor", 1.0))
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim
    return 1.0 / (config.rope_theta ** exponents), 1.0


@contextmanager
def transformers4_names() -> Iterator[None]:
    """Items 1 and 2 while BAGEL's modules are imported and its model is built."""
    from transformers import modeling_rope_utils

    added_module = MASK_MODULE not in sys.modules and not _importable(MASK_MODULE)
    if added_module:
        module = ModuleType(MASK_MODULE)
        module._prepare_4d_attention_mask = _prepare_4d_attention_mask  # type: ignore[attr-defined]
        sys.modules[MASK_MODULE] = module
    added_rope = "default" not in modeling_rope_utils.ROPE_INIT_FUNCTIONS
    if added_rope:
        modeling_rope_utils.ROPE_INIT_FUNCTIONS["default"] = _default_rope
    try:
        yield
    finally:
        if added_module:
            sys.modules.pop(MASK_MODULE, None)
        if added_rope:
            modeling_rope_utils.ROPE_INIT_FUNCTIONS.pop("default", None)


def config_defaults(config: Any) -> Any:
    """Item 3: the attributes transformers 4 configs always had."""
    if not hasattr(config, "pad_token_id"):
        config.pad_token_id = None
    return config


def plain_outputs(navit: ModuleType) -> None:
    """Item 4: give ``qwen2_navit`` an output class that keeps its ``past_key_values`` keyword."""
    try:
        navit.BaseNavitOutputWithPast(past_key_values=None)
        return
    except TypeError:
        pass

    @dataclasses.dataclass
    class BaseNavitOutputWithPast:
        packed_query_sequence: torch.Tensor | None = None
        past_key_values: Any = None

    navit.BaseNavitOutputWithPast = BaseNavitOutputWithPast


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False
