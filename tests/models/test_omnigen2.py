"""The omnigen2 adapter: the MLLM path with transformers alone (SGT's text-encoder overlay included), and the
image path against a clone of VectorSpaceLab/OmniGen2 ($SGT_EVAL_OMNIGEN2_REPO)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from upstream_models import (
    OMNIGEN2_ARGS,
    build_omnigen2_generator,
    build_omnigen2_mllm,
    clone,
    save_text_encoder,
)

from probes.reducers import AttentionShares, LastPrompt, SpanMean
from sgt_eval.errors import UserError
from sgt_eval.models import load_model
from sgt_eval.models.base import EditRequest, GenRequest, Query
from sgt_eval.models.omnigen2 import remap_text_encoder_key
from sgt_eval.models.tiny import build_tiny_random

MLLM_ARGS = {"device": "cpu", "dtype": "float32", "attn_implementation": "eager"}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_omnigen2_mllm(tmp_path_factory.mktemp("omnigen2"), seed=0)


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory):
    """Another tiny Qwen2.5-VL (other seed): the weights an SGT run would have produced."""
    return build_tiny_random(tmp_path_factory.mktemp("sgt-mllm"), seed=1)


def queries() -> list[Query]:
    rng = np.random.default_rng(3)
    pictures = [Image.fromarray(rng.integers(0, 255, (56, 56 + 14 * i, 3), dtype=np.uint8)) for i in range(3)]
    return [Query(f"Is the {c} square left of the circle?", (p,)) for c, p in zip(("red", "blue", "green"), pictures)]


def test_the_remap_covers_every_layout_sgt_may_have_saved():
    assert remap_text_encoder_key("language_model.layers.0.mlp.up_proj.weight") == "model.language_model.layers.0.mlp.up_proj.weight"
    assert remap_text_encoder_key("visual.blocks.0.attn.qkv.weight") == "model.visual.blocks.0.attn.qkv.weight"
    assert remap_text_encoder_key("layers.1.self_attn.q_proj.bias") == "model.language_model.layers.1.self_attn.q_proj.bias"
    assert remap_text_encoder_key("model.embed_tokens.weight") == "model.language_model.embed_tokens.weight"
    assert remap_text_encoder_key("lm_head.weight") == "lm_head.weight"
    assert remap_text_encoder_key("model.visual.merger.mlp.0.weight") == "model.visual.merger.mlp.0.weight"


def test_mllm_path_answers_and_traces_like_the_hf_adapter(base, monkeypatch):
    for name in ("SGT_EVAL_OMNIGEN2_REPO", "OMNIGEN2_REPO"):  # transformers alone
        monkeypatch.delenv(name, raising=False)
    model = load_model(f"omnigen2:{base}", MLLM_ARGS, 0)
    assert model.capabilities == {"answer", "hidden_states", "attention"}  # no clone: no images
    reference = load_model(f"hf:{base / 'mllm'}", MLLM_ARGS, 0)
    qs = queries()
    assert model.answer(qs, max_new_tokens=8) == reference.answer(qs, max_new_tokens=8)
    reducers = [SpanMean("visual"), LastPrompt(), AttentionShares()]
    traced, expected = model.trace(qs, reducers, answers=["yes"] * 3), reference.trace(qs, reducers, answers=["yes"] * 3)
    assert traced.keys() == expected.keys() and all(torch.equal(traced[k], expected[k]) for k in traced)
    assert traced["attention/shares"].shape[:2] == (3, 2)
    described = model.describe()
    assert described["upstream"] is None and described["text_encoder_overlay"] is None
    with pytest.raises(UserError, match="makes images only with a clone"):
        model.generate_images([GenRequest("a red square", 0)])


@pytest.mark.parametrize("layout", ["vlmodel", "decoder", "legacy"])
def test_sgt_text_encoder_overlays_the_mllm_in_each_saved_layout(base, fine_tuned, tmp_path, layout):
    sgt = tmp_path / "SGT-Gen2"
    tuned = save_text_encoder(fine_tuned, sgt / "transformer" / "text_encoder", layout)
    model = load_model(f"omnigen2:{base}", {**MLLM_ARGS, "checkpoint": str(sgt)}, 0)
    untouched = load_model(f"hf:{base / 'mllm'}", MLLM_ARGS, 0).model.state_dict()
    saved_keys = {remap_text_encoder_key(k) for k in load_file(str(sgt / "transformer" / "text_encoder" /
                                                                   "model.safetensors"))}
    for key, value in model.mllm.model.state_dict().items():
        assert torch.equal(value, tuned[key] if key in saved_keys else untouched[key]), key
    overlay = model.describe()["text_encoder_overlay"]
    assert overlay["loaded"] == len(saved_keys) and overlay["kept_from_base"] == len(tuned) - len(saved_keys)
    if layout == "legacy":  # every weight came from the fine-tuned model: it answers as that model does
        same = load_model(f"hf:{fine_tuned}", MLLM_ARGS, 0)
        assert model.answer(queries(), max_new_tokens=8) == same.answer(queries(), max_new_tokens=8)


def test_a_text_encoder_that_does_not_fit_is_refused(base, tmp_path):
    folder = tmp_path / "SGT" / "transformer" / "text_encoder"
    folder.mkdir(parents=True)
    with pytest.raises(UserError, match=r"no \*.safetensors"):
        load_model(f"omnigen2:{base}", {**MLLM_ARGS, "checkpoint": str(tmp_path / "SGT")}, 0)
    save_file({"language_model.layers.9.bogus.weight": torch.zeros(2)}, str(folder / "model.safetensors"))
    with pytest.raises(UserError, match="fit no Qwen2.5-VL parameter"):
        load_model(f"omnigen2:{base}", {**MLLM_ARGS, "checkpoint": str(tmp_path / "SGT")}, 0)
    with pytest.raises(UserError, match="transformer/text_encoder is missing"):
        load_model(f"omnigen2:{base}", {**MLLM_ARGS, "checkpoint": str(tmp_path)}, 0)
    with pytest.raises(UserError, match="no mllm/config.json"):
        load_model(f"omnigen2:{tmp_path}", MLLM_ARGS, 0)
    with pytest.raises(UserError, match="not an option of the omnigen2 backend"):
        load_model(f"omnigen2:{base}", {"colour": "red"}, 0)
    with pytest.raises(UserError, match="cpu_offload=true needs a CUDA device"):
        load_model(f"omnigen2:{base}", {**MLLM_ARGS, "cpu_offload": "true"}, 0)


@pytest.fixture(scope="module")
def generator_base(tmp_path_factory):
    repo = clone("omnigen2")
    base = build_omnigen2_mllm(tmp_path_factory.mktemp("omnigen2-full"), seed=0)
    return repo, build_omnigen2_generator(repo, base)


def test_images_through_upstreams_pipeline_are_seeded_and_sized(generator_base):
    repo, base = generator_base
    model = load_model(f"omnigen2:{base}", {**OMNIGEN2_ARGS, "repo": str(repo)}, 0)
    assert {"generate", "edit"} <= model.capabilities
    assert model.pipe.mllm is model.mllm.model  # one MLLM in memory: the one that answers conditions the images
    one, same, other = model.generate_images([GenRequest("a red square", 4), GenRequest("a red square", 4),
                                              GenRequest("a red square", 5)])
    assert one.size == (64, 64) and one.tobytes() == same.tobytes() != other.tobytes()
    source = Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8))
    edited, = model.edit_images([EditRequest("make it blue", source, 1)])
    assert edited.size == (80, 48)
    described = model.describe()
    assert described["generate"]["cfg_text"] == 4.0 and described["edit"]["cfg_img"] == 2.0
    assert described["scheduler"] == "euler" and described["repo"] == str(repo.resolve())
    assert described["upstream"]["git"]["sha"]


def test_sgt_transformer_and_dpm_scheduler(generator_base, fine_tuned, tmp_path):
    repo, base = generator_base
    sgt = tmp_path / "SGT-Gen2"
    save_text_encoder(fine_tuned, sgt / "transformer" / "text_encoder", "vlmodel")
    build_omnigen2_generator(repo, sgt, seed=9, folder="transformer/transformer")
    args = {**OMNIGEN2_ARGS, "repo": str(repo)}
    plain = load_model(f"omnigen2:{base}", args, 0).generate_images([GenRequest("a red square", 4)])[0]
    tuned = load_model(f"omnigen2:{base}", {**args, "checkpoint": str(sgt), "scheduler": "dpmsolver++"}, 0)
    assert tuned.describe()["checkpoint"]["transformer"] == str(sgt / "transformer" / "transformer")
    assert tuned.generate_images([GenRequest("a red square", 4)])[0].tobytes() != plain.tobytes()
