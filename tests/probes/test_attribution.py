"""Integrated gradients over the visual tokens: completeness, grid layout, the target itself, no leftovers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from probes.attribution import Attribution, attribute
from probes.categories import Lexicon
from probes.trace import decoder_layers, tokenize
from sgt_eval.models.base import Query
from sgt_eval.models.tiny import load_tiny_random

QUESTION = "Is the red circle left of the blue square?"


def noise_image(width: int, height: int, seed: int) -> Image.Image:
    """Noise, so every visual token gets a different embedding (a flat image would make them all alike)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


# (width, height) -> token grid by hand: 14-pixel patches, 2x2 patches merge into one token,
# and both sizes are multiples of 28 within the tiny processor's pixel bounds, so nothing is resized.
#   56 wide x 84 high  -> 4 x 6 patches (w x h) -> (84/28, 56/28) = (3, 2) tokens
#   112 wide x 56 high -> 8 x 4 patches (w x h) -> (56/28, 112/28) = (2, 4) tokens
GRIDS = {(56, 84): (3, 2), (112, 56): (2, 4)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The tiny model's matrices are far too small for intra-op threads to help; on a busy 2-core
    # machine two threads make each pass ~30x slower. Restored for the rest of the session.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    return load_tiny_random("", {}, 0)


@pytest.fixture(scope="module")
def query() -> Query:
    return Query(QUESTION, (noise_image(56, 84, seed=0),))


@pytest.fixture(scope="module")
def exact(model, query) -> dict[str, Attribution]:
    return {baseline: attribute(model, query, "yes", steps=64, baseline=baseline) for baseline in ("zeros", "mean")}


@pytest.mark.parametrize("baseline", ["zeros", "mean"])
def test_attributions_add_up_to_the_change_in_target(exact, baseline):
    result = exact[baseline]
    gap = result.target - result.baseline_target
    assert abs(gap) > 1e-3                          # a real change to explain, not 0 ~ 0
    assert abs(result.total - gap) < 0.05 * abs(gap)
    assert result.total == pytest.approx(float(result.grid.sum()), rel=1e-4, abs=1e-6)
    assert len(np.unique(result.grid)) == result.grid.size  # tokens are told apart, not one value smeared over all
    assert result.steps == 64 and result.method == f"integrated-gradients/{baseline}"


def test_baselines_differ_and_share_the_target(exact):
    assert exact["zeros"].target == exact["mean"].target
    assert exact["zeros"].baseline_target != pytest.approx(exact["mean"].baseline_target, abs=1e-6)


@pytest.mark.parametrize(("size", "grid"), GRIDS.items())
def test_grid_is_the_images_token_grid(model, size, grid):
    result = attribute(model, Query(QUESTION, (noise_image(*size, seed=1),)), "no", steps=4)
    assert result.grid.shape == grid
    assert result.grid.dtype == np.float32


@pytest.mark.parametrize("answer", ["yes", "three stars"])
def test_target_is_the_answers_log_probability(model, query, answer):
    inputs, _ = tokenize(model, [query], [answer], Lexicon.default())
    ids = inputs["input_ids"][0]
    count = len(model.tokenizer(answer, add_special_tokens=False).input_ids)
    assert count >= 1 and model.tokenizer.decode(ids[-count:]) == answer  # the answer closes the sequence
    with torch.no_grad():
        logits = model.model(**inputs, use_cache=False).logits[0]  # (N, vocab)
    positions = torch.arange(len(ids) - count, len(ids))
    expected = logits[positions - 1].log_softmax(-1).gather(-1, ids[positions, None]).sum()
    assert attribute(model, query, answer, steps=2).target == pytest.approx(float(expected), abs=1e-5)


def test_same_result_twice(model, query):
    first, second = (attribute(model, query, "yes", steps=8, baseline="mean") for _ in range(2))
    assert np.array_equal(first.grid, second.grid)
    assert (first.target, first.baseline_target, first.total) == (second.target, second.baseline_target, second.total)


def test_model_is_left_as_it_was(model, query):
    inputs, _ = tokenize(model, [query], ["yes"], Lexicon.default())
    layer = decoder_layers(model.model)[0]
    hooks = len(layer._forward_pre_hooks)
    flags = [p.requires_grad for p in model.model.parameters()]
    model.model.train()  # attribute must run in eval mode and then give the caller's mode back
    with torch.no_grad():
        before = model.model.eval()(**inputs, use_cache=False).logits
    model.model.train()
    attribute(model, query, "yes", steps=2)
    assert model.model.training
    model.model.eval()
    with torch.no_grad():
        after = model.model(**inputs, use_cache=False).logits
    assert torch.equal(before, after)
    assert len(layer._forward_pre_hooks) == hooks
    assert [p.requires_grad for p in model.model.parameters()] == flags


@pytest.mark.parametrize(("images", "baseline"), [(0, "zeros"), (2, "zeros"), (1, "blur")])
def test_bad_requests_are_refused(model, images, baseline):
    query = Query(QUESTION, tuple(noise_image(56, 56, seed=i) for i in range(images)))
    with pytest.raises(ValueError):
        attribute(model, query, "yes", steps=2, baseline=baseline)
