"""``tiny-random``: a Qwen2.5-VL-shaped model with random weights, built offline in about a second.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here on a fixed word list,
the weights come from ``torch.manual_seed(seed)``. The checkpoint is saved once under the
cache and then loaded through the ordinary ``hf`` adapter, so tests exercise the real path.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from sgt_eval.models.hf import HFModel
from sgt_eval.paths import build_once, cache_root

VERSION = "tiny-random-v1"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]  # ids 0..6 in this order
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Words of the benchmarks' prompts and answers, so random outputs are mostly whole words.
WORDS = (
    "yes no not true false the a an is are there in image of to with this that which what how many answer option "
    "choices select following letter directly from given A B C D E (A) (B) (C) (D) left right above below behind front "
    "top bottom near far closer farther camera object objects shape shapes circle square triangle star hexagon diamond "
    "red orange yellow green blue purple pink brown black white grey one two three four five six zero question "
    "statement caption picture I think it looks like correct incorrect"
).split()


def build_tiny_random(directory: Path, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL checkpoint (weights, tokenizer, image processor) to ``directory``."""
    tokenizer = _train_tokenizer()
    image_processor = transformers.Qwen2VLImageProcessor(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16)
    config = transformers.Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
                         bos_token_id=0, eos_token_id=2, pad_token_id=0),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[1]),
        image_token_id=5, video_token_id=6, vision_start_token_id=3, vision_end_token_id=4,
    )
    torch.manual_seed(seed)
    model = transformers.Qwen2_5_VLForConditionalGeneration._from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    image_processor.save_pretrained(directory)
    return directory


def load_tiny_random(arg: str, model_args: dict[str, str], seed: int) -> HFModel:
    """Backend entry for ``tiny-random``: build the checkpoint once per seed, then load it as ``hf``."""
    directory = build_once(cache_root() / "models" / f"{VERSION}-seed{seed}",
                           lambda scratch: build_tiny_random(scratch, seed), marker="config.json")
    options = {"dtype": "float32", "device": "cpu", "attn_implementation": "eager", **model_args}
    model = HFModel(str(directory), **options)
    model.name = "tiny-random"
    return model


def _train_tokenizer() -> transformers.PreTrainedTokenizerFast:
    return train_tokenizer([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))], vocab_size=700)


def train_tokenizer(corpus: list[str], vocab_size: int) -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE trained on ``corpus``, with the Qwen chat and vision special tokens (ids 0-6).

    Any text encodes: words the corpus lacks fall back to byte pieces.
    """
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=sorted(pre_tokenizers.ByteLevel.alphabet()))
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                              "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"},
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
