"""``tiny-diffusion``: a Stable-Diffusion-shaped pipeline with random weights, built offline in a second.

UNet, VAE and CLIP text encoder are a few thousand parameters each, built from configs with
``torch.manual_seed(seed)``; the CLIP tokenizer's vocabulary and merges are written here, not
trained, so every build is byte-identical. The pipeline is saved once per seed under the cache
and loaded through the ``diffusers`` adapter, so tests exercise the real loading path. Defaults:
64x64 images in 4 DDIM steps (a batch of 8 takes about 0.1 s on a 2-core CPU).
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from sgt_eval.errors import UserError
from sgt_eval.models.diffusion import DiffusersModel, load_diffusers
from sgt_eval.models.tiny import WORDS
from sgt_eval.paths import build_once, cache_root

VERSION = "tiny-diffusion-v1"
IMAGE_SIZE = 64
VAE_BLOCKS = 4  # 3 halvings: latents are 1/8 of the image side, as in Stable Diffusion
DEFAULTS = {"steps": "4", "dtype": "float32", "device": "cpu"}
# Words of generation prompts and edit instructions, on top of the question words, so prompts
# become whole-word tokens instead of letters.
GENERATION_WORDS = (
    "photo of and make change add remove replace move turn into it its to color colour background some put "
    "next beside under over on picture scene draw render"
).split()


def build_tiny_diffusion(directory: Path, seed: int = 0) -> Path:
    """Write a tiny random ``StableDiffusionPipeline`` (safetensors) to ``directory``."""
    tokenizer = build_tokenizer()
    with torch.random.fork_rng(devices=[]):  # the caller's random state is not ours to change
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length, projection_dim=32,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id))
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * VAE_BLOCKS,
            up_block_types=("UpDecoderBlock2D",) * VAE_BLOCKS, block_out_channels=(4, 8, 8, 8), latent_channels=4,
            norm_num_groups=2, sample_size=IMAGE_SIZE)
        unet = UNet2DConditionModel(
            sample_size=IMAGE_SIZE // 2 ** (VAE_BLOCKS - 1), in_channels=4, out_channels=4,
            block_out_channels=(4, 8), layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=2,
            attention_head_dim=2)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    transformers.utils.logging.disable_progress_bar()  # saving a few kB needs no progress bar
    pipe.save_pretrained(directory, safe_serialization=True)
    return directory


def build_tokenizer() -> CLIPTokenizer:
    """A CLIP BPE tokenizer over the byte alphabet plus one merge chain per known word.

    Each word is merged left to right (``r e`` -> ``re``, ``re d</w>`` -> ``red</w>``), so every
    merge result is in the vocabulary and any text encodes: most known words become one token,
    the rest a few pieces or letters.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>", *alphabet, *(char + "</w>" for char in alphabet)]
    vocab = {token: index for index, token in enumerate(tokens)}
    merges: list[tuple[str, str]] = []
    for word in sorted({w.lower() for w in (*WORDS, *GENERATION_WORDS) if w.isalpha() and len(w) > 1}):
        left = word[0]
        for position, char in enumerate(word[1:], start=2):
            right = char + "</w>" * (position == len(word))
            if left + right not in vocab:
                vocab[left + right] = len(vocab)
                merges.append((left, right))
            left += right
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def load_tiny_diffusion(arg: str, model_args: dict[str, str], seed: int) -> DiffusersModel:
    """Backend entry for ``tiny-diffusion``: build the pipeline once per seed, then load it as ``diffusers``."""
    if arg:
        raise UserError(f"--model tiny-diffusion takes no ':{arg}'; the seed picks the weights (--seed)")
    directory = build_once(cache_root() / "models" / f"{VERSION}-seed{seed}",
                           lambda scratch: build_tiny_diffusion(scratch, seed), marker="model_index.json")
    model = load_diffusers(str(directory), {**DEFAULTS, **model_args}, seed)
    model.name = "tiny-diffusion"
    return model
