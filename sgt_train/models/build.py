"""Building a fresh tiny UMM from a config, offline: backbone, tokenizer trained in code, image head.

The tokenizer is a byte-level BPE trained on a fixed ShapesWorld corpus (the conversations of a
small training world, every proxy instruction and the test models' word lists), never on the run's
own data, so two runs with the same model config start from byte-identical checkpoints whatever
they train on. Any text still encodes: unknown words fall back to byte pieces.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import transformers

from sgt_eval.models.tiny import SPECIAL_TOKENS, WORDS, train_tokenizer
from sgt_eval.models.tiny_diffusion import GENERATION_WORDS
from sgt_train.data.instructions import PHRASINGS
from sgt_train.models.head import HeadConfig, ImageHead
from sgt_train.models.umm import TinyUMM, save_umm

# Bump whenever a fresh model's bytes can change (architecture, init, tokenizer corpus): built models are cached by it.
VERSION = "tiny-umm-v2"
TOKENIZER_SEED = 1  # the ShapesWorld training seed whose conversations train the tokenizer


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of a fresh tiny UMM (``model.*`` in a training config).

    ``init_std`` replaces transformers' default 0.02 weight init: at widths of 64-128 that default
    leaves the attention logits and the vision tower's output near zero, and a from-scratch model
    then needs many times more steps before it starts to look at the image.
    """

    hidden: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 256
    vision_hidden: int = 64
    vision_depth: int = 2
    vision_heads: int = 2
    image_pixels: int = 112
    vocab_size: int = 1200
    init_std: float = 0.1
    head_image_size: int = 64
    head_patch: int = 8
    head_hidden: int = 128
    head_layers: int = 4
    head_heads: int = 4

    def __post_init__(self) -> None:
        if self.hidden % self.heads or (self.hidden // self.heads) % 8:
            raise ValueError(f"model.hidden {self.hidden} / model.heads {self.heads} must be a multiple of 8")
        if self.image_pixels % 28:
            raise ValueError(f"model.image_pixels {self.image_pixels} must be a multiple of 28 (patch 14 x merge 2)")

    def head_config(self) -> HeadConfig:
        return HeadConfig(cond_dim=self.hidden, image_size=self.head_image_size, patch=self.head_patch,
                          hidden=self.head_hidden, layers=self.head_layers, heads=self.head_heads)

    def key(self) -> str:
        """A short stable name of these sizes (the cache folder of the built checkpoint)."""
        import hashlib

        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def backbone_config(config: ModelConfig, vocab_size: int) -> transformers.Qwen2_5_VLConfig:
    head_dim = config.hidden // config.heads
    temporal = head_dim // 8  # multimodal RoPE: a quarter of the rotary pairs for time, the rest split h / w
    spatial = (head_dim // 2 - temporal) // 2
    return transformers.Qwen2_5_VLConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=config.hidden, intermediate_size=config.intermediate,
                         num_hidden_layers=config.layers, num_attention_heads=config.heads,
                         num_key_value_heads=config.kv_heads, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 10_000.0,
                                          "mrope_section": [temporal, spatial, head_dim // 2 - temporal - spatial]},
                         bos_token_id=0, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False,
                         initializer_range=config.init_std),
        vision_config=dict(depth=config.vision_depth, hidden_size=config.vision_hidden,
                           intermediate_size=2 * config.vision_hidden, num_heads=config.vision_heads,
                           out_hidden_size=config.hidden, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                           window_size=112, fullatt_block_indexes=[config.vision_depth - 1],
                           initializer_range=config.init_std),
        image_token_id=SPECIAL_TOKENS.index("<|image_pad|>"), video_token_id=SPECIAL_TOKENS.index("<|video_pad|>"),
        vision_start_token_id=SPECIAL_TOKENS.index("<|vision_start|>"),
        vision_end_token_id=SPECIAL_TOKENS.index("<|vision_end|>"), tie_word_embeddings=False,
    )


def build_tiny_umm(directory: Path, config: ModelConfig, seed: int = 0) -> Path:
    """Write a fresh tiny UMM checkpoint (raw weights = EMA weights) to ``directory``."""
    tokenizer = train_tokenizer(tokenizer_corpus(), config.vocab_size)
    pixels = config.image_pixels ** 2
    image_processor = transformers.Qwen2VLImageProcessorPil(min_pixels=pixels, max_pixels=pixels)
    with torch.random.fork_rng(devices=[]):  # the caller's random state is not ours to change
        torch.manual_seed(seed)
        backbone = transformers.Qwen2_5_VLForConditionalGeneration._from_config(backbone_config(config, len(tokenizer)))
        head = ImageHead(config.head_config())
    model = TinyUMM(backbone, head)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    save_umm(directory, model, tokenizer, image_processor, ema=ema)
    return Path(directory)


def tokenizer_corpus() -> list[str]:
    """The fixed texts the tokenizer is trained on (see the module docstring)."""
    from sgt_eval.paths import cache_root
    from sgt_train.data.shapes import ensure_training_data

    folder = ensure_training_data(cache_root() / "train-data", seed=TOKENIZER_SEED, scale=1)
    rows = json.loads((folder / "llava_ov.json").read_text(encoding="utf-8"))
    texts = [turn["value"].replace("<image>\n", "") for row in rows for turn in row["conversations"]]
    return texts + [p for phrasings in PHRASINGS.values() for p in phrasings] + [" ".join(WORDS + GENERATION_WORDS)]
