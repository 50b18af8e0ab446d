"""Hook-based attention shares equal those from eager output_attentions maps, under eager and SDPA."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from probes.attention import KEY_CATEGORIES, Rows, shares_from_logits, shares_from_maps
from probes.categories import Lexicon
from probes.reducers import AttentionShares
from probes.trace import decoder_layers, rows_of, tokenize, trace_hf
from sgt_eval.models.base import Query
from sgt_eval.models.tiny import load_tiny_random

QUERIES = [
    Query("Is the red circle left of the blue square?", (Image.new("RGB", (56, 84), (200, 30, 30)),)),
    Query("How many stars?", (Image.new("RGB", (112, 56), (20, 30, 200)),)),
]
ANSWERS = ["yes", "three stars"]


@pytest.fixture(scope="module")
def models():
    return {impl: load_tiny_random("", {"attn_implementation": impl}, 0) for impl in ("eager", "sdpa")}


def reference(model, query_rows: str, sinks=None) -> dict[str, torch.Tensor]:
    """Shares from the full eager attention maps of the same inputs (the slow path)."""
    inputs, layout = tokenize(model, QUERIES, ANSWERS, Lexicon.default())
    rows = rows_of(AttentionShares(query=query_rows).rows_mask(layout), layout.category)
    with torch.no_grad():
        maps = model.model(**inputs, output_attentions=True, use_cache=False).attentions  # L x (B, H, N, N)
    per_layer = [shares_from_maps(m, rows, None if sinks is None else sinks[i]) for i, m in enumerate(maps)]
    return {key: torch.stack([p[key] for p in per_layer], 1) for key in per_layer[0]}


@pytest.mark.parametrize("query_rows", ["prompt", "answer", "last"])
def test_hook_shares_equal_eager_maps_under_eager_and_sdpa(models, query_rows):
    expected = reference(models["eager"], query_rows)
    for impl, model in models.items():
        got = trace_hf(model, QUERIES, [AttentionShares(query=query_rows)], answers=ANSWERS)
        for key in ("shares", "sink", "shares_without_sinks"):
            assert torch.allclose(got[f"attention/{key}"], expected[key], atol=1e-5), (impl, key)
    shares = got["attention/shares"]
    assert shares.shape == (2, 2, 4, len(KEY_CATEGORIES))          # (B, L, H, C)
    assert torch.allclose(shares.sum(-1), torch.ones(2, 2, 4), atol=1e-5)
    assert (shares[..., KEY_CATEGORIES.index("visual")] > 0).all()  # the question follows the image


def test_positions_are_labelled_by_role_and_word(models):
    model = models["eager"]
    inputs, layout = tokenize(model, QUERIES[:1], ANSWERS[:1], Lexicon.default())
    ids = inputs["input_ids"][0]
    tokens = model.tokenizer.convert_ids_to_tokens(ids)
    labelled = {tok.replace("Ġ", ""): KEY_CATEGORIES[int(c)] for tok, c in zip(tokens, layout.category[0])
                if layout.prompt[0, list(tokens).index(tok)]}
    assert labelled["red"] == "colour" and labelled["circle"] == "object" and labelled["left"] == "position"
    assert (layout.category[0][ids == 5] == KEY_CATEGORIES.index("visual")).all()
    assert model.tokenizer.decode(ids[layout.answer[0]]).strip() == "yes"
    assert int(layout.last[0]) == int(layout.answer[0].nonzero().min()) - 1


def test_sinks_are_detected_and_reported_with_and_without(models):
    model = models["sdpa"]
    inputs, layout = tokenize(model, QUERIES, ANSWERS, Lexicon.default())
    target = int((layout.category[0] == KEY_CATEGORIES.index("special")).nonzero()[1])  # an early template token

    def massive(module, args, output):
        output[0][0, target] *= 1e4                                  # a massive activation enters layer 1
        return output

    handle = decoder_layers(model.model)[0].register_forward_hook(massive)
    try:
        got = trace_hf(model, QUERIES, [AttentionShares()], answers=ANSWERS)
    finally:
        handle.remove()
    sink = got["attention/sink"]                                     # (B, L, H)
    assert (sink[0, 0] == 0).all() and (sink[1] == 0).all()          # layer 0 input is clean; sample 1 has none
    assert (sink[0, 1] > 0).all()
    without = got["attention/shares_without_sinks"][0, 1]
    assert torch.allclose(without.sum(-1), torch.ones(4), atol=1e-5)
    assert not torch.allclose(without, got["attention/shares"][0, 1])


def test_shares_from_logits_hand_case():
    # one sample, one head, one row over 4 keys with probabilities 0.1, 0.2, 0.3, 0.4 (logits = log p)
    p = torch.tensor([0.1, 0.2, 0.3, 0.4])
    rows = Rows(torch.tensor([[3]]), torch.tensor([[True]]), torch.tensor([[0, 0, 4, 5]]))
    sinks = torch.tensor([[False, True, False, False]])
    out = shares_from_logits(p.log().view(1, 1, 1, 4), torch.ones(1, 1, 1, 4, dtype=torch.bool), rows, sinks)
    expected = torch.zeros(len(KEY_CATEGORIES))
    expected[0], expected[4], expected[5] = 0.3, 0.3, 0.4
    assert torch.allclose(out["shares"][0, 0], expected)
    assert torch.allclose(out["sink"], torch.tensor([[0.2]]))
    kept = torch.zeros(len(KEY_CATEGORIES))
    kept[0], kept[4], kept[5] = 0.1 / 0.8, 0.3 / 0.8, 0.4 / 0.8
    assert torch.allclose(out["shares_without_sinks"][0, 0], kept)


def test_row_chunks_add_up_to_the_whole(models, monkeypatch):
    whole = trace_hf(models["sdpa"], QUERIES, [AttentionShares()], answers=ANSWERS)
    monkeypatch.setattr("probes.attention.ROW_CHUNK", 3)            # the prompts have 5-12 rows
    chunked = trace_hf(models["sdpa"], QUERIES, [AttentionShares()], answers=ANSWERS)
    for key, value in whole.items():
        assert torch.allclose(value, chunked[key], atol=1e-6), key
