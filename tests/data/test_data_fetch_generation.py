"""fetch/check of the generation benchmarks: GenEval (two pinned GitHub repos) and GEdit-Bench (hub listing
plus the VIEScore prompts read out of a synthetic vie_prompts.py), against the local hosts."""

from __future__ import annotations

import hashlib
import json

import pytest
from data_hosts import (
    FAKE_COMMIT,
    GEDIT_FILE,
    GENEVAL_SHARED,
    SYNTHETIC_PQ,
    SYNTHETIC_SC,
    SYNTHETIC_VIE_PROMPTS,
    gedit_parquet,
    write_gedit_hub,
)

import sgt_eval.data.fetch as fetch_module
from benchmarks.base import sha256_file
from benchmarks.gedit import GEditBench
from sgt_eval.data.check import check
from sgt_eval.data.download import HashMismatch
from sgt_eval.data.fetch import fetch
from sgt_eval.data.lock import LOCK_NAME
from sgt_eval.data.sources import VIESCORE_SOURCE
from sgt_eval.data.viescore_prompt import extract_prompts, load_prompts
from sgt_eval.errors import UserError

BAGEL = "/github/ByteDance-Seed/Bagel/056b5fd51a88c1eb4547318609e25d40080fcf87/"
GENEVAL = "/github/djghosh13/geneval/af4902f24d3ca90ebbb446dd9891a59e0f82725f/"
LISTING = "/hf/api/datasets/stepfun-ai/GEdit-Bench/revision/"


def test_geneval_fetch_writes_the_flat_layout_from_both_repositories(server, http, tmp_path, shared_data):
    result = fetch("geneval", tmp_path, http=http)
    folder = tmp_path / "geneval"
    for local, shared in GENEVAL_SHARED.items():
        assert (folder / local).read_bytes() == (shared_data / "geneval" / shared).read_bytes()
    assert sorted(server.paths()) == sorted([f"{GENEVAL}prompts/evaluation_metadata.jsonl",
                                             f"{GENEVAL}prompts/object_names.txt",
                                             f"{GENEVAL}prompts/generation_prompts.txt",
                                             f"{BAGEL}eval/gen/geneval/prompts/evaluation_metadata_long.jsonl"])
    lock = json.loads((folder / LOCK_NAME).read_text())
    assert lock["counts"] == {"evaluation_metadata.jsonl": 553, "evaluation_metadata_long.jsonl": 553,
                              "object_names.txt": 80, "generation_prompts.txt": 553}
    assert result.problems == [] and result.rows == 553 * 3 + 80 and result.images_expected == 0
    verdict = check("geneval", tmp_path)
    assert verdict.ok and verdict.summary.startswith("OK geneval af4902f: 4 files, 1,739 rows, 0 images")
    server.clear()
    fetch("geneval", tmp_path, http=http)
    assert server.requests == []
    (folder / "object_names.txt").write_text("person\n")
    assert "object_names.txt: sha256 differs from the pinned af4902f file" in "\n".join(check("geneval", tmp_path).problems)


@pytest.fixture
def synthetic_vie_prompts_pin(monkeypatch):
    """Pin the synthetic vie_prompts.py the local host serves (the real file is never in this repository)."""
    repo, commit, path, _ = VIESCORE_SOURCE
    digest = hashlib.sha256(SYNTHETIC_VIE_PROMPTS.encode()).hexdigest()
    monkeypatch.setattr(fetch_module, "VIESCORE_SOURCE", (repo, commit, path, digest))


def test_gedit_fetch_lists_the_hub_and_writes_data_lock_and_prompts(server, http, tmp_path, synthetic_vie_prompts_pin):
    result = fetch("gedit", tmp_path, http=http)
    folder = tmp_path / "gedit"
    assert (folder / GEDIT_FILE).read_bytes() == gedit_parquet()
    assert server.paths("/hf/") == [f"{LISTING}main", f"/hf/datasets/stepfun-ai/GEdit-Bench/resolve/{FAKE_COMMIT}/{GEDIT_FILE}"]
    prompts = load_prompts(folder / "viescore_prompts.json")
    assert (prompts["sc"], prompts["pq"], prompts["version"]) == (SYNTHETIC_SC, SYNTHETIC_PQ, "official@570eba6")
    lock = json.loads((folder / LOCK_NAME).read_text())
    assert lock["commit"] == FAKE_COMMIT and lock["counts"] == {GEDIT_FILE: 1212}
    assert lock["files"][GEDIT_FILE]["sha256"] == sha256_file(folder / GEDIT_FILE)
    assert result.problems == [] and result.rows == 1212 and result.label == f"main@{FAKE_COMMIT[:7]}"
    verdict = check("gedit", tmp_path)
    assert verdict.ok and verdict.summary.startswith(f"OK gedit main@{FAKE_COMMIT[:7]}: 1 files, 1,212 rows")
    bench = GEditBench()
    dataset = bench.load(folder)
    assert [sum(s.meta["language"] == lang for s in dataset.samples) for lang in ("en", "cn")] == [606, 606]
    assert bench.grader(judge=type("J", (), {"id": "m@u"})()) == "judge:m@u|prompt:official@570eba6"
    server.clear()
    fetch("gedit", tmp_path, http=http)
    assert server.requests == []  # a complete folder costs no request


def test_gedit_check_finds_damage(server, http, tmp_path, synthetic_vie_prompts_pin):
    fetch("gedit", tmp_path, http=http)
    folder = tmp_path / "gedit"
    (folder / GEDIT_FILE).write_bytes(gedit_parquet(rows=1210))
    prompts = folder / "viescore_prompts.json"
    prompts.write_text(prompts.read_text().replace("<instruction>", "<wish>"))
    problems = "\n".join(check("gedit", tmp_path).problems)
    assert f"{GEDIT_FILE}: sha256 differs from the hash {LOCK_NAME} recorded" in problems
    assert "field 'sc' lacks <instruction>" in problems


def test_gedit_wrong_row_count_or_hash_is_not_kept(server, http, tmp_path, synthetic_vie_prompts_pin):
    short = "ab" * 20
    write_gedit_hub(server.tree, short, short, {GEDIT_FILE: gedit_parquet(rows=1210)})
    with pytest.raises(UserError, match=r"has 1210 rows in data/train-00000-of-00001.parquet, expected 1212; .* not kept"):
        fetch("gedit", tmp_path, short, http=http)
    assert not (tmp_path / "gedit" / GEDIT_FILE).exists()
    other = "cd" * 20
    write_gedit_hub(server.tree, other, other, {GEDIT_FILE: gedit_parquet()}, lfs_sha256={GEDIT_FILE: "0" * 64})
    with pytest.raises(HashMismatch, match="expected the pinned 0000000000000000"):
        fetch("gedit", tmp_path, other, http=http)
    assert not (tmp_path / "gedit" / GEDIT_FILE).exists()


def test_the_real_pin_refuses_another_vie_prompts_py(server, http, tmp_path):
    with pytest.raises(HashMismatch, match="vie_prompts.py has sha256"):
        fetch("gedit", tmp_path, http=http)
    assert not (tmp_path / "gedit/viescore_prompts.json").exists()


@pytest.mark.parametrize("old, new, message", [
    ("_prompts_0shot_rule_PQ = ", "_renamed_PQ = ", "no _prompts_0shot_rule_PQ"),
    ("_context = ", "_context_no_delimit = ", "_context_no_delimit is assigned twice"),
    ("Wish: <instruction>", "Wish: (instruction)", "never uses <instruction>"),
    ('_prompts_0shot_rule_PQ = """', '_prompts_0shot_rule_PQ = "x" + """', "_prompts_0shot_rule_PQ is not a plain string"),
    ("# This file", "(# This file", "is not Python source"),
])
def test_prompt_extractor_refuses_a_changed_shape(old, new, message):
    assert old in SYNTHETIC_VIE_PROMPTS
    with pytest.raises(UserError, match=message):
        extract_prompts(SYNTHETIC_VIE_PROMPTS.replace(old, new, 1))
    assert extract_prompts(SYNTHETIC_VIE_PROMPTS) == (SYNTHETIC_SC, SYNTHETIC_PQ)
