"""``bagel:<checkpoint-folder>``: BAGEL and SGT-BAGEL through the user's clone of the upstream code.

The folder is a ``ByteDance-Seed/BAGEL-7B-MoT`` download (``llm_config.json``, ``vit_config.json``,
``ae.safetensors``, ``ema.safetensors``, tokenizer files); ``ema=PATH`` swaps in another EMA, such
as ``Two-hot/SGT-BAGEL``'s ``ema.safetensors``. The model is built and used exactly as upstream's
``app.py`` / ``inferencer.py`` do (``repo=`` names the clone of ByteDance-Seed/Bagel or of
song2yu/SGT's ``BAGEL/`` fork): MoT decoder layers with qk-norm, the ViT one layer short, weights
dispatched by accelerate, ``InterleaveInferencer`` for answers, images and edits, bf16 autocast.

Answers are greedy (upstream's ``do_sample=False``); ``think=true`` adds upstream's reasoning system
prompt and the answer is what follows ``</think>``. Every image is seeded by its own request
(upstream draws the starting noise from torch's CPU generator); requests run one at a time, as
upstream supports only batch 1 with CFG renorm. ``dtype=float32`` keeps fp32 weights (upstream's
advice for reproducing GenEval); attention still runs in bf16, as upstream casts Q/K/V for
flash-attention. Without flash-attn (CPU, older GPUs) ``sgt_eval.models.varlen`` stands in for it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from PIL import Image

from sgt_eval.errors import UserError
from sgt_eval.models import bagel_compat, options
from sgt_eval.models.base import EditRequest, GenRequest, Query
from sgt_eval.models.hf import DTYPES, checkpoint_fingerprint
from sgt_eval.models.upstream import Upstream
from sgt_eval.models.varlen import flash_attn_available, importable_flash_attn

UPSTREAM = Upstream(backend="bagel", url="https://github.com/ByteDance-Seed/Bagel",
                    env=("SGT_EVAL_BAGEL_REPO", "BAGEL_REPO"),
                    markers=("inferencer.py", "modeling/bagel/qwen2_navit.py", "data/data_utils.py"),
                    packages=("modeling", "data", "inferencer"))
MODULES = ("modeling.bagel", "modeling.bagel.qwen2_navit", "modeling.autoencoder", "modeling.qwen2",
           "data.data_utils", "inferencer")
# accelerate keeps these on one device (upstream app.py): they meet in every forward pass
SAME_DEVICE = ("language_model.model.embed_tokens", "time_embedder", "latent_pos_embed", "vae2llm", "llm2vae",
               "connector", "vit_pos_embed")
THINK_END = re.compile(r"</think>", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Sampler:
    """Upstream's image sampling knobs (``InterleaveInferencer.gen_image``), all recorded in run.json."""

    steps: int = 50
    cfg_text: float = 4.0
    cfg_img: float = 1.0
    cfg_interval: tuple[float, float] = (0.4, 1.0)
    timestep_shift: float = 3.0
    renorm_min: float = 0.0
    renorm_type: str = "global"

    def call_args(self) -> dict[str, Any]:
        return {"num_timesteps": self.steps, "cfg_text_scale": self.cfg_text, "cfg_img_scale": self.cfg_img,
                "cfg_interval": list(self.cfg_interval), "timestep_shift": self.timestep_shift,
                "cfg_renorm_min": self.renorm_min, "cfg_renorm_type": self.renorm_type}


# BAGEL's README defaults: text-to-image as above; editing with image guidance over the whole interval
GENERATE = Sampler()
EDIT = Sampler(cfg_img=2.0, cfg_interval=(0.0, 1.0), renorm_type="text_channel")
SAMPLER_OPTIONS: dict[str, options.Parser] = {
    "steps": options.count, "cfg_text": options.number, "cfg_img": options.number, "cfg_interval": options.span,
    "timestep_shift": options.number, "renorm_min": options.number,
    "renorm_type": options.choice("global", "channel", "text_channel"),
}


def _side16(name: str, value: str) -> int:
    side = options.count(name, value)
    if side % 16:
        raise UserError(f"--model-args {name}={value!r} must be a multiple of 16 (BAGEL's latent grid)")
    return side


OPTIONS: dict[str, options.Parser] = {
    "repo": options.text, "ema": options.text, "dtype": options.choice("bfloat16", "float32"),
    "device": options.text, "device_map": options.choice("auto", "single"), "think": options.flag,
    "think_images": options.flag,
    "max_think_tokens": options.count, "width": _side16, "height": _side16, "vit_max": options.count,
    "vit_min": options.count, "vae_max": options.count, "vae_min": options.count, "max_latent_size": options.count,
    **options.per_task(SAMPLER_OPTIONS),
}


class PilImageTransform:
    """Upstream's ``data.transforms.ImageTransform`` where torchvision is missing: the same sizes and values.

    Upstream resizes PIL images with torchvision, which calls PIL's bicubic resize, then ``ToTensor``
    and ``Normalize(0.5, 0.5)``; this does the same with PIL and NumPy (tests compare the two where
    torchvision is installed).
    """

    def __init__(self, max_size: int, min_size: int, stride: int, max_pixels: int = 14 * 14 * 9 * 1024) -> None:
        self.max_size, self.min_size, self.stride, self.max_pixels = max_size, min_size, stride, max_pixels

    def _size(self, width: float, height: float, scale: float) -> tuple[int, int]:
        return tuple(max(self.stride, int(round(round(v * scale) / self.stride) * self.stride))  # type: ignore[return-value]
                     for v in (width, height))

    def resize_transform(self, image: Image.Image, img_num: int = 1) -> Image.Image:
        width, height = image.size
        scale = max(min(self.max_size / max(width, height), 1.0), self.min_size / min(width, height))
        width, height = self._size(width, height, scale)
        if width * height > self.max_pixels / img_num:
            width, height = self._size(width, height, self.max_pixels / img_num / (width * height))
        if max(width, height) > self.max_size:
            width, height = self._size(width, height, self.max_size / max(width, height))
        return image.resize((width, height), Image.Resampling.BICUBIC)

    def __call__(self, image: Image.Image, img_num: int = 1) -> torch.Tensor:
        pixels = np.asarray(self.resize_transform(image, img_num).convert("RGB"), dtype=np.float32) / 255.0
        return (torch.from_numpy(pixels).permute(2, 0, 1) - 0.5) / 0.5   # (3, H, W) in [-1, 1]


class BagelModel:
    """BAGEL (or SGT-BAGEL) answering, generating, editing and traced, via upstream's inferencer.

    Parameters
    ----------
    path
        The checkpoint folder (BAGEL-7B-MoT layout).
    repo
        The clone of the upstream code (else ``$SGT_EVAL_BAGEL_REPO``).
    ema
        The EMA weights to load (default ``<path>/ema.safetensors``).
    dtype
        ``bfloat16`` (default) or ``float32`` weights; compute runs under bf16 autocast as upstream's.
    device, device_map
        ``device=auto|cpu|cuda|cuda:1`` for one device, or ``device_map=auto`` to spread the layers over
        every visible GPU as upstream's app does.
    think, think_images, max_think_tokens
        Upstream's thinking mode for answers, for images (a plan before generating or editing), and its
        token budget.
    generate, edit
        Sampler settings for text-to-image and for editing.
    width, height
        Text-to-image size when a request gives none.
    vit_max, vit_min, vae_max, vae_min, max_latent_size
        Image transform bounds (upstream: ViT 980/224, VAE 1024/512) and the latent grid limit (64).
    """

    capabilities = frozenset({"answer", "generate", "edit", "hidden_states", "attention"})

    def __init__(self, path: str, *, repo: str | None = None, ema: str | None = None, dtype: str = "bfloat16",
                 device: str = "auto", device_map: str = "single", think: bool = False, think_images: bool = False,
                 max_think_tokens: int = 1000,
                 generate: Sampler = GENERATE, edit: Sampler = EDIT, width: int = 1024, height: int = 1024,
                 vit_max: int = 980, vit_min: int = 224, vae_max: int = 1024, vae_min: int = 512,
                 max_latent_size: int = 64) -> None:
        self.name = self.path = path
        folder = Path(path).expanduser()
        weights = Path(ema).expanduser() if ema else folder / "ema.safetensors"
        for needed in (folder / "llm_config.json", folder / "vit_config.json", folder / "ae.safetensors", weights):
            if not needed.is_file():
                raise UserError(f"bagel:{path}: {needed} is missing (a BAGEL-7B-MoT folder has llm_config.json, "
                                f"vit_config.json, ae.safetensors, ema.safetensors and the tokenizer files)")
        if weights.suffix != ".safetensors":  # DESIGN.md section 9: no pickles for weights
            raise UserError(f"--model-args ema={ema}: BAGEL weights are loaded from .safetensors files only")
        self.clone = UPSTREAM.locate(repo)
        self.device = options.resolve_device(device)
        self.generate_sampler, self.edit_sampler = generate, edit
        self.think, self.think_images, self.max_think_tokens = think, think_images, max_think_tokens
        self.width, self.height = width, height
        with importable_flash_attn(), bagel_compat.transformers4_names():
            bagel, self.navit, autoencoder, qwen2, data_utils, inferencer = UPSTREAM.load(self.clone, MODULES)
            bagel_compat.plain_outputs(self.navit)
            self.vae, vae_params = self._load_vae(autoencoder, folder / "ae.safetensors")
            model = self._build(bagel, folder, vae_params, max_latent_size)
        self.model = self._dispatch(model, weights, DTYPES[dtype], device_map)
        self.vae.to(self.device).eval()
        tokenizer, self.token_ids, _ = data_utils.add_special_tokens(qwen2.Qwen2Tokenizer.from_pretrained(str(folder)))
        self.tokenizer = tokenizer
        transform = self._transform_class()
        self.inferencer = inferencer.InterleaveInferencer(
            model=self.model, vae_model=self.vae, tokenizer=tokenizer, vae_transform=transform(vae_max, vae_min, 16),
            vit_transform=transform(vit_max, vit_min, 14), new_token_ids=self.token_ids)
        self.settings = {"dtype": dtype, "device": str(self.device), "device_map": device_map,
                         "transforms": {"vit": [vit_max, vit_min, 14], "vae": [vae_max, vae_min, 16],
                                        "implementation": transform.__name__},
                         "max_latent_size": max_latent_size}
        self.checkpoint = {"folder": checkpoint_fingerprint(str(folder), None),
                           "ema": checkpoint_fingerprint(str(weights.parent), None) if ema else None}

    def answer(self, batch: Sequence[Query], *, max_new_tokens: int) -> list[str]:
        # upstream's max length counts the <|im_start|> that decoding starts from: one more for N new tokens
        budget = (max(max_new_tokens, self.max_think_tokens) if self.think else max_new_tokens) + 1
        answers = []
        for query in batch:
            with self._autocast():
                text, = self.inferencer.interleave_inference([*query.images, query.text], understanding_output=True,
                                                             think=self.think, max_think_token_n=budget,
                                                             do_sample=False)
            answers.append(THINK_END.split(text)[-1].strip() if self.think else text.strip())
        return answers

    def generate_images(self, batch: Sequence[GenRequest]) -> list[Image.Image]:
        images = []
        for request in batch:
            shape = (request.height or self.height, request.width or self.width)
            if shape[0] % 16 or shape[1] % 16:
                raise UserError(f"bagel cannot make a {shape[1]}x{shape[0]} image: sides must be multiples of 16")
            images.append(self._image([request.prompt], request.seed, self.generate_sampler, image_shapes=shape))
        return images

    def edit_images(self, batch: Sequence[EditRequest]) -> list[Image.Image]:
        """Edits at upstream's working size (the VAE transform's), returned at the source image's size."""
        edited = []
        for request in batch:
            image = self._image([request.image.convert("RGB"), request.instruction], request.seed, self.edit_sampler)
            edited.append(image if image.size == request.image.size else
                          image.resize(request.image.size, Image.Resampling.LANCZOS))
        return edited

    def trace(self, batch: Sequence[Query], reducers: Sequence[Any], *, answers: Sequence[str | None] | None = None,
              lexicon: Any = None) -> dict[str, torch.Tensor]:
        """Upstream's prefill (images, question) plus the teacher-forced answer, hooked (see probes.trace_bagel)."""
        from probes.trace_bagel import trace_bagel

        with self._autocast():
            return trace_bagel(self, batch, reducers, answers=answers, lexicon=lexicon)

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "checkpoint": self.checkpoint, **UPSTREAM.describe(self.clone),
                "attention": "flash_attn" if flash_attn_available() else "sdpa (sgt_eval.models.varlen)",
                "think": self.think, "think_images": self.think_images, "max_think_tokens": self.max_think_tokens,
                "width": self.width, "height": self.height, "generate": options.plain(self.generate_sampler),
                "edit": options.plain(self.edit_sampler), "generator": "torch CPU, seeded per image",
                **self.settings, "torch": torch.__version__, "transformers": transformers.__version__}

    def _image(self, inputs: list[Any], seed: int, sampler: Sampler, **shape: Any) -> Image.Image:
        torch.manual_seed(seed)  # upstream draws the initial latent noise with torch.randn on the CPU
        with self._autocast():
            outputs = self.inferencer.interleave_inference(inputs, understanding_output=False, think=self.think_images,
                                                           max_think_token_n=self.max_think_tokens, do_sample=False,
                                                           **sampler.call_args(), **shape)
        return outputs[-1]

    @contextmanager
    def _autocast(self) -> Iterator[None]:
        """bf16 autocast on the model's device: upstream's own autocast is CUDA-only, and its gen path
        casts activations to bf16, which fp32 or CPU weights need autocast to accept."""
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16):
            yield

    @staticmethod
    def _load_vae(autoencoder: Any, weights: Path) -> tuple[Any, Any]:
        """Upstream's FLUX autoencoder; an ``ae_config.json`` beside it (small test checkpoints) gives its shape."""
        config = weights.with_name("ae_config.json")
        if not config.is_file():
            return autoencoder.load_ae(local_path=str(weights))
        from safetensors.torch import load_file

        params = autoencoder.AutoEncoderParams(**json.loads(config.read_text()))
        vae = autoencoder.AutoEncoder(params)
        vae.load_state_dict(load_file(str(weights)), strict=True)
        return vae, params

    @staticmethod
    def _build(bagel: Any, folder: Path, vae_params: Any, max_latent_size: int) -> Any:
        """The empty model, configured as upstream's app.py configures it."""
        from accelerate import init_empty_weights

        llm = bagel_compat.config_defaults(bagel.Qwen2Config.from_json_file(str(folder / "llm_config.json")))
        llm.qk_norm, llm.tie_word_embeddings, llm.layer_module = True, False, "Qwen2MoTDecoderLayer"
        vit = bagel.SiglipVisionConfig.from_json_file(str(folder / "vit_config.json"))
        vit.rope = False
        vit.num_hidden_layers -= 1  # upstream drops the ViT's last layer
        config = bagel.BagelConfig(visual_gen=True, visual_und=True, llm_config=llm, vit_config=vit,
                                   vae_config=vae_params, vit_max_num_patch_per_side=70,
                                   connector_act="gelu_pytorch_tanh", latent_patch_size=2,
                                   max_latent_size=max_latent_size)
        with init_empty_weights():
            model = bagel.Bagel(bagel.Qwen2ForCausalLM(llm), bagel.SiglipVisionModel(vit), config)
            model.vit_model.vision_model.embeddings.convert_conv2d_to_linear(vit, meta=True)
        return model

    def _dispatch(self, model: Any, weights: Path, dtype: torch.dtype, device_map: str) -> Any:
        """Load the EMA weights. On GPUs as upstream does: accelerate places the layers (one GPU, or all with
        ``device_map=auto``) and its hooks move the inputs; on the CPU the weights are simply loaded."""
        from accelerate import infer_auto_device_map, load_checkpoint_and_dispatch, load_checkpoint_in_model

        if self.device.type == "cpu":
            load_checkpoint_in_model(model, str(weights), device_map={"": "cpu"}, dtype=dtype)
        else:
            gpus = None if device_map == "auto" else {self.device.index or torch.cuda.current_device():
                                                      torch.cuda.mem_get_info(self.device)[0]}
            placement = infer_auto_device_map(model, max_memory=gpus,
                                              no_split_module_classes=["Bagel", "Qwen2MoTDecoderLayer"])
            first = placement.get(SAME_DEVICE[0], 0)
            placement.update({name: first for name in SAME_DEVICE})
            model = load_checkpoint_and_dispatch(model, checkpoint=str(weights), device_map=placement, dtype=dtype,
                                                 force_hooks=True)
        empty = [name for name, p in model.named_parameters() if p.is_meta]
        if empty:
            raise UserError(f"{weights} lacks {len(empty)} of the model's weights (e.g. {empty[0]}); is it a BAGEL "
                            f"EMA for this llm_config.json / vit_config.json?")
        return model.eval()

    def _transform_class(self) -> Any:
        """Upstream's ImageTransform when it imports (it needs torchvision and OpenCV), else the PIL twin."""
        try:
            return UPSTREAM.load(self.clone, ("data.transforms",))[0].ImageTransform
        except UserError:
            return PilImageTransform


def load_bagel(arg: str, model_args: Mapping[str, str], seed: int) -> BagelModel:
    """Backend entry for ``bagel:<checkpoint-folder>`` (``seed`` is unused: each image has its own)."""
    if not arg:
        raise UserError("--model bagel needs a checkpoint folder: bagel:/path/to/BAGEL-7B-MoT "
                        "(with --model-args repo=/path/to/Bagel-clone, or $SGT_EVAL_BAGEL_REPO)")
    given = options.parse_options("bagel", OPTIONS, model_args)
    samplers = options.task_samplers(given, GENERATE, EDIT)
    return BagelModel(arg, **given, **samplers)
