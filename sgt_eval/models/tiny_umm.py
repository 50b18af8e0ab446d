"""``tiny:<checkpoint>``: a tiny UMM written by ``sgt-train`` -- answers, generates, edits and is traced.

The backbone is a transformers Qwen2.5-VL, so answering and tracing are the ``hf`` adapter's own
code (same chat template, batching, greedy decoding and probe hooks); this adapter adds the image
head for ``generate_images`` (text-to-image) and ``edit_images`` (the source image and the
instruction go through the backbone, as in training). ``<checkpoint>`` is a run folder (its
``final/``), a ``checkpoints/step-N`` folder (its ``model/``) or a model folder itself.

``--model-args``: ``weights=ema|raw`` (default ema, as SGT releases its EMA weights), ``steps``
(Euler steps, default 20), ``shift`` (time shift, default 1.0), plus the hf options (dtype, device,
attn_implementation).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.models.base import EditRequest, GenRequest
from sgt_eval.models.hf import HFModel

OWN_OPTIONS = {"weights": "ema", "steps": "20", "shift": "1.0"}
HF_OPTIONS = ("dtype", "device", "attn_implementation")  # a local checkpoint: no revision, no remote code


def resolve_checkpoint(path: str) -> Path:
    """The model folder a ``tiny:`` path names (see the module docstring)."""
    folder = Path(path)
    for candidate in (folder, folder / "final", folder / "model"):
        if (candidate / "head_config.json").is_file():
            return candidate
    raise UserError(f"tiny:{path} is not a tiny UMM checkpoint; give a run folder written by sgt-train "
                    f"(RUN or RUN/final) or one of its checkpoints (RUN/checkpoints/step-N)")


class TinyUMMModel(HFModel):
    """A tiny UMM checkpoint: the hf adapter for text, the image head for images."""

    capabilities = frozenset({"answer", "generate", "edit", "hidden_states", "attention"})

    def __init__(self, path: str, *, weights: str = "ema", steps: int = 20, shift: float = 1.0,
                 **hf_options: Any) -> None:
        from sgt_train.data.encode import Encoder
        from sgt_train.models.umm import TinyUMM, ema_state, load_head

        folder = resolve_checkpoint(path)
        super().__init__(str(folder), **{"dtype": "float32", "attn_implementation": "sdpa", **hf_options})
        # one set of weights shared by text and images: the backbone hf loaded, plus the head
        self.umm = TinyUMM(self.model, load_head(folder, self.model.dtype)).to(self.device).eval()
        if weights == "ema":
            self.umm.load_state_dict(ema_state(folder))
        self.encoder = Encoder(self.tokenizer, self.processor.image_processor, max_length=1 << 16)
        self.weights, self.steps, self.shift = weights, steps, shift
        self.name = f"tiny:{path}"

    def generate_images(self, batch: Sequence[GenRequest]) -> list[Image.Image]:
        images = self._draw([r.prompt for r in batch], [[] for _ in batch], [r.seed for r in batch])
        return [im if r.width is None else im.resize((r.width, r.height or r.width), Image.Resampling.BICUBIC)
                for im, r in zip(images, batch)]

    def edit_images(self, batch: Sequence[EditRequest]) -> list[Image.Image]:
        images = self._draw([r.instruction for r in batch], [[r.image.convert("RGB")] for r in batch],
                            [r.seed for r in batch])
        return [im.resize(r.image.size, Image.Resampling.BICUBIC) for im, r in zip(images, batch)]

    def _draw(self, prompts: list[str], inputs: list[list[Image.Image]], seeds: list[int]) -> list[Image.Image]:
        from sgt_train.models.generate import draw

        with torch.inference_mode():
            return draw(self.umm, self.encoder, prompts, inputs, seeds, steps=self.steps, shift=self.shift)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "weights": self.weights, "sampler": "euler", "steps": self.steps,
                "shift": self.shift, "image_size": self.umm.head.config.image_size}


def load_tiny(arg: str, model_args: dict[str, str], seed: int) -> TinyUMMModel:
    """Backend entry for ``tiny:<checkpoint>`` with ``--model-args``."""
    if not arg:
        raise UserError("--model tiny needs a checkpoint: tiny:<run folder written by sgt-train>")
    known = (*HF_OPTIONS, *OWN_OPTIONS)
    unknown = sorted(set(model_args) - set(known))
    if unknown:
        raise UserError(f"--model-args {unknown[0]!r} is not a tiny option (known: {', '.join(known)})")
    options = {**OWN_OPTIONS, **model_args}
    if options["weights"] not in ("ema", "raw"):
        raise UserError(f"--model-args weights={options['weights']!r} must be ema or raw")
    try:
        steps, shift = int(options.pop("steps")), float(options.pop("shift"))
    except ValueError:
        raise UserError("--model-args steps must be a whole number and shift a number") from None
    if steps < 1:
        raise UserError("--model-args steps must be at least 1")
    torch.manual_seed(seed)
    return TinyUMMModel(arg, steps=steps, shift=shift, **options)
