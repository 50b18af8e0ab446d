"""One small ShapesWorld (seed 0) shared by the world tests; building it takes a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from sgt_eval.world import build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapesworld") / "seed0"
    build_world(out, seed=0, size="small")
    return out
