"""``hf:<path-or-hub-id>``: any transformers ``AutoModelForImageTextToText`` checkpoint.

Batched greedy generation with left padding. Readable top to bottom: load the weights, load
the processor (with a fallback for machines without torchvision), format chats, generate.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    AutoImageProcessor,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)

from sgt_eval.errors import UserError
from sgt_eval.models.base import Query
from sgt_eval.models.varlen import flash_attn_available

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}
OPTIONS = ("dtype", "device", "device_map", "attn_implementation", "trust_remote_code", "revision")


class HFModel:
    """A transformers vision-language model answering questions greedily.

    Parameters
    ----------
    path
        Local checkpoint folder or Hugging Face hub id.
    dtype
        ``"auto"`` (bfloat16 on CUDA, float32 on CPU) or a name in ``DTYPES``.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ignored with ``device_map``.
    device_map
        Passed to ``from_pretrained`` (e.g. ``"auto"`` to shard a large model over GPUs).
    attn_implementation
        ``"auto"`` (default: flash-attention 2 when flash-attn is installed and the model runs in
        bf16/fp16 on CUDA, else SDPA), ``"sdpa"``, ``"eager"`` or ``"flash_attention_2"``.
    trust_remote_code
        Off unless the user asks: remote code runs arbitrary Python.
    processor_path
        Where the processor lives when not beside the weights (OmniGen2 keeps it in its own folder).
    """

    capabilities = frozenset({"answer", "hidden_states", "attention"})

    def __init__(self, path: str, *, dtype: str = "auto", device: str = "auto", device_map: str | None = None,
                 attn_implementation: str = "auto", trust_remote_code: bool = False, revision: str | None = None,
                 processor_path: str | None = None) -> None:
        self.name = self.path = path
        self.device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                                   "cpu" if device == "auto" else device)
        if dtype == "auto":
            dtype = "bfloat16" if self.device.type == "cuda" else "float32"
        if dtype not in DTYPES:
            raise UserError(f"--model-args dtype={dtype!r} is not one of {', '.join(DTYPES)} or auto")
        if attn_implementation == "auto":
            attn_implementation = choose_attention(self.device.type, DTYPES[dtype], flash_attn_available())
        self.settings = {"dtype": dtype, "device": str(self.device), "device_map": device_map,
                         "attn_implementation": attn_implementation, "trust_remote_code": trust_remote_code,
                         "revision": revision}
        transformers.utils.logging.disable_progress_bar()  # our own progress bar is the one to watch
        try:
            self.model = AutoModelForImageTextToText.from_pretrained(
                path, dtype=DTYPES[dtype], attn_implementation=attn_implementation, device_map=device_map,
                trust_remote_code=trust_remote_code, revision=revision,
            ).eval()
        except OSError as err:
            raise UserError(f"cannot load model {path!r}: {str(err).splitlines()[0]}") from err
        if device_map is None:
            self.model.to(self.device)
        self.processor = load_processor(processor_path or path, trust_remote_code=trust_remote_code, revision=revision,
                                        config_path=path)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # generated tokens must follow every prompt directly
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.generation_config = greedy_config(self.model.generation_config, self.tokenizer.pad_token_id)

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        if not batch:
            return []
        texts = [self.processor.apply_chat_template(chat(q), add_generation_prompt=True, tokenize=False) for q in batch]
        images = [image for q in batch for image in q.images]
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(self.model.device)
        config = copy.copy(self.generation_config)
        config.max_new_tokens = max_new_tokens
        with torch.inference_mode():
            out = self.model.generate(**inputs, generation_config=config)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]  # (B, <= max_new_tokens)
        return [text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def trace(self, batch: Sequence[Query], reducers: Sequence[Any], *, answers: Sequence[str | None] | None = None,
              lexicon: Any = None) -> dict[str, torch.Tensor]:
        """One teacher-forced forward pass with the probes' hooks (see probes.trace); small CPU tensors."""
        from probes.trace import trace_hf  # the probes package is only needed by those who probe

        return trace_hf(self, batch, reducers, answers=answers, lexicon=lexicon)

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "checkpoint": checkpoint_fingerprint(self.path, self.model),
                "transformers": transformers.__version__, "torch": torch.__version__, **self.settings}


def load_hf(arg: str, model_args: dict[str, str], seed: int) -> HFModel:
    """Backend entry for ``hf:<path-or-hub-id>`` with ``--model-args``."""
    if not arg:
        raise UserError("--model hf needs a checkpoint: hf:<local-path-or-hub-id>")
    unknown = set(model_args) - set(OPTIONS)
    if unknown:
        raise UserError(f"--model-args {sorted(unknown)[0]!r} is not an hf option (known: {', '.join(OPTIONS)})")
    kwargs: dict[str, Any] = dict(model_args)
    if "trust_remote_code" in kwargs:
        kwargs["trust_remote_code"] = kwargs["trust_remote_code"].lower() in ("1", "true", "yes")
    torch.manual_seed(seed)
    return HFModel(arg, **kwargs)


def choose_attention(device_type: str, dtype: torch.dtype, flash_available: bool) -> str:
    """The fastest attention that works: flash-attention 2 needs flash-attn, CUDA and a 16-bit dtype."""
    if flash_available and device_type == "cuda" and dtype in (torch.bfloat16, torch.float16):
        return "flash_attention_2"
    return "sdpa"


def chat(query: Query) -> list[dict[str, Any]]:
    """One user turn: the images first, then the question (the order the SGT models were trained on)."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in query.images]
    content.append({"type": "text", "text": query.text})
    return [{"role": "user", "content": content}]


def greedy_config(base: transformers.GenerationConfig, pad_token_id: int) -> transformers.GenerationConfig:
    """The checkpoint's generation config with sampling switched off (instruct models ship sampling defaults)."""
    config = copy.deepcopy(base)
    config.do_sample, config.num_beams = False, 1
    config.temperature = config.top_p = config.top_k = None
    config.pad_token_id = pad_token_id
    return config


def load_processor(path: str, *, trust_remote_code: bool = False, revision: str | None = None,
                   config_path: str | None = None) -> Any:
    """``AutoProcessor``, or the model type's processor class built from the folder's parts.

    Several VLM processors (Qwen2-VL, LLaVA-OneVision...) insist on a video processor that needs
    torchvision; answering image questions does not, so where torchvision is missing we build the
    processor with ``None`` there. The same construction serves a processor folder that does not
    name its processor class (``AutoProcessor`` then returns the bare tokenizer); the model type
    comes from ``config_path`` (default ``path``).
    """
    try:
        processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
        if hasattr(processor, "image_processor"):
            return processor
    except ImportError as err:
        if "torchvision" not in str(err).lower():
            raise
    config = transformers.AutoConfig.from_pretrained(config_path or path, trust_remote_code=trust_remote_code,
                                                     revision=revision)
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    base = getattr(transformers, PROCESSOR_MAPPING_NAMES[config.model_type])

    class ImageOnlyProcessor(base):  # type: ignore[misc, valid-type]
        def check_argument_for_proper_class(self, name: str, arg: Any) -> Any:
            return None if arg is None else super().check_argument_for_proper_class(name, arg)

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
    parts = {"tokenizer": tokenizer,
             "image_processor": AutoImageProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)}
    kwargs = {name: parts.get(name) for name in base.get_attributes()}
    return ImageOnlyProcessor(**kwargs, chat_template=tokenizer.chat_template)


def checkpoint_fingerprint(path: str, model: Any) -> dict[str, Any]:
    """Identify the weights cheaply but exactly enough to refuse resuming a run with other weights.

    Hub checkpoints are named by the commit transformers resolved. Local folders get a sha256
    over every file's name and size plus its content (files up to 64 MiB) or its first and last
    MiB (larger weight shards, which would take minutes to hash in full).
    """
    local = Path(path)
    if not local.is_dir():
        return {"kind": "hub", "repo": path, "commit": getattr(model.config, "_commit_hash", None)}
    digest = hashlib.sha256()
    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(local).as_posix()}\0{size}\0".encode())
        with open(file, "rb") as f:
            if size <= 64 << 20:
                digest.update(f.read())
            else:
                digest.update(f.read(1 << 20))
                f.seek(-(1 << 20), 2)
                digest.update(f.read())
    return {"kind": "local", "sha256": digest.hexdigest(), "method": "name+size+content (head/tail MiB above 64 MiB)"}
