"""GEdit-Bench judged through the loopback OpenAI server: faults end as retries or unparsed records, never a
made-up score, and a re-run is answered from the cache without a single request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_openai import Failure, FakeOpenAI

from benchmarks.gedit import GEditBench
from sgt_eval.judges.client import JudgeError
from sgt_eval.paths import cache_root
from sgt_eval.records import Prediction
from sgt_eval.runner import save_image
from sgt_eval.world import ensure_world, render

PQ_REPLY = '{"score": [9, 8], "reasoning": "clean"}'


@pytest.fixture
def edits(tmp_path: Path) -> tuple[GEditBench, list, list[str]]:
    """Four English world rows, each edited perfectly (the target scene), with its _SRCIMG."""
    bench = GEditBench()
    dataset = bench.load(ensure_world(cache_root() / "world") / "gedit")
    bench.outputs_root = tmp_path / "out"
    samples = [s for s in dataset.samples if s.meta["language"] == "en"][:4]
    for sample in samples:
        truth = bench.truth[(sample.meta["key"], "en")]
        save_image(render(truth.target, 512)[0], bench.outputs_root / bench.output_path(sample))
        bench.write_sidecars(sample, dataset, bench.outputs_root)
    return bench, samples, [bench.output_path(s) for s in samples]


def replies(sc_by_instruction: dict[str, str]):
    """The server's reply: the SC reply scripted for the instruction in the prompt, else the PQ reply."""
    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"][0]["text"]
        return next((r for instruction, r in sc_by_instruction.items() if instruction in text), PQ_REPLY)
    return reply


def grade(bench: GEditBench, samples: list, outputs: list[str], judge) -> dict[str, Prediction]:
    return {r.id: r for r in bench.grade(samples, outputs, judge)}


def test_http_faults_are_retried_and_the_scores_come_through(edits, server: FakeOpenAI, make_judge, sleeps):
    bench, samples, outputs = edits
    server.reply = replies({s.question: '{"score": [7, 9], "reasoning": "ok"}' for s in samples})
    server.fail_next(Failure(500), Failure(429, retry_after="0.25"), Failure(delay_s=2.0))
    records = grade(bench, samples[:2], outputs[:2], make_judge(max_concurrency=1, timeout_s=0.5))
    assert server.count == 4 + 3 and 0.25 in sleeps and len(sleeps) == 3
    for record in records.values():
        assert record.method == "judge" and record.values == {"SC": 7.0, "PQ": 8.0, "O": 56 ** 0.5}
    contents = [body["messages"][-1]["content"] for body in server.bodies[-4:]]
    assert sorted(len(parts) for parts in contents) == [2, 2, 3, 3]  # text + 1 image (PQ), text + 2 (SC)
    assert bench.grader(make_judge()).endswith("|prompt:sgt-eval-own-v1")


def test_malformed_and_out_of_range_replies_are_unparsed_and_counted(edits, server: FakeOpenAI, make_judge):
    bench, samples, outputs = edits
    # malformed JSON, a score out of 0..10, no scores at all (upstream would guess one), a good reply
    scripted = ['{"score": [7, 8}', '{"score": [7, 12]}', "The edit is lovely.", '{"score": [6, 10]}']
    server.reply = replies({s.question: reply for s, reply in zip(samples, scripted)})
    records = grade(bench, samples, outputs, make_judge())
    for sample, reply in zip(samples[:3], scripted):
        record = records[sample.id]
        assert record.unparsed and record.values == {} and json.loads(record.judge_reply) == {"SC": reply, "PQ": PQ_REPLY}
    assert records[samples[3].id].values == {"SC": 6.0, "PQ": 8.0, "O": 48 ** 0.5}
    en = bench.aggregate(list(records.values()))["scores"]["en"]["fullset"]
    assert (en["n"], en["n_unparsed"]) == (1, 3) and en["O"] == pytest.approx(48 ** 0.5)


def test_a_completion_without_text_is_unparsed(edits, server: FakeOpenAI, make_judge):
    bench, samples, outputs = edits
    server.reply = replies({samples[0].question: "[5, 5]"})
    server.fail_next(Failure(raw=b'{"choices": []}'))  # the first request: SC (max_concurrency 1, request order)
    [record] = grade(bench, samples[:1], outputs[:1], make_judge(max_concurrency=1)).values()
    assert record.unparsed and json.loads(record.judge_reply) == {"SC": "", "PQ": PQ_REPLY}


def test_a_judge_that_keeps_failing_stops_the_grading_with_one_line(edits, server: FakeOpenAI, make_judge):
    bench, samples, outputs = edits
    server.fail_next(*[Failure(503, message="overloaded")] * 2)
    with pytest.raises(JudgeError, match=r"gave up after 2 attempts; last: HTTP 503: overloaded") as err:
        bench.grade(samples[:1], outputs[:1], make_judge(max_retries=1, max_concurrency=1))
    assert "\n" not in str(err.value)


def test_a_rerun_is_answered_from_the_cache(edits, server: FakeOpenAI, make_judge):
    bench, samples, outputs = edits
    server.reply = replies({s.question: f'{{"score": [{i + 5}, 9]}}' for i, s in enumerate(samples)})
    first = grade(bench, samples, outputs, make_judge())
    asked = server.count
    assert asked == 2 * len(samples)
    again = grade(bench, samples, outputs, make_judge())  # a new judge on the same cache folder
    assert server.count == asked and again == first
    assert sorted(r.values["SC"] for r in first.values()) == [5.0, 6.0, 7.0, 8.0]
