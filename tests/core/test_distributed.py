"""Sharded evaluation: the rank files and their fold (fast), and torchrun with 2 CPU processes (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sgt_eval.distributed import Ranks, ShardedLog
from sgt_eval.errors import UserError
from sgt_eval.records import Prediction, Sample
from sgt_eval.store import PredictionLog

SAMPLES = [Sample(id=f"s{i}", question="q", answer="yes") for i in range(10)]


def record(sample: Sample, output: str = "yes", error: str | None = None) -> Prediction:
    return Prediction(id=sample.id, output=output, parsed=output, method="rule", correct=True, error=error)


def test_shares_are_strided_disjoint_and_complete():
    shares = [Ranks(rank, 3).mine(SAMPLES) for rank in range(3)]
    assert [s.id for s in shares[1]] == ["s1", "s4", "s7"]
    assert sorted((s.id for share in shares for s in share), key=lambda i: int(i[1:])) == [s.id for s in SAMPLES]


def test_fold_merges_rank_files_of_any_world_in_dataset_order(tmp_path):
    main = PredictionLog(tmp_path / "predictions.jsonl")
    main.append([record(SAMPLES[5])])
    PredictionLog(tmp_path / "predictions.rank0.jsonl").append([record(SAMPLES[2]), record(SAMPLES[0])])
    PredictionLog(tmp_path / "predictions.rank3.jsonl").append([record(SAMPLES[9])])  # from an earlier world of 4
    done = ShardedLog(main, Ranks()).start(SAMPLES, retry_errors=False)
    assert list(done) == ["s0", "s2", "s5", "s9"]
    assert not list(tmp_path.glob("predictions.rank*.jsonl"))


def test_a_fold_cut_short_by_a_kill_leaves_no_duplicates(tmp_path):
    """Killed after the main file was rewritten, before the rank files were deleted: copies, not duplicates."""
    main = PredictionLog(tmp_path / "predictions.jsonl")
    main.append([record(SAMPLES[0]), record(SAMPLES[1])])
    PredictionLog(tmp_path / "predictions.rank1.jsonl").append([record(SAMPLES[1])])
    done = ShardedLog(main, Ranks()).start(SAMPLES, retry_errors=False)
    assert list(done) == ["s0", "s1"]
    assert len(main.path.read_text().splitlines()) == 2


def test_torn_rank_files_are_repaired_and_errors_retried(tmp_path):
    main = PredictionLog(tmp_path / "predictions.jsonl")
    part = PredictionLog(tmp_path / "predictions.rank1.jsonl")
    part.append([record(SAMPLES[1]), record(SAMPLES[3], error="missing image")])
    with open(part.path, "a") as f:
        f.write('{"id": "s5", "outp')  # the write a kill interrupted
    done = ShardedLog(main, Ranks()).start(SAMPLES, retry_errors=True)
    assert list(done) == ["s1"]


def test_a_rank_writes_its_own_file(tmp_path):
    sharded = ShardedLog(PredictionLog(tmp_path / "predictions.jsonl"), Ranks(1, 2))
    assert sharded.writer.path.name == "predictions.rank1.jsonl"
    assert ShardedLog(PredictionLog(tmp_path / "predictions.jsonl"), Ranks()).writer.path.name == "predictions.jsonl"


def test_bad_torchrun_environment_is_one_clear_error(monkeypatch):
    from sgt_eval import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(UserError, match="RANK='5'"):
        distributed.join()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(UserError, match="WORLD_SIZE='two' must be a whole number"):
        distributed.join()


# ---- torchrun, 2 CPU processes, gloo --------------------------------------------------------------

UNDERSTANDING = ("run", "--model", "tiny-random", "--bench", "pope,mmvp,vsr", "--limit", "48",
                 "--max-new-tokens", "6", "--batch-size", "4")
GENERATION = ("run", "--model", "tiny-diffusion", "--bench", "geneval", "--limit", "12",
              "--images-per-prompt", "2", "--batch-size", "2")


ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def torchrun(*args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
            str(29400 + os.getpid() % 500), "-m", "sgt_eval", *args]


def run(command: list[str]) -> None:
    # torchrun gives each rank one CPU thread; the reference runs with one too, since the thread count
    # changes the order of float sums (and so the last bits of an image).
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env={**os.environ, **ONE_THREAD})
    assert result.returncode == 0, result.stderr[-3000:]


def rows(path: Path) -> dict[str, dict]:
    lines = path.read_text().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert len(parsed) == len({r["id"] for r in parsed}), f"duplicate ids in {path}"
    return {r["id"]: r for r in parsed}


def same_run(a: Path, b: Path, benches: tuple[str, ...]) -> None:
    for bench in benches:
        assert (a / bench / "metrics.json").read_bytes() == (b / bench / "metrics.json").read_bytes(), bench
        assert rows(a / bench / "predictions.jsonl") == rows(b / bench / "predictions.jsonl"), bench
        assert not list((b / bench).glob("predictions.rank*.jsonl"))


def children(pid: int) -> dict[int, dict[str, str]]:
    """The processes whose parent is ``pid``, with their environments (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                env = (entry / "environ").read_bytes().split(b"\0")
                found[int(entry.name)] = dict(e.decode(errors="replace").partition("=")[::2] for e in env if e)
        except (OSError, IndexError, ValueError):
            continue
    return found


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single")
    run([sys.executable, "-m", "sgt_eval", *UNDERSTANDING, "--out", str(out)])
    run([sys.executable, "-m", "sgt_eval", *GENERATION, "--out", str(out / "gen")])
    return out


@pytest.mark.slow
def test_two_ranks_give_the_metrics_of_one(single, tmp_path):
    out = tmp_path / "two"
    run(torchrun(*UNDERSTANDING, "--out", str(out)))
    same_run(single, out, ("pope", "mmvp", "vsr"))
    assert json.loads((out / "run.json").read_text())["ranks"] == 2
    run(torchrun(*GENERATION, "--out", str(out / "gen")))  # image batches are sharded the same way
    same_run(single / "gen", out / "gen", ("geneval",))
    images = sorted(p.relative_to(out / "gen") for p in (out / "gen").rglob("*.png"))
    assert images == sorted(p.relative_to(single / "gen") for p in (single / "gen").rglob("*.png"))
    for path in images:
        assert (out / "gen" / path).read_bytes() == (single / "gen" / path).read_bytes()


@pytest.mark.slow
def test_sigkill_of_one_rank_then_rerun_completes_without_duplicates(single, tmp_path):
    out = tmp_path / "killed"
    launcher = subprocess.Popen(torchrun(*UNDERSTANDING, "--out", str(out)), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **ONE_THREAD})
    deadline = time.time() + 300
    rank_file = out / "mmvp" / "predictions.rank1.jsonl"  # the second benchmark, part-way on rank 1
    while time.time() < deadline and not (rank_file.exists() and rank_file.stat().st_size > 0):
        time.sleep(0.02)
    ranks = {int(env.get("RANK", -1)): pid for pid, env in children(launcher.pid).items()}
    assert 1 in ranks, "rank 1 never started"
    os.kill(ranks[1], signal.SIGKILL)
    assert launcher.wait(timeout=300) != 0  # torchrun stops the other rank and fails
    assert not (out / "vsr" / "metrics.json").exists()
    assert list((out / "mmvp").glob("predictions.rank*.jsonl"))

    run(torchrun(*UNDERSTANDING, "--out", str(out)))
    same_run(single, out, ("pope", "mmvp", "vsr"))
