"""The demo's pretrained base: its data, its vision stage, ``sgt-train base`` end to end, and the shipped copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import transformers

from sgt_eval.demo import CONFIG as TINY_SHAPES
from sgt_eval.errors import UserError
from sgt_eval.world import Layout
from sgt_eval.world.scene import KINDS, Scene, Shape
from sgt_train.base_model import ASSET, BUILD, verified
from sgt_train.cli import main as train_main
from sgt_train.data.pretraining import CAPTION_PROMPT, build_pretraining_data, caption
from sgt_train.data.sft import read_sft
from sgt_train.models.umm import load_umm
from sgt_train.vision_pretraining import VisionPlan, pretrain_vision, token_labels
from tests.train.conftest import SMALL_MODEL

SCENE = Scene((Shape("star", "blue", x=0.5625, y=0.5625, size=0.1), Shape("circle", "red", x=0.8, y=0.15, size=0.08),
               Shape("square", "green", x=0.2, y=0.2, size=0.08), Shape("heart", "white", x=0.15, y=0.85, size=0.08)))


def test_a_caption_reads_the_scene_top_row_first_left_to_right():
    assert caption(Layout(SCENE, 224)) == ("green square top left, red circle top right, blue star centre, "
                                           "white heart bottom left.")


def test_a_hidden_shape_is_not_in_the_caption():
    hidden = Shape("cross", "black", x=0.2, y=0.2, size=0.03, depth=9.0)  # wholly behind the green square
    assert caption(Layout(Scene((*SCENE.shapes, hidden)), 224)) == caption(Layout(SCENE, 224))


def test_token_labels_are_the_shape_under_each_token_centre():
    kinds, colours = token_labels(Layout(SCENE, 224), 28)
    assert kinds.shape == colours.shape == (64,)
    assert kinds[4 * 8 + 4] == 1 + KINDS.index("star") and kinds[0] == 0  # the centre token; a corner token
    assert int((kinds > 0).sum()) == int((colours > 0).sum()) >= 4


def test_the_pretraining_set_is_one_caption_and_one_question_row_per_image(tmp_path: Path):
    manifest = build_pretraining_data(tmp_path, seed=5, images=3)
    items = read_sft(tmp_path / manifest["sft"])
    assert manifest["sft_rows"] == len(items) == 6
    captions = [i for i in items if i.turns[0].text.endswith(CAPTION_PROMPT)]
    assert len(captions) == 3 and all(len(i.turns) == 2 and i.images[0].is_file() for i in captions)
    assert all(len(i.turns) >= 4 for i in items if i not in captions)  # several scene questions per row


def test_the_vision_stage_lowers_its_loss_and_changes_only_the_tower(tmp_path: Path, shapes_data: Path):
    train_main(["--config", str(TINY_SHAPES), *SMALL_MODEL,
                "--out", str(tmp_path / "run"), "--data.ratio", "0:1", "--train.steps", "1",
                "--train.micro_batch", "1", "--data.num_workers", "0"])
    model = load_umm(tmp_path / "run" / "final", "raw")
    processor = transformers.AutoImageProcessor.from_pretrained(tmp_path / "run" / "final")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = pretrain_vision(model.backbone.model.visual, processor, VisionPlan(steps=1, batch=8, images=16))
    last = pretrain_vision(model.backbone.model.visual, processor, VisionPlan(steps=40, batch=8, images=16))
    assert last["kind_loss"] < 0.7 * first["kind_loss"]
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("backbone.model.visual.") for k in changed)


def test_sgt_train_base_builds_a_checkpoint_that_training_starts_from(tmp_path: Path, capsys):
    export = tmp_path / "base"
    assert train_main(["base", "--work", str(tmp_path / "work"), "--export", str(export), "--vision-steps", "2",
                       "--vision-images", "8", "--steps", "2", "--images", "4", "--scale", "1",
                       "--data.num_workers", "0", *SMALL_MODEL]) == 0
    record = json.loads((export / BUILD).read_text())
    assert record["vision"]["plan"]["steps"] == 2 and "kind_loss" in record["vision"]["metrics"]
    assert set(record["sha256"]) >= {"model.safetensors", "head.safetensors", "config.json", "tokenizer.json"}
    final = load_umm(tmp_path / "work" / "train" / "final", "ema")
    exported = load_umm(verified(export), "raw")
    for key, value in final.state_dict().items():  # the EMA weights, rounded to float16
        assert torch.allclose(exported.state_dict()[key], value.half().float()), key
    vision = load_umm(tmp_path / "work" / "vision", "raw").state_dict()
    tower = [k for k in vision if k.startswith("backbone.model.visual.")]
    assert tower and all(torch.equal(final.state_dict()[k], vision[k]) for k in tower)  # train.freeze_vision held
    assert not torch.equal(final.state_dict()["backbone.lm_head.weight"], vision["backbone.lm_head.weight"])
    assert train_main(["--config", str(TINY_SHAPES), "--out",
                       str(tmp_path / "post"), "--model.init", str(export), "--data.ratio", "0:1", "--train.steps",
                       "1", "--train.micro_batch", "1", "--data.num_workers", "0"]) == 0


def test_a_damaged_base_is_refused_naming_the_file_and_the_fix(tmp_path: Path):
    copy = tmp_path / "base"
    shutil.copytree(verified(ASSET), copy)
    head = copy / "head.safetensors"
    head.write_bytes(head.read_bytes()[:-1] + b"\0")
    with pytest.raises(UserError, match=r"head\.safetensors .*sha256.*sgt-train base"):
        verified(copy)
    (copy / BUILD).unlink()
    with pytest.raises(UserError, match="has no build.json"):
        verified(copy)


def _answer_loss(model, encoder, pad_id: int, images, turns) -> float:
    """Mean cross-entropy of the answers of single-turn conversations, image k with question k."""
    from sgt_train.data.encode import collate
    from sgt_train.data.sft import IMAGE_PLACEHOLDER, Turn
    from sgt_train.models.umm import IGNORE

    batch = collate([encoder.conversation([Turn("user", f"{IMAGE_PLACEHOLDER}\n{q}"), Turn("assistant", a)], [im], "t")
                     for im, (q, a) in zip(images, turns)], pad_id)
    with torch.no_grad():
        hidden, _ = model.hidden_states(batch)
        logits = model.backbone.lm_head(hidden[:, :-1])
    labels = batch["labels"][:, 1:]
    return float(torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE))


def test_the_shipped_base_reads_captions_and_shapes_off_the_image():
    """On fresh scenes the base's answers are much likelier with their own image than with another scene's."""
    import numpy as np

    from sgt_train.data.encode import Encoder
    from sgt_train.data.pretraining import fresh_scene
    from sgt_train.data.shapes import scene_turns

    folder = verified(ASSET)
    model = load_umm(folder, "raw").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    encoder = Encoder(tokenizer, transformers.AutoImageProcessor.from_pretrained(folder), 1 << 16)
    rng = np.random.default_rng(2024)
    layouts = [Layout(fresh_scene(rng), 224) for _ in range(16)]
    images = [layout.image for layout in layouts]
    others = images[1:] + images[:1]
    captions = [(CAPTION_PROMPT, caption(layout)) for layout in layouts]
    shapes = [next((t for t in scene_turns(layout, rng) if t[0].startswith("What shape")), captions[k])
              for k, layout in enumerate(layouts)]
    for turns, margin in ((captions, 1.5), (shapes, 0.5)):
        own = _answer_loss(model, encoder, tokenizer.pad_token_id, images, turns)
        shuffled = _answer_loss(model, encoder, tokenizer.pad_token_id, others, turns)
        assert shuffled - own > margin, (turns[0][0], own, shuffled)
