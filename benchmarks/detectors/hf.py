"""The ``hf`` detector: transformers Mask2Former (COCO instances) + CLIP zero-shot colour.

Close to official, not identical: upstream runs mmdet 2.x's Mask2Former Swin-S checkpoint; the
default here, ``facebook/mask2former-swin-small-coco-instance``, is the same architecture and size
trained by the Mask2Former authors (detectron2), so confidences differ somewhat. Everything
around the network follows ``evaluate_images.py`` and mmdet's test pipeline:

- input: resized to fit 1333 x 800 keeping the aspect ratio with OpenCV's bilinear filter (what
  mmcv's ``imrescale`` calls; :func:`cv2_bilinear` matches it bit for bit, checked against
  opencv-python 5.0 on x86-64, where PIL's bilinear filter would blur every downscale, e.g.
  1024-pixel images to 800, by 12 grey levels on average on noise), normalised, padded
  to a multiple of 32 (mmdet's ``test_pipeline``); only images of one size share a forward pass,
  so batching never changes a result;
- instances: mmdet's ``MaskFormerFusionHead.instance_postprocess``: the top 100 (query, class)
  pairs by class probability, mask logits upsampled to the padded input, cropped, resized to the
  original image (bilinear), mask = logit > 0, score = class probability x mean mask
  probability, box = the mask's tight box. transformers' own post-processing (a fixed 384 x 384
  resize) is not used, and nothing here needs torchvision;
- colour: the ten colours with upstream's three templates, averaged unit text embeddings; each
  object is its mask composited over #999 grey and cropped to its box, preprocessed as
  open_clip's ViT-L-14 transform (shortest side to 224 bicubic, centre crop).

Pairs whose class probability is at most 0.3 are dropped before the masks are upsampled: their
score (class probability x a mask mean <= 1) can never pass GenEval's lowest threshold.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.detectors import ColorQuery, Detection, box_of, geneval_label
from benchmarks.geneval_rules import COLORS, THRESHOLD

MAX_PER_IMAGE = 100                     # mmdet test_cfg.max_per_image
SCALE = (1333, 800)                     # mmdet test_pipeline img_scale
DIVISOR = 32                            # mmdet Pad size_divisor
MEAN = (123.675, 116.28, 103.53)        # mmdet img_norm_cfg (RGB)
STD = (58.395, 57.12, 57.375)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP, as open_clip's "openai" weights
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
GREY = 0x99                             # upstream bgcolor "#999"
TEMPLATES = ("a photo of a {c} {cls}", "a photo of a {c}-colored {cls}", "a photo of a {c} object")
CLIP_BATCH = 32


class HFDetector:
    """Mask2Former + CLIP from local paths or hub ids (cached by huggingface_hub); CPU or CUDA.

    Parameters
    ----------
    detector_model
        A ``Mask2FormerForUniversalSegmentation`` COCO instance checkpoint.
    clip_model
        A ``CLIPModel`` checkpoint (default ViT-L/14, as upstream).
    batch_size
        Images per Mask2Former forward pass.
    """

    def __init__(self, detector_model: str, clip_model: str, batch_size: int = 4) -> None:
        import torch
        from transformers import AutoTokenizer, CLIPModel, Mask2FormerForUniversalSegmentation
        from transformers.utils import logging

        logging.disable_progress_bar()  # the run's own progress bar is the one to watch
        self.id = self.describe(detector_model, clip_model)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.batch_size = batch_size
        self.model = Mask2FormerForUniversalSegmentation.from_pretrained(detector_model).eval().to(self.device)
        self.names = [geneval_label(self.model.config.id2label[i]) for i in range(self.model.config.num_labels)]
        self.labels = frozenset(self.names)
        mean, std = _norm(detector_model, MEAN, STD, 255.0)
        self.mean, self.std = np.array(mean, np.float32), np.array(std, np.float32)
        self.clip = CLIPModel.from_pretrained(clip_model).eval().to(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(clip_model)
        clip_mean, clip_std = _norm(clip_model, CLIP_MEAN, CLIP_STD, 1.0)
        self.clip_mean, self.clip_std = np.array(clip_mean, np.float32), np.array(clip_std, np.float32)
        self.clip_size = int(self.clip.config.vision_config.image_size)
        self._classifiers: dict[str, Any] = {}

    @staticmethod
    def describe(detector_model: str, clip_model: str) -> str:
        return f"hf:{detector_model}+clip:{clip_model}"

    # -- instances ----------------------------------------------------------------------------
    def detect(self, images: Sequence[Image.Image]) -> list[list[Detection]]:
        """Instances of every image; images of equal size share forward passes of ``batch_size``."""
        inputs = [self._preprocess(image) for image in images]
        results: list[list[Detection]] = [[] for _ in images]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for n, (pixels, _) in enumerate(inputs):
            by_shape.setdefault(pixels.shape, []).append(n)
        for group in by_shape.values():
            for start in range(0, len(group), self.batch_size):
                chunk = group[start:start + self.batch_size]
                for n, found in zip(chunk, self._forward([inputs[n] for n in chunk], [images[n] for n in chunk])):
                    results[n] = found
        return results

    def _preprocess(self, image: Image.Image) -> tuple[np.ndarray, tuple[int, int]]:
        """mmdet's test pipeline: keep-ratio resize into 1333 x 800, normalise, pad to /32 (CHW float32)."""
        w, h = image.size
        scale = min(max(SCALE) / max(h, w), min(SCALE) / min(h, w))
        size = (int(w * scale + 0.5), int(h * scale + 0.5))
        arr = (cv2_bilinear(np.asarray(image.convert("RGB")), size).astype(np.float32) - self.mean) / self.std
        padded = np.zeros((-(-size[1] // DIVISOR) * DIVISOR, -(-size[0] // DIVISOR) * DIVISOR, 3), np.float32)
        padded[:size[1], :size[0]] = arr
        return padded.transpose(2, 0, 1), (size[1], size[0])

    def _forward(self, inputs: list[tuple[np.ndarray, tuple[int, int]]], images: list[Image.Image]) -> list[list[Detection]]:
        import torch

        pixels = torch.from_numpy(np.stack([p for p, _ in inputs])).to(self.device)  # (B, 3, H, W)
        with torch.inference_mode():
            out = self.model(pixel_values=pixels)
        return [self._instances(out.class_queries_logits[b], out.masks_queries_logits[b], pixels.shape[-2:],
                                inputs[b][1], images[b].size[::-1]) for b in range(len(inputs))]

    def _instances(self, class_logits: Any, mask_logits: Any, padded: Any, resized: tuple[int, int],
                   original: tuple[int, int]) -> list[Detection]:
        """mmdet's instance post-processing for one image (see the module docstring)."""
        import torch.nn.functional as F

        probs = class_logits.float().softmax(-1)[:, :-1]            # (Q, C): the last class is "no object"
        n_classes = probs.shape[1]
        top, index = probs.flatten().topk(min(MAX_PER_IMAGE, probs.numel()), sorted=False)
        keep = top > THRESHOLD
        if not bool(keep.any()):
            return []
        top, index = top[keep], index[keep]
        labels, queries = index % n_classes, index // n_classes
        masks = mask_logits[queries].float()[None]                  # (1, n, h/4, w/4)
        masks = F.interpolate(masks, size=tuple(padded), mode="bilinear", align_corners=False)
        masks = masks[..., :resized[0], :resized[1]]
        masks = F.interpolate(masks, size=tuple(original), mode="bilinear", align_corners=False)[0]
        binary = masks > 0
        mask_score = (masks.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
        scores = (top * mask_score).cpu().numpy().astype(np.float32)
        binary_np = binary.cpu().numpy()
        return [Detection(self.names[int(label)], float(score), box_of(mask), mask)
                for label, score, mask in zip(labels.tolist(), scores, binary_np)]

    # -- colour -------------------------------------------------------------------------------
    def colors(self, queries: Sequence[ColorQuery]) -> list[list[str]]:
        """CLIP zero-shot colour of each object, all crops of all queries in batches of 32."""
        import torch

        crops = [(q.classname, self._crop(q.image, d)) for q in queries for d in q.objects]
        picks: list[str] = []
        with torch.inference_mode():
            for start in range(0, len(crops), CLIP_BATCH):
                chunk = crops[start:start + CLIP_BATCH]
                pixels = torch.from_numpy(np.stack([c for _, c in chunk])).to(self.device)
                feats = _features(self.clip.get_image_features(pixel_values=pixels))
                feats = feats / feats.norm(dim=-1, keepdim=True)
                for (name, _), feat in zip(chunk, feats):
                    picks.append(COLORS[int((feat @ self._classifier(name)).argmax())])
        answers = iter(picks)
        return [[next(answers) for _ in q.objects] for q in queries]

    def _crop(self, image: Image.Image, det: Detection) -> np.ndarray:
        return clip_pixels(masked_crop(image, det), self.clip_size, self.clip_mean, self.clip_std)

    def _classifier(self, classname: str) -> Any:
        if classname not in self._classifiers:
            import torch

            def encode(texts: list[str]) -> Any:
                tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
                with torch.inference_mode():
                    return _features(self.clip.get_text_features(**tokens.to(self.device)))

            self._classifiers[classname] = zero_shot_weights(encode, classname)
        return self._classifiers[classname]


def zero_shot_weights(encode: Callable[[list[str]], Any], classname: str) -> Any:
    """(D, 10) colour classifier for one class, as clip_benchmark's ``zero_shot_classifier``: per colour,
    the mean of the three templates' unit text embeddings, renormalised."""
    import torch

    columns = []
    for color in COLORS:
        emb = encode([t.format(c=color, cls=classname) for t in TEMPLATES]).float()
        emb = (emb / emb.norm(dim=-1, keepdim=True)).mean(0)
        columns.append(emb / emb.norm())
    return torch.stack(columns, dim=1)


def cv2_bilinear(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2.resize(pixels, size, interpolation=INTER_LINEAR)`` for a uint8 (H, W, C) array, in NumPy.

    OpenCV resizes 8-bit images in fixed point: per axis, source position ``(d + 0.5) * src / dst
    - 0.5`` in float32, weights ``round(w * 2048)`` for the two nearest pixels (edge pixels
    repeated, the weights kept), a horizontal pass in integers, then a vertical pass computed as
    ``((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2 >> 2``. There is no antialiasing.
    """
    def taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pos = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
        first = np.floor(pos)
        frac = pos - first
        first = first.astype(np.int64)
        near, far = np.rint((np.float32(1) - frac) * 2048), np.rint(frac * 2048)
        return np.clip(first, 0, src - 1), np.clip(first + 1, 0, src - 1), near.astype(np.int64), far.astype(np.int64)

    x0, x1, a0, a1 = taps(pixels.shape[1], size[0])
    y0, y1, b0, b1 = taps(pixels.shape[0], size[1])
    src = pixels.astype(np.int64)
    rows = src[:, x0] * a0[None, :, None] + src[:, x1] * a1[None, :, None]
    out = (((b0[:, None, None] * (rows[y0] >> 4)) >> 16) + ((b1[:, None, None] * (rows[y1] >> 4)) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def masked_crop(image: Image.Image, det: Detection) -> Image.Image:
    """The object's pixels over #999 grey (upstream ``bgcolor``), cropped to its box (``crop=1``)."""
    arr = np.asarray(image.convert("RGB"))
    x0, y0, x1, y1 = (int(round(v)) for v in det.box)  # PIL's crop rounds a float box the same way
    sub = arr[y0:y1, x0:x1]
    if det.mask is not None:
        sub = np.where(det.mask[y0:y1, x0:x1, None], sub, np.uint8(GREY))
    return Image.fromarray(sub.astype(np.uint8))


def clip_pixels(image: Image.Image, size: int, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """open_clip's eval transform: shortest side to ``size`` (bicubic), centre crop, normalise; CHW float32."""
    w, h = image.size
    short, long = min(w, h), max(w, h)
    new_long = int(size * long / short)
    image = image.resize((size, new_long) if w <= h else (new_long, size), Image.BICUBIC)
    left, top = int(round((image.width - size) / 2.0)), int(round((image.height - size) / 2.0))
    arr = np.asarray(image.crop((left, top, left + size, top + size)), np.float32) / 255.0
    return ((arr - mean) / std).transpose(2, 0, 1).astype(np.float32)


def _features(output: Any) -> Any:
    """transformers 5 returns a model output whose pooler_output is the projection; 4.x a tensor."""
    return output if hasattr(output, "norm") else output.pooler_output


def _norm(model: str, mean: Sequence[float], std: Sequence[float], scale: float) -> tuple[list[float], list[float]]:
    """The checkpoint's own normalisation when it ships a preprocessor config, else the defaults."""
    from transformers import AutoImageProcessor

    try:
        processor = AutoImageProcessor.from_pretrained(model)
    except (OSError, ValueError):
        return list(mean), list(std)
    return [v * scale for v in processor.image_mean], [v * scale for v in processor.image_std]


def build_tiny(folder: Path, labels: Sequence[str] = ("cat", "dog", "mouse")) -> tuple[Path, Path]:
    """Save a tiny random Mask2Former (Swin backbone, ``labels`` as classes, biased to the first) and a tiny random CLIP
    (byte-level vocabulary, no merges) built from configs, for tests and ``perf/``: no download,
    meaningless numbers, the real code path. Returns the two model folders."""
    import torch
    from transformers import CLIPConfig, CLIPModel, Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    torch.manual_seed(0)
    detector, clip = folder / "mask2former", folder / "clip"
    backbone = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=7,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    config = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                               encoder_feedforward_dim=64, dim_feedforward=64, num_queries=12, decoder_layers=2,
                               encoder_layers=1, num_attention_heads=2, num_labels=len(labels),
                               id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    model = Mask2FormerForUniversalSegmentation._from_config(config)
    with torch.no_grad():  # favour the first label over "no object", so detections pass GenEval's thresholds
        model.class_predictor.bias.copy_(torch.tensor([4.0] + [0.0] * (len(labels) - 1) + [-4.0]))
    model.save_pretrained(detector)
    chars = _byte_chars()
    vocab = {c: i for i, c in enumerate(chars)} | {c + "</w>": len(chars) + i for i, c in enumerate(chars)}
    bos, eos = len(vocab), len(vocab) + 1
    vocab |= {"<|startoftext|>": bos, "<|endoftext|>": eos}
    text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=77, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    vision = dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=2)
    CLIPModel._from_config(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(clip)
    (clip / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (clip / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return detector, clip


def _byte_chars() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each of the 256 byte values."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + n) for n in range(len(moved))]
