"""Where sgt-eval keeps things it builds once and reuses (tiny models, the embedded data world)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$SGT_EVAL_CACHE``, else ``~/.cache/sgt-eval``."""
    return Path(os.environ.get("SGT_EVAL_CACHE") or Path.home() / ".cache" / "sgt-eval")
