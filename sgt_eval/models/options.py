"""``--model-args`` values: parsers that turn ``KEY=VALUE`` strings into typed options, one clear error each.

A backend declares ``OPTIONS = {"steps": count, "cfg_text": number, ...}`` and calls
:func:`parse_options`; an unknown key or a bad value is a :class:`~sgt_eval.errors.UserError` naming the
key and the fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sgt_eval.errors import UserError

if TYPE_CHECKING:
    import torch

Parser = Callable[[str, str], Any]
T = TypeVar("T")


def count(name: str, text: str) -> int:
    """A whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"--model-args {name}={text!r} must be a whole number of at least 1")
    return int(text)


def side(name: str, text: str) -> int:
    """An image side in pixels: a multiple of 8."""
    value = count(name, text)
    if value % 8:
        raise UserError(f"--model-args {name}={text!r} must be a multiple of 8 (e.g. {max(8, value // 8 * 8)})")
    return value


def number(name: str, text: str) -> float:
    """A number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--model-args {name}={text!r} must be a number (e.g. {name}=5.0)") from None
    if not value >= 0:
        raise UserError(f"--model-args {name}={text!r} must be a number of at least 0")
    return value


def fraction(name: str, text: str) -> float:
    """A number in [0, 1]."""
    value = number(name, text)
    if value > 1:
        raise UserError(f"--model-args {name}={text!r} must be between 0 and 1")
    return value


def span(name: str, text: str) -> tuple[float, float]:
    """``"0.4:1.0"``: a start and an end in [0, 1], start <= end (cfg intervals)."""
    start, sep, end = text.partition(":")
    if not sep:
        raise UserError(f"--model-args {name}={text!r} must be START:END, e.g. {name}=0.4:1.0")
    low, high = fraction(name, start), fraction(name, end)
    if low > high:
        raise UserError(f"--model-args {name}={text!r}: the start must not exceed the end")
    return low, high


def flag(name: str, text: str) -> bool:
    """true/false, yes/no, 1/0."""
    if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
        raise UserError(f"--model-args {name}={text!r} must be true or false")
    return text.lower() in ("1", "true", "yes")


def text(name: str, value: str) -> str:
    """Any string (paths, names, devices)."""
    return value


def choice(*allowed: str) -> Parser:
    """A parser accepting exactly one of ``allowed``."""
    def parse(name: str, value: str) -> str:
        if value not in allowed:
            raise UserError(f"--model-args {name}={value!r} must be one of {', '.join(allowed)}")
        return value
    return parse


def parse_options(backend: str, options: Mapping[str, Parser], model_args: Mapping[str, str]) -> dict[str, Any]:
    """Typed options from ``--model-args``; an unknown key names the backend's known ones."""
    unknown = sorted(set(model_args) - set(options))
    if unknown:
        raise UserError(f"--model-args {unknown[0]!r} is not an option of the {backend} backend (known: {', '.join(options)})")
    return {key: options[key](key, value) for key, value in model_args.items()}


def per_task(parsers: Mapping[str, Parser]) -> dict[str, Parser]:
    """Sampler options for text-to-image as named, and for editing with an ``edit_`` prefix."""
    return {**parsers, **{f"edit_{name}": parser for name, parser in parsers.items()}}


def task_samplers(given: dict[str, Any], generate: T, edit: T) -> dict[str, T]:
    """Take the sampler options out of ``given``: ``{"generate": ..., "edit": ...}`` frozen dataclasses,
    the defaults with the user's values put in (``cfg_text`` for text-to-image, ``edit_cfg_text`` for edits)."""
    made = {}
    for task, default, prefix in (("generate", generate, ""), ("edit", edit, "edit_")):
        fields = [f.name for f in dataclasses.fields(default)]  # type: ignore[arg-type]
        made[task] = dataclasses.replace(default, **{f: given.pop(prefix + f) for f in fields if prefix + f in given})  # type: ignore[type-var]
    return made


def plain(settings: Any) -> dict[str, Any]:
    """A sampler dataclass as run.json stores it (tuples become lists), so a resumed run compares equal."""
    import json

    return json.loads(json.dumps(dataclasses.asdict(settings)))


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:1``...; CUDA must be present."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--model-args device={name!r} is not a device (auto, cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--model-args device={name!r}: CUDA is not available here; use device=cpu")
    return device
