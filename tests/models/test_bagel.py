"""The bagel adapter against a clone of ByteDance-Seed/Bagel ($SGT_EVAL_BAGEL_REPO), with a tiny random checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from upstream_models import BAGEL_ARGS, build_tiny_bagel, clone

from probes.attention import KEY_CATEGORIES, Rows, shares_from_maps
from probes.categories import Lexicon
from probes.reducers import AttentionShares, LastPrompt, SpanMean
from probes.trace_bagel import chunks_of
from sgt_eval.errors import UserError
from sgt_eval.models import load_model
from sgt_eval.models.bagel import PilImageTransform
from sgt_eval.models.base import EditRequest, GenRequest, Query


@pytest.fixture(scope="module")
def repo():
    return clone("bagel")


@pytest.fixture(scope="module")
def checkpoint(repo, tmp_path_factory):
    return build_tiny_bagel(repo, tmp_path_factory.mktemp("bagel"))


@pytest.fixture(scope="module")
def bagel(repo, checkpoint):
    return load_model(f"bagel:{checkpoint}", {**BAGEL_ARGS, "repo": str(repo)}, 0)


def picture(seed: int, size: tuple[int, int] = (60, 45)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_answers_are_greedy_and_come_from_the_image(bagel):
    queries = [Query("Is there a red circle?", (picture(1),)), Query("Is there a red circle?", (picture(2),)),
               Query("What is the colour of the sky?")]
    first = bagel.answer(queries, max_new_tokens=6)
    assert first == bagel.answer(queries, max_new_tokens=6)
    assert [bagel.answer([q], max_new_tokens=6)[0] for q in queries] == first  # batching changes nothing
    assert len(set(first)) > 1


def test_images_are_seeded_per_request_and_sized(bagel):
    one, same, other = bagel.generate_images([GenRequest("a red square", 7), GenRequest("a red square", 7),
                                              GenRequest("a red square", 8)])
    assert one.size == (64, 64) and one.tobytes() == same.tobytes() != other.tobytes()
    wide, = bagel.generate_images([GenRequest("a red square", 7, width=96, height=48)])
    assert wide.size == (96, 48)
    edited, = bagel.edit_images([EditRequest("make it blue", picture(3), 5)])
    assert edited.size == (60, 45)


def test_samplers_are_recorded(bagel):
    described = bagel.describe()
    assert described["generate"]["cfg_interval"] == [0.4, 1.0] and described["generate"]["steps"] == 3
    assert described["edit"]["renorm_type"] == "text_channel" and described["edit"]["cfg_img"] == 2.0
    assert described["upstream"]["git"]["sha"] and described["attention"].startswith(("flash_attn", "sdpa"))
    assert described["dtype"] == "bfloat16"


def test_trace_shares_match_full_attention_maps(bagel):
    """The tap inside flash_attn_varlen_func gives what softmax(QK^T) over full maps gives, to 1e-5."""
    navit = bagel.navit
    calls: list[tuple[int, torch.Tensor, torch.Tensor, bool]] = []
    kernel = navit.flash_attn_varlen_func
    layers = list(bagel.model.language_model.model.layers)
    order = iter(range(10**6))

    def recording(q, k, v, **kwargs):
        calls.append((next(order) % len(layers), q.float(), k.float(), kwargs["causal"]))
        return kernel(q=q, k=k, v=v, **kwargs)

    query = Query("Is the red square left of the blue circle?", (picture(4),))
    navit.flash_attn_varlen_func = recording
    try:
        reference = bagel.trace([query], [AttentionShares("prompt", sink_ratio=1e9)], answers=["yes"])
    finally:
        navit.flash_attn_varlen_func = kernel
    traced = bagel.trace([query], [AttentionShares("prompt", sink_ratio=1e9)], answers=["yes"])
    assert torch.equal(reference["attention/shares"], traced["attention/shares"])  # tracing twice: same numbers

    n = max(k.shape[0] for _, _, k, _ in calls)
    _, layout = chunks_of(bagel, query, "yes", Lexicon.default())
    index = layout.prompt[0].nonzero().flatten()[None]
    rows = Rows(index, torch.ones_like(index, dtype=torch.bool), layout.category)
    for layer in range(len(layers)):
        full = torch.zeros(1, calls[0][1].shape[1], n, n, dtype=torch.float64)
        for where, q, k, causal in calls:
            if where != layer:
                continue
            nq, nk, group = q.shape[0], k.shape[0], q.shape[1] // k.shape[1]
            logits = torch.einsum("qhd,khd->hqk", q.double(), k.double().repeat_interleave(group, 1)) / q.shape[-1] ** 0.5
            if causal:
                allowed = torch.arange(nk)[None, :] <= torch.arange(nq)[:, None] + (nk - nq)
                logits = logits.masked_fill(~allowed, float("-inf"))
            full[0, :, nk - nq:nk, :nk] = logits.softmax(-1)
        slow = shares_from_maps(full, rows, None)["shares"].double()
        assert torch.allclose(traced["attention/shares"][:, layer].double(), slow, atol=1e-5)
    visual = KEY_CATEGORIES.index("visual")
    assert (traced["attention/shares"][..., visual] > 0).all()


def test_trace_last_token_predicts_the_first_answer_token(bagel):
    """The traced hidden state at the answer's start, through the final norm and LM head, is greedy decoding's choice."""
    query = Query("Is there a red circle?", (picture(5),))
    out = bagel.trace([query], [LastPrompt(), SpanMean("visual")])
    assert out["last"].shape == (1, 3, 64) and out["visual"].shape == (1, 3, 64)
    lm = bagel.model.language_model
    with torch.no_grad():
        logits = lm.lm_head(lm.model.norm(out["last"][0, -1].to(torch.bfloat16)))
    answer = bagel.answer([query], max_new_tokens=1)[0]
    predicted = bagel.tokenizer.decode([int(logits.argmax())])
    assert answer == predicted.strip()


def test_pil_transform_matches_upstream_where_torchvision_is_installed(repo):
    pytest.importorskip("torchvision", reason="upstream's ImageTransform needs torchvision")
    pytest.importorskip("cv2", reason="upstream's data.transforms imports OpenCV")
    from sgt_eval.models.bagel import UPSTREAM

    upstream = UPSTREAM.load(repo, ("data.transforms",))[0].ImageTransform
    for size in ((60, 45), (1000, 300), (333, 777)):
        image = picture(6, size)
        for bounds in ((980, 224, 14), (1024, 512, 16)):
            assert torch.equal(PilImageTransform(*bounds)(image), upstream(*bounds)(image))


def test_bad_bagel_arguments_are_user_errors(repo, checkpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("SGT_EVAL_BAGEL_REPO", raising=False)
    monkeypatch.delenv("BAGEL_REPO", raising=False)
    with pytest.raises(UserError, match="needs your clone of https://github.com/ByteDance-Seed/Bagel"):
        load_model(f"bagel:{checkpoint}", {"device": "cpu"}, 0)
    with pytest.raises(UserError, match="is not a clone"):
        load_model(f"bagel:{checkpoint}", {"repo": str(tmp_path)}, 0)
    with pytest.raises(UserError, match="llm_config.json is missing"):
        load_model(f"bagel:{tmp_path}", {"repo": str(repo)}, 0)
    with pytest.raises(UserError, match="cfg_interval='0.9:0.1': the start must not exceed the end"):
        load_model(f"bagel:{checkpoint}", {"repo": str(repo), "cfg_interval": "0.9:0.1"}, 0)
    with pytest.raises(UserError, match="multiple of 16"):
        load_model(f"bagel:{checkpoint}", {"repo": str(repo), "width": "100"}, 0)
    (tmp_path / "ema.bin").write_bytes(b"pickle")
    with pytest.raises(UserError, match=".safetensors files only"):
        load_model(f"bagel:{checkpoint}", {"repo": str(repo), "ema": str(tmp_path / "ema.bin")}, 0)


def test_an_installed_flash_attn_is_what_bagel_calls(repo, checkpoint, tmp_path):
    """With a flash_attn package importable, upstream's own import binds it (here a counting wrapper)."""
    package = tmp_path / "flash_attn"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        from sgt_eval.models import varlen
        calls = []
        def flash_attn_varlen_func(**kwargs):
            calls.append(1)
            return varlen.flash_attn_varlen_func(**kwargs)
    """))
    probe = textwrap.dedent(f"""
        import flash_attn
        from sgt_eval.models import load_model
        from sgt_eval.models.base import Query
        model = load_model("bagel:{checkpoint}", {{**{BAGEL_ARGS!r}, "repo": "{repo}"}}, 0)
        model.answer([Query("Is there a cat?")], max_new_tokens=2)
        print(model.describe()["attention"], len(flash_attn.calls) > 0)
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.stdout.split()[-2:] == ["flash_attn", "True"], done.stderr[-2000:]


def test_fp32_weights_and_thinking_mode(repo, checkpoint):
    model = load_model(f"bagel:{checkpoint}", {**BAGEL_ARGS, "repo": str(repo), "dtype": "float32", "think": "true",
                                               "max_think_tokens": "8"}, 0)
    assert {p.dtype for p in model.model.parameters()} == {torch.float32}
    assert model.describe()["dtype"] == "float32" and model.describe()["think"] is True
    answer, = model.answer([Query("Is there a red circle?", (picture(1),))], max_new_tokens=4)
    assert isinstance(answer, str) and "</think>" not in answer
    image, = model.generate_images([GenRequest("a red square", 3)])
    assert image.size == (64, 64)  # the gen path casts to bf16: autocast makes fp32 weights accept it
