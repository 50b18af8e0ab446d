"""The sample grid of a run: for a few proxy items, the input image, the target and what the model draws.

Drawn from the published checkpoint (as ``sgt-eval`` would load it, EMA weights), so the grid shows
the model that is evaluated, under every training strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import transformers
from PIL import Image, ImageDraw

from sgt_train.data.common import open_rgb
from sgt_train.data.encode import Encoder
from sgt_train.data.instructions import PHRASINGS
from sgt_train.data.sam import ProxyItem
from sgt_train.models.generate import draw
from sgt_train.models.umm import load_umm
from sgt_train.proxies import Proxy

LABEL_HEIGHT = 14


def sample_grid(checkpoint: Path, items: Sequence[ProxyItem], proxy: Proxy, png: Path, *, steps: int, seed: int,
                shift: float = 1.0, weights: str = "ema") -> Path:
    """Columns input | target | generated, one row per item, at the image head's size; saved as ``png``."""
    model = load_umm(checkpoint, weights=weights).eval()
    encoder = Encoder(transformers.AutoTokenizer.from_pretrained(checkpoint),
                      transformers.AutoImageProcessor.from_pretrained(checkpoint), max_length=4096)
    size = model.head.config.image_size
    inputs = [open_rgb(item.image, item.where) for item in items]
    targets = [proxy.target(item, image, size) for item, image in zip(items, inputs)]
    instruction = PHRASINGS[proxy.name][0]
    generated = draw(model, encoder, [instruction] * len(items), [[image] for image in inputs],
                     [seed + k for k in range(len(items))], steps=steps, shift=shift)
    grid = Image.new("RGB", (3 * size, LABEL_HEIGHT + len(items) * size), (255, 255, 255))
    pen = ImageDraw.Draw(grid)
    for column, title in enumerate(("input", "target", "generated")):
        pen.text((column * size + 2, 1), title, fill=(0, 0, 0))
    for row, images in enumerate(zip(inputs, targets, generated)):
        for column, image in enumerate(images):
            grid.paste(image.resize((size, size), Image.Resampling.BILINEAR), (column * size, LABEL_HEIGHT + row * size))
    png.parent.mkdir(parents=True, exist_ok=True)
    grid.save(png)
    return png
