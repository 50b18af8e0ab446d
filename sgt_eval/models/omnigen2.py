"""``omnigen2:<OmniGen2 folder>``: OmniGen2 and SGT-OmniGen2 (``checkpoint=<SGT-Gen2 folder>``).

The folder is an ``OmniGen2/OmniGen2`` download: ``mllm/`` (Qwen2.5-VL-3B), ``processor/``,
``transformer/``, ``vae/``, ``scheduler/``. Understanding (``answer``, ``trace``) is the MLLM alone,
run by transformers through the ``hf`` adapter, so it needs nothing else. SGT fine-tunes that MLLM:
``checkpoint`` names a folder with ``transformer/text_encoder`` (the MLLM weights, whose keys are
remapped to the layout transformers loads, see :func:`remap_text_encoder_key`) and, optionally,
``transformer/transformer`` (the fine-tuned diffusion transformer).

Generation and editing run upstream's ``OmniGen2Pipeline`` from the user's clone of
VectorSpaceLab/OmniGen2 (``repo=``, or ``$SGT_EVAL_OMNIGEN2_REPO``), built from its parts here (no
remote code is executed), sharing the one MLLM in memory. Without a clone the model answers and is
traced, and a suite skips the image benchmarks. Defaults follow SGT's inference scripts: 50 steps,
text-to-image cfg text 4.0 / image 1.0, editing 5.0 / 2.0, cfg range 0-1, Euler (``scheduler=dpmsolver++``
is upstream's faster option). Each image has its own CPU generator seeded by the request.
``cpu_offload=true`` keeps only the running part on the GPU (upstream's ``enable_model_cpu_offload``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.models import options
from sgt_eval.models.base import EditRequest, GenRequest, Query
from sgt_eval.models.hf import DTYPES, HFModel, checkpoint_fingerprint
from sgt_eval.models.upstream import Upstream

UPSTREAM = Upstream(backend="omnigen2", url="https://github.com/VectorSpaceLab/OmniGen2",
                    env=("SGT_EVAL_OMNIGEN2_REPO", "OMNIGEN2_REPO"),
                    markers=("omnigen2/pipelines/omnigen2/pipeline_omnigen2.py",
                             "omnigen2/models/transformers/transformer_omnigen2.py"),
                    packages=("omnigen2",))
MODULES = ("omnigen2.pipelines.omnigen2.pipeline_omnigen2", "omnigen2.models.transformers.transformer_omnigen2",
           "omnigen2.schedulers.scheduling_flow_match_euler_discrete",
           "omnigen2.schedulers.scheduling_dpmsolver_multistep")
# upstream's inference.py default negative prompt
NEGATIVE_PROMPT = ("(((deformed))), blurry, over saturation, bad anatomy, disfigured, poorly drawn face, mutation, "
                   "mutated, (extra_limb), (ugly), (poorly drawn hands), fused fingers, messy drawing, broken legs "
                   "censor, censored, censor_bar")


@dataclasses.dataclass(frozen=True)
class Sampler:
    """Upstream's pipeline knobs for one task, recorded in run.json."""

    steps: int = 50
    cfg_text: float = 4.0
    cfg_img: float = 1.0
    cfg_range: tuple[float, float] = (0.0, 1.0)

    def call_args(self) -> dict[str, Any]:
        return {"num_inference_steps": self.steps, "text_guidance_scale": self.cfg_text,
                "image_guidance_scale": self.cfg_img, "cfg_range": self.cfg_range}


GENERATE, EDIT = Sampler(), Sampler(cfg_text=5.0, cfg_img=2.0)  # SGT's infer_text2image.py / infer_edit.py
SAMPLER_OPTIONS: dict[str, options.Parser] = {"steps": options.count, "cfg_text": options.number,
                                              "cfg_img": options.number, "cfg_range": options.span}
OPTIONS: dict[str, options.Parser] = {
    "checkpoint": options.text, "repo": options.text, "dtype": options.text, "device": options.text,
    "attn_implementation": options.text, "cpu_offload": options.flag,
    "scheduler": options.choice("euler", "dpmsolver++"), "width": options.side, "height": options.side,
    "negative_prompt": options.text,
    **options.per_task(SAMPLER_OPTIONS),
}


def remap_text_encoder_key(key: str) -> str:
    """A key of SGT's saved text encoder -> the key in transformers' ``Qwen2_5_VLForConditionalGeneration``.

    SGT saves the MLLM as a ``Qwen2_5_VLModel``, whose keys depend on the transformers version that
    saved it: ``visual.*`` + ``language_model.*`` (4.52 and later), the bare decoder ``layers.*``,
    ``embed_tokens.*``, ``norm.*`` (earlier), or ``model.*`` + ``visual.*`` + ``lm_head.*`` when a whole
    ``ForConditionalGeneration`` of before 4.52 was saved. SGT's own loader handles the first and
    last layouts (``model.`` -> ``model.language_model.``); this one handles all three.
    """
    if key.startswith(("model.visual.", "model.language_model.", "lm_head.")):
        return key
    if key.startswith(("visual.", "language_model.")):
        return "model." + key
    return "model.language_model." + key.removeprefix("model.")


def load_text_encoder(mllm: torch.nn.Module, folder: Path) -> dict[str, int]:
    """Overlay SGT's fine-tuned MLLM weights (safetensors, else ``torch.load(weights_only=True)``).

    Keys the checkpoint lacks keep the base weights (SGT may save the decoder only); a key the model
    does not have is an error, since it means the checkpoint is not what it claims to be.
    """
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise UserError(f"{folder}: no *.safetensors (or *.bin) weights; SGT-Gen2 keeps the fine-tuned MLLM "
                        f"in <checkpoint>/transformer/text_encoder")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            part = load_file(str(file))
        else:
            part = torch.load(file, map_location="cpu", weights_only=True)
        state.update({remap_text_encoder_key(k): v for k, v in part.items()})
    missing, unexpected = mllm.load_state_dict(state, strict=False)
    if unexpected:
        raise UserError(f"{folder}: {len(unexpected)} weights fit no Qwen2.5-VL parameter (e.g. {unexpected[0]!r}); "
                        f"is this an SGT-Gen2 text_encoder for this OmniGen2 MLLM?")
    return {"loaded": len(state), "kept_from_base": len(missing)}


class OmniGen2Model:
    """OmniGen2's MLLM for answers and traces; its pipeline (from the clone) for images.

    Parameters
    ----------
    path
        The OmniGen2 folder (``mllm/``, ``processor/``, ``transformer/``, ``vae/``, ``scheduler/``).
    checkpoint
        An SGT-Gen2 folder: ``transformer/text_encoder`` overlays the MLLM, ``transformer/transformer``
        replaces the diffusion transformer.
    repo
        The clone of VectorSpaceLab/OmniGen2 (or ``$SGT_EVAL_OMNIGEN2_REPO``) for generating and editing.
    dtype, device, attn_implementation
        As the ``hf`` adapter (``auto``: bf16 on CUDA, flash-attention when installed).
    cpu_offload
        upstream's model CPU offload (CUDA only).
    generate, edit
        Sampler settings per task; ``scheduler`` ``euler`` or ``dpmsolver++``.
    width, height, negative_prompt
        Text-to-image size and the negative prompt of both tasks.
    """

    def __init__(self, path: str, *, checkpoint: str | None = None, repo: str | None = None, dtype: str = "auto",
                 device: str = "auto", attn_implementation: str = "auto", cpu_offload: bool = False,
                 scheduler: str = "euler", generate: Sampler = GENERATE, edit: Sampler = EDIT, width: int = 1024,
                 height: int = 1024, negative_prompt: str = NEGATIVE_PROMPT) -> None:
        self.name = self.path = path
        base = Path(path).expanduser()
        mllm_dir = base / "mllm" if (base / "mllm" / "config.json").is_file() else base
        if not (mllm_dir / "config.json").is_file():
            raise UserError(f"omnigen2:{path}: no mllm/config.json (an OmniGen2/OmniGen2 folder has mllm/, "
                            f"processor/, transformer/, vae/, scheduler/)")
        processors = [d for d in (base / "mllm_processor", base / "processor", mllm_dir)
                      if (d / "preprocessor_config.json").is_file()]
        self.mllm = HFModel(str(mllm_dir), dtype=dtype, device=device, attn_implementation=attn_implementation,
                            processor_path=str(processors[0]) if processors else None)
        self.device, self.dtype = self.mllm.device, DTYPES[self.mllm.settings["dtype"]]
        fine_tuned = Path(checkpoint).expanduser() / "transformer" if checkpoint else None
        self.overlay = None
        if fine_tuned is not None:
            if not (fine_tuned / "text_encoder").is_dir():
                raise UserError(f"--model-args checkpoint={checkpoint}: {fine_tuned / 'text_encoder'} is missing "
                                f"(SGT-Gen2 layout: transformer/text_encoder and transformer/transformer)")
            self.overlay = load_text_encoder(self.mllm.model, fine_tuned / "text_encoder")
        if cpu_offload and self.device.type != "cuda":
            raise UserError(f"--model-args cpu_offload=true needs a CUDA device (device is {self.device})")
        self.samplers = {"generate": generate, "edit": edit}
        self.settings = {"scheduler": scheduler, "width": width, "height": height,
                         "negative_prompt": negative_prompt, "cpu_offload": cpu_offload}
        dit = fine_tuned / "transformer" if fine_tuned and (fine_tuned / "transformer").is_dir() else base / "transformer"
        self.checkpoint = {"mllm": checkpoint_fingerprint(str(mllm_dir), None), "transformer": str(dit),
                           "fine_tuned": checkpoint_fingerprint(str(fine_tuned), None) if fine_tuned else None}
        # images need the clone and the pipeline's parts; a folder with only mllm/ still answers
        lacking = [str(p) for p in (dit, base / "vae", base / "scheduler", base / "processor") if not p.is_dir()]
        if repo and lacking:
            raise UserError(f"omnigen2:{path}: {lacking[0]} is missing; it is needed to make images (repo= given)")
        self.clone = UPSTREAM.locate(repo) if UPSTREAM.named(repo) and not lacking else None
        self.pipe = self._pipeline(base, dit) if self.clone else None
        self.capabilities = frozenset({"answer", "hidden_states", "attention"} |
                                      ({"generate", "edit"} if self.pipe is not None else set()))

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        return self.mllm.answer(batch, max_new_tokens=max_new_tokens)

    def trace(self, batch: Sequence[Query], reducers: Sequence[Any], *, answers: Sequence[str | None] | None = None,
              lexicon: Any = None) -> dict[str, torch.Tensor]:
        return self.mllm.trace(batch, reducers, answers=answers, lexicon=lexicon)

    def generate_images(self, batch: Sequence[GenRequest]) -> list[Image.Image]:
        s = self.settings
        return [self._call(self.samplers["generate"], r.seed, prompt=r.prompt, width=r.width or s["width"],
                           height=r.height or s["height"]) for r in batch]

    def edit_images(self, batch: Sequence[EditRequest]) -> list[Image.Image]:
        """Edits at upstream's working size (the source, within 1024² pixels), returned at the source size."""
        edited = []
        for r in batch:
            image = self._call(self.samplers["edit"], r.seed, prompt=r.instruction, input_images=[r.image.convert("RGB")])
            edited.append(image if image.size == r.image.size else image.resize(r.image.size, Image.Resampling.LANCZOS))
        return edited

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "checkpoint": self.checkpoint, "text_encoder_overlay": self.overlay,
                "mllm": self.mllm.describe(), "dtype": self.mllm.settings["dtype"], "device": str(self.device),
                **(UPSTREAM.describe(self.clone) if self.clone else {"upstream": None}),
                **{task: options.plain(s) for task, s in self.samplers.items()}, **self.settings,
                "generator": "cpu, one per image"}

    def _call(self, sampler: Sampler, seed: int, **inputs: Any) -> Image.Image:
        if self.pipe is None:
            raise UserError(f"omnigen2:{self.path} makes images only with a clone of {UPSTREAM.url}: "
                            f"pass --model-args repo=/path/to/OmniGen2 or set {UPSTREAM.env[0]}")
        generator = torch.Generator("cpu").manual_seed(seed)
        # upstream samples the source image's VAE latent (latent_dist.sample()) from torch's global generator
        torch.manual_seed(seed)
        with torch.inference_mode():
            return self.pipe(**inputs, **sampler.call_args(), negative_prompt=self.settings["negative_prompt"],
                             max_sequence_length=1024, num_images_per_prompt=1, generator=generator,
                             output_type="pil").images[0]

    def _pipeline(self, base: Path, dit: Path) -> Any:
        """Upstream's pipeline from its parts; the MLLM is the one that answers."""
        from diffusers import AutoencoderKL

        from sgt_eval.models.hf import load_processor

        assert self.clone is not None
        pipeline, transformer, euler, dpm = UPSTREAM.load(self.clone, MODULES)
        if self.settings["scheduler"] == "euler":
            scheduler = euler.FlowMatchEulerDiscreteScheduler.from_pretrained(str(base / "scheduler"))
        else:  # upstream inference.py's dpmsolver++ settings
            scheduler = dpm.DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_type="midpoint",
                                                        solver_order=2, prediction_type="flow_prediction")
        pipe = pipeline.OmniGen2Pipeline(
            transformer=transformer.OmniGen2Transformer2DModel.from_pretrained(str(dit), torch_dtype=self.dtype,
                                                                               use_safetensors=True),
            vae=AutoencoderKL.from_pretrained(str(base / "vae"), torch_dtype=self.dtype, use_safetensors=True),
            scheduler=scheduler, mllm=self.mllm.model,
            processor=load_processor(str(base / "processor"), config_path=self.mllm.path))
        if self.settings["cpu_offload"]:
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        return pipe


def load_omnigen2(arg: str, model_args: Mapping[str, str], seed: int) -> OmniGen2Model:
    """Backend entry for ``omnigen2:<OmniGen2 folder>`` (``seed`` is unused: each image has its own)."""
    if not arg:
        raise UserError("--model omnigen2 needs the OmniGen2 folder: omnigen2:/path/to/OmniGen2 "
                        "(--model-args checkpoint=/path/to/SGT-Gen2 for SGT's fine-tuned weights)")
    given = options.parse_options("omnigen2", OPTIONS, model_args)
    samplers = options.task_samplers(given, GENERATE, EDIT)
    return OmniGen2Model(arg, **given, **samplers)
