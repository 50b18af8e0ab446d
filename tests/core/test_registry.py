from __future__ import annotations

import pytest

from benchmarks import BENCHMARKS, resolve_selection
from sgt_eval.errors import UserError
from sgt_eval.models import BACKENDS
from sgt_eval.models.base import parse_model_args


def test_unknown_benchmark_suggests_the_close_name():
    with pytest.raises(UserError, match="unknown benchmark 'popee'; did you mean 'pope'"):
        BENCHMARKS.entry("popee")


def test_unknown_backend_suggests_the_close_name():
    with pytest.raises(UserError, match="did you mean 'tiny-random'"):
        BACKENDS.entry("tiny-randm")


def test_selection_by_suite_and_by_list():
    assert resolve_selection("understanding", None) == ["cvbench", "mmvp", "vsr", "pope", "hallusionbench"]
    assert resolve_selection(None, "pope, vsr") == ["pope", "vsr"]
    with pytest.raises(UserError, match="did you mean 'vsr'"):
        resolve_selection(None, "pope,vsrr")
    assert resolve_selection("generation", None) == ["geneval", "gedit"]
    assert resolve_selection("all", None)[-2:] == ["geneval", "gedit"]
    with pytest.raises(UserError, match="unknown suite 'everything'"):
        resolve_selection("everything", None)


def test_model_args_parse_and_reject_garbage():
    assert parse_model_args("dtype=bfloat16, device=cuda") == {"dtype": "bfloat16", "device": "cuda"}
    assert parse_model_args("") == {}
    with pytest.raises(UserError, match="not KEY=VALUE"):
        parse_model_args("dtype")
