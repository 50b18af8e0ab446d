"""One teacher-forced pass of BAGEL with hooks on its decoder layers and inside its attention kernel.

BAGEL prefills in chunks against a KV cache, as its inferencer does for an understanding question:
each image (``<|vision_start|>`` + ViT tokens + ``<|vision_end|>``, bidirectional), the question
(``<|im_start|>`` question ``<|im_end|>``, causal), then the answer chunk (``<|im_start|>`` answer
``<|im_end|>``; ``<|im_start|>`` alone without an answer), from whose first token upstream's
decoding starts. Hidden reducers see each decoder layer's output over all chunks joined in order;
index 0 is the first layer's input.

BAGEL calls ``flash_attn_varlen_func`` directly, so the attention shares are computed where that
call happens: the module-level function of ``qwen2_navit`` is wrapped for the duration of the pass,
and each call hands its Q (after q-norm and RoPE) and its merged K (cache + chunk) to
:class:`probes.attention.AttentionTap` before the real kernel runs. Full attention maps are never
formed, and the numbers match the slow path on eager maps (tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from probes.attention import KEY_CATEGORIES, AttentionTap, massive_tokens
from probes.categories import Lexicon
from probes.reducers import AttentionShares, Reducer, TraceBatch
from probes.trace import rows_of, word_categories
from sgt_eval.models.base import Query

SPECIAL, VISUAL, ANSWER = (KEY_CATEGORIES.index(c) for c in ("special", "visual", "answer"))


def trace_bagel(adapter: Any, batch: Sequence[Query], reducers: Sequence[Reducer | AttentionShares], *,
                answers: Sequence[str | None] | None = None, lexicon: Lexicon | None = None) -> dict[str, torch.Tensor]:
    """Trace each sample of ``batch`` through a ``BagelModel``; per-sample outputs stacked on the batch axis."""
    answers = list(answers) if answers is not None else [None] * len(batch)
    parts = [trace_one(adapter, query, answer, reducers, lexicon or Lexicon.default())
             for query, answer in zip(batch, answers)]
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def token_spans(tokenizer: Any, ids: Sequence[int]) -> list[tuple[int, int]] | None:
    """Character spans of ``ids`` in their decoded text (BAGEL's slow tokenizer gives no offsets);
    None when decoding does not rebuild the text piece by piece (then words count as "other")."""
    spans, previous = [], ""
    for end in range(1, len(ids) + 1):
        text = tokenizer.decode(ids[:end])
        if not text.startswith(previous):
            return None
        spans.append((len(previous), len(text)))
        previous = text
    return spans


def chunks_of(adapter: Any, query: Query, answer: str | None,
              lexicon: Lexicon) -> tuple[list[tuple[str, dict[str, Any]]], TraceBatch]:
    """The upstream inputs of every chunk and the labels of every position (batch of 1)."""
    model, inferencer, ids = adapter.model, adapter.inferencer, adapter.token_ids
    kv_lens, ropes = [0], [0]
    chunks: list[tuple[str, dict[str, Any]]] = []
    category: list[int] = []
    for image in query.images:
        image = inferencer.vae_transform.resize_transform(image.convert("RGB"))  # what upstream's inferencer does
        inputs, kv_lens, ropes = model.prepare_vit_images(curr_kvlens=kv_lens, curr_rope=ropes, images=[image],
                                                          transforms=inferencer.vit_transform, new_token_ids=ids)
        chunks.append(("vit", inputs))
        category += [SPECIAL] + [VISUAL] * inputs["packed_vit_tokens"].shape[0] + [SPECIAL]
    inputs, kv_lens, ropes = model.prepare_prompts(curr_kvlens=kv_lens, curr_rope=ropes, prompts=[query.text],
                                                   tokenizer=adapter.tokenizer, new_token_ids=ids)
    chunks.append(("text", inputs))
    question = adapter.tokenizer.encode(query.text)
    spans = token_spans(adapter.tokenizer, question)
    words = word_categories(lexicon, query.text, tuple(spans)) if spans else [None] * len(question)
    prompt_start = len(category) + 1
    category += [SPECIAL] + [KEY_CATEGORIES.index(w or "other") for w in words] + [SPECIAL]
    inputs, kv_lens, ropes = model.prepare_prompts(curr_kvlens=kv_lens, curr_rope=ropes, prompts=[answer or ""],
                                                   tokenizer=adapter.tokenizer, new_token_ids=ids)
    chunks.append(("text", inputs))
    last = len(category)                                             # the answer chunk's <|im_start|>
    n_answer = len(inputs["packed_text_ids"]) - 2
    category += [SPECIAL] + [ANSWER] * n_answer + [SPECIAL]
    n = len(category)
    positions = torch.arange(n)
    layout = TraceBatch(category=torch.tensor([category]),
                        prompt=((positions >= prompt_start) & (positions < prompt_start + len(question)))[None],
                        answer=((positions > last) & (positions <= last + n_answer))[None],
                        last=torch.tensor([last]))
    return chunks, layout


def trace_one(adapter: Any, query: Query, answer: str | None, reducers: Sequence[Reducer | AttentionShares],
              lexicon: Lexicon) -> dict[str, torch.Tensor]:
    chunks, layout = chunks_of(adapter, query, answer, lexicon)
    model, navit = adapter.model, adapter.navit
    device = model.language_model.model.embed_tokens.weight.device
    layers = list(model.language_model.model.layers)
    hidden_reducers = [r for r in reducers if isinstance(r, Reducer)]
    attention = [r for r in reducers if isinstance(r, AttentionShares)]
    inputs: list[list[torch.Tensor]] = [[] for _ in layers]           # per layer, its input of each chunk so far
    outputs: list[list[torch.Tensor]] = [[] for _ in layers]
    tap = AttentionTap({layer.self_attn: i for i, layer in enumerate(layers)})
    if attention:
        tap.rows = rows_of(attention[0].rows_mask(layout), layout.category)
    current: list[Any] = [None]                                       # the attention module now running

    def before(index: int) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            inputs[index].append(kwargs["packed_query_sequence"].detach())
            if attention:
                seen = torch.cat(inputs[index])[None]                 # (1, N so far, D)
                tap.sinks[index] = massive_tokens(seen, layout.category[:, :seen.shape[1]], attention[0].sink_ratio)
        return hook

    def after(index: int) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: tuple, output: Any) -> None:
            outputs[index].append(output[0].detach())
        return hook

    def running(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        current[0] = module

    kernel = navit.flash_attn_varlen_func

    def tapped(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        # (Nq, H, D) and (Nk, KV, D) of one packed sample: the queries are the last Nq positions of the keys
        tap.measure(current[0], q.transpose(0, 1)[None], k.transpose(0, 1)[None], None, kwargs.get("softmax_scale"),
                    None, offset=k.shape[0] - q.shape[0], causal=kwargs.get("causal", False))
        return kernel(q=q, k=k, v=v, **kwargs)

    handles = [layer.register_forward_pre_hook(before(i), with_kwargs=True) for i, layer in enumerate(layers)]
    handles += [layer.register_forward_hook(after(i)) for i, layer in enumerate(layers)]
    handles += [layer.self_attn.register_forward_pre_hook(running, with_kwargs=True) for layer in layers]
    if attention:
        navit.flash_attn_varlen_func = tapped
    try:
        cache = navit.NaiveCache(model.config.llm_config.num_hidden_layers)
        for kind, chunk in chunks:
            chunk = {k: v.to(device) if torch.is_tensor(v) else v for k, v in chunk.items()}
            update = model.forward_cache_update_vit if kind == "vit" else model.forward_cache_update_text
            cache = update(cache, **chunk)
    finally:
        navit.flash_attn_varlen_func = kernel
        for handle in handles:
            handle.remove()
    out: dict[str, torch.Tensor] = {}
    layout = TraceBatch(*(t.to(device) for t in (layout.category, layout.prompt, layout.answer, layout.last)))
    for r in hidden_reducers:
        states = [torch.cat(inputs[0])] + [torch.cat(parts) for parts in outputs]  # L + 1 of (N, D)
        out[r.name] = torch.stack([r.reduce(s[None].float(), layout)[0] for s in states])[None].cpu()
    if attention:
        for key in ("shares", "sink", "shares_without_sinks"):
            out[f"attention/{key}"] = torch.stack([tap.results[i][key] for i in range(len(layers))], 1).float().cpu()
    return out
