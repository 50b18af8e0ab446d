"""``run.json``: what produced a run, and the check that a resumed run is the same run.

Everything that can change a number is recorded (weights fingerprint, dtype, attention
implementation, benchmark protocol/options, data hashes, judge and prompt version, package
versions, git SHA). API keys never appear: the judge is described by model and endpoint only.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from sgt_eval import __version__
from sgt_eval.errors import UserError

PACKAGES = ("torch", "transformers", "tokenizers", "accelerate", "numpy", "pillow", "openai")
# Model fields that may change when a run is resumed (where it runs, not what it computes);
# any other field of the model's description (weights, dtype, attention, sampler steps, cfg,
# size...) must stay the same.
RESUME_NEUTRAL = frozenset({"args", "path", "repo", "device", "device_map", "cpu_offload", "torch", "transformers",
                            "diffusers"})


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def environment() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"sgt_eval": __version__, "git": git_revision(), "python": sys.version.split()[0],
            "platform": platform.platform(), "packages": versions}


def git_revision(folder: Path | None = None) -> dict[str, Any] | None:
    """The commit of ``folder`` (default: the sgt-eval source in use); None when it is not a git checkout."""
    here = folder or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"sha": sha, "dirty": bool(dirty)}


def merge(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """The manifest to write when (re)starting a run; refuses to mix different runs in one folder.

    Benchmarks may be added to an existing run; a benchmark already in it must keep its settings,
    data and grader, and the model must be the same weights with the same numerics.
    """
    if previous is None:
        return {**current, "created": current["updated"]}
    old_model, new_model = previous.get("model", {}), current["model"]
    for key in sorted((set(old_model) | set(new_model)) - RESUME_NEUTRAL):
        if old_model.get(key) != new_model.get(key):
            raise UserError(different_run("model." + key, old_model.get(key), new_model.get(key)))
    if previous.get("seed") != current.get("seed"):
        raise UserError(different_run("seed", previous.get("seed"), current.get("seed")))
    benchmarks = dict(previous.get("benchmarks", {}))
    for name, entry in current["benchmarks"].items():
        old_entry = benchmarks.get(name)
        if old_entry is not None:
            for key in ("settings", "generation", "data", "grader"):
                if old_entry.get(key) != entry.get(key):
                    raise UserError(different_run(f"benchmarks.{name}.{key}", old_entry.get(key), entry.get(key)))
        benchmarks[name] = entry
    probes = {**previous.get("probes", {}), **current.get("probes", {})}  # each capture guards its own plan
    # keys only the other command writes (a probe run has no judge, a benchmark run no probes) are kept
    return {**previous, **current, "created": previous.get("created", current["updated"]), "benchmarks": benchmarks,
            **({"probes": probes} if probes else {})}


def different_run(field: str, old: Any, new: Any) -> str:
    return (f"run.json: {field} was {short(old)} and is now {short(new)}; this --out folder holds a different run "
            f"(use a new --out, or delete the folder to start over)")


def short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
