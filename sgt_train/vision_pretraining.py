"""The demo base's first stage: its vision tower learns to tell ShapesWorld's shapes apart.

Real UMMs start from a vision encoder pretrained on far more images than they are tuned on
(BAGEL and OmniGen2 from SigLIP). A tiny vision tower trained from scratch through the language
model alone learns colours and counts within a few hundred steps but not shape kinds: a VQA or
caption answer is a handful of tokens per image, and ``"Is there a pentagon?"`` stays at its prior
for thousands of steps. Here the tower instead learns, for every merged visual token, the kind
and the colour of the shape under the token's centre (or the background), from masks of fresh
scenes: many labels per image, the way a labelled image set pretrains an encoder. The labels are
classes, not drawn masks: nothing is generated, so this is not the SGT objective.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from sgt_eval.world import Layout
from sgt_eval.world.scene import COLORS, IMAGE_SIZE, KINDS
from sgt_train.data.pretraining import fresh_scene

BACKGROUND = 0  # class 0 of both label sets; kind k is KINDS.index(k) + 1, likewise colours


@dataclass(frozen=True)
class VisionPlan:
    steps: int = 1500
    batch: int = 32
    images: int = 3000   # fresh scenes rendered once and cycled through
    lr: float = 1e-3
    seed: int = 0


def token_labels(layout: Layout, token_pixels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Kind and colour classes of the shape under each visual token's centre, in raster order."""
    kinds = np.array([BACKGROUND] + [1 + KINDS.index(s.kind) for s in layout.scene.shapes])
    colours = np.array([BACKGROUND] + [1 + list(COLORS).index(s.color) for s in layout.scene.shapes])
    centres = layout.mask[token_pixels // 2::token_pixels, token_pixels // 2::token_pixels]
    return torch.from_numpy(kinds[centres]).reshape(-1), torch.from_numpy(colours[centres]).reshape(-1)


def pretrain_vision(visual: torch.nn.Module, image_processor: Any, plan: VisionPlan) -> dict[str, float]:
    """Train ``visual`` (a Qwen2.5-VL vision tower and merger) in place; returns the last step's losses and
    accuracies on shape tokens (of its own batch)."""
    rng = np.random.default_rng([plan.seed, 3000])
    token_pixels = image_processor.patch_size * image_processor.merge_size  # the side one merged token covers
    images, labels = [], []  # kept as images and labels: a layout also holds its full-size instance mask
    for _ in range(plan.images):
        layout = Layout(fresh_scene(rng), IMAGE_SIZE)
        images.append(layout.image)
        labels.append(token_labels(layout, token_pixels))
    width = visual.merger.mlp[-1].out_features
    heads = torch.nn.ModuleDict({"kind": torch.nn.Linear(width, len(KINDS) + 1),
                                 "colour": torch.nn.Linear(width, len(COLORS) + 1)})
    optimizer = torch.optim.AdamW([*visual.parameters(), *heads.parameters()], lr=plan.lr, betas=(0.9, 0.95))
    order = torch.Generator().manual_seed(plan.seed)
    visual.train()
    result: dict[str, float] = {}
    bar = tqdm(range(plan.steps), desc="vision", file=sys.stderr, mininterval=2.0)
    for _ in bar:
        picked = torch.randint(len(images), (plan.batch,), generator=order).tolist()
        inputs = image_processor(images=[images[i] for i in picked], return_tensors="pt")
        tokens = visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"]).pooler_output
        losses = {}
        for name, column in (("kind", 0), ("colour", 1)):
            target = torch.cat([labels[i][column] for i in picked])
            logits = heads[name](tokens)
            losses[name] = torch.nn.functional.cross_entropy(logits, target)
            shape = target != BACKGROUND
            result[f"{name}_accuracy"] = float((logits[shape].argmax(-1) == target[shape]).float().mean())
        optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        optimizer.step()
        result.update({f"{name}_loss": float(loss.detach()) for name, loss in losses.items()})
        bar.set_postfix(kind=f"{result['kind_accuracy']:.2f}", colour=f"{result['colour_accuracy']:.2f}", refresh=False)
    visual.eval()
    return result
