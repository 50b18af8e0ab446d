"""ShapesWorld: a seeded world of coloured shapes with exact instance masks.

It writes mini versions of the understanding and generation benchmarks in their official file
layouts, so the real loaders and scorers run offline on a fresh machine::

    from sgt_eval.world import ensure_world
    root = ensure_world(cache_root() / "world")   # root/cvbench, root/mmvp, ..., root/geneval, root/gedit

The scene model (:class:`Shape`, :class:`Scene`, :func:`render`) and the measurements of a
rendered scene (:class:`Layout`) are public for training data and generation ground truth, as are
:func:`render_geneval_truth` (an image that passes a GenEval metadata line) and :func:`apply_edit`
(a GEdit edit applied to a scene).
"""

from __future__ import annotations

from sgt_eval.world.build import (
    SIZES,
    WORLD_VERSION,
    build_world,
    ensure_world,
    world_path,
)
from sgt_eval.world.files import read_scenes
from sgt_eval.world.gedit import apply_edit
from sgt_eval.world.geneval import geneval_truth_scene, render_geneval_truth
from sgt_eval.world.layout import RELATIONS, Layout, Region
from sgt_eval.world.scene import (
    BACKGROUND,
    COLORS,
    IMAGE_SIZE,
    KINDS,
    Scene,
    Shape,
    render,
    shape_mask,
)

__all__ = [
    "BACKGROUND", "COLORS", "IMAGE_SIZE", "KINDS", "Layout", "RELATIONS", "Region", "SIZES", "Scene", "Shape",
    "WORLD_VERSION", "apply_edit", "build_world", "ensure_world", "geneval_truth_scene", "read_scenes", "render",
    "render_geneval_truth", "shape_mask", "world_path",
]
