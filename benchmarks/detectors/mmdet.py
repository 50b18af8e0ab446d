"""The ``mmdet`` detector: upstream's own models, for parity with ``evaluate_images.py`` on a GPU.

Install with ``pip install 'sgt-eval[mmdet]'`` (mmdet 2.x, mmcv-full 1.7, open-clip-torch) on a
CUDA machine, and download upstream's checkpoint
``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth`` (their
``download_models.sh``); pass its path (or its folder) as ``--detector-model``. The config is
mmdet's own ``configs/mask2former/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py``, found next
to the installed package as upstream does. CLIP is open_clip ``ViT-L-14`` with the ``openai``
weights (``--clip-model`` names another open_clip architecture).

UNTESTED on a GPU (the development machine has none, and no mmcv build): the tests cover the
missing-dependency error and, with stand-in modules, how images are batched. The logic mirrors
upstream: ``inference_detector`` on images of one size at a time (mmdet pads a mixed batch to its
largest image, which would change the detections of the smaller ones), per-class ``(bbox, mask)``
arrays turned into :class:`Detection` objects (the rules then threshold, sort and cap them), and
colour by open_clip zero-shot over mask-composited crops with upstream's transform, under CUDA
autocast (float16) as clip_benchmark 1.4.0 runs it (``amp=True`` both for the text classifier and
for the image features and logits), each colour query in batches of 16 like upstream's
``DataLoader``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.detectors import ColorQuery, Detection, geneval_label, missing_extra
from benchmarks.detectors.hf import masked_crop, zero_shot_weights
from benchmarks.geneval_rules import COLORS
from sgt_eval.errors import UserError

CONFIG = "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco"
CHECKPOINT = f"{CONFIG}_20220504_001756-743b7d99.pth"
HF_DEFAULT_CLIP = "openai/clip-vit-large-patch14"
CLIP_BATCH = 16  # upstream's DataLoader batch size (one loader per colour query)


def _clip_arch(clip_model: str) -> str:
    return "ViT-L-14" if clip_model == HF_DEFAULT_CLIP else clip_model


class MMDetDetector:
    """Upstream's Mask2Former (mmdet 2.x) + open_clip; CUDA only, like upstream."""

    def __init__(self, detector_model: str, clip_model: str) -> None:
        try:
            import mmdet
            from mmdet.apis import inference_detector, init_detector
        except ImportError:
            raise missing_extra("mmdet (2.x) and mmcv-full", "mmdet", "mmdet") from None
        try:
            import open_clip
        except ImportError:
            raise missing_extra("open-clip-torch", "mmdet", "mmdet") from None
        import torch

        if not torch.cuda.is_available():
            raise UserError("--detector mmdet needs a CUDA GPU (upstream asserts it); use --detector hf on CPU")
        self.id = self.describe(detector_model, clip_model)
        config = os.path.join(os.path.dirname(mmdet.__file__), "../configs/mask2former", f"{CONFIG}.py")
        self.model = init_detector(config, str(_checkpoint(detector_model)), device="cuda")
        self._infer = inference_detector
        self.names = [geneval_label(name) for name in self.model.CLASSES]
        self.labels = frozenset(self.names)
        arch = _clip_arch(clip_model)
        self.clip, _, self.transform = open_clip.create_model_and_transforms(arch, pretrained="openai", device="cuda")
        self.tokenizer = open_clip.get_tokenizer(arch)
        self._classifiers: dict[str, Any] = {}

    @staticmethod
    def describe(detector_model: str, clip_model: str) -> str:
        return f"mmdet:{CONFIG}+open_clip:{_clip_arch(clip_model)}/openai"

    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        """``inference_detector`` on the images of each size (BGR arrays, as mmcv reads files)."""
        results: list[list[Detection]] = [[] for _ in images]
        for group in same_size(images):
            arrays = [np.ascontiguousarray(np.asarray(images[n].convert("RGB"))[:, :, ::-1]) for n in group]
            for n, result in zip(group, self._infer(self.model, arrays)):
                results[n] = self._detections(result)
        return results

    def _detections(self, result: Any) -> list[Detection]:
        bbox, segm = result if isinstance(result, tuple) else (result, None)
        return [Detection(self.names[c], float(row[4]), tuple(map(float, row[:4])),
                          None if segm is None else np.asarray(segm[c][k], dtype=bool))
                for c in range(len(self.names)) for k, row in enumerate(bbox[c])]

    def colors(self, queries: Sequence[ColorQuery]) -> list[list[str]]:
        """Per query, its crops in batches of 16: ``argmax(100 * normalize(image features) @ classifier)``
        under autocast, as clip_benchmark's ``run_classification``."""
        import torch
        import torch.nn.functional as F

        out = []
        for query in queries:
            classifier = self._classifier(query.classname)
            crops = [self.transform(masked_crop(query.image, d)) for d in query.objects]
            picks: list[str] = []
            for start in range(0, len(crops), CLIP_BATCH):
                with torch.no_grad(), torch.autocast("cuda"):
                    feats = F.normalize(self.clip.encode_image(torch.stack(crops[start:start + CLIP_BATCH]).to("cuda")),
                                        dim=-1)
                    logits = 100.0 * feats @ classifier
                picks += [COLORS[int(i)] for i in logits.float().argmax(dim=1)]
            out.append(picks)
        return out

    def _classifier(self, classname: str) -> Any:
        if classname not in self._classifiers:
            import torch

            def encode(texts: list[str]) -> Any:  # float16 under autocast, as clip_benchmark's amp=True
                with torch.no_grad(), torch.autocast("cuda"):
                    return self.clip.encode_text(self.tokenizer(texts).to("cuda"))

            self._classifiers[classname] = zero_shot_weights(encode, classname)
        return self._classifiers[classname]


def _checkpoint(detector_model: str) -> Path:
    """The checkpoint file: the path given, or upstream's file name inside the folder given."""
    path = Path(detector_model).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise UserError(f"--detector mmdet needs --detector-model PATH of {CHECKPOINT} (upstream's "
                        f"download_models.sh); {path} does not exist")
    return path


def same_size(images: Sequence[Image.Image]) -> list[list[int]]:
    """Indices of ``images`` grouped by size, in first-seen order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for n, image in enumerate(images):
        groups.setdefault(image.size, []).append(n)
    return list(groups.values())
