"""Judged GEdit-Bench samples per second at judge concurrency 1 vs 8, against a loopback server with latency.

    python perf/judge_concurrency.py [--samples 32] [--latency-ms 100]

The server is the OpenAI-compatible test server of ``tests/judges/fake_openai.py`` on 127.0.0.1; it
holds every request for ``--latency-ms`` before answering, as a remote judge would. Each sample is
two judge calls (SC with two images, PQ with one), built and parsed by the real code:
``GEditBench.grade`` with an ``OpenAIJudge`` whose cache starts empty for each concurrency, so every
request reaches the server. One run per setting; prints both rates and their ratio (the ideal is
8 while the requests outnumber the workers; JPEG encoding and parsing happen on this side).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.gedit import GEditBench
from sgt_eval.judges.client import JudgeConfig, OpenAIJudge
from sgt_eval.paths import cache_root
from sgt_eval.runner import save_image
from sgt_eval.world import ensure_world, render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "judges"))
from fake_openai import FakeOpenAI  # noqa: E402 (the test server lives with the tests)

REPLY = '{"score": [8, 9], "reasoning": "fine"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    bench = GEditBench()
    dataset = bench.load(ensure_world(cache_root() / "world") / "gedit")
    samples = dataset.samples[:args.samples]
    with tempfile.TemporaryDirectory() as tmp:
        bench.outputs_root = Path(tmp) / "images"
        for sample in samples:  # the edits: each row's target scene, with its _SRCIMG beside it
            truth = bench.truth[(sample.meta["key"], sample.meta["language"])]
            save_image(render(truth.target, 512)[0], bench.outputs_root / bench.output_path(sample))
            bench.write_sidecars(sample, dataset, bench.outputs_root)
        outputs = [bench.output_path(s) for s in samples]
        rates = {}
        with FakeOpenAI(reply=lambda body: REPLY, hold_s=args.latency_ms / 1000) as server:
            for concurrency in (1, 8):
                config = JudgeConfig(base_url=server.base_url, model="perf-judge", max_concurrency=concurrency)
                judge = OpenAIJudge(config, cache_dir=Path(tmp) / f"cache-{concurrency}")
                start = time.perf_counter()
                records = bench.grade(samples, outputs, judge)
                rates[concurrency] = len(records) / (time.perf_counter() - start)
                assert all(r.values.get("SC") == 8 for r in records), "the replies were not read"
            requests = server.count
    print(f"{len(samples)} samples ({requests} judge requests), {args.latency_ms:g} ms simulated latency")
    for concurrency, rate in rates.items():
        print(f"concurrency {concurrency}: {rate:.2f} judged samples/s")
    print(f"ratio 8 vs 1: {rates[8] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
