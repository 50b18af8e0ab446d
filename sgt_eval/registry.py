"""A small registry of lazily imported targets, so listing names never imports torch."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Generic, TypeVar

from sgt_eval.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute", imported only when the entry is used
    summary: str


class Registry(Generic[T]):
    """Names mapped to ``"module:attr"`` strings; ``load`` imports on first use.

    Parameters
    ----------
    kind
        What the entries are ("benchmark", "model backend"); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, target: str, summary: str) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, target, summary)

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def entry(self, name: str) -> Entry:
        if name not in self._entries:
            raise UserError(unknown_name_message(self.kind, name, self.names()))
        return self._entries[name]

    def load(self, name: str) -> T:
        module_name, _, attr = self.entry(name).target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})"
