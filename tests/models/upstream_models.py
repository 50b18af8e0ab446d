"""Tiny random BAGEL and OmniGen2 checkpoints in the upstream layouts, built with the user's clones.

The clones are never part of this repository: tests find them through ``$SGT_EVAL_BAGEL_REPO`` and
``$SGT_EVAL_OMNIGEN2_REPO`` and skip, saying so, when they are absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from sgt_eval.models.tiny import WORDS

CLONES = {"bagel": ("SGT_EVAL_BAGEL_REPO", "https://github.com/ByteDance-Seed/Bagel"),
          "omnigen2": ("SGT_EVAL_OMNIGEN2_REPO", "https://github.com/VectorSpaceLab/OmniGen2")}
# BAGEL's FLUX autoencoder, shrunk: GroupNorm needs channels that are multiples of 32
TINY_AE = {"resolution": 256, "in_channels": 3, "downsample": 8, "ch": 32, "out_ch": 3, "ch_mult": [1, 1, 1, 1],
           "num_res_blocks": 1, "z_channels": 16, "scale_factor": 0.3611, "shift_factor": 0.1159}
# small images keep the tests fast: ViT 28-56 px, VAE 32-64 px
BAGEL_ARGS = {"device": "cpu", "vit_min": "28", "vit_max": "56", "vae_min": "32", "vae_max": "64",
              "width": "64", "height": "64", "steps": "3", "edit_steps": "3"}


def clone(backend: str) -> Path:
    """The clone named by the backend's environment variable, or a skip that says how to provide one."""
    env, url = CLONES[backend]
    path = os.environ.get(env)
    if not path or not Path(path).is_dir():
        pytest.skip(f"needs a clone of {url}: set {env}=/path/to/clone (never committed here)")
    return Path(path)


def bpe_files(directory: Path) -> None:
    """vocab.json + merges.txt of a byte-level BPE trained on the benchmarks' words (Qwen2Tokenizer's files)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=sorted(pre_tokenizers.ByteLevel.alphabet())))
    bpe.model.save(str(directory))


def build_tiny_bagel(repo: Path, directory: Path, seed: int = 0) -> Path:
    """A random BAGEL checkpoint folder (llm/vit configs, ema, ae + ae_config, tokenizer) of about 1M weights."""
    from sgt_eval.models import bagel as adapter
    from sgt_eval.models.bagel_compat import config_defaults, plain_outputs, transformers4_names
    from sgt_eval.models.varlen import importable_flash_attn

    directory.mkdir(parents=True, exist_ok=True)
    bpe_files(directory)
    with importable_flash_attn(), transformers4_names():
        bagel, navit, autoencoder, qwen2, data_utils, _ = adapter.UPSTREAM.load(repo, adapter.MODULES)
        plain_outputs(navit)
        tokenizer, _, _ = data_utils.add_special_tokens(qwen2.Qwen2Tokenizer.from_pretrained(str(directory)))
        llm = {"vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
               "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
               "rope_theta": 1e6, "rms_norm_eps": 1e-6, "hidden_act": "silu", "model_type": "qwen2"}
        vit = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
               "patch_size": 14, "image_size": 980, "num_channels": 3, "model_type": "siglip_vision_model"}
        for name, config in (("llm_config.json", llm), ("vit_config.json", vit), ("ae_config.json", TINY_AE)):
            (directory / name).write_text(json.dumps(config, indent=2))
        torch.manual_seed(seed)
        vae = autoencoder.AutoEncoder(autoencoder.AutoEncoderParams(**TINY_AE))
        save_file(vae.state_dict(), str(directory / "ae.safetensors"))
        llm_config = config_defaults(bagel.Qwen2Config(**llm))
        llm_config.qk_norm, llm_config.tie_word_embeddings, llm_config.layer_module = True, False, "Qwen2MoTDecoderLayer"
        vit_config = bagel.SiglipVisionConfig(**vit)
        vit_config.rope, vit_config.num_hidden_layers = False, vit["num_hidden_layers"] - 1
        config = bagel.BagelConfig(visual_gen=True, visual_und=True, llm_config=llm_config, vit_config=vit_config,
                                   vae_config=autoencoder.AutoEncoderParams(**TINY_AE), vit_max_num_patch_per_side=70,
                                   connector_act="gelu_pytorch_tanh", latent_patch_size=2, max_latent_size=64)
        model = bagel.Bagel(bagel.Qwen2ForCausalLM(llm_config), bagel.SiglipVisionModel(vit_config), config)
        model.vit_model.vision_model.embeddings.convert_conv2d_to_linear(vit_config)
        torch.nn.init.normal_(model.llm2vae.weight, std=0.02)  # upstream zero-inits it: images would ignore the prompt
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "ema.safetensors"))
    return directory


def build_omnigen2_mllm(base: Path, seed: int = 0) -> Path:
    """An OmniGen2 folder with what understanding needs: ``mllm/`` (a tiny random Qwen2.5-VL) and ``processor/``."""
    import shutil

    from sgt_eval.models.tiny import build_tiny_random

    build_tiny_random(base / "mllm", seed)
    (base / "processor").mkdir(parents=True, exist_ok=True)
    for file in (base / "mllm").iterdir():  # the tokenizer, its chat template and the image processor
        if file.name not in ("config.json", "generation_config.json", "model.safetensors"):
            shutil.copy(file, base / "processor" / file.name)
    return base


def save_text_encoder(mllm_dir: Path, folder: Path, layout: str) -> dict[str, torch.Tensor]:
    """The weights of the Qwen2.5-VL in ``mllm_dir`` saved the way SGT-Gen2 stores its text encoder.

    ``layout``: ``"vlmodel"`` (a Qwen2_5_VLModel of transformers >= 4.52: visual.*, language_model.*),
    ``"decoder"`` (the bare decoder of earlier versions: layers.*, embed_tokens.*, norm.*; no visual) or
    ``"legacy"`` (a whole ForConditionalGeneration of before 4.52: model.*, visual.*, lm_head.*).
    Returns the state dict in transformers' current key layout, for comparison.
    """
    import transformers

    model = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(str(mllm_dir))
    current = {k: v.detach().clone() for k, v in model.state_dict().items()}  # the layout transformers uses in memory
    saved = {}
    for key, value in current.items():
        visual = key.startswith("model.visual.")
        language = key.removeprefix("model.language_model.")
        if layout == "vlmodel" and not key.startswith("lm_head."):
            saved[key.removeprefix("model.")] = value
        elif layout == "decoder" and key.startswith("model.language_model."):
            saved[language] = value
        elif layout == "legacy" and visual:
            saved[key.removeprefix("model.")] = value
        elif layout == "legacy":
            saved[key if key.startswith("lm_head.") else "model." + language] = value
    folder.mkdir(parents=True, exist_ok=True)
    save_file(saved, str(folder / "model.safetensors"))
    return current


# OmniGen2's diffusion transformer, shrunk (its text features are the tiny MLLM's 64-d hidden states)
TINY_DIT = {"patch_size": 2, "in_channels": 4, "hidden_size": 32, "num_layers": 1, "num_refiner_layers": 1,
            "num_attention_heads": 2, "num_kv_heads": 1, "multiple_of": 16, "axes_dim_rope": (4, 6, 6),
            "axes_lens": (1024, 256, 256), "text_feat_dim": 64, "timestep_scale": 1000.0}
OMNIGEN2_ARGS = {"device": "cpu", "dtype": "float32", "attn_implementation": "eager", "width": "64", "height": "64",
                 "steps": "2", "edit_steps": "2"}


def build_omnigen2_generator(repo: Path, base: Path, seed: int = 0, folder: str = "transformer") -> Path:
    """Add what OmniGen2's pipeline needs to ``base``: ``transformer/``, ``vae/``, ``scheduler/`` (tiny, random).

    With ``folder``, only a diffusion transformer is written there (e.g. SGT-Gen2's transformer/transformer).
    """
    from diffusers import AutoencoderKL

    from sgt_eval.models import omnigen2 as adapter

    _, transformer, euler, _ = adapter.UPSTREAM.load(repo, adapter.MODULES)
    torch.manual_seed(seed)
    dit = transformer.OmniGen2Transformer2DModel(**TINY_DIT)
    for weight in dit.parameters():  # upstream zero-inits its output layers: images would ignore the model
        torch.nn.init.normal_(weight, std=0.1)
    dit.save_pretrained(base / folder)
    if folder == "transformer":
        AutoencoderKL(block_out_channels=(4, 4, 4, 4), down_block_types=("DownEncoderBlock2D",) * 4,
                      up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=1
                      ).save_pretrained(base / "vae")
        euler.FlowMatchEulerDiscreteScheduler().save_pretrained(base / "scheduler")
    return base
