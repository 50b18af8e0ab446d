"""Probe dataset specs: ShapesWorld, an image folder per class, and a registry benchmark."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from probes.datasets import CONFUSABLE, load_probe_data
from sgt_eval.errors import UserError
from sgt_eval.world import KINDS


def test_shapes_are_grouped_by_image_and_deterministic():
    samples, described = load_probe_data("shapes:40")
    assert len(samples) == 80 and described == {"spec": "shapes:40", "version": "probe-shapes-v2", "n_images": 40}
    assert Counter(Counter(s.group for s in samples).values()) == {2: 40}     # two questions per image
    labels = Counter(s.label for s in samples)
    assert set(labels) == set(KINDS) and all(labels[k] >= 8 for k in CONFUSABLE)
    assert all(s.answer == s.label for s in samples)
    first, again = samples[0].load_image(), load_probe_data("shapes:40")[0][0].load_image()
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert np.array_equal(np.asarray(first), np.asarray(samples[1].load_image()))  # same image, other question


def test_folder_per_class(tmp_path):
    for name, colour in (("grand_piano", "black"), ("upright_piano", "brown")):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), colour).save(tmp_path / name / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image folder")
    samples, _ = load_probe_data(f"folder:{tmp_path}", question="What is this?")
    assert [s.label for s in samples] == ["grand_piano"] * 3 + ["upright_piano"] * 3
    assert samples[0].id == "grand_piano/0.png" == samples[0].group and samples[0].question == "What is this?"
    assert samples[3].load_image().getpixel((0, 0)) == (165, 42, 42)
    with pytest.raises(UserError, match="sub-folder"):
        load_probe_data(f"folder:{tmp_path / 'grand_piano'}")


def test_benchmark_samples_keep_their_gold_answers():
    samples, _ = load_probe_data("bench:pope")
    assert samples and {s.label for s in samples} == {"yes", "no"}
    assert all(s.answer == s.label and s.group for s in samples)
    assert samples[0].load_image().mode == "RGB"


def test_unknown_spec_is_one_clear_error():
    with pytest.raises(UserError, match="shapes"):
        load_probe_data("pianos")
