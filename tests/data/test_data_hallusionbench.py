"""HallusionBench: the judge-prompt extractor (on a synthetic utils.py) and fetching the zip of images."""

from __future__ import annotations

import hashlib
import json

import pytest
from data_hosts import SYNTHETIC_TEMPLATE, SYNTHETIC_UTILS, hallusion_zip

import sgt_eval.data.fetch as fetch_module
from benchmarks.base import sha256_file
from sgt_eval.cli import main
from sgt_eval.data.check import check
from sgt_eval.data.download import HashMismatch
from sgt_eval.data.fetch import fetch
from sgt_eval.data.hallusion_prompt import (
    extract_judge_template,
    judge_prompt_document,
    load_judge_prompt,
)
from sgt_eval.data.lock import LOCK_NAME
from sgt_eval.data.sources import HALLUSION_UTILS
from sgt_eval.errors import UserError

REPO, SHA = "tianyi-lab/HallusionBench", "744007c232c292942c7f80eb61edb2465482da31"


def test_extractor_rebuilds_the_prompt_as_a_template():
    template = extract_judge_template(SYNTHETIC_UTILS)
    assert template == SYNTHETIC_TEMPLATE
    filled = template.format(question="Q?", reference="R.", prediction="P")
    assert filled == "Pretend you grade {curly} parrots. Ponder turnips.\n\n Riddle:Q?\nTrue note: R.\nGuess:P\nVerdict:"
    doc = judge_prompt_document(SYNTHETIC_UTILS, REPO, SHA)
    assert doc == {"version": "official@744007c", "source": f"{REPO}@{SHA}:utils.py", "template": SYNTHETIC_TEMPLATE}


@pytest.mark.parametrize("change, message", [
    (("def evaluate_by_chatgpt", "def grade"), "expected one function evaluate_by_chatgpt"),
    (("sample['gt_answer_details']", "sample['gt_answer']"), "uses an expression this reader does not know"),
    (("prompt += sample['question']", "prompt += f'{x}'"), "uses an expression this reader does not know"),
    (("prompt += sample['question']", "prompt = 'again'"), "assigns `prompt` more than once"),
    (("prompt += sample['question']", "pass"), "never uses question"),
    (("import os", "import os("), "is not Python source"),
])
def test_extractor_refuses_a_changed_shape(change, message):
    old, new = change
    assert old in SYNTHETIC_UTILS
    with pytest.raises(UserError, match=message):
        extract_judge_template(SYNTHETIC_UTILS.replace(old, new, 1))


@pytest.fixture
def synthetic_utils_pin(monkeypatch):
    """Pin the synthetic utils.py the local host serves (the real file may not be in this repository)."""
    monkeypatch.setattr(fetch_module, "HALLUSION_UTILS", (HALLUSION_UTILS[0], hashlib.sha256(SYNTHETIC_UTILS.encode()).hexdigest()))


def test_fetch_writes_metadata_judge_prompt_and_images(server, http, tmp_path, shared_data, synthetic_utils_pin):
    result = fetch("hallusionbench", tmp_path, http=http)
    folder = tmp_path / "hallusionbench"
    assert (folder / "HallusionBench.json").read_bytes() == (shared_data / "hallusionbench/HallusionBench.json").read_bytes()
    assert load_judge_prompt(folder / "judge_prompt.json")["template"] == SYNTHETIC_TEMPLATE
    assert (folder / "hallusion_bench/VD/video/19_2.png").is_file() and not (folder / "hallusion_bench.zip").exists()
    assert not (folder / "hallusion_bench/__MACOSX").exists() and not (folder / "__MACOSX").exists()
    assert result.problems == [] and result.images_expected == result.images_present == 346
    lock = json.loads((folder / LOCK_NAME).read_text())
    assert lock["counts"] == {"HallusionBench.json": 1129}
    assert lock["files"]["judge_prompt.json"]["sha256"] == sha256_file(folder / "judge_prompt.json")
    assert check("hallusionbench", tmp_path).ok
    server.clear()
    fetch("hallusionbench", tmp_path, http=http)
    assert server.requests == []


def test_the_real_pin_refuses_another_utils_py(server, http, tmp_path):
    with pytest.raises(HashMismatch, match="utils.py has sha256"):
        fetch("hallusionbench", tmp_path, images=False, http=http)
    assert not (tmp_path / "hallusionbench/judge_prompt.json").exists()


def test_drive_confirmation_page_gives_one_clear_line_then_a_placed_zip_is_used(
        server, tmp_path, shared_data, synthetic_utils_pin, monkeypatch, capsys):
    monkeypatch.setenv("SGT_EVAL_GDRIVE", f"{server.url}/gdrive_html")
    root = tmp_path / "data"
    assert main(["data", "fetch", "--bench", "hallusionbench", "--root", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    problem = [line for line in out if line.startswith("  - ")]
    assert len(problem) == 1 and "sent a web page instead of the file" in problem[0]
    assert "download hallusion_bench.zip from https://drive.google.com/file/d/" in problem[0]
    assert f"into {root / 'hallusionbench'} and re-run this command" in problem[0]
    assert main(["data", "check", "--bench", "hallusionbench", "--root", str(root)]) == 1
    assert "346 of 346 images missing (first: hallusion_bench/" in capsys.readouterr().out
    # the user downloads the zip by hand (this copy has no top folder) and re-runs fetch
    (root / "hallusionbench/hallusion_bench.zip").write_bytes(hallusion_zip(shared_data, top=""))
    assert main(["data", "fetch", "--bench", "hallusionbench", "--root", str(root)]) == 0
    assert (root / "hallusionbench/hallusion_bench.zip").is_file()  # the user's file is kept
    assert main(["data", "check", "--bench", "hallusionbench", "--root", str(root)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("OK hallusionbench 744007c: 1 files, 1,129 rows, 346 images")


def test_check_reports_a_damaged_judge_prompt(server, http, tmp_path, synthetic_utils_pin):
    fetch("hallusionbench", tmp_path, images=False, http=http)
    path = tmp_path / "hallusionbench/judge_prompt.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "template": doc["template"].replace("{reference}", "")}))
    problems = check("hallusionbench", tmp_path).problems
    assert any("field 'template' lacks {reference}" in p for p in problems)
