"""The user's clone of an upstream model repository (BAGEL, OmniGen2): find it, import from it, name it.

Neither model family is in transformers or diffusers, so their adapters import the upstream code
from a clone the user made (``--model-args repo=PATH`` or an environment variable). Nothing of it
is copied into sgt-eval; ``run.json`` records the clone's path and git commit.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sgt_eval.errors import UserError
from sgt_eval.manifest import git_revision


@dataclass(frozen=True)
class Upstream:
    """What a backend needs from a clone.

    Attributes
    ----------
    backend
        The backend name (``bagel``), used in messages.
    url
        Where to clone it from.
    env
        Environment variables that may name the clone, in order of preference.
    markers
        Files (relative to the clone) that only a real clone has; also the modules' folders.
    packages
        Top-level packages the adapter imports from the clone; each must resolve inside it.
    """

    backend: str
    url: str
    env: tuple[str, ...]
    markers: tuple[str, ...]
    packages: tuple[str, ...]

    def named(self, given: str | None) -> bool:
        """Whether ``repo=`` or the environment names a clone (optional clones: OmniGen2's image path)."""
        return bool(given) or any(os.environ.get(name) for name in self.env)

    def locate(self, given: str | None) -> Path:
        """The clone from ``repo=`` or the environment; a clear error naming both when there is none."""
        source, path = ("--model-args repo", given) if given else next(
            ((f"${name}", os.environ[name]) for name in self.env if os.environ.get(name)), (None, None))
        how = (f"pass --model-args repo=/path/to/clone or set {self.env[0]} "
               f"(git clone {self.url}; sgt-eval never copies upstream code)")
        if path is None:
            raise UserError(f"the {self.backend} backend needs your clone of {self.url}: {how}")
        clone = Path(path).expanduser().resolve()
        missing = [m for m in self.markers if not (clone / m).is_file()]
        if missing:
            raise UserError(f"{source}={path} is not a clone of {self.url} ({missing[0]} is missing); {how}")
        return clone

    def load(self, clone: Path, modules: Sequence[str]) -> list[ModuleType]:
        """Import ``modules`` from the clone (put first on ``sys.path``); refuse modules found elsewhere.

        The upstream packages have generic names (``modeling``, ``data``), so a module of the same
        name imported earlier from somewhere else would silently shadow the clone.
        """
        if str(clone) not in sys.path:
            sys.path.insert(0, str(clone))
        for package in self.packages:
            found = sys.modules.get(package)
            origin = getattr(found, "__file__", None) or ""
            if found is not None and not Path(origin).resolve().is_relative_to(clone):
                raise UserError(f"a module named {package!r} from {origin or 'elsewhere'} is already imported and "
                                f"shadows {clone / package}; run sgt-eval in a fresh process")
        try:
            return [importlib.import_module(name) for name in modules]
        except ImportError as err:
            raise UserError(f"importing {err.name or 'a module'} for the {self.backend} backend failed "
                            f"({str(err).splitlines()[0]}); install what {clone} requires "
                            f"(its requirements.txt) into this environment") from err

    def describe(self, clone: Path) -> dict[str, Any]:
        """For ``run.json``: ``repo`` (where the clone is; may change when a run is resumed elsewhere) and
        ``upstream`` (its commit, which must not)."""
        return {"repo": str(clone), "upstream": {"url": self.url, "git": git_revision(clone)}}
