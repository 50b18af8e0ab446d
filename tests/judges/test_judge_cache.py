"""The judge's disk cache through the real client: hits, misses, stored JSON, concurrency, and no key anywhere."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from fake_openai import SECRET_KEY, Failure, FakeOpenAI

from sgt_eval.judges import JudgeRequest
from sgt_eval.judges.client import JudgeConfig, OpenAIJudge


def entries(cache: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(cache.rglob("*.json"))]


def test_second_identical_call_is_served_from_the_cache(make_judge, server: FakeOpenAI, png: bytes) -> None:
    requests = [JudgeRequest("a", images=(png,), prompt_version="v1"), JudgeRequest("b", prompt_version="v1")]
    first = make_judge().ask_many(requests)
    assert server.count == 2
    assert make_judge().ask_many(requests) == first  # a new judge object: the hit comes from disk
    assert server.count == 2


def test_cached_requests_never_reach_the_network(make_judge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_judge().ask_many([JudgeRequest("a", prompt_version="v1")])
    # Same model, unreachable endpoint, no key: only a cache hit can answer.
    monkeypatch.delenv("SGT_TEST_JUDGE_KEY")
    offline = OpenAIJudge(JudgeConfig(base_url="https://judge.example.invalid/v1", model="judge-model",
                                      api_key_env="SGT_TEST_JUDGE_KEY"), tmp_path / "cache")
    assert offline.ask_many([JudgeRequest("a", prompt_version="v1")]) == ["judged: a"]


@pytest.mark.parametrize("changed", ["prompt_version", "image", "text", "temperature", "max_tokens", "model"])
def test_anything_that_changes_the_reply_misses_the_cache(make_judge, server: FakeOpenAI, tmp_path: Path,
                                                          png: bytes, jpeg: bytes, changed: str) -> None:
    base = JudgeRequest("a", images=(png,), prompt_version="v1")
    make_judge().ask_many([base])
    request = {"prompt_version": JudgeRequest("a", images=(png,), prompt_version="v2"),
               "image": JudgeRequest("a", images=(jpeg,), prompt_version="v1"),
               "text": JudgeRequest("a ", images=(png,), prompt_version="v1")}.get(changed, base)
    config = {"temperature": {"temperature": 0.7}, "max_tokens": {"max_tokens": 9},
              "model": {"model": "other-judge"}}.get(changed, {})
    make_judge(**config).ask_many([request])
    assert server.count == 2
    assert len(entries(tmp_path / "cache")) == 2


def test_entry_holds_the_raw_completion_and_the_reply(make_judge, server: FakeOpenAI) -> None:
    judge = make_judge()
    judge.ask_many([JudgeRequest("a", prompt_version="hallusion@v1")])
    [entry] = entries(judge.cache.root)
    [response] = server.responses
    assert entry["response"] == response  # the whole object the server sent, fields the SDK ignores included
    assert entry["reply"] == "judged: a"
    assert entry["model"] == "judge-model" and entry["prompt_version"] == "hallusion@v1"


def test_empty_replies_are_not_cached(server: FakeOpenAI, make_judge) -> None:
    server.reply = lambda body: ""
    judge = make_judge()
    assert judge.ask_many([JudgeRequest("a")]) == [""]
    assert judge.ask_many([JudgeRequest("a")]) == [""]
    assert server.count == 2
    assert entries(judge.cache.root) == []


def test_a_damaged_entry_is_a_miss_and_is_rewritten(make_judge, server: FakeOpenAI) -> None:
    judge = make_judge()
    judge.ask_many([JudgeRequest("a")])
    [path] = judge.cache.root.rglob("*.json")
    path.write_text('{"reply": "judged: a", "model": "judge-model"', encoding="utf-8")  # torn
    assert judge.ask_many([JudgeRequest("a")]) == ["judged: a"]
    assert server.count == 2
    assert json.loads(path.read_text(encoding="utf-8"))["reply"] == "judged: a"


def test_two_judges_racing_on_one_cache_leave_whole_entries(make_judge, server: FakeOpenAI) -> None:
    server.hold_s = 0.02
    requests = [JudgeRequest(f"q{i}", prompt_version="v1") for i in range(12)]
    judges = [make_judge(max_concurrency=4), make_judge(max_concurrency=4)]
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda j=j: results.append(j.ask_many(requests))) for j in judges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = [f"judged: q{i}" for i in range(12)]
    assert results == [expected, expected]
    root = judges[0].cache.root
    assert sorted(e["reply"] for e in entries(root)) == sorted(expected)
    assert [p for p in root.rglob("*") if p.is_file() and p.suffix != ".json"] == []  # no temporary files left


def test_the_key_is_nowhere_but_the_authorization_header(make_judge, server: FakeOpenAI, png: bytes,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    server.fail_next(Failure(429, message=f"slow down, {SECRET_KEY}"), Failure(500))
    judge = make_judge()
    with caplog.at_level(logging.DEBUG):
        judge.ask_many([JudgeRequest("a", images=(png,), prompt_version="v1"), JudgeRequest("b")])
    assert "retry 1/6" in caplog.text  # the retries were logged ...
    assert SECRET_KEY not in caplog.text  # ... without the key the server echoed
    cache_bytes = b"".join(p.read_bytes() for p in judge.cache.root.rglob("*") if p.is_file())
    assert cache_bytes and SECRET_KEY.encode() not in cache_bytes
    assert SECRET_KEY not in json.dumps(judge.describe())
    assert SECRET_KEY not in repr(vars(judge)) and SECRET_KEY not in repr(judge.config)
