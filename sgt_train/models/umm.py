"""The tiny unified model: a transformers Qwen2.5-VL backbone plus the flow-matching image head.

A checkpoint folder is a transformers checkpoint of the backbone (``config.json``,
``model.safetensors``, tokenizer, image processor: ``hf:<folder>`` loads it for answering) plus
``head_config.json`` / ``head.safetensors`` for the image head and ``ema.safetensors``, the EMA
weights of both (keys ``backbone.*`` and ``head.*``). Everything is safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import transformers
from safetensors.torch import load_file, save_file
from torch import nn

from sgt_eval.errors import UserError
from sgt_train.losses import euler_sample, noised, text_ce_sum, velocity_mse_sum
from sgt_train.models.head import HeadConfig, ImageHead

HEAD_CONFIG = "head_config.json"
HEAD_WEIGHTS = "head.safetensors"
EMA_WEIGHTS = "ema.safetensors"
IGNORE = -100  # label of positions without text loss


class TinyUMM(nn.Module):
    """Backbone and image head; :meth:`forward` returns the loss sums of one micro-batch.

    Every micro-batch runs every sub-module (the vision tower on a dummy image when the batch has
    none, the head on zero samples when it has no image target): ZeRO-3 gathers parameters module by
    module and DDP expects gradients for all of them, so all ranks must take the same path.
    """

    def __init__(self, backbone: transformers.PreTrainedModel, head: ImageHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss sums and counts: ``ce_sum`` over ``ce_count`` answer tokens, ``mse_sum`` over ``mse_count`` images."""
        hidden, zero = self.hidden_states(batch)                               # (B, N, H)
        labels = batch["labels"][:, 1:]                                        # position i predicts token i + 1
        supervised = labels != IGNORE
        logits = self.backbone.lm_head(hidden[:, :-1][supervised])            # (T, V)
        ce_sum = text_ce_sum(logits, labels[supervised])
        rows = batch["image_rows"]                                             # (Bs,)
        mask = batch["attention_mask"][rows].bool()                            # (Bs, N), right-padded
        width = int(mask.sum(1).max()) if rows.numel() else 0                  # proxy prompts are short: the head
        where = self.visual_places(batch)[rows, :width]                        # skips the padding of VQA rows
        condition = self.head.encode_context(hidden[rows, :width], mask[:, :width], where)
        x_t, velocity = noised(batch["target"], batch["noise"], batch["t"])    # (Bs, C, S, S)
        prediction = self.head(x_t, batch["t"], condition)
        mse_sum = velocity_mse_sum(prediction, velocity)
        return {"ce_sum": ce_sum + zero, "ce_count": supervised.sum(), "mse_sum": mse_sum,
                "mse_count": torch.tensor(rows.numel())}

    def hidden_states(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's last hidden states (B, N, H), and a zero that ties in the vision tower when unused."""
        pixels = batch.get("pixel_values")
        out = self.backbone.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  pixel_values=pixels, image_grid_thw=batch.get("image_grid_thw"), use_cache=False)
        zero = out.last_hidden_state.new_zeros(())
        if pixels is None:
            visual = self.backbone.model.visual
            patch = visual.patch_embed
            dummy = torch.zeros(4, patch.in_channels * patch.temporal_patch_size * patch.patch_size ** 2,
                                dtype=visual.dtype, device=out.last_hidden_state.device)
            grid = torch.tensor([[1, 2, 2]], device=dummy.device)
            zero = visual(dummy, grid_thw=grid).pooler_output.sum() * 0.0
        return out.last_hidden_state, zero

    def visual_places(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, N, 2): each image token's centre (row, column) as fractions of its image; NaN elsewhere.

        Qwen2.5-VL lays an image's tokens out row-major over its merged patch grid (``image_grid_thw``
        divided by the merge size), images in the order of the text.
        """
        ids = batch["input_ids"]
        places = torch.full((*ids.shape, 2), float("nan"), device=ids.device)
        grids = batch.get("image_grid_thw")
        if grids is None:
            return places
        merge = self.backbone.config.vision_config.spatial_merge_size
        centres = []
        for t, h, w in grids.tolist():
            rows, cols = h // merge, w // merge
            ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
            yx = torch.stack([(ys.flatten() + 0.5) / rows, (xs.flatten() + 0.5) / cols], dim=-1)  # (h w, 2)
            centres.append(yx.repeat(t, 1))
        places[ids == self.backbone.config.image_token_id] = torch.cat(centres).to(places)
        return places

    def checkpoint_activations(self) -> None:
        """Recompute the blocks' activations in backward instead of keeping them (less memory, more time)."""
        enable = getattr(self.backbone, "activation_checkpointing_enable", None)  # the transformers 5 name
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            self.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.head.gradient_checkpointing = True

    @torch.inference_mode()
    def sample_images(self, batch: dict[str, torch.Tensor], noise: torch.Tensor, steps: int,
                      shift: float = 1.0) -> torch.Tensor:
        """Images in [-1, 1] (B, C, S, S) for every row of a prompt batch, from the given starting noise."""
        hidden, _ = self.hidden_states(batch)
        mask = batch["attention_mask"].bool()
        condition = self.head.encode_context(hidden, mask, self.visual_places(batch))
        return euler_sample(lambda x, t: self.head(x, t, condition), noise, steps, shift).clamp(-1, 1)


def save_umm(directory: Path, model: TinyUMM, tokenizer: Any, image_processor: Any,
             ema: dict[str, torch.Tensor] | None = None, state: dict[str, torch.Tensor] | None = None) -> None:
    """Write a checkpoint folder (see the module docstring).

    ``state`` is the full state dict to write (a consolidated ZeRO-3 model); default ``model``'s own.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    transformers.utils.logging.disable_progress_bar()  # a training run's own bar is the one to watch
    state = model.state_dict() if state is None else state
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    model.backbone.save_pretrained(directory, state_dict=backbone)
    tokenizer.save_pretrained(directory)
    image_processor.save_pretrained(directory)
    head = {k[len("head."):]: v.contiguous() for k, v in state.items() if k.startswith("head.")}
    save_file(head, str(directory / HEAD_WEIGHTS))
    (directory / HEAD_CONFIG).write_text(json.dumps(model.head.config.to_json(), indent=2) + "\n", encoding="utf-8")
    if ema is not None:
        save_file({k: v.contiguous() for k, v in ema.items()}, str(directory / EMA_WEIGHTS))


def load_umm(directory: Path, weights: str = "raw", dtype: torch.dtype = torch.float32,
             attn_implementation: str = "sdpa") -> TinyUMM:
    """The model of a checkpoint folder with its ``raw`` (last optimizer step) or ``ema`` weights."""
    directory = Path(directory)
    if not (directory / HEAD_CONFIG).is_file():
        raise UserError(f"{directory} is not a tiny UMM checkpoint (no {HEAD_CONFIG}); give a folder written by "
                        f"sgt-train, e.g. RUN/final")
    transformers.utils.logging.disable_progress_bar()
    backbone = transformers.AutoModelForImageTextToText.from_pretrained(
        directory, dtype=dtype, attn_implementation=attn_implementation)
    head = load_head(directory, dtype)
    model = TinyUMM(backbone, head)
    if weights == "ema":
        model.load_state_dict(ema_state(directory), strict=True)
    elif weights != "raw":
        raise UserError(f"weights={weights!r} must be raw or ema")
    return model


def load_head(directory: Path, dtype: torch.dtype = torch.float32) -> ImageHead:
    """The image head of a checkpoint folder with its raw weights."""
    config = HeadConfig(**json.loads((Path(directory) / HEAD_CONFIG).read_text(encoding="utf-8")))
    head = ImageHead(config).to(dtype)
    head.load_state_dict(load_file(str(Path(directory) / HEAD_WEIGHTS)))
    return head


def ema_state(directory: Path) -> dict[str, torch.Tensor]:
    """The EMA weights of a checkpoint folder, as a :class:`TinyUMM` state dict."""
    path = Path(directory) / EMA_WEIGHTS
    if not path.is_file():
        raise UserError(f"{directory} has no {EMA_WEIGHTS}; load its raw weights (weights=raw) or train with EMA")
    return load_file(str(path))
