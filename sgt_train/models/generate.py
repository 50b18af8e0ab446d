"""Drawing images with a tiny UMM: one seeded noise per image, Euler steps over the image head.

Shared by the ``tiny:`` adapter of ``sgt-eval`` (text-to-image and editing) and the training run's
sample grid, so both draw exactly as the other does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from sgt_train.data.encode import Encoder, collate, tensor_image
from sgt_train.models.umm import TinyUMM


def draw(model: TinyUMM, encoder: Encoder, prompts: Sequence[str], images: Sequence[Sequence[Image.Image]],
         seeds: Sequence[int], *, steps: int, shift: float = 1.0) -> list[Image.Image]:
    """One image per prompt (with its input images, if any), each from the noise of its own seed.

    Parameters
    ----------
    model
        The tiny UMM, in eval mode.
    encoder
        Its tokenizer and image processor.
    prompts, images, seeds
        Per image: the instruction, the input images (empty for text-to-image) and the seed.
    steps, shift
        Euler steps and time shift of the sampler.
    """
    encoded = [encoder.prompt(text, list(inputs), f"prompt {k}") for k, (text, inputs) in
               enumerate(zip(prompts, images, strict=True))]
    batch = collate(encoded, encoder.tokenizer.pad_token_id)
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    size = model.head.config.image_size
    noise = torch.stack([torch.randn(model.head.config.channels, size, size,
                                     generator=torch.Generator().manual_seed(int(seed))) for seed in seeds])
    out = model.sample_images(batch, noise.to(device), steps, shift)  # (B, C, S, S) in [-1, 1]
    return [tensor_image(x.cpu()) for x in out]
