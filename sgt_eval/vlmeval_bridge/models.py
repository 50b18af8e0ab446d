"""sgt-eval adapters inside VLMEvalKit's runner, and VLMEvalKit's model zoo as an sgt-eval backend.

:class:`SGTModel` is a VLMEvalKit ``BaseModel``: VLMEvalKit builds the prompt of each dataset row
(images and text, see its ``build_prompt``), and the adapter answers it greedily as in ``sgt-eval
run``, the images first, the text parts joined by newlines. VLMEvalKit's own inference loop
(``vlmeval.inference.infer_data_job``) then shards rows over torchrun ranks, checkpoints and
resumes, and its dataset classes score, so every VLMEvalKit dataset (MMStar, RealWorldQA,
MathVista...) runs on SGT checkpoints.

:class:`ZooModel` is the reverse: ``vlmeval:<name>`` builds ``vlmeval.config.supported_VLM[name]``
(``--model-args`` are passed to it as keyword arguments, e.g. ``model_path=/local/ckpt``) and
answers our benchmarks' questions through its ``generate``.
"""

from __future__ import annotations

import ast
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlmeval.vlm.base import BaseModel

from sgt_eval.errors import UserError
from sgt_eval.models.base import Query
from sgt_eval.registry import unknown_name_message


class SGTModel(BaseModel):
    """An sgt-eval model (``tiny-random``, ``hf:...``, ``bagel:...``) as a VLMEvalKit model.

    Parameters
    ----------
    model
        A loaded adapter with ``answer``.
    max_new_tokens
        The answer length limit for every row (VLMEvalKit datasets have none of their own).
    """

    INTERLEAVE = True  # the message reaches generate_inner as VLMEvalKit built it

    def __init__(self, model: Any, max_new_tokens: int) -> None:
        super().__init__()
        self.model = model
        self.max_new_tokens = max_new_tokens

    def generate_inner(self, message: list[dict[str, str]], dataset: str | None = None) -> str:
        from sgt_eval.runner import open_image

        images = tuple(open_image(Path(m["value"]), m["value"]) for m in message if m["type"] == "image")
        text = "\n".join(m["value"] for m in message if m["type"] == "text")
        return self.model.answer([Query(text, images)], max_new_tokens=self.max_new_tokens)[0]


class ZooModel:
    """A model of VLMEvalKit's zoo answering sgt-eval's benchmarks (``vlmeval:<name>``).

    Zoo models take image files: each question's images are written as PNGs to a temporary folder.
    Where the zoo model keeps its generation settings in a ``kwargs`` dict (most do), the benchmark's
    ``max_new_tokens`` is set there; otherwise the model's own limit applies (``describe`` says which).
    """

    capabilities = frozenset({"answer"})

    def __init__(self, name: str, kwargs: Mapping[str, Any]) -> None:
        import vlmeval
        from vlmeval.config import supported_VLM

        if name not in supported_VLM:
            raise UserError(unknown_name_message("VLMEvalKit model", name, sorted(supported_VLM))[:600])
        self.name, self.kwargs = name, dict(kwargs)
        # VLMEvalKit's own guard: newer transformers turn device_map="auto" under torchrun into tensor parallelism
        world = os.environ.pop("WORLD_SIZE", None)
        try:
            self.vlm = supported_VLM[name](**self.kwargs)
        finally:
            if world is not None:
                os.environ["WORLD_SIZE"] = world
        self.version = getattr(vlmeval, "__version__", None)

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        settings = getattr(self.vlm, "kwargs", None)
        if isinstance(settings, dict):
            settings["max_new_tokens"] = max_new_tokens
        answers = []
        with tempfile.TemporaryDirectory(prefix="sgt-eval-vlmeval-") as folder:
            for q, query in enumerate(batch):
                message = []
                for i, image in enumerate(query.images):
                    path = Path(folder) / f"{q}_{i}.png"
                    image.convert("RGB").save(path)
                    message.append({"type": "image", "value": str(path)})
                message.append({"type": "text", "value": query.text})
                answers.append(str(self.vlm.generate(message)).strip())
        return answers

    def describe(self) -> dict[str, Any]:
        settings = getattr(self.vlm, "kwargs", None)
        return {"vlmeval_model": self.name, "class": type(self.vlm).__name__, "kwargs": self.kwargs,
                "generation": "benchmark max_new_tokens" if isinstance(settings, dict) else "the model's own",
                "vlmeval": self.version}


def literal(value: str) -> Any:
    """``"3"`` -> 3, ``"true"`` -> True, ``"[1, 2]"`` -> [1, 2]; anything else stays a string."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def load_zoo(arg: str, model_args: Mapping[str, str], seed: int) -> ZooModel:
    """Backend entry for ``vlmeval:<name>``; ``seed`` is unused (zoo models decode as configured)."""
    if not arg:
        raise UserError("--model vlmeval needs a VLMEvalKit model name: vlmeval:<name> (see vlmeval.config)")
    return ZooModel(arg, {key: literal(value) for key, value in model_args.items()})
