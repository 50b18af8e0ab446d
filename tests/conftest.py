"""Shared fixtures. Tests never download: real benchmark metadata comes from ../shared/data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Tiny models and the data world are built once per test session, never into the user's cache.
os.environ.setdefault("SGT_EVAL_CACHE", tempfile.mkdtemp(prefix="sgt-eval-test-cache-"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark metadata files that sit beside the project (see ../shared/data/README.md)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real benchmark files not found at {SHARED_DATA} (they sit beside the repository in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny-random model (built offline on first use), loaded through the hf adapter."""
    from sgt_eval.models import load_model

    return load_model("tiny-random", {}, 0)
