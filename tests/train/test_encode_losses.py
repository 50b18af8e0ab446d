"""Encoding matches what inference sees; the flow-matching pieces are exact where they can be."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from sgt_eval.models.base import Query
from sgt_train.data.encode import Encoder, collate
from sgt_train.data.sft import Turn
from sgt_train.losses import euler_sample, noised, sample_times, shift_time, text_ce_sum, velocity_mse_sum
from sgt_train.models.umm import IGNORE


@pytest.fixture(scope="module")
def fresh_model(shapes_data) -> Path:
    """A fresh tiny UMM of the default size (built once in the test cache)."""
    from sgt_train.config import Config
    from sgt_train.setup import init_checkpoint

    return init_checkpoint(Config())


@pytest.fixture(scope="module")
def encoder(fresh_model) -> Encoder:
    import transformers

    return Encoder(transformers.AutoTokenizer.from_pretrained(fresh_model),
                   transformers.AutoImageProcessor.from_pretrained(fresh_model), max_length=2048)


def test_prompts_tokenise_exactly_as_the_hf_adapter_asks(fresh_model, encoder):
    from sgt_eval.models.hf import HFModel, chat

    adapter = HFModel(str(fresh_model), dtype="float32", device="cpu")
    image = Image.new("RGB", (224, 224), (128, 128, 128))
    query = Query("Is there a star in the image?\nAnswer the question using a single word or phrase.", (image,))
    text = adapter.processor.apply_chat_template(chat(query), add_generation_prompt=True, tokenize=False)
    expected = adapter.processor(text=[text], images=[image], return_tensors="pt")
    ours = encoder.prompt(query.text, [image], "test")
    assert ours.input_ids == expected["input_ids"][0].tolist()
    assert torch.equal(ours.pixel_values, expected["pixel_values"]) and torch.equal(ours.grid, expected["image_grid_thw"])


def test_labels_cover_every_assistant_turn_and_its_end_token_only(encoder):
    turns = [Turn("user", "<image>\nWhat colour is the star?"), Turn("assistant", "red"),
             Turn("user", "Where is the red star?"), Turn("assistant", "top left")]
    encoded = encoder.conversation(turns, [Image.new("RGB", (112, 112))], "test")
    labelled = [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE]
    tokenizer = encoder.tokenizer
    assert tokenizer.decode(labelled) == "red<|im_end|>top left<|im_end|>"
    visual = encoded.input_ids.count(tokenizer.convert_tokens_to_ids("<|image_pad|>"))
    assert visual == int(encoded.grid.prod()) // 4 == 16


def test_collate_pads_right_and_lists_the_rows_with_targets(encoder):
    short = encoder.prompt("Draw.", [], "a")
    long = encoder.conversation([Turn("user", "Is it?"), Turn("assistant", "yes it is")], [], "b")
    short.target = torch.zeros(3, 8, 8)
    batch = collate([long, short], pad_id=encoder.tokenizer.pad_token_id)
    assert batch["attention_mask"].sum(1).tolist() == [len(long.input_ids), len(short.input_ids)]
    assert batch["image_rows"].tolist() == [1] and "pixel_values" not in batch


def test_noising_and_euler_sampling_invert_each_other_on_the_straight_path():
    generator = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 3, 8, 8, generator=generator), torch.randn(4, 3, 8, 8, generator=generator)
    t = sample_times(4, generator, shift=3.0)
    x_t, v = noised(x0, noise, t)
    assert torch.allclose(x_t, (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise)
    assert torch.allclose(v, noise - x0)
    # the exact velocity field of one target is constant along the path: Euler recovers it exactly
    recovered = euler_sample(lambda x, _t: noise - x0, noise, steps=7, shift=2.0)
    assert torch.allclose(recovered, x0, atol=1e-5)


def test_timestep_shift_and_logit_normal_times():
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(shift_time(t, 1.0), t)
    assert (shift_time(t, 3.0) >= t).all() and shift_time(torch.tensor([0.5]), 3.0).item() == pytest.approx(0.75)
    times = sample_times(20_000, torch.Generator().manual_seed(1))
    assert 0 < times.min() and times.max() < 1 and abs(times.mean().item() - 0.5) < 0.01


def test_loss_sums_are_sums():
    prediction, target = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    target[1] *= 2
    assert velocity_mse_sum(prediction, target).item() == pytest.approx(1.0 + 4.0)
    logits = torch.tensor([[0.0, 0.0], [10.0, -10.0]])
    assert text_ce_sum(logits, torch.tensor([0, 0])).item() == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=1e-4)


def test_the_last_euler_step_lands_on_the_heads_clean_image_prediction():
    """x-prediction: an untrained head predicts a blank image, so sampling from any noise ends exactly there."""
    from sgt_train.models.head import HeadConfig, ImageHead

    head = ImageHead(HeadConfig(cond_dim=16, image_size=16, patch=8, hidden=32, layers=1, heads=2)).eval()
    where = torch.full((2, 5, 2), float("nan"))
    where[0, 1:5] = torch.tensor([[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]])  # a 2 x 2 image
    condition = head.encode_context(torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool), where)
    assert condition.aligned[1].abs().sum() == 0 and condition.aligned[0].abs().sum() > 0  # no image: nothing aligned
    assert torch.equal(condition.aligned[0, 0], condition.tokens[0, 1])  # the top-left patch reads the top-left token
    noise = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        drawn = euler_sample(lambda x, t: head(x, t, condition), noise, steps=30, shift=3.0)
    assert torch.allclose(drawn, torch.zeros_like(drawn), atol=1e-5)
