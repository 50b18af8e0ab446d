"""Proxy targets: documented palette, edges, depth and reconstruction, each switched by one name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sgt_eval.errors import UserError
from sgt_train.data.sam import read_list
from sgt_train.proxies import PALETTE, PROXIES, colour_instances, make_proxy, sobel_edges


def test_instances_are_coloured_in_raster_order_of_their_first_pixel():
    ids = np.zeros((6, 6), dtype=np.int32)
    ids[4:, 0:2] = 7   # first seen third
    ids[0, 3:] = 2     # first seen first
    ids[2, 1] = 5      # first seen second
    mask = np.asarray(colour_instances(ids))
    assert tuple(mask[0, 3]) == PALETTE[0] and tuple(mask[2, 1]) == PALETTE[1] and tuple(mask[5, 0]) == PALETTE[2]
    assert tuple(mask[1, 1]) == (0, 0, 0)
    renumbered = np.where(ids == 7, 1, np.where(ids == 2, 9, ids))  # ids do not matter, layout does
    assert np.array_equal(np.asarray(colour_instances(renumbered)), mask)
    assert len(set(PALETTE)) == len(PALETTE) == 24 and (0, 0, 0) not in PALETTE


def test_sobel_edges_are_white_on_shape_borders_only():
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    image[8:24, 8:24] = (220, 30, 30)
    edges = np.asarray(sobel_edges(Image.fromarray(image), 32))[..., 0] > 0
    assert edges[8, 16] and edges[16, 8] and not edges[16, 16] and not edges[2, 2]


@pytest.mark.parametrize("name", PROXIES)
def test_every_proxy_makes_a_target_of_the_head_size(name, shapes_data: Path):
    proxy = make_proxy(name)
    item = read_list(shapes_data / "sam_sgt.txt", needs=proxy.needs)[0]
    image = Image.open(item.image).convert("RGB")
    target = np.asarray(proxy.target(item, image, 64))
    assert target.shape == (64, 64, 3)
    if name == "segmentation":
        assert {tuple(c) for c in target.reshape(-1, 3)} <= set(PALETTE) | {(0, 0, 0)}
    if name == "reconstruction":
        assert np.abs(target.astype(int) - np.asarray(image.resize((64, 64))).astype(int)).mean() < 8
    if name == "depth":  # near is bright: the nearest shape is brighter than the background
        assert target.max() > 40 and target.min() == 0


def test_masks_rendered_from_instance_ids_equal_the_given_colour_masks(shapes_data: Path):
    given, rendered = make_proxy("segmentation"), make_proxy("segmentation", mask_source="instances")
    assert rendered.needs == ("instances",)
    for item in read_list(shapes_data / "sam_sgt.txt", needs=("mask", "instances"))[:20]:
        image = Image.open(item.image).convert("RGB")
        assert np.array_equal(np.asarray(given.target(item, image, 64)), np.asarray(rendered.target(item, image, 64)))


def test_edge_maps_from_files_and_unknown_proxies():
    assert make_proxy("edge", edge_source="file").needs == ("edge",)
    with pytest.raises(UserError, match="data.edge_source 'canny'"):
        make_proxy("edge", edge_source="canny")
    with pytest.raises(UserError, match="data.mask_source 'rle' must be colour"):
        make_proxy("segmentation", mask_source="rle")
    with pytest.raises(UserError, match="data.proxy 'normals' is not a proxy; choose one of segmentation, edge"):
        make_proxy("normals")


def test_depth_from_a_transformers_depth_model(tmp_path: Path, shapes_data: Path):
    """A photo without depth maps: a depth-estimation model (here a tiny random DPT built from a config)."""
    import transformers

    config = transformers.DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                                    image_size=64, patch_size=16, neck_hidden_sizes=[8, 16, 32, 32],
                                    fusion_hidden_size=16, backbone_out_indices=[0, 1, 2, 3],
                                    reassemble_factors=[4, 2, 1, 0.5])
    transformers.DPTForDepthEstimation(config).save_pretrained(tmp_path / "dpt")
    processor = getattr(transformers, "DPTImageProcessorPil", transformers.DPTImageProcessor)
    processor(size={"height": 64, "width": 64}).save_pretrained(tmp_path / "dpt")
    proxy = make_proxy("depth", depth_model=str(tmp_path / "dpt"))
    assert proxy.needs == () and proxy.settings == {"depth_model": str(tmp_path / "dpt")}
    item = read_list(shapes_data / "sam_sgt.txt", needs=())[0]
    target = proxy.target(item, Image.open(item.image).convert("RGB"), 64)
    assert target.size == (64, 64) and target.mode == "RGB"
