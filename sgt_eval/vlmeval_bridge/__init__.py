"""Bridges to VLMEvalKit (the optional ``vlmeval`` extra), both ways.

- :mod:`.models`: any sgt-eval adapter as a VLMEvalKit ``BaseModel`` (``sgt-eval vlmeval``), and
  VLMEvalKit's model zoo as the ``vlmeval:<name>`` backend.
- :mod:`.parity`: the same raw outputs scored by VLMEvalKit's rating code and by our
  ``vlmevalkit`` protocol, with every difference listed (``sgt-eval vlmeval-parity``).

VLMEvalKit imports torchvision at import time; nothing here is imported unless one of these is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from sgt_eval.errors import UserError

INSTALL = ("pip install 'sgt-eval[vlmeval]' (VLMEvalKit; it needs torchvision: on CPU machines use "
           "torch==2.14.1 torchvision==0.29.1, see docs/scale.md)")


def bridge(module: str) -> ModuleType:
    """``sgt_eval.vlmeval_bridge.<module>``, or one clear error when VLMEvalKit cannot be imported."""
    import importlib

    try:
        import vlmeval  # noqa: F401
    except Exception as err:  # VLMEvalKit fails with ImportError, or RuntimeError from a mismatched torchvision
        raise UserError(f"VLMEvalKit cannot be imported here ({type(err).__name__}: {str(err).splitlines()[0]}); "
                        f"{INSTALL}") from err
    return importlib.import_module(f"sgt_eval.vlmeval_bridge.{module}")


def load_zoo(arg: str, model_args: Mapping[str, str], seed: int) -> Any:
    """Backend entry for ``vlmeval:<name>`` (see :class:`sgt_eval.vlmeval_bridge.models.ZooModel`)."""
    return bridge("models").load_zoo(arg, model_args, seed)
