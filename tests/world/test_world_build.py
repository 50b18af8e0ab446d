"""Building worlds: determinism, the manifest, and ensure_world's cache and atomicity."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import sgt_eval.world.build as build
from sgt_eval.errors import UserError
from sgt_eval.world import WORLD_VERSION, build_world, ensure_world, world_path

BENCHES = ("cvbench", "mmvp", "vsr", "pope", "hallusionbench", "geneval", "gedit")


def hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(world: Path, tmp_path: Path) -> None:
    # the rebuild runs in a fresh interpreter with another string-hash seed: no set or dict order may leak
    code = "import sys; from sgt_eval.world import build_world; build_world(sys.argv[1], seed=0)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "again")], env=env, check=True)
    build_world(tmp_path / "other", seed=1)
    first, again, other = hashes(world), hashes(tmp_path / "again"), hashes(tmp_path / "other")
    assert len(first) > 300 and first == again
    assert set(first) == set(other)  # same layout...
    for bench in BENCHES:  # ...but different content in every benchmark
        assert any(first[k] != other[k] for k in first if k.startswith(f"{bench}/"))


def test_manifest_counts_match_the_files(world: Path) -> None:
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["version"] == WORLD_VERSION and manifest["seed"] == 0 and manifest["size"] == "small"
    counts = manifest["counts"]
    lines = lambda p: len((world / p).read_text().splitlines())  # noqa: E731
    assert counts["cvbench"] == lines("cvbench/test_2d.jsonl") + lines("cvbench/test_3d.jsonl")
    assert counts["mmvp"] == lines("mmvp/Questions.csv") - 1
    assert counts["vsr"] == lines("vsr/splits/zeroshot/test.jsonl")
    assert counts["pope"] == sum(lines(f"pope/coco_pope_{s}.json") for s in ("random", "popular", "adversarial"))
    assert counts["hallusionbench"] == len(json.loads((world / "hallusionbench/HallusionBench.json").read_text()))
    assert counts["geneval"] == lines("geneval/evaluation_metadata.jsonl") == 60  # 10 per tag
    assert counts["gedit"] == pq.read_metadata(world / "gedit/data/train-00000-of-00001.parquet").num_rows == 80
    understanding = [n for b, n in counts.items() if b not in ("mmvp", "geneval", "gedit")]
    assert all(100 <= n <= 200 for n in understanding) and 60 <= counts["mmvp"] <= 80
    assert sorted(p.name for p in world.iterdir()) == sorted([*BENCHES, "scenes", "world.json"])


def test_build_world_refuses_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        build_world(tmp_path / "full")
    with pytest.raises(UserError, match="size 'huge'"):
        build_world(tmp_path / "a", size="huge")
    with pytest.raises(UserError, match="non-negative integer"):
        build_world(tmp_path / "b", seed=-1)


def fake_build(out: Path, seed: int = 0, size: str = "small") -> dict:
    """Stands in for the real builder in the cache tests (the real one is tested above)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "cvbench").mkdir()
    (out / build.MANIFEST).write_text(json.dumps({"seed": seed}))
    return {}


def test_ensure_world_builds_once_and_ignores_leftover_partial_folders(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    final = world_path(tmp_path, 3, "small")
    leftover = tmp_path / f".{final.name}.partial-killed"
    leftover.mkdir()
    (leftover / "cvbench").mkdir()  # a killed build: files but no manifest
    monkeypatch.setattr(build, "build_world", fake_build)
    assert ensure_world(tmp_path, 3) == final == tmp_path / f"{WORLD_VERSION}-small-seed3"
    assert (final / "world.json").is_file() and leftover.is_dir()

    def must_not_build(*args: object, **kwargs: object) -> dict:
        raise AssertionError("a finished world was rebuilt")

    monkeypatch.setattr(build, "build_world", must_not_build)
    assert ensure_world(tmp_path, 3) == final


def test_an_interrupted_build_leaves_nothing_that_looks_finished(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(out: Path, seed: int = 0, size: str = "small") -> dict:
        (out / "cvbench").mkdir()
        (out / "cvbench" / "test_2d.jsonl").write_text("{}\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "build_world", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_world(tmp_path, 0)
    assert list(tmp_path.iterdir()) == []  # no final folder and no partial one


def test_a_foreign_folder_at_the_world_path_is_reported(tmp_path: Path) -> None:
    world_path(tmp_path, 0, "small").mkdir()
    with pytest.raises(UserError, match="no world.json"):
        ensure_world(tmp_path, 0)


def test_ensure_world_really_builds(tmp_path: Path) -> None:
    root = ensure_world(tmp_path, 0)
    assert root.name == f"{WORLD_VERSION}-small-seed0"
    assert [p.name for p in tmp_path.iterdir()] == [root.name]
    assert (root / "cvbench" / "test_2d.jsonl").is_file() and (root / "world.json").is_file()
