"""Evaluate one model on one benchmark, batch by batch, appending each graded batch to the run.

Resume is "skip the ids already recorded". Batches are formed from prompts sorted by length,
which only reduces padding: batch composition never changes an answer (tested).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps
from tqdm import tqdm

from benchmarks.base import Benchmark, Dataset
from sgt_eval.judges import Judge
from sgt_eval.models.base import Query
from sgt_eval.records import Prediction, Sample, failed
from sgt_eval.store import PredictionLog


def evaluate(model: Any, bench: Benchmark, dataset: Dataset, log: PredictionLog, *, batch_size: int,
             limit: int | None = None, judge: Judge | None = None, retry_errors: bool = False,
             show_progress: bool = True) -> list[Prediction]:
    """Answer and grade every sample not yet in ``log``; return all of the benchmark's records.

    Parameters
    ----------
    model
        An adapter with ``answer(batch, max_new_tokens=...)``.
    bench, dataset
        The configured benchmark and its loaded data.
    log
        The benchmark's ``predictions.jsonl`` in the run directory.
    limit
        Evaluate only the first ``limit`` samples in dataset order.
    retry_errors
        Re-run samples recorded with an error (e.g. an image that has since been fixed).
    """
    log.repair_torn_tail()
    done = log.load()
    if retry_errors and any(r.error for r in done.values()):
        done = {k: r for k, r in done.items() if r.error is None}
        log.rewrite(done.values())
    samples = dataset.samples[:limit] if limit is not None else dataset.samples
    todo = [s for s in samples if s.id not in done]
    todo.sort(key=lambda s: (s.image is None, len(bench.prompt(s))))  # stable: similar lengths share a batch
    with tqdm(total=len(samples), initial=len(samples) - len(todo), desc=bench.name, unit="sample",
              file=sys.stderr, disable=not show_progress, dynamic_ncols=True) as bar:
        for start in range(0, len(todo), batch_size):
            records = answer_batch(model, bench, dataset.root, todo[start:start + batch_size], judge)
            log.append(records)
            done.update((r.id, r) for r in records)
            bar.update(len(records))
    return list(done.values())


def answer_batch(model: Any, bench: Benchmark, root: Path, samples: Sequence[Sample],
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


class ImageError(Exception):
    """A sample's image is missing or unreadable; recorded on the sample, the run goes on."""


def load_images(root: Path, sample: Sample) -> tuple[Image.Image, ...]:
    if sample.image is None:
        return ()
    path = root / sample.image
    try:
        with Image.open(path) as image:
            return (ImageOps.exif_transpose(image).convert("RGB"),)
    except FileNotFoundError:
        raise ImageError(f"missing image {sample.image}") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ImageError(f"unreadable image {sample.image}: {err}") from None
