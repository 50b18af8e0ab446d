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


def test_edge_maps_from_files_and_unknown_proxies():
    assert make_proxy("edge", edge_source="file").needs == ("edge",)
    with pytest.raises(UserError, match="data.edge_source 'canny'"):
        make_proxy("edge", edge_source="canny")
    with pytest.raises(UserError, match="data.proxy 'normals' is not a proxy; choose one of segmentation, edge"):
        make_proxy("normals")
