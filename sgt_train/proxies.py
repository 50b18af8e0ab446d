"""Proxy targets: what the image head learns to draw from an input image.

One name switches the proxy (``data.proxy``), so the SGT proxy ablation is a sweep:

- ``segmentation``: the colour-coded instance mask. Read from the SAM-SGT mask PNG beside the image
  (``sam_mask/``), resized to the image with nearest-neighbour sampling so no new colours appear; or,
  with ``mask_source: instances``, rendered from an instance-id PNG (``sam_instances/``, 0 = background)
  with :func:`colour_instances` and its documented palette.
- ``edge``: a binary edge map of the input image (Sobel gradient magnitude of the luminance above a
  threshold, white on black), computed at the target size; ``edge_source: file`` reads ``sam_edge/``
  maps instead (ShapesWorld writes exact instance boundaries).
- ``depth``: a grey-scale depth map, near bright and far dark, read from ``sam_depth/``; for photos
  without maps, ``depth_model`` names a transformers depth-estimation model (local folder or hub id)
  run on the input image.
- ``reconstruction``: the input image itself (the ReCA objective).

Every target is an RGB image of the head's size. Reading a target never changes the input image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from sgt_eval.errors import UserError
from sgt_train.data.common import BadSample, open_rgb
from sgt_train.data.sam import ProxyItem

PROXIES = ("segmentation", "edge", "depth", "reconstruction")
BACKGROUND = (0, 0, 0)
# Instance colours, in order: instance k (counted from 0 in the order of colour_instances) gets
# PALETTE[k % 24]. Saturated, well-separated hues first; no grey, so background stays distinct.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
    (0, 0, 128), (255, 255, 255), (0, 90, 255), (255, 90, 0), (90, 0, 255), (0, 255, 90),
)
EDGE_THRESHOLD = 0.12  # Sobel magnitude (luminance in [0, 1], kernel sum 4) above which a pixel is an edge


def colour_instances(instances: np.ndarray) -> Image.Image:
    """Render an instance-id array (0 = background) as a colour mask with :data:`PALETTE`.

    Instances are coloured in raster order of their first pixel (the top-most row, then the
    left-most column), so the colours depend on the layout only, not on how ids were numbered.
    """
    ids = np.asarray(instances)
    flat = ids.ravel()
    present, first = np.unique(flat, return_index=True)
    order = [int(i) for _, i in sorted(zip(first, present)) if i != 0]
    lookup = np.zeros((int(flat.max(initial=0)) + 1, 3), dtype=np.uint8)
    lookup[0] = BACKGROUND
    for rank, instance in enumerate(order):
        lookup[instance] = PALETTE[rank % len(PALETTE)]
    return Image.fromarray(lookup[ids], "RGB")


def sobel_edges(image: Image.Image, size: int) -> Image.Image:
    """Binary edges of ``image`` resized to ``size`` x ``size``: white where the gradient is strong."""
    grey = np.asarray(image.convert("L").resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    magnitude = np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))  # (size, size)
    edges = np.where(magnitude > EDGE_THRESHOLD * 4, 255, 0).astype(np.uint8)
    return Image.fromarray(edges, "L").convert("RGB")


@dataclass(frozen=True)
class Proxy:
    """A proxy task: its name, the maps each item needs on disk, and how a target is made.

    ``make(item, image, size)`` returns the ``size`` x ``size`` RGB target of one item.
    """

    name: str
    needs: tuple[str, ...]
    make: Callable[[ProxyItem, Image.Image, int], Image.Image]
    settings: dict[str, Any]

    def target(self, item: ProxyItem, image: Image.Image, size: int) -> Image.Image:
        return self.make(item, image, size)


def _resized_map(kind: str, resample: Image.Resampling) -> Callable[[ProxyItem, Image.Image, int], Image.Image]:
    def make(item: ProxyItem, image: Image.Image, size: int) -> Image.Image:
        target = open_rgb(item.map_path(kind), item.where)
        # SGT resizes the mask to the image first; both steps keep its colours with NEAREST
        return target.resize(image.size, resample).resize((size, size), resample)
    return make


def _instances(item: ProxyItem, image: Image.Image, size: int) -> Image.Image:
    path = item.map_path("instances")
    try:
        ids = np.asarray(Image.open(path))
    except (OSError, ValueError) as err:
        raise BadSample("corrupt image", f"{item.where}: instance map {path} is not readable ({err})") from None
    return colour_instances(ids).resize(image.size, Image.Resampling.NEAREST).resize((size, size),
                                                                                     Image.Resampling.NEAREST)


def _depth_model(model_id: str) -> Callable[[ProxyItem, Image.Image, int], Image.Image]:
    from transformers import pipeline  # only users of a depth model pay for it

    estimator = pipeline("depth-estimation", model=model_id)

    def make(item: ProxyItem, image: Image.Image, size: int) -> Image.Image:
        depth = estimator(image)["depth"]  # PIL "L", near bright (the transformers convention)
        return depth.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return make


def make_proxy(name: str, *, edge_source: str = "sobel", depth_model: str | None = None,
               mask_source: str = "colour") -> Proxy:
    """The proxy called ``name`` (one of :data:`PROXIES`) with its options."""
    if name == "segmentation":
        if mask_source == "instances":
            return Proxy(name, ("instances",), _instances, {"mask_source": "instances", "palette": "PALETTE"})
        if mask_source != "colour":
            raise UserError(f"data.mask_source {mask_source!r} must be colour (sam_mask/ PNGs) or instances "
                            f"(sam_instances/ id maps coloured with the palette)")
        return Proxy(name, ("mask",), _resized_map("mask", Image.Resampling.NEAREST), {"mask_source": "colour"})
    if name == "edge":
        if edge_source not in ("sobel", "file"):
            raise UserError(f"data.edge_source {edge_source!r} must be sobel (computed) or file (sam_edge/ maps)")
        if edge_source == "file":
            return Proxy(name, ("edge",), _resized_map("edge", Image.Resampling.NEAREST), {"edge_source": "file"})
        return Proxy(name, (), lambda item, image, size: sobel_edges(image, size),
                     {"edge_source": "sobel", "threshold": EDGE_THRESHOLD})
    if name == "depth":
        if depth_model:
            return Proxy(name, (), _depth_model(depth_model), {"depth_model": depth_model})
        return Proxy(name, ("depth",), _resized_map("depth", Image.Resampling.BILINEAR), {"depth_source": "file"})
    if name == "reconstruction":
        return Proxy(name, (), lambda item, image, size: image.resize((size, size), Image.Resampling.BICUBIC), {})
    raise UserError(f"data.proxy {name!r} is not a proxy; choose one of {', '.join(PROXIES)}")
