"""Evaluate one model on one benchmark, batch by batch, appending each graded batch to the run.

Resume is "skip the ids already recorded". Answer batches are formed from prompts sorted by
length, which only reduces padding: batch composition never changes an answer (tested). Image
batches write each image (atomically, in the official layout) before its record, and a resumed
run grades an image already on disk instead of generating it again.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from tqdm import tqdm

from benchmarks.base import AnswerBenchmark, Benchmark, Dataset, ImageBenchmark
from sgt_eval.distributed import Ranks, ShardedLog
from sgt_eval.judges import Judge
from sgt_eval.models.base import EditRequest, GenRequest, Query, derive_seed
from sgt_eval.records import Prediction, Sample, failed
from sgt_eval.store import PredictionLog, remove_stale_temps, write_bytes_atomic


def evaluate(model: Any, bench: Benchmark, dataset: Dataset, log: PredictionLog, *, batch_size: int,
             limit: int | None = None, judge: Judge | None = None, retry_errors: bool = False,
             seed: int = 0, show_progress: bool = True, ranks: Ranks | None = None) -> list[Prediction]:
    """Run and grade every sample not yet in ``log``; return all of the benchmark's records.

    Parameters
    ----------
    model
        An adapter with the method the benchmark's task needs (``answer``, ``generate_images``
        or ``edit_images``).
    bench, dataset
        The configured benchmark and its loaded data.
    log
        The benchmark's ``predictions.jsonl`` in the run directory; image benchmarks write their
        images beside it.
    limit
        Evaluate only the first ``limit`` samples in dataset order.
    retry_errors
        Re-run samples recorded with an error (e.g. an image that has since been fixed).
    seed
        The run seed; each generated image's seed is derived from it and the sample id.
    ranks
        Under torchrun, this process's share (see :mod:`sgt_eval.distributed`); rank 0 returns all
        records once every rank is done, the other ranks an empty list.
    """
    ranks = ranks or Ranks()
    samples = dataset.samples[:limit] if limit is not None else dataset.samples
    sharded = ShardedLog(log, ranks)
    done = sharded.start(samples, retry_errors)
    if isinstance(bench, AnswerBenchmark):
        mine = ranks.mine(samples)
        todo = [s for s in mine if s.id not in done]
        todo.sort(key=lambda s: (s.image is None, len(bench.prompt(s))))  # stable: similar lengths share a batch
        batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]

        def run_batch(batch: list[Sample]) -> list[Prediction]:
            return answer_batch(model, bench, dataset.root, batch, judge)
    else:
        assert isinstance(bench, ImageBenchmark)
        bench.outputs_root = log.path.parent
        if bench.outputs_root.exists() and ranks.main:  # other ranks may already be writing theirs
            remove_stale_temps(bench.outputs_root)
        # Diffusion kernels are not bit-exact across batch sizes, so image batches keep fixed
        # boundaries in dataset order: a resumed (or sharded) run re-forms exactly the batches of a fresh one.
        fixed = ranks.mine([samples[i:i + batch_size] for i in range(0, len(samples), batch_size)])
        mine = [s for batch in fixed for s in batch]
        todo = [s for s in mine if s.id not in done]
        batches = [batch for batch in fixed if any(s.id not in done for s in batch)]

        def run_batch(batch: list[Sample]) -> list[Prediction]:
            return image_batch(model, bench, dataset, batch, judge, seed, skip=done)
    with tqdm(total=len(mine), initial=len(mine) - len(todo), desc=ranks.label() + bench.name, unit="sample",
              file=sys.stderr, disable=not show_progress, dynamic_ncols=True) as bar:
        for batch in batches:
            records = run_batch(batch)
            sharded.writer.append(records)
            done.update((r.id, r) for r in records)
            bar.update(len(records))
    return sharded.finish(samples) if ranks.world > 1 else list(done.values())


def answer_batch(model: Any, bench: AnswerBenchmark, root: Path, samples: Sequence[Sample],
                 judge: Judge | None) -> list[Prediction]:
    """One batch: load images (a bad image becomes that sample's error record), answer, grade."""
    ready: list[tuple[Sample, Query]] = []
    errors: list[Prediction] = []
    for sample in samples:
        try:
            ready.append((sample, Query(bench.prompt(sample), load_images(root, sample))))
        except ImageError as err:
            errors.append(failed(sample, str(err)))
    outputs = model.answer([q for _, q in ready], max_new_tokens=bench.max_new_tokens) if ready else []
    return bench.grade([s for s, _ in ready], outputs, judge) + errors


def image_batch(model: Any, bench: ImageBenchmark, dataset: Dataset, batch: Sequence[Sample], judge: Judge | None,
                seed: int, skip: Mapping[str, Prediction]) -> list[Prediction]:
    """One fixed batch of generations or edits: grade the samples not in ``skip`` (already recorded).

    When any image of the batch is missing the whole batch is generated again, so every image
    comes from the same batch composition as in an uninterrupted run; images already on disk
    (written before an interruption) are kept as they are, never rewritten.
    """
    root = bench.outputs_root
    assert root is not None
    requests: list[tuple[Sample, GenRequest | EditRequest]] = []
    errors: list[Prediction] = []
    for sample in batch:
        image_seed = derive_seed(seed, bench.name, sample.id)
        if bench.task == "generate":
            requests.append((sample, GenRequest(bench.prompt(sample), image_seed)))
            continue
        try:
            requests.append((sample, EditRequest(bench.prompt(sample), bench.source_image(sample, dataset), image_seed)))
        except ImageError as err:
            errors.append(failed(sample, str(err)))
    if any(not (root / bench.output_path(s)).exists() for s, _ in requests):
        make = model.generate_images if bench.task == "generate" else model.edit_images
        for (sample, _), image in zip(requests, make([r for _, r in requests]), strict=True):
            path = root / bench.output_path(sample)
            if not path.exists():
                save_image(image, path)
    ready = [s for s, _ in requests if s.id not in skip]
    for sample in ready:
        bench.write_sidecars(sample, dataset, root)
    return bench.grade(ready, [bench.output_path(s) for s in ready], judge) + [e for e in errors if e.id not in skip]


class ImageError(Exception):
    """A sample's image is missing or unreadable; recorded on the sample, the run goes on."""


def open_image(path: Path, name: str) -> Image.Image:
    """An RGB image with its EXIF orientation applied; :class:`ImageError` naming ``name`` otherwise."""
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGB")
    except FileNotFoundError:
        raise ImageError(f"missing image {name}") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageError(f"unreadable image {name}: {err}") from None


def load_images(root: Path, sample: Sample) -> tuple[Image.Image, ...]:
    return () if sample.image is None else (open_image(root / sample.image, sample.image),)


def save_image(image: Image.Image, path: Path) -> None:
    """Write a PNG atomically: an interrupted run never leaves a truncated image behind."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())
