"""Turning samples into token ids, labels and pixels, exactly as the model is asked at evaluation time.

The text is the tokenizer's own chat template, rendered and tokenised whole (as ``sgt-eval``'s hf
adapter does when it answers), then each image placeholder token is expanded to the image's number of
visual tokens. Labels are the assistant turns' tokens and the end-of-turn token after each, found
by character offsets: no hand-built token sequence can drift from what inference sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from sgt_train.data.common import BadSample
from sgt_train.data.sft import IMAGE_PLACEHOLDER, Turn
from sgt_train.models.umm import IGNORE


@dataclass
class Encoded:
    """One sample: ids and labels (lists of equal length), its images' pixels and, for proxies, the target."""

    input_ids: list[int]
    labels: list[int]
    pixel_values: torch.Tensor | None = None  # (P, D) patches of all the sample's images
    grid: torch.Tensor | None = None          # (I, 3) t, h, w patches of each image
    target: torch.Tensor | None = None        # (C, S, S) in [-1, 1]
    noise: torch.Tensor | None = None         # (C, S, S) flow-matching noise of the target
    t: torch.Tensor | None = None             # (1,) its flow-matching time


class Encoder:
    """Encodes conversations and proxy prompts for one tokenizer and image processor."""

    def __init__(self, tokenizer: Any, image_processor: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.max_length = max_length
        self.image_token = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        self.merge = image_processor.merge_size ** 2

    def conversation(self, turns: Sequence[Turn], images: Sequence[Image.Image], where: str) -> Encoded:
        """A multi-turn conversation with the loss on every assistant turn."""
        messages = [_message(t) for t in turns]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False)
        spans = []  # character spans of the assistant contents in ``text``
        for k, turn in enumerate(turns):
            if turn.role == "assistant":
                end_before = len(self.tokenizer.apply_chat_template(messages[:k], tokenize=False)) if k else 0
                start = text.index(turn.text, end_before)
                spans.append((start, start + len(turn.text)))
        return self._encode(text, images, spans, where)

    def prompt(self, text: str, images: Sequence[Image.Image], where: str) -> Encoded:
        """A single user turn ready for the assistant's reply (a proxy or generation prompt): no text loss."""
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
        rendered = self.tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                      add_generation_prompt=True)
        return self._encode(rendered, images, [], where)

    def _encode(self, text: str, images: Sequence[Image.Image], spans: list[tuple[int, int]], where: str) -> Encoded:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        labels = [IGNORE] * len(ids)
        eos = self.tokenizer.eos_token_id
        for start, end in spans:
            inside = [i for i, (a, b) in enumerate(offsets) if a >= start and b <= end and b > a]
            after = next((i for i in range(inside[-1] + 1 if inside else 0, len(ids))
                          if ids[i] == eos and offsets[i][0] >= end), None)
            for i in inside + ([after] if after is not None else []):
                labels[i] = ids[i]
        pixel_values = grid = None
        if images:
            processed = self.image_processor(images=list(images), return_tensors="pt")
            pixel_values, grid = processed["pixel_values"], processed["image_grid_thw"]
        counts = [] if grid is None else (grid.prod(-1) // self.merge).tolist()
        if ids.count(self.image_token) != len(counts):
            raise BadSample("image placeholders", f"{where}: {ids.count(self.image_token)} image placeholder(s) "
                                                  f"for {len(counts)} image(s)")
        out_ids, out_labels, k = [], [], 0
        for token, label in zip(ids, labels):
            if token == self.image_token:
                out_ids += [token] * counts[k]
                out_labels += [IGNORE] * counts[k]
                k += 1
            else:
                out_ids.append(token)
                out_labels.append(label)
        if len(out_ids) > self.max_length:
            raise BadSample("too long", f"{where}: {len(out_ids)} tokens is more than data.max_length "
                                        f"{self.max_length}")
        return Encoded(out_ids, out_labels, pixel_values, grid)


def _message(turn: Turn) -> dict[str, Any]:
    """A chat message with the ``<image>`` placeholders as image parts, in place."""
    pieces = turn.text.split(IMAGE_PLACEHOLDER)
    content: list[dict[str, Any]] = []
    for k, piece in enumerate(pieces):
        if k:
            content.append({"type": "image"})
        piece = piece.lstrip("\n") if k else piece  # "<image>\nQuestion": the template puts images first
        if piece:
            content.append({"type": "text", "text": piece})
    return {"role": turn.role, "content": content}


def image_tensor(image: Image.Image) -> torch.Tensor:
    """A (3, H, W) float tensor in [-1, 1] of an RGB image."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1.0


def tensor_image(x: torch.Tensor) -> Image.Image:
    """The inverse of :func:`image_tensor`: (3, S, S) in [-1, 1] -> RGB image."""
    array = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB")


def collate(samples: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded micro-batch; rows with a target are listed in ``image_rows`` (targets in that order)."""
    width = max(len(s.input_ids) for s in samples)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(samples), width), dtype=torch.long)
    for b, s in enumerate(samples):
        ids[b, :len(s.input_ids)] = torch.tensor(s.input_ids)
        labels[b, :len(s.labels)] = torch.tensor(s.labels)
        mask[b, :len(s.input_ids)] = 1
    batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
    pixels = [s.pixel_values for s in samples if s.pixel_values is not None]
    if pixels:
        batch["pixel_values"] = torch.cat(pixels)
        batch["image_grid_thw"] = torch.cat([s.grid for s in samples if s.grid is not None])
    rows = [b for b, s in enumerate(samples) if s.target is not None]
    batch["image_rows"] = torch.tensor(rows, dtype=torch.long)
    return batch
