"""Reducers: turn one layer's (B, N, D) hidden states, or its attention, into small per-sample tensors.

They run on the model's device inside the traced forward pass; only their outputs leave it. Hidden
reducers see every decoder layer's output plus the first layer's input, in transformers'
``hidden_states`` convention: index 0 is the embedding layer (at visual positions, the vision
tower's output after its merger/projector, as the language model receives it), index i the output
of decoder layer i - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from probes.attention import KEY_CATEGORIES, SINK_RATIO


@dataclass
class TraceBatch:
    """Where things are in one traced batch (B samples, N positions).

    Attributes
    ----------
    category
        (B, N) long: each position's index in ``KEY_CATEGORIES``; -1 for padding.
    prompt
        (B, N) bool: the question's tokens (the words the user wrote).
    answer
        (B, N) bool: the teacher-forced answer's tokens (all False without answers).
    last
        (B,) long: the last position before the answer (the token the answer is predicted from).
    """

    category: torch.Tensor
    prompt: torch.Tensor
    answer: torch.Tensor
    last: torch.Tensor


class Reducer:
    """One hidden-state summary per sample and layer; subclasses implement :meth:`reduce`."""

    name = ""

    def reduce(self, hidden: torch.Tensor, batch: TraceBatch) -> torch.Tensor:
        """(B, N, D) -> (B, D)."""
        raise NotImplementedError

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "kind": type(self).__name__}


class SpanMean(Reducer):
    """Mean over the positions of one key category: ``visual`` (image tokens) or a word category."""

    def __init__(self, category: str = "visual") -> None:
        if category not in KEY_CATEGORIES:
            raise ValueError(f"category {category!r} is not one of {', '.join(KEY_CATEGORIES)}")
        self.category = category
        self.name = "visual" if category == "visual" else f"words:{category}"

    def reduce(self, hidden: torch.Tensor, batch: TraceBatch) -> torch.Tensor:
        where = (batch.category == KEY_CATEGORIES.index(self.category)).to(hidden.dtype)  # (B, N)
        total = torch.einsum("bnd,bn->bd", hidden, where)
        return total / where.sum(-1, keepdim=True).clamp(min=1)     # a sample without such tokens gets zeros


class LastPrompt(Reducer):
    """The hidden state of the last prompt token, from which the answer is predicted."""

    name = "last"

    def reduce(self, hidden: torch.Tensor, batch: TraceBatch) -> torch.Tensor:
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), batch.last]  # (B, D)


@dataclass(frozen=True)
class AttentionShares:
    """Per layer and head, the share of the query rows' attention on each key category (see probes.attention).

    ``query`` picks the rows: ``prompt`` (the question's tokens), ``answer`` (teacher-forced answer
    tokens) or ``last`` (the last prompt token).
    """

    query: str = "prompt"
    sink_ratio: float = SINK_RATIO
    name: str = "attention"

    def __post_init__(self) -> None:
        if self.query not in ("prompt", "answer", "last"):
            raise ValueError(f"attention query rows {self.query!r} are not one of prompt, answer, last")

    def rows_mask(self, batch: TraceBatch) -> torch.Tensor:
        """(B, N) bool: the query rows of each sample."""
        if self.query == "prompt":
            return batch.prompt
        if self.query == "answer":
            return batch.answer
        mask = torch.zeros_like(batch.prompt)
        mask[torch.arange(mask.shape[0], device=mask.device), batch.last] = True
        return mask

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "kind": type(self).__name__, "query": self.query, "sink_ratio": self.sink_ratio,
                "categories": list(KEY_CATEGORIES)}


def parse_reducers(text: str, query: str = "prompt") -> list[Reducer | AttentionShares]:
    """``"visual,last,words:object,attention"`` -> reducer objects (the CLI's ``--reducers``)."""
    made: list[Reducer | AttentionShares] = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        if name == "attention":
            made.append(AttentionShares(query=query))
        elif name == "last":
            made.append(LastPrompt())
        elif name == "visual" or name.startswith("words:"):
            made.append(SpanMean(name.removeprefix("words:")))
        else:
            raise ValueError(f"reducer {name!r} is not one of visual, last, words:<category>, attention")
    return made
