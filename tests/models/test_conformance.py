"""Every registered model backend through the same protocol checks (sgt_eval.models.base.Model).

Each backend has a factory that builds a small instance of it offline: a tiny checkpoint, the
loopback OpenAI server, or a clone of the upstream code when the backend needs one (then the
factory skips, naming the environment variable). A backend registered without a factory fails
``test_every_registered_backend_has_a_factory``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from upstream_models import (
    BAGEL_ARGS,
    OMNIGEN2_ARGS,
    build_omnigen2_generator,
    build_omnigen2_mllm,
    build_tiny_bagel,
    clone,
)

from probes.attention import KEY_CATEGORIES
from probes.reducers import AttentionShares, LastPrompt, SpanMean
from sgt_eval.models import BACKENDS, load_model
from sgt_eval.models.base import EditRequest, GenRequest, Query

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judges"))
from fake_openai import KEY_ENV, SECRET_KEY, FakeOpenAI  # noqa: E402

CAPABILITIES = frozenset({"answer", "generate", "edit", "hidden_states", "attention", "train"})
EAGER_CPU = {"dtype": "float32", "device": "cpu", "attn_implementation": "eager"}


def served_reply(body: dict) -> str:
    """A pure function of the request, as a greedy model is: it changes with the text and the images."""
    content = body["messages"][-1]["content"]
    parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
    digest = sum(len(p.get("text", "")) + len(p.get("image_url", {}).get("url", "")) for p in parts)
    return ("yes", "no", "(A)", "(B)")[digest % 4] + f" [{body['max_tokens']} tokens]"


@pytest.fixture(scope="module")
def served() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=served_reply) as server:
        yield server


def tiny_hf(tmp: Path, request: pytest.FixtureRequest) -> object:
    return load_model(f"hf:{load_model('tiny-random', {}, 0).path}", EAGER_CPU, 0)


def tiny_diffusers(tmp: Path, request: pytest.FixtureRequest) -> object:
    return load_model(f"diffusers:{load_model('tiny-diffusion', {}, 0).path}", {"device": "cpu", "steps": "2"}, 0)


def tiny_umm(tmp: Path, request: pytest.FixtureRequest) -> object:
    """A fresh (untrained) tiny UMM as sgt-train builds it, small: the adapter's code paths, not learning."""
    from sgt_train.models.build import ModelConfig, build_tiny_umm

    size = ModelConfig(hidden=64, intermediate=128, layers=2, vision_hidden=32, head_hidden=64, head_layers=2)
    model = load_model(f"tiny:{build_tiny_umm(tmp / 'umm', size)}", {"steps": "2"}, 0)
    with torch.no_grad():  # a fresh head draws a blank image whatever the noise (its output layer starts at zero)
        torch.nn.init.normal_(model.umm.head.patch_out.weight, std=0.05, generator=torch.Generator().manual_seed(0))
    return model


def tiny_bagel(tmp: Path, request: pytest.FixtureRequest) -> object:
    repo = clone("bagel")
    return load_model(f"bagel:{build_tiny_bagel(repo, tmp / 'bagel')}", {**BAGEL_ARGS, "repo": str(repo)}, 0)


def tiny_omnigen2(tmp: Path, request: pytest.FixtureRequest) -> object:
    """The MLLM path always; with a clone of OmniGen2, the whole model (images too)."""
    base = build_omnigen2_mllm(tmp / "omnigen2")
    if not os.environ.get("SGT_EVAL_OMNIGEN2_REPO"):
        return load_model(f"omnigen2:{base}", EAGER_CPU, 0)
    repo = clone("omnigen2")
    build_omnigen2_generator(repo, base)
    return load_model(f"omnigen2:{base}", {**OMNIGEN2_ARGS, "repo": str(repo)}, 0)


def tiny_vlmeval(tmp: Path, request: pytest.FixtureRequest) -> object:
    """A zoo entry registered for the test: VLMEvalKit's zoo models need GPUs and downloads, this one runs here
    (tiny-random as a VLMEvalKit BaseModel), so the zoo path (image files, generate) is what is exercised."""
    pytest.importorskip("vlmeval", reason="needs the vlmeval extra (VLMEvalKit; torch 2.14.1 + torchvision 0.29.1)")
    from vlmeval.config import supported_VLM

    from sgt_eval.vlmeval_bridge.models import SGTModel

    supported_VLM.setdefault("sgt-eval-tiny-random", lambda: SGTModel(load_model("tiny-random", {}, 0), 16))
    return load_model("vlmeval:sgt-eval-tiny-random", {}, 0)


def served_model(tmp: Path, request: pytest.FixtureRequest) -> object:
    server = request.getfixturevalue("served")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)
    monkeypatch.setenv("SGT_EVAL_CACHE", str(tmp / "cache"))  # a fresh answer cache: every request reaches the server
    return load_model("openai:served-tiny", {"base_url": server.base_url, "api_key_env": KEY_ENV, "concurrency": "4"}, 0)


FACTORIES: dict[str, Callable[[Path, pytest.FixtureRequest], object]] = {
    "tiny-random": lambda tmp, request: load_model("tiny-random", {}, 0),
    "hf": tiny_hf,
    "tiny-diffusion": lambda tmp, request: load_model("tiny-diffusion", {}, 0),
    "diffusers": tiny_diffusers,
    "tiny": tiny_umm,
    "bagel": tiny_bagel,
    "omnigen2": tiny_omnigen2,
    "vlmeval": tiny_vlmeval,
    "openai": served_model,
}


def test_every_registered_backend_has_a_factory():
    shipped = {e.name for e in BACKENDS.entries() if e.target.startswith("sgt_eval.")}  # not tests' own models
    assert set(FACTORIES) == shipped


def picture(seed: int, width: int, height: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))


def check_answer(model: object) -> None:
    queries = [Query("Is there a red circle in the image?", (picture(1, 56, 56),)),
               Query("Is the square left of the circle? Answer yes or no.", (picture(2, 84, 56),)),
               Query("What is two plus two?")]
    answers = model.answer(queries, max_new_tokens=4)
    assert isinstance(answers, list) and len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert model.answer(queries, max_new_tokens=4) == answers                      # greedy: repeatable
    assert [model.answer([q], max_new_tokens=4)[0] for q in queries] == answers     # batch-invariant
    assert model.answer([], max_new_tokens=4) == []


def check_generate(model: object) -> None:
    requests = [GenRequest("a red square", 11), GenRequest("a red square", 11), GenRequest("a blue circle", 12),
                GenRequest("a blue circle", 12, width=64, height=48)]
    images = model.generate_images(requests)
    assert len(images) == 4 and all(isinstance(i, Image.Image) and i.mode == "RGB" for i in images)
    assert images[0].tobytes() == images[1].tobytes() != images[2].tobytes()     # the seed fixes the image
    assert images[3].size == (64, 48)                                             # the requested size
    again, = model.generate_images([requests[2]])
    assert again.size == images[2].size


def check_edit(model: object) -> None:
    source = picture(3, 64, 48)
    images = model.edit_images([EditRequest("make it blue", source, 5), EditRequest("make it blue", source, 5)])
    assert len(images) == 2 and images[0].size == source.size and images[0].mode == "RGB"
    assert images[0].tobytes() == images[1].tobytes()


def check_trace(model: object) -> None:
    queries = [Query("Is the red square left of the blue circle?", (picture(4, 56, 56),)),
               Query("Is there a green star?", (picture(5, 56, 84),))]
    reducers = [SpanMean("visual"), LastPrompt(), AttentionShares("prompt")]
    out = model.trace(queries, reducers, answers=["yes", None])
    assert out["visual"].shape[0] == 2 and out["visual"].shape == out["last"].shape
    layers = out["visual"].shape[1] - 1                                            # index 0: the embeddings
    shares = out["attention/shares"]
    assert shares.shape[:2] == (2, layers) and shares.shape[-1] == len(KEY_CATEGORIES)
    assert torch.allclose(shares.sum(-1), torch.ones_like(shares.sum(-1)), atol=1e-4)
    assert (shares[..., KEY_CATEGORIES.index("visual")] > 0).all()
    assert torch.equal(model.trace(queries, reducers, answers=["yes", None])["last"], out["last"])


def check_protocol(model: object) -> None:
    assert isinstance(model.name, str) and model.name
    assert isinstance(model.capabilities, frozenset) and model.capabilities and model.capabilities <= CAPABILITIES
    described = json.loads(json.dumps(model.describe()))                          # JSON for run.json
    assert isinstance(described, dict) and SECRET_KEY not in json.dumps(described)
    checks = {"answer": check_answer, "generate": check_generate, "edit": check_edit, "hidden_states": check_trace}
    for capability, check in checks.items():
        if capability in model.capabilities:
            check(model)


@pytest.mark.parametrize("backend", sorted(FACTORIES))
def test_backend_follows_the_model_protocol(backend, tmp_path, request):
    check_protocol(FACTORIES[backend](tmp_path, request))


def test_openai_requests_are_images_first_greedy_concurrent_and_cached(tmp_path, monkeypatch):
    """What the loopback server received while the served backend answered the protocol's questions."""
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)
    monkeypatch.setenv("SGT_EVAL_CACHE", str(tmp_path / "cache"))
    with FakeOpenAI(reply=served_reply, hold_s=0.1) as server:
        model = load_model("openai:served-tiny", {"base_url": server.base_url, "api_key_env": KEY_ENV,
                                                  "concurrency": "4"}, 0)
        check_answer(model)
    assert len(server.bodies) == 3  # the repeated and one-by-one calls were answered from the cache
    first = next(b for b in server.bodies if "red circle" in json.dumps(b))
    content = first["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["image_url", "text"]                   # images before the question
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert first["temperature"] == 0 and first["max_tokens"] == 4 and first["model"] == "served-tiny"
    assert server.headers[0]["authorization"] == f"Bearer {SECRET_KEY}"
    assert server.max_in_flight == 3                                               # the batch went out at once
