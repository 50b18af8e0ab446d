"""Model backends, registered by name and imported only when a run needs one."""

from __future__ import annotations

from typing import Any

from sgt_eval.registry import Registry

BACKENDS: Registry = Registry("model backend")
BACKENDS.add("tiny-random", "sgt_eval.models.tiny:load_tiny_random",
             "a tiny Qwen2.5-VL-shaped model with random weights, built offline from a config (tests, smoke runs)")
BACKENDS.add("hf", "sgt_eval.models.hf:load_hf",
             "hf:<path-or-hub-id>: any transformers AutoModelForImageTextToText checkpoint (Qwen2.5-VL, LLaVA, ...)")
BACKENDS.add("tiny", "sgt_eval.models.tiny_umm:load_tiny",
             "tiny:<run-or-checkpoint>: a tiny UMM trained by sgt-train (answers, generates, edits, traces)")
BACKENDS.add("tiny-diffusion", "sgt_eval.models.tiny_diffusion:load_tiny_diffusion",
             "a tiny random diffusers text-to-image + img2img pipeline built offline from configs (tests, smoke runs)")
BACKENDS.add("diffusers", "sgt_eval.models.diffusion:load_diffusers",
             "diffusers:<path-or-hub-id>: a diffusers text-to-image pipeline; editing via its image-to-image variant")
BACKENDS.add("bagel", "sgt_eval.models.bagel:load_bagel",
             "bagel:<BAGEL-7B-MoT folder>: BAGEL / SGT-BAGEL (ema=...) via your clone of ByteDance-Seed/Bagel (repo=...)")
BACKENDS.add("omnigen2", "sgt_eval.models.omnigen2:load_omnigen2",
             "omnigen2:<OmniGen2 folder>: OmniGen2 / SGT-OmniGen2 (checkpoint=...); images via your clone (repo=...)")
BACKENDS.add("vlmeval", "sgt_eval.vlmeval_bridge:load_zoo",
             "vlmeval:<name>: a model of VLMEvalKit's zoo (the vlmeval extra); --model-args go to its constructor")
BACKENDS.add("openai", "sgt_eval.models.served:load_served",
             "openai:<served-model-name>: any OpenAI-compatible server (vLLM, SGLang, hosted); base_url=... in --model-args")


def split_spec(spec: str) -> tuple[str, str]:
    """``"hf:Qwen/Qwen2.5-VL-3B-Instruct"`` -> ``("hf", "Qwen/Qwen2.5-VL-3B-Instruct")``."""
    backend, _, arg = spec.partition(":")
    return backend, arg


def load_model(spec: str, model_args: dict[str, str], seed: int) -> Any:
    """Build the model a ``--model`` spec names; unknown backends get a did-you-mean error."""
    backend, arg = split_spec(spec)
    return BACKENDS.load(backend)(arg, model_args, seed)
