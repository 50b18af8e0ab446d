"""The diffusers adapter through the tiny-diffusion pipeline: built offline, loaded the real way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.models import load_model
from sgt_eval.models.base import EditRequest, GenRequest
from sgt_eval.models.hf import checkpoint_fingerprint
from sgt_eval.models.tiny_diffusion import build_tiny_diffusion

CPU = {"dtype": "float32", "device": "cpu"}


@pytest.fixture(scope="module")
def model():
    return load_model("tiny-diffusion", {}, 0)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def max_diff(a: list[Image.Image], b: list[Image.Image]) -> int:
    return max(int(np.abs(pixels(x) - pixels(y)).max()) for x, y in zip(a, b, strict=True))


def sources(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(n)]


def copy_with_class(model, tmp_path: Path, class_name) -> Path:
    folder = tmp_path / "pipeline"
    shutil.copytree(model.path, folder)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": class_name}))
    return folder


def test_tiny_diffusion_is_built_offline_in_safetensors_and_can_generate_and_edit(model):
    assert {"generate", "edit"} <= load_model("tiny-diffusion", {}, 0).capabilities
    folder = Path(model.path)
    assert (folder / "model_index.json").is_file()
    assert len(list(folder.rglob("*.safetensors"))) == 3  # unet, vae, text encoder
    assert not [p for p in folder.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
    assert model.name == "tiny-diffusion"


def test_a_build_is_reproducible_byte_for_byte_and_the_seed_picks_the_weights(model, tmp_path):
    fingerprint = model.describe()["checkpoint"]
    assert checkpoint_fingerprint(str(build_tiny_diffusion(tmp_path / "again", 0)), None) == fingerprint
    assert checkpoint_fingerprint(str(build_tiny_diffusion(tmp_path / "other", 1)), None) != fingerprint


def test_generated_images_have_the_requested_size_in_request_order(model):
    batch = [GenRequest("a red circle", 1), GenRequest("a blue square", 2, width=32, height=48),
             GenRequest("a green star", 3)]
    images = model.generate_images(batch)
    assert [im.size for im in images] == [(64, 64), (32, 48), (64, 64)]
    assert all(im.mode == "RGB" for im in images)
    alone = [model.generate_images([r])[0] for r in batch]  # the size groups went back to their places
    assert max_diff(images, alone) <= 1


def test_edits_keep_the_source_size_and_depend_on_the_source(model):
    odd = Image.new("RGB", (100, 60), (200, 30, 30))  # not a multiple of the latent grid: resized back
    first, second = sources(2)
    edited = model.edit_images([EditRequest("make it blue", odd, 5), EditRequest("make it blue", first, 5),
                                EditRequest("make it blue", second, 5)])
    assert [im.size for im in edited] == [(100, 60), (64, 64), (64, 64)]
    assert max_diff([edited[1]], [edited[2]]) > 10  # same seed and instruction, other source
    assert max_diff([edited[1]], [first]) > 10  # the image was changed


def test_a_batch_gives_the_images_of_one_by_one_generation(model):
    # Not bit-exact: CPU kernels for matmul and convolution are chosen by batch size, so a batch
    # differs from single calls by ~1e-6 in floats, which can move a pixel by one grey level.
    batch = [GenRequest(f"a {c} circle left of a square", seed) for c, seed in
             (("red", 11), ("blue", 12), ("green", 13), ("red", 14))]
    together = model.generate_images(batch)
    assert max_diff(together, [model.generate_images([r])[0] for r in batch]) <= 1
    edits = [EditRequest("remove the circle", image, seed) for image, seed in zip(sources(4), (7, 8, 9, 10))]
    assert max_diff(model.edit_images(edits), [model.edit_images([e])[0] for e in edits]) <= 1


def test_seed_and_prompt_fix_the_image(model):
    first = model.generate_images([GenRequest("a red circle", 42), GenRequest("a red circle", 43)])
    again = model.generate_images([GenRequest("a red circle", 42), GenRequest("a red circle", 43)])
    assert max_diff(first, again) == 0
    assert max_diff([first[0]], [first[1]]) > 10  # another seed, another image
    other_prompt = model.generate_images([GenRequest("two blue squares", 42)])
    assert max_diff([first[0]], other_prompt) > 0  # the text conditions the image


def test_the_saved_folder_loads_through_the_diffusers_backend_with_identical_images(model):
    same = load_model(f"diffusers:{model.path}", {"steps": "4", **CPU}, 0)
    requests = [GenRequest("a red circle", 1), GenRequest("a blue square", 2)]
    assert max_diff(same.generate_images(requests), model.generate_images(requests)) == 0
    edits = [EditRequest("make it green", image, 9) for image in sources(2)]
    assert max_diff(same.edit_images(edits), model.edit_images(edits)) == 0
    assert same.describe()["checkpoint"] == model.describe()["checkpoint"]
    assert same.describe()["checkpoint"]["kind"] == "local"


def test_describe_records_the_sampler_options_in_force(model):
    default = model.describe()
    assert default["pipeline"] == "StableDiffusionPipeline"
    assert default["edit_pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert default["scheduler"] == "DDIMScheduler"
    assert (default["steps"], default["width"], default["height"], default["dtype"]) == (4, 64, 64, "float32")
    assert default["guidance"] == 7.5 and default["strength"] == 0.8  # the pipelines' own defaults, made explicit
    assert default["torch"] == torch.__version__ and default["diffusers"]

    args = {"steps": "2", "guidance": "3.5", "strength": "0.5", "width": "32", "height": "40",
            "negative_prompt": "blurry"}
    tuned = load_model("tiny-diffusion", args, 0)
    described = tuned.describe()
    assert {k: described[k] for k in args} == {"steps": 2, "guidance": 3.5, "strength": 0.5, "width": 32,
                                               "height": 40, "negative_prompt": "blurry"}
    request = GenRequest("a red circle", 1)
    assert tuned.generate_images([request])[0].size == (32, 40)
    assert max_diff(load_model("tiny-diffusion", {"steps": "2"}, 0).generate_images([request]),
                    model.generate_images([request])) > 0  # steps are passed to the pipeline
    edit = [EditRequest("make it blue", sources(1)[0], 4)]
    assert max_diff(tuned.edit_images(edit), model.edit_images(edit)) > 0


@pytest.mark.parametrize("args, words", [
    ({"stpes": "4"}, "known: steps, guidance"),
    ({"steps": "0"}, "steps='0'"),
    ({"steps": "four"}, "whole number"),
    ({"width": "30"}, "multiple of 8"),
    ({"guidance": "high"}, "guidance='high' must be a number"),
    ({"strength": "1.5"}, "(0, 1]"),
    ({"dtype": "float8"}, "dtype='float8'"),
    ({"trust_remote_code": "maybe"}, "true or false"),
    ({"cpu_offload": "true"}, "needs a CUDA device"),
    ({"device": "gpu0"}, "not a device"),
])
def test_bad_model_args_are_one_line_user_errors(args, words):
    with pytest.raises(UserError) as err:
        load_model("tiny-diffusion", args, 0)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("spec", ["diffusers", "diffusers:/no/such/folder", "diffusers:nobody/nothing",
                                  "tiny-diffusion:big"])
def test_unloadable_specs_are_one_line_user_errors(spec):
    with pytest.raises(UserError) as err:
        load_model(spec, {}, 0)
    assert "\n" not in str(err.value)


def test_a_folder_without_a_pipeline_is_a_user_error(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="cannot load diffusers pipeline"):
        load_model(f"diffusers:{tmp_path}", CPU, 0)


def test_custom_pipeline_code_never_runs_without_the_flag(model, tmp_path):
    ran = tmp_path / "code-ran"
    folder = copy_with_class(model, tmp_path, ["my_pipeline", "MyPipeline"])
    (folder / "my_pipeline.py").write_text(f"open({str(ran)!r}, 'w').close()\n")
    with pytest.raises(UserError, match="trust_remote_code"):
        load_model(f"diffusers:{folder}", CPU, 0)
    assert not ran.exists()


def test_an_image_to_image_checkpoint_edits_only(model, tmp_path):
    folder = copy_with_class(model, tmp_path, "StableDiffusionImg2ImgPipeline")
    editor = load_model(f"diffusers:{folder}", {"steps": "4", **CPU}, 0)
    assert editor.capabilities == {"edit"}
    edits = [EditRequest("make it blue", image, 3) for image in sources(2)]
    assert max_diff(editor.edit_images(edits), model.edit_images(edits)) == 0  # the same img2img pipeline
    with pytest.raises(UserError, match="cannot generate"):
        editor.generate_images([GenRequest("a red circle", 1)])


def test_pickle_weights_are_refused(model, tmp_path):
    model.pipe.save_pretrained(tmp_path, safe_serialization=False)
    with pytest.raises(UserError, match="safetensors"):
        load_model(f"diffusers:{tmp_path}", CPU, 0)
