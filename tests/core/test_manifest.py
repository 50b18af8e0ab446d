from __future__ import annotations

import pytest

from sgt_eval import manifest
from sgt_eval.errors import UserError


def run_manifest(**overrides):
    base = {
        "updated": "2026-01-01T00:00:00+00:00",
        "seed": 0,
        "model": {"spec": "tiny-random", "checkpoint": {"sha256": "abc"}, "dtype": "float32",
                  "attn_implementation": "eager", "device": "cpu"},
        "benchmarks": {"pope": {"settings": {"protocol": "official"}, "data": {"files": {"a": "1"}}, "grader": "rules"}},
    }
    for key, value in overrides.items():
        base[key] = value
    return base


def test_first_manifest_gets_created_time():
    merged = manifest.merge(None, run_manifest())
    assert merged["created"] == merged["updated"]


def test_resume_keeps_created_and_adds_benchmarks():
    first = manifest.merge(None, run_manifest())
    later = run_manifest(updated="2026-02-02T00:00:00+00:00", benchmarks={
        "vsr": {"settings": {"protocol": "official"}, "data": {}, "grader": "rules"}})
    merged = manifest.merge(first, later)
    assert merged["created"] == first["created"]
    assert set(merged["benchmarks"]) == {"pope", "vsr"}


def test_a_device_change_is_allowed_but_weights_are_not():
    first = manifest.merge(None, run_manifest())
    moved = run_manifest(model={**run_manifest()["model"], "device": "cuda"})
    manifest.merge(first, moved)
    other = run_manifest(model={**run_manifest()["model"], "checkpoint": {"sha256": "zzz"}})
    with pytest.raises(UserError, match="model.checkpoint"):
        manifest.merge(first, other)


@pytest.mark.parametrize("key,value", [("settings", {"protocol": "vlmevalkit"}), ("data", {"files": {"a": "2"}}),
                                       ("grader", "judge:gpt-4o")])
def test_changing_what_scores_a_benchmark_refuses_to_resume(key, value):
    first = manifest.merge(None, run_manifest())
    changed = run_manifest()
    changed["benchmarks"]["pope"][key] = value
    with pytest.raises(UserError, match=f"benchmarks.pope.{key}"):
        manifest.merge(first, changed)


def test_environment_names_package_versions_and_no_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    env = manifest.environment()
    assert env["packages"]["numpy"]
    assert "sk-secret-value" not in repr(env)


def test_a_different_sampler_setting_refuses_to_resume():
    first = manifest.merge(None, run_manifest(model={**run_manifest()["model"], "steps": 4, "guidance": 7.5}))
    with pytest.raises(UserError, match="model.steps"):
        manifest.merge(first, run_manifest(model={**run_manifest()["model"], "steps": 8, "guidance": 7.5}))
