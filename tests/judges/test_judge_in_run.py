"""The judge wired through `sgt-eval run` and `sgt-eval score`: HallusionBench graded by a local server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fake_openai import FakeOpenAI

from sgt_eval.paths import cache_root
from sgt_eval.world import ensure_world


def sgt_eval(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "sgt_eval", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def test_run_and_rescore_hallusionbench_with_a_judge(tmp_path: Path):
    with FakeOpenAI(reply=lambda body: "Correct.") as server:
        judge = ("--judge-model", "fake-judge", "--judge-base-url", server.base_url)
        out = tmp_path / "run"
        sgt_eval("run", "--model", "tiny-random", "--bench", "hallusionbench", "--out", str(out), "--limit", "16",
                 "--max-new-tokens", "4", *judge)
        rows = [json.loads(line) for line in (out / "hallusionbench" / "predictions.jsonl").read_text().splitlines()]
        judged = [r for r in rows if r["output"].strip()]
        distinct = {(r["question"], r["meta"]["gt_answer_details"], r["output"]) for r in judged}
        assert len(server.bodies) == len(distinct) > 0  # each distinct request once; empty outputs never
        assert all(r["method"] == "judge" and r["judge_reply"] == "Correct." and r["correct"] for r in judged)
        assert all(r["method"] == "none" and not r["correct"] for r in rows if not r["output"].strip())
        metrics = json.loads((out / "hallusionbench" / "metrics.json").read_text())
        assert metrics["grader"].startswith(f"judge:fake-judge@{server.base_url}")
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["judge"]["model"] == "fake-judge" and manifest["judge"]["prompt_versions"] == ["sgt-eval-own-v1"]

        asked = len(server.bodies)
        world = ensure_world(cache_root() / "world")
        rescored = sgt_eval("score", "hallusionbench", "--data", str(world / "hallusionbench"),
                            "--predictions", str(out / "hallusionbench" / "predictions.jsonl"), "--json", *judge)
        assert len(server.bodies) == asked  # every reply came from the judge cache
        assert json.loads(rescored.stdout) == metrics
