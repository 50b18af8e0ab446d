"""fetch/check of the Hugging Face datasets (CV-Bench, MMVP) against the local hub of data_hosts.py."""

from __future__ import annotations

import json

import pytest
from data_hosts import (
    FAKE_COMMIT,
    cvbench_rows,
    fake_image,
    mmvp_csv,
    write_hub_dataset,
)

from benchmarks.base import sha256_file
from sgt_eval.data.check import check
from sgt_eval.data.fetch import fetch, make_http
from sgt_eval.data.lock import LOCK_NAME
from sgt_eval.errors import UserError


def test_cvbench_fetch_records_the_commit_the_hub_resolved(server, http, tmp_path):
    result = fetch("cvbench", tmp_path, http=http)
    folder = tmp_path / "cvbench"
    lock = json.loads((folder / LOCK_NAME).read_text())
    assert lock["revision"] == "main" and lock["commit"] == FAKE_COMMIT and lock["source"] == "hf:nyu-visionx/CV-Bench"
    assert lock["counts"] == {"test_2d.jsonl": 1438, "test_3d.jsonl": 1200}
    assert lock["files"]["test_2d.jsonl"]["sha256"] == sha256_file(folder / "test_2d.jsonl")
    assert (folder / "img/2D/count/ade20k_3.png").read_bytes() == fake_image("img/2D/count/ade20k_3.png")
    assert result.images_expected == result.images_present == 14 and result.label == f"main@{FAKE_COMMIT[:7]}"
    # the first file asks for main; everything after it is pinned to the commit main resolved to
    resolves = server.paths("/hf/")
    assert resolves[0].endswith("/resolve/main/test_2d.jsonl")
    assert all(f"/resolve/{FAKE_COMMIT}/" in p for p in resolves[1:]) and len(resolves) == 2 + 14
    verdict = check("cvbench", tmp_path)
    assert verdict.ok and f"main@{FAKE_COMMIT[:7]}" in verdict.summary


def test_mmvp_fetch_then_resume_downloads_nothing(server, http, tmp_path):
    fetch("mmvp", tmp_path, jobs=4, http=http)
    folder = tmp_path / "mmvp"
    assert (folder / "Questions.csv").read_bytes() == mmvp_csv().encode()
    assert sorted(p.name for p in (folder / "MMVP Images").iterdir()) == sorted(f"{i}.jpg" for i in range(1, 301))
    server.clear()
    fetch("mmvp", tmp_path, jobs=4, http=http)
    assert server.requests == []
    (folder / "MMVP Images/7.jpg").unlink()
    (folder / "Questions.csv").write_text(mmvp_csv().replace("(a)\r\n", "(b)\r\n", 1))
    problems = "\n".join(check("mmvp", tmp_path).problems)
    assert f"Questions.csv: sha256 differs from the hash {LOCK_NAME} recorded" in problems
    assert "1 of 300 images missing (first: MMVP Images/7.jpg)" in problems


def test_version_pins_a_commit(server, http, tmp_path):
    pinned = "ab" * 20
    write_hub_dataset(server.tree / "cdn", "MMVP/MMVP", pinned, {"Questions.csv": mmvp_csv()},
                      [f"MMVP Images/{i}.jpg" for i in range(1, 301)])
    fetch("mmvp", tmp_path, pinned, images=False, http=http)
    lock = json.loads((tmp_path / "mmvp" / LOCK_NAME).read_text())
    assert lock["revision"] == lock["commit"] == pinned
    assert server.paths("/hf/") == [f"/hf/datasets/MMVP/MMVP/resolve/{pinned}/Questions.csv"]
    with pytest.raises(UserError, match="not a usable Hugging Face revision"):
        fetch("mmvp", tmp_path, "../main", http=http)


def test_hub_file_with_wrong_row_count_is_not_kept(server, http, tmp_path):
    short = "cd" * 20
    write_hub_dataset(server.tree / "cdn", "nyu-visionx/CV-Bench", short, cvbench_rows(n_2d=1437), [])
    with pytest.raises(UserError, match=r"test_2d.jsonl of hf:nyu-visionx/CV-Bench at cdcdcdc has 1437 rows, expected 1438; .* not kept"):
        fetch("cvbench", tmp_path, short, http=http)
    assert not (tmp_path / "cvbench/test_2d.jsonl").exists()


def test_path_traversal_in_a_dataset_field_is_refused(server, http, tmp_path):
    evil = "ef" * 20
    write_hub_dataset(server.tree / "cdn", "nyu-visionx/CV-Bench", evil, cvbench_rows(bad_filename="../../escape.png"), [])
    with pytest.raises(UserError, match=r"field 'filename' has path '\.\./\.\./escape\.png' outside the data folder"):
        fetch("cvbench", tmp_path, evil, http=http)
    assert not list(tmp_path.rglob("escape.png")) and not (tmp_path.parent / "escape.png").exists()


def test_hf_token_goes_to_the_hub_only(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret")
    with make_http(tmp_path / "mmvp") as client:
        fetch("mmvp", tmp_path, images=False, http=client)
    auth = dict(server.requests)
    assert auth["/hf/datasets/MMVP/MMVP/resolve/main/Questions.csv"] == "Bearer hf_test_secret"
    assert auth[f"/cdn/MMVP/MMVP/{FAKE_COMMIT}/Questions.csv"] is None  # not forwarded across the redirect
    assert "hf_test_secret" not in (tmp_path / "mmvp" / LOCK_NAME).read_text()
