"""``diffusers:<path-or-hub-id>``: a diffusers pipeline for text-to-image and image editing.

The checkpoint's own pipeline class (``model_index.json``) is loaded with safetensors weights
only. A text-to-image pipeline also edits through its image-to-image variant built from the
same components (SDEdit-style, ``strength``); a pipeline whose call takes an ``image`` (an
instruction editor such as InstructPix2Pix or Kontext) is used for editing only.

Every image is seeded by its own request: the pipeline gets one generator per image, so the
starting noise of an image depends on its seed alone. Generators live on the CPU so the same seed
starts from the same noise on every device. Batching is not bit-exact on CPU or GPU: matrix and
convolution kernels are chosen by batch size, so a batch can differ from one-by-one generation in
the last float bits and, rarely, by one grey level in a pixel (tests/models/test_diffusion.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import diffusers
import torch
import transformers
from diffusers import AutoPipelineForImage2Image, DiffusionPipeline
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.models import options
from sgt_eval.models.base import EditRequest, GenRequest
from sgt_eval.models.hf import DTYPES, checkpoint_fingerprint

Request = TypeVar("Request", GenRequest, EditRequest)


def _strength(name: str, value: str) -> float:
    strength = options.number(name, value)
    if not 0 < strength <= 1:
        raise UserError(f"--model-args {name}={value!r} must be in (0, 1]: the share of the steps the edit re-runs")
    return strength


# --model-args key -> parser of its string value.
OPTIONS: dict[str, options.Parser] = {
    "steps": options.count, "guidance": options.number, "width": options.side, "height": options.side,
    "strength": _strength, "dtype": options.text, "device": options.text, "revision": options.text,
    "negative_prompt": options.text, "trust_remote_code": options.flag, "cpu_offload": options.flag,
}
# Our option names -> the pipeline call arguments they set.
CALL_ARGS = {"steps": "num_inference_steps", "guidance": "guidance_scale", "strength": "strength",
             "negative_prompt": "negative_prompt"}


class DiffusersModel:
    """A diffusers pipeline generating and editing images, one seeded generator per image.

    Parameters
    ----------
    path
        Local pipeline folder (``save_pretrained`` layout) or Hugging Face hub id.
    steps, guidance, strength, negative_prompt
        Sampler settings; None keeps the pipeline's own default (recorded by :meth:`describe`).
    width, height
        Default image size; None keeps the pipeline's default resolution.
    dtype
        ``"auto"`` (bfloat16 on CUDA where supported, else float16; float32 on CPU) or a name in ``DTYPES``.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    revision
        Hub revision (branch, tag or commit).
    trust_remote_code
        Off unless the user asks: custom pipeline code in a checkpoint runs arbitrary Python.
    cpu_offload
        Keep only the running sub-model on the GPU (``enable_model_cpu_offload``); CUDA only.
    """

    def __init__(self, path: str, *, steps: int | None = None, guidance: float | None = None,
                 width: int | None = None, height: int | None = None, strength: float | None = None,
                 dtype: str = "auto", device: str = "auto", revision: str | None = None,
                 negative_prompt: str | None = None, trust_remote_code: bool = False,
                 cpu_offload: bool = False) -> None:
        self.name = self.path = path
        self.device = options.resolve_device(device)
        if dtype == "auto":
            dtype = ("float32" if self.device.type != "cuda" else
                     "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
        if dtype not in DTYPES:
            raise UserError(f"--model-args dtype={dtype!r} is not one of {', '.join(DTYPES)} or auto")
        if cpu_offload and self.device.type != "cuda":
            raise UserError(f"--model-args cpu_offload=true needs a CUDA device (device is {self.device})")
        folder, self.checkpoint = _locate(path, revision, trust_remote_code)
        diffusers.utils.logging.disable_progress_bar()  # our own progress bar is the one to watch
        transformers.utils.logging.disable_progress_bar()
        try:
            self.pipe = DiffusionPipeline.from_pretrained(folder, dtype=DTYPES[dtype], use_safetensors=True,
                                                          trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as err:
            raise _load_error(path, err) from err
        if "image" in _parameters(self.pipe):  # an editing pipeline: it needs the source image
            self.generate_pipe, self.edit_pipe = None, self.pipe
        else:
            self.generate_pipe, self.edit_pipe = self.pipe, _image_to_image(self.pipe)
        tasks = {"generate": self.generate_pipe, "edit": self.edit_pipe}
        self.capabilities = frozenset(task for task, pipe in tasks.items() if pipe is not None)
        self.cpu_offload, self._offloaded = cpu_offload, None
        if not cpu_offload:
            self.pipe.to(self.device)
        for pipe in (self.generate_pipe, self.edit_pipe):
            if pipe is not None:
                pipe.set_progress_bar_config(disable=True)
        chosen = {"steps": steps, "guidance": guidance, "strength": strength, "negative_prompt": negative_prompt}
        self.sampler = self._resolve(chosen)
        default_width, default_height = _default_size(self.pipe)
        self.width, self.height = width or default_width, height or default_height
        self.settings = {"dtype": dtype, "device": str(self.device), "cpu_offload": cpu_offload,
                         "trust_remote_code": trust_remote_code, "revision": revision}

    def generate_images(self, batch: Sequence[GenRequest]) -> list[Image.Image]:
        """One image per request; requests of one size share a pipeline call."""
        if self.generate_pipe is None:
            raise UserError(f"{self.name} is an editing pipeline ({type(self.pipe).__name__}); it cannot generate")

        def size(request: GenRequest) -> tuple[int | None, int | None]:
            return request.width or self.width, request.height or self.height

        def run(key: Hashable, group: list[GenRequest]) -> list[Image.Image]:
            width, height = key  # type: ignore[misc]
            sized = {} if width is None or height is None else {"width": width, "height": height}
            return self._call(self.generate_pipe, group, prompt=[r.prompt for r in group], **sized)

        return _grouped(batch, size, run)

    def edit_images(self, batch: Sequence[EditRequest]) -> list[Image.Image]:
        """One edited image per request, at its source image's size."""
        if self.edit_pipe is None:
            raise UserError(f"{self.name} ({type(self.pipe).__name__}) has no image-to-image variant; it cannot edit")

        def run(key: Hashable, group: list[EditRequest]) -> list[Image.Image]:
            width, height = key  # type: ignore[misc]
            takes_size = {"width", "height"} <= _parameters(self.edit_pipe).keys()
            sized = {"width": width, "height": height} if takes_size else {}
            images = self._call(self.edit_pipe, group, prompt=[r.instruction for r in group],
                                image=[r.image.convert("RGB") for r in group], **sized)
            # pipelines round sizes to their latent grid; the benchmark expects the source size back
            return [im if im.size == key else im.resize(key, Image.Resampling.LANCZOS) for im in images]

        return _grouped(batch, lambda r: r.image.size, run)

    def describe(self) -> dict[str, Any]:
        scheduler = getattr(self.pipe, "scheduler", None)
        return {"path": self.path, "checkpoint": self.checkpoint, "pipeline": type(self.pipe).__name__,
                "edit_pipeline": type(self.edit_pipe).__name__ if self.edit_pipe is not None else None,
                "scheduler": type(scheduler).__name__ if scheduler is not None else None,
                **self.sampler, "width": self.width, "height": self.height, "generator": "cpu, one per image",
                **self.settings, "diffusers": diffusers.__version__, "transformers": transformers.__version__,
                "torch": torch.__version__}

    def _resolve(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """The sampler settings in force: the user's, else each pipeline's call default (None: not taken)."""
        pipes = [p for p in (self.generate_pipe, self.edit_pipe) if p is not None]
        resolved: dict[str, Any] = {}
        for option, value in chosen.items():
            takers = [p for p in pipes if CALL_ARGS[option] in _parameters(p)]
            if value is not None and not takers:
                names = " / ".join(type(p).__name__ for p in pipes)
                raise UserError(f"--model-args {option}: {names} takes no {CALL_ARGS[option]}; remove {option}")
            resolved[option] = value if value is not None or not takers else _parameters(takers[0])[CALL_ARGS[option]]
        return resolved

    def _call(self, pipe: Any, group: Sequence[GenRequest | EditRequest], **inputs: Any) -> list[Image.Image]:
        accepted = _parameters(pipe)
        for option, value in self.sampler.items():
            if value is not None and CALL_ARGS[option] in accepted:
                inputs[CALL_ARGS[option]] = [value] * len(group) if option == "negative_prompt" else value
        if self.cpu_offload and self._offloaded is not pipe:  # the two pipelines share sub-models and hooks
            pipe.enable_model_cpu_offload(device=self.device)
            self._offloaded = pipe
        generators = [torch.Generator("cpu").manual_seed(r.seed) for r in group]
        with torch.inference_mode():
            return list(pipe(**inputs, generator=generators, output_type="pil").images)


def load_diffusers(arg: str, model_args: dict[str, str], seed: int) -> DiffusersModel:
    """Backend entry for ``diffusers:<path-or-hub-id>`` with ``--model-args``.

    ``seed`` is unused: every image is seeded by its own request.
    """
    if not arg:
        raise UserError("--model diffusers needs a pipeline: diffusers:<local-folder-or-hub-id>")
    return DiffusersModel(arg, **options.parse_options("diffusers", OPTIONS, model_args))


def _locate(path: str, revision: str | None, trust_remote_code: bool) -> tuple[str, dict[str, Any]]:
    """The local folder of the pipeline (downloading a hub id into the HF cache) and its fingerprint."""
    if Path(path).is_dir():
        return path, checkpoint_fingerprint(path, None)
    if path.startswith(("/", ".", "~")) or Path(path).exists():  # meant a folder: do not ask the hub
        raise UserError(f"diffusers:{path}: no such pipeline folder (a diffusers save_pretrained folder)")
    try:
        folder = DiffusionPipeline.download(path, revision=revision, use_safetensors=True,
                                            trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        raise _load_error(path, err) from err
    return str(folder), {"kind": "hub", "repo": path, "commit": Path(folder).name}  # HF cache: snapshots/<commit>


def _image_to_image(pipe: Any) -> Any | None:
    """The image-to-image pipeline over the same sub-models, or None where diffusers has none."""
    try:
        return AutoPipelineForImage2Image.from_pipe(pipe)
    except ValueError:
        return None


def _parameters(pipe: Any) -> dict[str, Any]:
    """The pipeline call's argument names with their defaults (None where there is none)."""
    params = inspect.signature(pipe.__call__).parameters
    return {name: None if p.default is inspect.Parameter.empty else p.default for name, p in params.items()}


def _default_size(pipe: Any) -> tuple[int | None, int | None]:
    """The resolution the pipeline makes when given no size (denoiser sample size x VAE scale)."""
    unet = getattr(pipe, "unet", None)
    sample = getattr(pipe, "default_sample_size", None) or (unet.config.get("sample_size") if unet else None)
    scale = getattr(pipe, "vae_scale_factor", None)
    if isinstance(sample, int) and isinstance(scale, int):
        return sample * scale, sample * scale
    return None, None


def _grouped(batch: Sequence[Request], key: Callable[[Request], Hashable],
             run: Callable[[Hashable, list[Request]], list[Image.Image]]) -> list[Image.Image]:
    """``run`` once per group of requests with equal ``key`` (a pipeline call needs one size); input order."""
    groups: dict[Hashable, list[int]] = {}
    for index, request in enumerate(batch):
        groups.setdefault(key(request), []).append(index)
    images: list[Image.Image | None] = [None] * len(batch)
    for value, indices in groups.items():
        for index, image in zip(indices, run(value, [batch[i] for i in indices]), strict=True):
            images[index] = image
    return images  # type: ignore[return-value]


def _load_error(path: str, err: BaseException) -> UserError:
    """diffusers' reason in one line, with our fix where diffusers puts it on a later line."""
    text = str(err).strip()
    reason = (text.splitlines() or [type(err).__name__])[0]
    if "trust_remote_code" in text:
        reason += " Add --model-args trust_remote_code=true only if you have read that code and trust it."
    elif "safetensors" in text:
        reason += " (this backend loads safetensors weights only)"
    return UserError(f"cannot load diffusers pipeline {path!r}: {reason}")
