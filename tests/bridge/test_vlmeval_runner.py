"""sgt-eval adapters inside VLMEvalKit's runner on a small local TSV benchmark, one process and two."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vlmeval", reason="needs the vlmeval extra (VLMEvalKit + torch 2.14.1 + torchvision 0.29.1): "
                                      "run `make test-vlmeval`")
from PIL import Image

pytestmark = pytest.mark.slow
NAME = "SGTTinyMCQ"


@pytest.fixture(scope="module")
def lmudata(tmp_path_factory) -> Path:
    """A VLMEvalKit-format MCQ TSV (index, base64 image, question, options, answer, category)."""
    folder = tmp_path_factory.mktemp("LMUData")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (56, 56 + 14 * (i % 2), 3), dtype=np.uint8)).save(buffer, format="PNG")
        rows.append({"index": i, "image": base64.b64encode(buffer.getvalue()).decode(), "answer": "ABC"[i % 3],
                     "question": f"Which colour is shape {i}?", "A": "red", "B": "blue", "C": "green",
                     "category": "colour" if i < 3 else "shape"})
    with open(folder / f"{NAME}.tsv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return folder


def vlmeval_command(lmudata: Path, work: Path, launcher: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, "-m", "sgt_eval", "vlmeval", "--model", "tiny-random", "--data", NAME,
                             "--lmudata", str(lmudata), "--work-dir", str(work), "--max-new-tokens", "6"],
                            capture_output=True, text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def predictions(work: Path) -> dict[int, str]:
    import pandas as pd

    table = pd.read_excel(work / f"tiny-random_{NAME}.xlsx")
    return {int(i): str(p) for i, p in zip(table["index"], table["prediction"])}


@pytest.fixture(scope="module")
def single(lmudata, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("work")
    vlmeval_command(lmudata, work, [sys.executable])
    return work


def test_the_adapter_answers_vlmevalkits_own_prompts_and_vlmevalkit_scores(single, lmudata, monkeypatch):
    monkeypatch.setenv("LMUData", str(lmudata))
    from vlmeval.dataset import build_dataset

    from sgt_eval.models import load_model
    from sgt_eval.vlmeval_bridge.models import SGTModel

    dataset = build_dataset(NAME)
    model = SGTModel(load_model("tiny-random", {}, 0), max_new_tokens=6)
    model.set_dump_image(dataset.dump_image)
    from openpyxl.utils.escape import escape  # VLMEvalKit's xlsx files write control characters as _xHHHH_

    expected = {int(dataset.data.iloc[i]["index"]): escape(model.generate(dataset.build_prompt(dataset.data.iloc[i])))
                for i in range(len(dataset.data))}
    assert predictions(single) == expected and len(expected) == 6
    assert (single / f"tiny-random_{NAME}_acc.csv").is_file()  # VLMEvalKit's evaluate ran
    record = json.loads((single / "sgt_eval_vlmeval.json").read_text())
    assert record["model"]["spec"] == "tiny-random" and record["model"]["checkpoint"]["sha256"]
    assert record["scores"][NAME][0]["split"] == "none" and "Overall" in record["scores"][NAME][0]


def test_two_ranks_under_torchrun_write_the_same_predictions(single, lmudata, tmp_path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(29900 + os.getpid() % 90)]
    vlmeval_command(lmudata, tmp_path / "two", launcher)
    assert predictions(tmp_path / "two") == predictions(single)


def test_an_unknown_dataset_is_one_clear_error(lmudata, tmp_path):
    result = subprocess.run([sys.executable, "-m", "sgt_eval", "vlmeval", "--model", "tiny-random", "--data",
                             "NoSuchBench", "--lmudata", str(lmudata), "--work-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "--data NoSuchBench" in result.stderr and "Traceback" not in result.stderr
