"""The judge client against a real local HTTP server: request shape, order, retry policy, errors, concurrency."""

from __future__ import annotations

import base64
import email.utils
import socket
import time

import pytest
from fake_openai import KEY_ENV, SECRET_KEY, Failure, FakeOpenAI

from sgt_eval.errors import UserError
from sgt_eval.judges import JudgeRequest
from sgt_eval.judges.client import JudgeConfig, JudgeError, OpenAIJudge, retry_after


def test_replies_come_back_in_request_order(make_judge, server: FakeOpenAI) -> None:
    texts = [f"question {i}" for i in range(7)]
    replies = make_judge().ask_many([JudgeRequest(t, prompt_version="v1") for t in texts])
    assert replies == [f"judged: {t}" for t in texts]
    assert server.count == 7


def test_request_body_has_model_settings_text_then_image_data_urls(make_judge, server: FakeOpenAI,
                                                                    png: bytes, jpeg: bytes) -> None:
    judge = make_judge(temperature=0.25, max_tokens=77)
    replies = judge.ask_many([JudgeRequest("look", images=(png, jpeg), prompt_version="v1"),
                              JudgeRequest("text only", prompt_version="v1")])
    assert replies == ["judged: look [2 images]", "judged: text only"]
    bodies = {str(b["messages"][0]["content"])[:40]: b for b in server.bodies}
    with_images = next(b for key, b in bodies.items() if "look" in key)
    assert with_images["model"] == "judge-model"
    assert with_images["temperature"] == 0.25 and with_images["max_tokens"] == 77
    [message] = with_images["messages"]
    assert message["role"] == "user"
    text, first, second = message["content"]
    assert text == {"type": "text", "text": "look"}
    for part, data, mime in ((first, png, "image/png"), (second, jpeg, "image/jpeg")):
        assert part["type"] == "image_url"
        prefix, encoded = part["image_url"]["url"].split(",", 1)
        assert prefix == f"data:{mime};base64"
        assert base64.b64decode(encoded) == data
    text_only = next(b for key, b in bodies.items() if "text only" in key)
    assert text_only["messages"] == [{"role": "user", "content": "text only"}]
    # The key is read from the environment and sent only as the bearer token.
    assert {h["authorization"] for h in server.headers} == {f"Bearer {SECRET_KEY}"}


def test_image_that_is_neither_png_nor_jpeg_is_refused_before_sending(make_judge, server: FakeOpenAI) -> None:
    with pytest.raises(JudgeError, match="image 0 is neither PNG nor JPEG"):
        make_judge().ask_many([JudgeRequest("look", images=(b"GIF89a....",), prompt_version="v1")])
    assert server.count == 0


@pytest.mark.parametrize("failures", [
    [Failure(429)],
    [Failure(500)],
    [Failure(503)],
    [Failure(delay_s=1.0)],  # a reply later than the 0.3 s timeout
    [Failure(429), Failure(502), Failure(delay_s=1.0), Failure(503)],
], ids=["429", "500", "503", "timeout", "mixed"])
def test_transient_failures_are_retried_until_success(make_judge, server: FakeOpenAI, sleeps: list[float],
                                                      failures: list[Failure]) -> None:
    server.fail_next(*failures)
    assert make_judge(timeout_s=0.3).ask_many([JudgeRequest("q", prompt_version="v1")]) == ["judged: q"]
    assert server.count == len(failures) + 1
    assert len(sleeps) == len(failures)


def test_retry_after_header_is_honoured(make_judge, server: FakeOpenAI, sleeps: list[float]) -> None:
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server.fail_next(Failure(429, retry_after="3"), Failure(503, retry_after="0"), Failure(429, retry_after=later))
    assert make_judge(backoff_max_s=40.0).ask_many([JudgeRequest("q")]) == ["judged: q"]
    # As given by the server (no jitter), an HTTP date an hour ahead capped at backoff_max_s.
    assert sleeps == [3.0, 0.0, 40.0]


def test_backoff_doubles_with_jitter_up_to_the_cap(make_judge, server: FakeOpenAI, sleeps: list[float]) -> None:
    server.fail_next(*[Failure(500)] * 5)
    make_judge(backoff_initial_s=1.0, backoff_max_s=5.0).ask_many([JudgeRequest("q")])
    caps = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(sleeps) == 5
    for wait, cap in zip(sleeps, caps):
        assert cap / 2 <= wait <= cap
    assert len(set(sleeps)) == 5  # jittered, not a fixed ladder


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_fail_at_once_without_the_key(make_judge, server: FakeOpenAI, sleeps: list[float],
                                                    status: int) -> None:
    # Real servers echo the key they got; the message must not carry it on.
    server.fail_next(Failure(status, message=f"Incorrect API key provided: {SECRET_KEY}.\nSee docs."))
    judge = make_judge()
    with pytest.raises(JudgeError) as caught:
        judge.ask_many([JudgeRequest("q")])
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert server.count == 1 and sleeps == []
    assert SECRET_KEY not in message and "\n" not in message
    assert f"{server.base_url}/chat/completions" in message
    assert "judge-model" in message and f"HTTP {status}" in message and "Incorrect API key provided" in message


def test_exhausted_retries_raise_with_the_last_reason(make_judge, server: FakeOpenAI, sleeps: list[float]) -> None:
    server.fail_next(*[Failure(503, message="overloaded")] * 3)
    with pytest.raises(JudgeError, match=r"gave up after 3 attempts; last: HTTP 503: overloaded"):
        make_judge(max_retries=2).ask_many([JudgeRequest("q")])
    assert server.count == 3 and len(sleeps) == 2


@pytest.mark.parametrize("raw", [
    b'{"choices": []}',
    b'{"choices": [{"message": {"role": "assistant", "content": null}, "finish_reason": "length"}]}',
    b'{"object": "chat.completion"}',
])
def test_completions_without_text_give_an_empty_reply(make_judge, server: FakeOpenAI, raw: bytes,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    server.fail_next(Failure(raw=raw))
    assert make_judge().ask_many([JudgeRequest("q")]) == [""]
    assert "returned an empty reply" in caplog.text


def test_a_200_that_is_not_json_is_an_error(make_judge, server: FakeOpenAI, sleeps: list[float]) -> None:
    server.fail_next(Failure(raw=b"<html>captive portal</html>"))
    with pytest.raises(JudgeError, match="HTTP 200 with a body that is not JSON"):
        make_judge().ask_many([JudgeRequest("q")])
    assert server.count == 1 and sleeps == []


def test_connection_refused_is_retried_then_reported(tmp_path, sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = JudgeConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key_env="SGT_TEST_UNSET_KEY",
                         max_retries=2, backoff_initial_s=0.01)
    with pytest.raises(JudgeError, match="gave up after 3 attempts; last: connection failed"):
        OpenAIJudge(config, tmp_path, sleep=sleeps.append).ask_many([JudgeRequest("q")])
    assert len(sleeps) == 2


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrency_never_exceeds_the_limit(make_judge, server: FakeOpenAI, limit: int) -> None:
    server.hold_s = 0.1
    texts = [f"q{i}" for i in range(3 * limit + 2)]
    replies = make_judge(max_concurrency=limit).ask_many([JudgeRequest(t) for t in texts])
    assert replies == [f"judged: {t}" for t in texts]
    assert server.count == len(texts)
    # Held 0.1 s each, the workers overlap: the limit is reached and never passed.
    assert server.max_in_flight == limit


def test_identical_requests_in_one_batch_are_sent_once(make_judge, server: FakeOpenAI) -> None:
    requests = [JudgeRequest("same", prompt_version="v1")] * 4 + [JudgeRequest("other", prompt_version="v1")]
    assert make_judge().ask_many(requests) == ["judged: same"] * 4 + ["judged: other"]
    assert server.count == 2


def test_missing_key_variable_is_a_clear_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SGT_TEST_UNSET_KEY", raising=False)
    config = JudgeConfig(base_url="https://judge.example.invalid/v1", model="m", api_key_env="SGT_TEST_UNSET_KEY")
    with pytest.raises(UserError, match="environment variable SGT_TEST_UNSET_KEY, which is not set"):
        OpenAIJudge(config, tmp_path).ask_many([JudgeRequest("q")])


def test_local_endpoint_needs_no_key(make_judge, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    judge = make_judge()
    monkeypatch.delenv(KEY_ENV)
    assert judge.ask_many([JudgeRequest("q")]) == ["judged: q"]
    assert server.headers[0]["authorization"] == "Bearer EMPTY"


def test_id_and_describe(make_judge, server: FakeOpenAI) -> None:
    judge = make_judge(temperature=0.5, max_tokens=64)
    assert judge.id == f"judge-model@{server.base_url}"
    judge.ask_many([JudgeRequest("a", prompt_version="pope@v2"), JudgeRequest("b", prompt_version="hallusion@v1")])
    assert judge.describe() == {"id": judge.id, "model": "judge-model", "base_url": server.base_url,
                                "temperature": 0.5, "max_tokens": 64,
                                "prompt_versions": ["hallusion@v1", "pope@v2"]}


@pytest.mark.parametrize("fields, field", [
    ({"base_url": "api.openai.com/v1"}, "not an http"),
    ({"model": ""}, "model name is empty"),
    ({"max_concurrency": 0}, "max_concurrency must be >= 1"),
])
def test_bad_config_is_refused(fields: dict, field: str) -> None:
    with pytest.raises(UserError, match=field):
        JudgeConfig(**{"base_url": "http://127.0.0.1:1/v1", "model": "m", **fields})


def test_retry_after_parsing() -> None:
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after(None) is None and retry_after("") is None and retry_after("soon") is None
    assert retry_after("2.5") == 2.5 and retry_after("-4") == 0.0 and retry_after(past) == 0.0
    assert 25 <= retry_after(soon) <= 30


def test_credentials_in_the_base_url_are_refused():
    from sgt_eval.errors import UserError
    from sgt_eval.judges.client import JudgeConfig

    with pytest.raises(UserError, match="contains credentials"):
        JudgeConfig(base_url="https://user:secret@example.com/v1", model="m")


def test_temperature_none_is_left_out_of_the_request(make_judge, server: FakeOpenAI) -> None:
    """Upstream GEdit-Bench scoring sends no temperature; the server's default then applies."""
    judge = make_judge(temperature=None, max_tokens=1400)
    judge.ask_many([JudgeRequest("rate this", prompt_version="v")])
    assert "temperature" not in server.bodies[-1] and server.bodies[-1]["max_tokens"] == 1400
    assert judge.describe()["temperature"] is None
