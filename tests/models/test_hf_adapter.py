from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.models import load_model
from sgt_eval.models.base import Query
from sgt_eval.models.hf import checkpoint_fingerprint


def queries(n: int) -> list[Query]:
    """Mixed lengths, image sizes and text-only items: everything that changes padding."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        text = "Is there a red circle in the image?" + " Please look carefully." * (i % 5)
        if i % 7 == 3:
            out.append(Query(text))
            continue
        h, w = rng.integers(40, 200, size=2)
        out.append(Query(text, (Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)),)))
    return out


def test_batch_size_never_changes_an_answer(tiny_model):
    qs = queries(32)
    one_by_one = [tiny_model.answer([q], max_new_tokens=12)[0] for q in qs]
    by_eight = [a for i in range(0, 32, 8) for a in tiny_model.answer(qs[i:i + 8], max_new_tokens=12)]
    assert by_eight == one_by_one
    assert len(set(one_by_one)) > 1  # the model does look at its inputs


def test_answers_are_greedy_and_repeatable(tiny_model):
    qs = queries(4)
    assert tiny_model.answer(qs, max_new_tokens=5) == tiny_model.answer(qs, max_new_tokens=5)
    config = tiny_model.generation_config
    assert config.do_sample is False and config.num_beams == 1 and config.temperature is None


def test_a_saved_checkpoint_loads_through_the_hf_backend(tiny_model):
    same = load_model(f"hf:{tiny_model.path}", {"dtype": "float32", "device": "cpu", "attn_implementation": "eager"}, 0)
    qs = queries(3)
    assert same.answer(qs, max_new_tokens=8) == tiny_model.answer(qs, max_new_tokens=8)
    described = same.describe()
    assert described["checkpoint"]["kind"] == "local"
    assert described["checkpoint"] == tiny_model.describe()["checkpoint"]
    assert described["dtype"] == "float32" and described["attn_implementation"] == "eager"


def test_fingerprint_changes_when_a_weight_file_changes(tmp_path, tiny_model):
    import shutil

    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_model.path, copy)
    before = checkpoint_fingerprint(str(copy), None)
    with open(copy / "model.safetensors", "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    assert checkpoint_fingerprint(str(copy), None) != before


def test_bad_hf_arguments_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="needs a checkpoint"):
        load_model("hf", {}, 0)
    with pytest.raises(UserError, match="not an hf option"):
        load_model("hf:x", {"colour": "red"}, 0)
    with pytest.raises(UserError, match="cannot load model"):
        load_model(f"hf:{tmp_path / 'nowhere'}", {"device": "cpu"}, 0)


def test_tiny_random_is_the_same_checkpoint_in_every_process(tmp_path):
    """The seed alone fixes the weights and the tokenizer, whatever Python's hash seed."""
    import os
    import subprocess
    import sys

    probe = ("import sys; from pathlib import Path; from sgt_eval.models.tiny import build_tiny_random; "
             "from sgt_eval.models.hf import checkpoint_fingerprint; "
             "print(checkpoint_fingerprint(str(build_tiny_random(Path(sys.argv[1]), 0)), None)['sha256'])")
    prints = [subprocess.run([sys.executable, "-c", probe, str(tmp_path / str(h))], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": str(h)}, timeout=300, check=True).stdout.strip()
              for h in (1, 2)]
    prints = [p.splitlines()[-1] if p else "" for p in prints]  # an installed DeepSpeed logs a line on import
    assert prints[0] == prints[1] != ""
