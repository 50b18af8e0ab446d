"""The openai: backend: a served model through the judge client, end to end with the loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sgt_eval.errors import UserError
from sgt_eval.models import load_model
from sgt_eval.models.base import Query

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "judges"))
from fake_openai import KEY_ENV, SECRET_KEY, Failure, FakeOpenAI  # noqa: E402


def yes_if_red(body: dict) -> str:
    text = " ".join(p.get("text", "") for p in body["messages"][-1]["content"] if isinstance(p, dict))
    return "Yes." if "red" in text else "No."


def test_a_run_against_a_served_model_resumes_from_its_records_and_cache(tmp_path):
    with FakeOpenAI(reply=yes_if_red) as server:
        args = [sys.executable, "-m", "sgt_eval", "run", "--model", "openai:served", "--model-args",
                f"base_url={server.base_url},api_key_env={KEY_ENV}", "--bench", "pope", "--limit", "12",
                "--batch-size", "6", "--out", str(tmp_path / "run")]
        env = {**os.environ, KEY_ENV: SECRET_KEY}
        first = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
        assert first.returncode == 0, first.stderr
        asked = server.count
        assert asked == 12
        (tmp_path / "run" / "pope" / "predictions.jsonl").unlink()  # records gone: answers come from the cache
        again = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
        assert again.returncode == 0, again.stderr
        assert server.count == asked
    rows = [json.loads(line) for line in (tmp_path / "run" / "pope" / "predictions.jsonl").read_text().splitlines()]
    assert {r["output"] for r in rows} <= {"Yes.", "No."} and len(rows) == 12
    manifest = (tmp_path / "run" / "run.json").read_text()
    assert SECRET_KEY not in manifest and json.loads(manifest)["model"]["served_model"] == "served"


def test_a_refused_request_is_one_clear_error_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET_KEY)
    monkeypatch.setenv("SGT_EVAL_CACHE", str(tmp_path))
    with FakeOpenAI() as server:
        server.fail_next(Failure(status=404, message=f"model 'nope' not found (key {SECRET_KEY})"))
        model = load_model("openai:nope", {"base_url": server.base_url, "api_key_env": KEY_ENV}, 0)
        with pytest.raises(UserError) as caught:
            model.answer([Query("Is there a cat?")], max_new_tokens=4)
    message = str(caught.value)
    assert message.startswith("model request to") and "HTTP 404" in message and SECRET_KEY not in message


def test_bad_served_arguments_are_user_errors(monkeypatch):
    with pytest.raises(UserError, match="needs the served model's name"):
        load_model("openai", {}, 0)
    with pytest.raises(UserError, match="is not an http"):
        load_model("openai:m", {"base_url": "localhost:8000"}, 0)
    with pytest.raises(UserError, match="not an option of the openai backend"):
        load_model("openai:m", {"colour": "red"}, 0)
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    model = load_model("openai:m", {"base_url": "https://api.example.com/v1", "api_key_env": "NO_SUCH_KEY"}, 0)
    with pytest.raises(UserError, match="--model-args api_key_env=NAME"):
        model.answer([Query("hi")], max_new_tokens=2)
