"""Which image regions drive an answer: integrated gradients over the visual tokens (captum).

:func:`attribute` teacher-forces ``answer`` after ``query`` and explains the sum of the answer tokens'
log-probabilities by the visual token embeddings *as the language model receives them*, i.e. the input of
decoder layer 0 at the image placeholder positions. The interpolated embeddings are injected by a forward
pre-hook on that layer, so nothing depends on a vision tower's internals: any adapter whose
:func:`probes.trace.tokenize` marks the visual positions works. One score per visual token (the sum over the
hidden dimension) is laid out on the image's token grid, ready for ``probes.figures.attribution_overlays``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from captum.attr import IntegratedGradients

from probes.attention import KEY_CATEGORIES
from probes.categories import Lexicon
from probes.trace import decoder_layers, tokenize
from sgt_eval.models.base import Query

BASELINES: tuple[str, ...] = ("zeros", "mean")


@dataclass(frozen=True)
class Attribution:
    """Integrated-gradients attribution of one answer to the visual tokens of one image.

    Attributes
    ----------
    grid
        (h, w) float32: one score per visual token, on the image's token grid (row-major token order).
    target
        The answer's log-probability (sum over its tokens) with the real visual embeddings.
    baseline_target
        The same with the baseline embeddings in their place.
    total
        Sum of all attributions; ``target - baseline_target`` up to the integration error (completeness).
    steps
        Number of integration steps.
    method
        ``"integrated-gradients/<baseline>"``.
    """

    grid: np.ndarray
    target: float
    baseline_target: float
    total: float
    steps: int
    method: str


class _VisualInjector:
    """Forward pre-hook state for decoder layer 0: records its input, or swaps in other visual embeddings."""

    def __init__(self, positions: torch.Tensor) -> None:
        self.positions = positions                    # (V,) indices of the visual tokens in the sequence
        self.replacement: torch.Tensor | None = None  # (1, V, D) or None to leave the input alone
        self.seen: torch.Tensor | None = None         # (1, V, D) the real visual input of the last plain pass

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        positional = bool(args)
        states = args[0] if positional else kwargs["hidden_states"]  # (1, N, D)
        if self.replacement is None:
            self.seen = states[:, self.positions].detach()
            return None
        states = states.clone()
        states[:, self.positions] = self.replacement.to(states.dtype)  # (1, V, D), keeps the graph to replacement
        if positional:
            return (states, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": states}


@contextmanager
def _frozen_for_attribution(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no parameter gradients (only the injected embeddings need a graph); restored afterwards."""
    training = model.training
    requires = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in requires:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in requires:
            p.requires_grad_(flag)
        model.train(training)


def attribute(adapter: Any, query: Query, answer: str, *, steps: int = 32, baseline: str = "zeros") -> Attribution:
    """Integrated gradients of an answer's log-probability with respect to the visual token embeddings.

    Parameters
    ----------
    adapter
        An ``HFModel``-like adapter (``.model``, ``.processor``) that :func:`probes.trace.tokenize` accepts.
    query
        The question, with exactly one image.
    answer
        The answer text to teacher-force after the prompt; must tokenise to at least one token.
    steps
        Integration steps (Gauss-Legendre); one forward and backward pass per step.
    baseline
        ``"zeros"`` (all-zero embeddings) or ``"mean"`` (the image's mean visual embedding at every visual
        position, which keeps the embedding scale and removes only the spatial content).

    Returns
    -------
    Attribution
        Per-token scores on the image's token grid plus the target at the input and at the baseline.

    Raises
    ------
    ValueError
        If the query does not have exactly one image, the answer is empty, or ``baseline`` is unknown.
    """
    if len(query.images) != 1:
        raise ValueError(f"attribution needs exactly one image per query, got {len(query.images)}")
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINES}")
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    model = adapter.model
    inputs, layout = tokenize(adapter, [query], [answer], Lexicon.default())
    positions = (layout.category[0] == KEY_CATEGORIES.index("visual")).nonzero().flatten()  # (V,)
    answer_positions = layout.answer[0].nonzero().flatten()                                  # (A,)
    if len(answer_positions) == 0:
        raise ValueError(f"the answer {answer!r} gives no tokens to attribute")
    answer_ids = inputs["input_ids"][0, answer_positions]                                    # (A,)
    grid_shape = token_grid(inputs, model.config, len(positions))

    injector = _VisualInjector(positions)

    def log_prob(replacement: torch.Tensor | None) -> torch.Tensor:
        """The answer's log-probability with ``replacement`` (1, V, D) at the visual positions (None: as is)."""
        injector.replacement = replacement
        logits = model(**inputs, use_cache=False).logits                       # (1, N, vocab)
        # The token at position n is predicted from position n - 1.
        scores = logits[0, answer_positions - 1].float().log_softmax(-1)       # (A, vocab)
        return scores.gather(-1, answer_ids[:, None]).sum()                    # ()

    def batched(embeddings: torch.Tensor) -> torch.Tensor:
        """(k, V, D) -> (k,); one model pass per row, since batching pixel inputs is model-specific."""
        return torch.stack([log_prob(row) for row in embeddings.split(1)])

    handle = decoder_layers(model)[0].register_forward_pre_hook(injector, with_kwargs=True)
    try:
        with _frozen_for_attribution(model), torch.inference_mode(False), torch.enable_grad():
            with torch.no_grad():
                target = float(log_prob(None))
                real = injector.seen.clone()                                        # (1, V, D)
                base = torch.zeros_like(real) if baseline == "zeros" else real.mean(1, keepdim=True).expand_as(real)
                baseline_target = float(log_prob(base))
            # One step per backward keeps a single graph alive, whatever the model's size.
            scores = IntegratedGradients(batched).attribute(real, baselines=base, n_steps=steps,
                                                             internal_batch_size=1)  # (1, V, D)
    finally:
        handle.remove()
        injector.replacement = None
    per_token = scores[0].float().sum(-1)                                           # (V,)
    return Attribution(grid=per_token.reshape(grid_shape).cpu().numpy().astype(np.float32), target=target,
                       baseline_target=baseline_target, total=float(per_token.sum()), steps=steps,
                       method=f"integrated-gradients/{baseline}")


def token_grid(inputs: Any, config: Any, count: int) -> tuple[int, int]:
    """(rows, columns) of one image's visual tokens.

    Parameters
    ----------
    inputs
        The processor's output for one image; Qwen-VL style processors give ``image_grid_thw`` (1, 3).
    config
        The model config; ``vision_config.spatial_merge_size`` says how many patches merge into a token per side.
    count
        Number of visual tokens in the sequence, to check the layout against.

    Returns
    -------
    tuple of int
        The grid; without ``image_grid_thw`` the tokens must form a square (LLaVA-style fixed grids).
    """
    thw = inputs.get("image_grid_thw") if hasattr(inputs, "get") else None
    if thw is not None:
        t, h, w = (int(x) for x in thw[0])
        merge = int(getattr(getattr(config, "vision_config", None), "spatial_merge_size", 1))
        shape = (h // merge, w // merge)
        if t != 1 or shape[0] * shape[1] != count:
            raise ValueError(f"image_grid_thw {(t, h, w)} with merge {merge} does not match {count} visual tokens")
        return shape
    side = math.isqrt(count)
    if side * side != count:
        raise ValueError(f"cannot lay {count} visual tokens on a grid without image_grid_thw")
    return side, side
