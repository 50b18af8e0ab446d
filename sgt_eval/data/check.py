"""``sgt-eval data check``: re-verify a benchmark folder without touching the network.

Metadata hashes are compared with the pinned hashes (GitHub sources) or those the lock file
recorded at fetch time (hub sources); row counts with the expected counts; and every image the
metadata references must be present (with the size the lock recorded, when it recorded one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.base import sha256_file
from sgt_eval.data.hallusion_prompt import JUDGE_PROMPT, load_judge_prompt
from sgt_eval.data.hub_listing import check_listed
from sgt_eval.data.layout import count_rows, image_refs
from sgt_eval.data.lock import LOCK_NAME, locked_image_sizes, locked_sha256, read_lock
from sgt_eval.data.sources import Release, check_bench, github_releases, release
from sgt_eval.data.viescore_prompt import PROMPTS_FILE, load_prompts
from sgt_eval.errors import UserError


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one benchmark folder: ``summary`` when all is well, else ``problems``."""

    bench: str
    summary: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def identify_release(bench: str, folder: Path) -> Release | None:
    """The pinned GitHub release whose files are all in ``folder`` byte for byte, if any.

    Lets a folder filled by hand (without a lock file) be recognised, e.g. POPE ``llava15``.
    """
    for rel in github_releases(bench):
        paths = [(folder / f.local, f.sha256) for f in rel.files]
        if all(p.is_file() and sha256_file(p) == h for p, h in paths):
            return rel
    return None


def check(bench: str, root: Path, version: str | None = None) -> CheckResult:
    """Verify ``<root>/<bench>`` against its release and lock file.

    Parameters
    ----------
    bench
        One of the benchmarks of ``sources.BENCHES``.
    root
        Data root holding the benchmark folder.
    version
        Release expected; default the one the lock file names, else the one the files match.

    Returns
    -------
    CheckResult
        Every problem found (missing or damaged files, wrong row counts, missing images).
    """
    check_bench(bench)
    folder = root / bench
    fix = f"re-run `sgt-eval data fetch --bench {bench} --root {root}`"
    if not folder.is_dir():
        return CheckResult(bench, "", (f"no folder {folder}; run `sgt-eval data fetch --bench {bench} --root {root}`",))
    problems: list[str] = []
    try:
        lock = read_lock(folder)
    except UserError as err:
        problems.append(str(err))
        lock = None
    rel = _expected_release(bench, folder, version, lock, problems)
    rows, hashed = 0, 0
    absent = [f.local for f in rel.files if not (folder / f.local).is_file()]
    if absent:
        problems.append(f"missing {', '.join(absent)}; {fix}")
    for f in rel.files:
        path = folder / f.local
        if f.local in absent:
            continue
        expected = f.sha256 or locked_sha256(lock, f.local)
        if expected:
            hashed += 1
            if sha256_file(path) != expected:
                what = f"the pinned {rel.label()} file" if f.sha256 else f"the hash {LOCK_NAME} recorded"
                problems.append(f"{f.local}: sha256 differs from {what} (damaged or edited); {fix}")
        try:
            n = count_rows(path)
        except UserError as err:
            problems.append(str(err))
            continue
        rows += n
        if n != f.rows:
            problems.append(f"{f.local}: {n:,} rows, expected {f.rows:,}; {fix}")
    n_files = len(rel.files)
    if bench == "gedit":  # data files as the hub listed them at fetch time
        n_files, rows, listed = check_listed(folder, lock, fix)
        hashed = n_files
        problems += listed
    prompt_checks = {"hallusionbench": (load_judge_prompt, JUDGE_PROMPT), "gedit": (load_prompts, PROMPTS_FILE)}
    if bench in prompt_checks:
        load, name = prompt_checks[bench]
        try:
            load(folder / name)
        except UserError as err:
            problems.append(str(err))
    n_images = _check_images(rel, folder, lock, fix, problems)
    commit = lock.get("commit") if lock and lock.get("source") == rel.source else None
    note = "" if hashed == n_files else f" (no {LOCK_NAME}: hub file hashes not verified)"
    summary = f"OK {bench} {rel.label(commit)}: {n_files} files, {rows:,} rows, {n_images:,} images{note}"
    return CheckResult(bench, summary, tuple(problems))


def _expected_release(bench: str, folder: Path, version: str | None, lock: dict[str, Any] | None,
                      problems: list[str]) -> Release:
    if version:
        rel = release(bench, version)
        if lock and lock.get("version") not in (None, rel.version) and rel.revision != lock.get("commit"):
            problems.append(f"{LOCK_NAME} says this folder holds {bench} {lock.get('version')}, not {version}")
        return rel
    if lock and isinstance(lock.get("version"), str):
        try:
            return release(bench, lock["version"])
        except UserError:
            problems.append(f"{LOCK_NAME} names {bench} version {lock['version']!r}, which this sgt-eval does not know")
    return identify_release(bench, folder) or release(bench)


def _check_images(rel: Release, folder: Path, lock: dict[str, Any] | None, fix: str, problems: list[str]) -> int:
    """Append image problems; return how many referenced images are present."""
    try:
        refs = image_refs(rel, folder)
    except UserError as err:
        problems.append(str(err))
        return 0
    sizes = locked_image_sizes(lock)
    missing, resized = [], []
    for ref in refs:
        path = folder / ref.local
        if not path.is_file():
            missing.append(ref.local)
        elif ref.local in sizes and path.stat().st_size != sizes[ref.local]:
            resized.append(ref.local)
    if missing:
        problems.append(f"{len(missing):,} of {len(refs):,} images missing (first: {', '.join(missing[:3])}); {fix}")
    if resized:
        problems.append(f"{len(resized):,} images differ in size from {LOCK_NAME} "
                        f"(first: {', '.join(resized[:3])}); {fix}")
    return len(refs) - len(missing)
