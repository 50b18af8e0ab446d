"""fetch/check of the GitHub-pinned benchmarks (POPE, VSR) against the local hosts of conftest.py."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from data_hosts import fake_image

from benchmarks.base import sha256_file
from sgt_eval.cli import main
from sgt_eval.data.check import check
from sgt_eval.data.download import DownloadFailed, HashMismatch, Http, Unreachable
from sgt_eval.data.fetch import fetch
from sgt_eval.data.lock import LOCK_NAME
from sgt_eval.data.sources import release
from sgt_eval.errors import UserError

POPE_SHARED = {"head": "pope/head_3df3ba1", "llava15": "pope/v2023-08_e3e3926_llava15"}
SPLITS = ("random", "popular", "adversarial")


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


@pytest.mark.parametrize("version", ["head", "llava15"])
def test_pope_fetch_writes_the_official_layout_and_lock(server, http, tmp_path, shared_data, version):
    result = fetch("pope", tmp_path, version, jobs=4, http=http)
    folder = tmp_path / "pope"
    for split in SPLITS:
        got, real = folder / f"coco_pope_{split}.json", shared_data / POPE_SHARED[version] / f"coco_pope_{split}.json"
        assert got.read_bytes() == real.read_bytes()
    images = {json.loads(line)["image"] for s in SPLITS for line in (folder / f"coco_pope_{s}.json").open()}
    assert len(images) == 500
    for name in images:
        assert (folder / "val2014" / name).read_bytes() == fake_image(name)
    lock = json.loads((folder / LOCK_NAME).read_text())
    rel = release("pope", version)
    assert lock["version"] == version and lock["revision"] == rel.revision and lock["source"] == "github:RUCAIBox/POPE"
    for split in SPLITS:
        entry = lock["files"][f"coco_pope_{split}.json"]
        real = shared_data / POPE_SHARED[version] / f"coco_pope_{split}.json"
        assert entry == {"sha256": sha256_file(real), "size": real.stat().st_size}
        assert lock["counts"][f"coco_pope_{split}.json"] == _lines(real)
    assert lock["images"]["expected"] == lock["images"]["present"] == 500
    datetime.fromisoformat(lock["fetched_at"])
    assert result.problems == [] and result.rows == sum(_lines(folder / f"coco_pope_{s}.json") for s in SPLITS)
    assert server.count("/coco/") == 500
    verdict = check("pope", tmp_path)
    assert verdict.ok, verdict.problems
    assert rel.label() in verdict.summary


def test_second_fetch_downloads_nothing(server, http, tmp_path):
    fetch("pope", tmp_path, http=http)
    first = server.count()
    assert first == 3 + 500
    fetch("pope", tmp_path, http=http)
    assert server.count() == first


def test_switching_pope_version_replaces_labels_and_keeps_images(server, http, tmp_path):
    fetch("pope", tmp_path, "head", http=http)
    server.clear()
    fetch("pope", tmp_path, "llava15", http=http)
    assert server.count("/coco/") == 0 and server.count("/github/") == 3
    assert _lines(tmp_path / "pope/coco_pope_random.json") == 2910
    assert "llava15@e3e3926" in check("pope", tmp_path).summary
    (tmp_path / "pope" / LOCK_NAME).unlink()  # a folder filled by hand is recognised by its hashes
    verdict = check("pope", tmp_path)
    assert verdict.ok and "llava15@e3e3926" in verdict.summary
    assert not check("pope", tmp_path, "head").ok


def test_check_finds_corruption_and_fetch_repairs_only_that(server, http, tmp_path):
    fetch("pope", tmp_path, http=http)
    folder = tmp_path / "pope"
    labels = folder / "coco_pope_popular.json"
    labels.write_bytes(labels.read_bytes().replace(b'"label": "yes"', b'"label": "no"', 1))
    images = sorted((folder / "val2014").iterdir())
    images[0].unlink()
    images[1].write_bytes(images[1].read_bytes()[:5])
    verdict = check("pope", tmp_path)
    text = "\n".join(verdict.problems)
    assert "coco_pope_popular.json: sha256 differs from the pinned head@3df3ba1 file" in text
    assert f"1 of 500 images missing (first: val2014/{images[0].name})" in text
    assert f"1 images differ in size from {LOCK_NAME} (first: val2014/{images[1].name})" in text
    server.clear()
    fetch("pope", tmp_path, http=http)
    assert sorted(server.paths()) == sorted(["/github/RUCAIBox/POPE/3df3ba1b110ecce25696989577fad583b67d4239/"
                                             "output/coco/coco_pope_popular.json",
                                             f"/coco/val2014/{images[0].name}", f"/coco/val2014/{images[1].name}"])
    assert check("pope", tmp_path).ok


def test_a_file_that_is_not_the_pinned_one_is_refused(server, http, tmp_path, monkeypatch):
    rel = release("pope")
    bad = server.tree / "github_bad" / rel.repo / rel.revision / "output/coco/coco_pope_random.json"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text('{"question_id": 1, "image": "x.jpg", "text": "Is there a cat?", "label": "yes"}\n')
    monkeypatch.setenv("SGT_EVAL_GITHUB_RAW", f"{server.url}/github_bad")
    with pytest.raises(HashMismatch, match=r"coco_pope_random.json has sha256 .* expected the pinned .* not written"):
        fetch("pope", tmp_path, http=http)
    assert not (tmp_path / "pope/coco_pope_random.json").exists()
    assert not any(".part-" in p.name for p in (tmp_path / "pope").iterdir())  # no temporary file left


def test_transient_5xx_is_retried_and_persistent_5xx_is_a_clear_error(server, http, tmp_path):
    path = "/github/RUCAIBox/POPE/3df3ba1b110ecce25696989577fad583b67d4239/output/coco/coco_pope_random.json"
    server.fail(path, 2)
    fetch("pope", tmp_path, images=False, http=http)
    assert server.paths().count(path) == 3
    server.fail(path, 99)
    (tmp_path / "pope/coco_pope_random.json").unlink()
    with Http(hint="", retries=3, backoff=0.001) as impatient, \
            pytest.raises(DownloadFailed, match=r"HTTP 503 from 127\.0\.0\.1:\d+ for .* after 4 tries"):
        fetch("pope", tmp_path, images=False, http=impatient)


def test_unreachable_host_is_one_clear_line(server, tmp_path, monkeypatch, closed_port, capsys):
    monkeypatch.setenv("SGT_EVAL_GITHUB_RAW", f"http://127.0.0.1:{closed_port}")
    assert main(["data", "fetch", "--bench", "pope", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"sgt-eval: error: cannot reach 127.0.0.1:{closed_port} (offline?): ")
    assert err.rstrip().endswith(f"fetch on a connected machine and copy {tmp_path / 'pope'}")


def test_unreachable_image_host_stops_the_fetch(server, http, tmp_path, monkeypatch, closed_port):
    monkeypatch.setenv("SGT_EVAL_COCO_IMAGES", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(Unreachable, match="cannot reach"):
        fetch("pope", tmp_path, jobs=4, http=http)
    assert (tmp_path / "pope" / LOCK_NAME).is_file()  # the labels are usable for scoring already


def test_missing_images_are_reported_and_others_still_arrive(server, http, tmp_path):
    gone = sorted((server.tree / "coco/val2014").iterdir())[:2]
    saved = [(p, p.read_bytes()) for p in gone]
    for p in gone:
        p.unlink()
    try:
        result = fetch("pope", tmp_path, http=http)
    finally:
        for p, data in saved:
            p.write_bytes(data)
    assert len(result.problems) == 1 and result.problems[0].startswith("2 of 500 images could not be downloaded")
    assert "HTTP 404" in result.problems[0] and result.images_present == 498


def test_vsr_fetch_gets_all_splits_and_test_images(server, http, tmp_path, shared_data):
    result = fetch("vsr", tmp_path, jobs=8, http=http)
    folder = tmp_path / "vsr"
    for split in ("zeroshot", "random"):
        for part in ("train", "dev", "test"):
            rel = f"splits/{split}/{part}.jsonl"
            assert (folder / rel).read_bytes() == (shared_data / "vsr" / rel).read_bytes()
    assert (folder / "rel_meta_category_dict.txt").read_bytes() == (shared_data / "vsr/rel_meta_category_dict.txt").read_bytes()
    rows = [json.loads(line) for s in ("zeroshot", "random") for line in (folder / f"splits/{s}/test.jsonl").open()]
    assert len(rows) == 1222 + 2195
    for row in rows[:50] + rows[-50:]:
        assert (folder / "images" / row["image"]).read_bytes() == fake_image(row["image_link"])
    assert result.images_present == result.images_expected == len({r["image"] for r in rows})
    assert all(p.startswith(("/coco/train2017/", "/coco/val2017/")) for p in server.paths("/coco/"))
    assert check("vsr", tmp_path).ok


def test_bad_arguments_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not a known pope release"):
        release("pope", "v2")
    with pytest.raises(UserError, match="did you mean 'pope'"):
        fetch("popes", tmp_path)
    assert main(["data", "fetch", "--bench", "understanding", "--version", "head", "--root", str(tmp_path)]) == 2
