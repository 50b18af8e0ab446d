"""One teacher-forced forward pass of a transformers chat VLM with hooks on every decoder layer.

:func:`trace_hf` is what ``HFModel.trace`` runs: it renders each question (images first, as the
adapter answers) plus, when given, the answer to force, tokenises with offsets, labels every
position (visual, the question's words by category, special/template, answer, padding), hooks the
decoder layers, and returns only what the reducers keep, on the CPU:

- hidden reducers: ``{name: (B, L + 1, D)}`` (index 0 = the embeddings, see probes.reducers);
- attention shares: ``{"attention/shares": (B, L, H, C), "attention/sink": (B, L, H),
  "attention/shares_without_sinks": (B, L, H, C)}``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from probes.attention import KEY_CATEGORIES, AttentionTap, Rows, massive_tokens
from probes.categories import Lexicon
from probes.reducers import AttentionShares, Reducer, TraceBatch
from sgt_eval.models.base import Query


def decoder_layers(model: Any) -> list[torch.nn.Module]:
    """The language model's decoder layers (``model.model.language_model.layers`` and the like)."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise TypeError(f"cannot find the decoder layers of {type(model).__name__}")
    return list(layers)


def attention_module(layer: torch.nn.Module) -> torch.nn.Module:
    for name in ("self_attn", "attention", "attn"):
        if hasattr(layer, name):
            return getattr(layer, name)
    raise TypeError(f"cannot find the attention module of {type(layer).__name__}")


def trace_hf(adapter: Any, batch: Sequence[Query], reducers: Sequence[Reducer | AttentionShares], *,
             answers: Sequence[str | None] | None = None, lexicon: Lexicon | None = None) -> dict[str, torch.Tensor]:
    """Run ``batch`` through an ``HFModel``'s network once and return the reducers' outputs (CPU tensors)."""
    inputs, layout = tokenize(adapter, batch, answers, lexicon or Lexicon.default())
    return traced_forward(adapter.model, inputs, layout, reducers)


def traced_forward(model: Any, inputs: Any, layout: TraceBatch,
                   reducers: Sequence[Reducer | AttentionShares]) -> dict[str, torch.Tensor]:
    """The forward pass of prepared ``inputs`` with the reducers hooked in (see :func:`trace_hf`)."""
    layers = decoder_layers(model)
    hidden_reducers = [r for r in reducers if isinstance(r, Reducer)]
    attention = [r for r in reducers if isinstance(r, AttentionShares)]
    kept: dict[str, list[torch.Tensor]] = {r.name: [] for r in hidden_reducers}
    tap = AttentionTap({attention_module(layer): i for i, layer in enumerate(layers)})
    if attention:
        tap.rows = rows_of(attention[0].rows_mask(layout), layout.category)

    def keep(states: torch.Tensor) -> None:
        for r in hidden_reducers:
            kept[r.name].append(r.reduce(states, layout).float().cpu())

    def before(index: int) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            states = args[0] if args else kwargs["hidden_states"]
            if index == 0:
                keep(states)
            if attention:
                tap.sinks[index] = massive_tokens(states, layout.category, attention[0].sink_ratio)
        return hook

    def after(module: torch.nn.Module, args: tuple, output: Any) -> None:
        keep(output[0] if isinstance(output, tuple) else output)

    handles = [layer.register_forward_pre_hook(before(i), with_kwargs=True) for i, layer in enumerate(layers)]
    handles += [layer.register_forward_hook(after) for layer in layers] if hidden_reducers else []
    implementation = model.config.get_text_config()._attn_implementation
    wrapped = tap.installed(implementation) if attention else contextlib.nullcontext()  # no wrapper when unused
    try:
        with torch.inference_mode(), wrapped:
            model(**inputs, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    out = {name: torch.stack(parts, dim=1) for name, parts in kept.items()}  # (B, L + 1, D)
    if attention:
        for key in ("shares", "sink", "shares_without_sinks"):
            out[f"attention/{key}"] = torch.stack([tap.results[i][key] for i in range(len(layers))], 1).cpu()
    return out


def rows_of(mask: torch.Tensor, category: torch.Tensor) -> Rows:
    """(B, N) bool row mask -> padded row indices."""
    counts = mask.sum(-1)
    width = max(int(counts.max()), 1)
    index = torch.zeros(mask.shape[0], width, dtype=torch.long, device=mask.device)
    valid = torch.arange(width, device=mask.device)[None, :] < counts[:, None]
    for b in range(mask.shape[0]):
        index[b, :int(counts[b])] = mask[b].nonzero().flatten()
    return Rows(index, valid, category)


@functools.lru_cache(maxsize=4096)
def word_categories(lexicon: Lexicon, text: str, spans: tuple[tuple[int, ...], ...]) -> list[str | None]:
    """Categories of a question's tokens; cached, as probe sets ask the same question of many images."""
    return lexicon.token_categories(text, spans)


def tokenize(adapter: Any, batch: Sequence[Query], answers: Sequence[str | None] | None,
             lexicon: Lexicon) -> tuple[Any, TraceBatch]:
    """Model inputs and the position labels of a batch of (question, answer) pairs."""
    from sgt_eval.models.hf import chat

    answers = list(answers) if answers is not None else [None] * len(batch)
    texts = []
    for query, answer in zip(batch, answers):
        texts.append(adapter.processor.apply_chat_template(chat(query), add_generation_prompt=True, tokenize=False)
                     + (answer or ""))
    images = [image for q in batch for image in q.images]
    inputs = adapter.processor(text=texts, images=images or None, padding=True, return_tensors="pt",
                               return_offsets_mapping=True)
    offsets = inputs.pop("offset_mapping")                           # (B, N, 2) in the processor's expanded text
    ids, real = inputs["input_ids"], inputs["attention_mask"].bool()
    image_token = getattr(adapter.model.config, "image_token_id", None)
    category = torch.full_like(ids, KEY_CATEGORIES.index("special"))
    category[ids == image_token] = KEY_CATEGORIES.index("visual")
    # Image placeholders expand before the question; the text after the last one is unchanged, so the
    # question and the answer keep their character positions counted from the end of the text.
    ends = offsets[..., 1].masked_fill(~real, 0).amax(-1)            # (B,): length of each expanded text
    q_start, q_end, a_start = (torch.zeros(len(batch), dtype=torch.long) for _ in range(3))
    for b, (query, forced, text) in enumerate(zip(batch, answers, texts)):
        shift = int(ends[b]) - len(text)
        q_start[b] = text.rfind(query.text, 0, len(text) - len(forced or "")) + shift
        q_end[b] = q_start[b] + len(query.text)
        a_start[b] = len(text) + shift - len(forced) if forced else int(ends[b]) + 1
    first, stop = offsets[..., 0], offsets[..., 1]                    # (B, N) character spans
    text_token = real & (category != KEY_CATEGORIES.index("visual")) & (first != stop)
    prompt = text_token & (first >= q_start[:, None]) & (stop <= q_end[:, None])
    answer = text_token & ~prompt & (first >= a_start[:, None])
    category[answer] = KEY_CATEGORIES.index("answer")
    for b, query in enumerate(batch):
        rows = prompt[b].nonzero().flatten()
        spans = (offsets[b, rows] - q_start[b]).tolist()
        words = word_categories(lexicon, query.text, tuple(map(tuple, spans)))
        category[b, rows] = torch.tensor([KEY_CATEGORIES.index(w or "other") for w in words], dtype=category.dtype)
    positions = torch.arange(ids.shape[1])
    last = torch.where(real & ~answer, positions, -1).amax(-1)      # (B,): the last position before the answer
    category[~real] = -1
    inputs = inputs.to(adapter.model.device)
    layout = TraceBatch(category.to(adapter.model.device), prompt.to(adapter.model.device),
                        answer.to(adapter.model.device), last.to(adapter.model.device))
    return inputs, layout
