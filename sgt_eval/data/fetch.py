"""``sgt-eval data fetch``: download one benchmark's pinned files into ``<root>/<bench>``.

Order of work: metadata files (verified against pinned hashes and row counts; GEdit-Bench's data
files as the hub lists them), the HallusionBench judge prompt or the GEdit VIEScore prompts, a
first lock file (so scoring works even if images fail), the images, the final lock. Everything already present and verified is skipped, so re-running resumes and a complete
folder costs no request at all. For a hub dataset this means the commit recorded by the first
fetch stays until ``--version <sha>`` names another one (or the folder is deleted).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.base import sha256_file
from sgt_eval.data.archive import extract_zip
from sgt_eval.data.download import DownloadFailed, Http, NeedsBrowser, Unreachable
from sgt_eval.data.hallusion_prompt import JUDGE_PROMPT, judge_prompt_document
from sgt_eval.data.hub_listing import fetch_listed
from sgt_eval.data.layout import HALLUSION_IMAGES, ImageRef, count_rows, image_refs
from sgt_eval.data.lock import (
    file_entry,
    locked_image_sizes,
    locked_sha256,
    read_lock,
    write_lock,
)
from sgt_eval.data.sources import (
    HALLUSION_UTILS,
    HALLUSION_ZIP_ID,
    HALLUSION_ZIP_PAGE,
    VIESCORE_SOURCE,
    Release,
    base_url,
    file_url,
    github_url,
    release,
)
from sgt_eval.data.viescore_prompt import PROMPTS_FILE, prompts_document
from sgt_eval.errors import UserError
from sgt_eval.store import write_bytes_atomic

HALLUSION_ZIP = "hallusion_bench.zip"
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass
class FetchResult:
    """What one fetch did; ``problems`` is empty when the folder is complete."""

    bench: str
    label: str
    folder: Path
    files: int
    rows: int
    images_expected: int
    images_present: int
    images_downloaded: int
    images_requested: bool
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        if self.images_requested:
            images = (f"images {self.images_present:,}/{self.images_expected:,} present "
                      f"({self.images_downloaded:,} downloaded now)")
        else:
            images = "images not fetched (--no-images)"
        return (f"{self.bench} {self.label}: {self.files} metadata files ({self.rows:,} rows), "
                f"{images} -> {self.folder}")


def make_http(folder: Path) -> Http:
    """The client for one benchmark: offline errors say how to copy the folder; HF_TOKEN goes to the hub only."""
    token = os.environ.get("HF_TOKEN")
    tokens = {urlsplit(base_url("hf")).netloc: token} if token else {}
    return Http(hint=f"fetch on a connected machine and copy {folder}", tokens=tokens)


def fetch(bench: str, root: Path, version: str | None = None, images: bool = True, jobs: int = 8,
          http: Http | None = None) -> FetchResult:
    """Download (or complete) ``<root>/<bench>`` and write its lock file.

    Parameters
    ----------
    bench
        One of the benchmarks of ``sources.BENCHES``.
    root
        Data root; the benchmark goes into ``root / bench`` in the layout of ``docs/data.md``.
    version
        Release name (POPE: ``head`` or ``llava15``) or hub revision (CV-Bench, MMVP, GEdit-Bench);
        default the pinned default.
    images
        Also download the images the metadata references.
    jobs
        Parallel image downloads.
    http
        Client to use (tests pass one with a short back-off); default a :func:`make_http` closed on return.

    Raises
    ------
    UserError
        One line, for an unreachable host, a file that is not the pinned one, or an unusable file.
    """
    if http is None:
        with make_http(root / bench) as own:
            return fetch(bench, root, version, images, jobs, own)
    folder = root / bench
    rel = release(bench, version)
    old = read_lock(folder)
    reuse = _same_hub_revision(rel, old)
    commit = (old or {}).get("commit") if reuse else None
    if bench == "gedit":
        entries, counts, commit = fetch_listed(http, rel, folder, old if reuse else None, commit)
    else:
        entries, counts, commit = _fetch_files(http, rel, folder, old if reuse else None, commit)
    if rel.host == "github":
        commit = rel.revision
    elif version and _SHA.fullmatch(version):
        commit = version
    if bench == "hallusionbench":
        entries[JUDGE_PROMPT] = _judge_prompt(http, rel, folder, old)
    if bench == "gedit":
        entries[PROMPTS_FILE] = _viescore_prompts(http, folder, old)
    doc = {"bench": bench, "version": rel.version, "source": rel.source, "revision": rel.revision, "commit": commit,
           "files": entries, "counts": counts}
    refs = image_refs(rel, folder, commit)
    write_lock(folder, _stamp(doc, folder, refs))  # metadata is usable for scoring before any image arrives
    problems: list[str] = []
    downloaded = 0
    if images:
        if bench == "hallusionbench":
            problems, downloaded = _hallusion_images(http, folder, refs)
        else:
            problems, downloaded = _download_images(http, folder, refs, old, jobs, bench)
    final = _stamp(doc, folder, refs)
    write_lock(folder, final)
    return FetchResult(bench, rel.label(commit), folder, len(counts), sum(counts.values()), len(refs),
                       final["images"]["present"], downloaded, images, problems)


def _fetch_files(http: Http, rel: Release, folder: Path, old: dict[str, Any] | None,
                 commit: str | None) -> tuple[dict[str, Any], dict[str, int], str | None]:
    """The release's named files: lock entries, row counts and the hub commit they came from.

    ``old`` is the previous lock when it describes the same hub revision (its hashes let present
    files be kept without a request).
    """
    entries: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for f in rel.files:
        dest = folder / f.local
        expected = f.sha256 or locked_sha256(old, f.local)
        if not (expected and dest.is_file() and sha256_file(dest) == expected):
            url = file_url(rel, f.remote, f.revision or commit, f.repo)
            got = http.download(url, dest, f.sha256)
            if rel.host == "hf" and commit is None and got.commit and _SHA.fullmatch(got.commit):
                commit = got.commit  # every later file of this fetch comes from the same commit
        counts[f.local] = count_rows(dest)
        if counts[f.local] != f.rows:
            dest.unlink()
            raise UserError(f"{f.local} of {rel.source} at {rel.label(commit)} has {counts[f.local]} rows, expected "
                            f"{f.rows}; the dataset changed (pin a known revision with --version <sha>), so it was not kept")
        entries[f.local] = file_entry(dest)
    return entries, counts, commit


def _same_hub_revision(rel: Release, old: dict[str, Any] | None) -> bool:
    """Whether a previous fetch's recorded hub hashes describe the revision asked for now."""
    if rel.host != "hf" or old is None or old.get("source") != rel.source:
        return False
    return rel.revision in (old.get("revision"), old.get("commit"))


def _judge_prompt(http: Http, rel: Release, folder: Path, old: dict[str, Any] | None) -> dict[str, Any]:
    """Write ``judge_prompt.json`` from upstream ``utils.py`` at the pinned commit (unless already written)."""
    dest = folder / JUDGE_PROMPT
    if not (dest.is_file() and locked_sha256(old, JUDGE_PROMPT) == sha256_file(dest)):
        path, sha256 = HALLUSION_UTILS
        doc = judge_prompt_document(_utf8(http, file_url(rel, path), sha256), rel.repo, rel.revision)
        write_bytes_atomic(dest, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return file_entry(dest)


def _viescore_prompts(http: Http, folder: Path, old: dict[str, Any] | None) -> dict[str, Any]:
    """Write ``viescore_prompts.json`` from Step1X-Edit's ``vie_prompts.py`` at the pinned commit (once)."""
    dest = folder / PROMPTS_FILE
    if not (dest.is_file() and locked_sha256(old, PROMPTS_FILE) == sha256_file(dest)):
        repo, commit, path, sha256 = VIESCORE_SOURCE
        doc = prompts_document(_utf8(http, github_url(repo, commit, path), sha256), repo, commit, path)
        write_bytes_atomic(dest, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return file_entry(dest)


def _utf8(http: Http, url: str, sha256: str) -> str:
    """A pinned upstream source file as text."""
    try:
        return http.read(url, sha256).decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{url} is not UTF-8 text; the source changed") from None


def _download_images(http: Http, folder: Path, refs: list[ImageRef], old: dict[str, Any] | None,
                     jobs: int, bench: str) -> tuple[list[str], int]:
    sizes = locked_image_sizes(old)
    todo = [(ref.url or "", folder / ref.local) for ref in refs
            if not _present(folder / ref.local, sizes.get(ref.local))]
    failures = http.download_many(todo, jobs, desc=f"{bench} images")
    problems = []
    if failures:
        problems.append(f"{len(failures):,} of {len(refs):,} images could not be downloaded "
                        f"({'; '.join(failures[:3])}); re-run the same command to retry")
    return problems, len(todo) - len(failures)


def _hallusion_images(http: Http, folder: Path, refs: list[ImageRef]) -> tuple[list[str], int]:
    """HallusionBench images come only as one Google Drive zip; download it if Drive allows, else say where."""
    missing = [ref for ref in refs if not (folder / ref.local).is_file()]
    if not missing:
        return [], 0
    zip_path = folder / HALLUSION_ZIP
    downloaded = not zip_path.is_file()
    if downloaded:
        url = f"{base_url('gdrive')}/download?id={HALLUSION_ZIP_ID}&export=download&confirm=t"
        try:
            http.download(url, zip_path, reject_html=True, progress=HALLUSION_ZIP)
        except (NeedsBrowser, DownloadFailed, Unreachable) as err:
            return [f"could not download the images automatically ({err}); download {HALLUSION_ZIP} from "
                    f"{HALLUSION_ZIP_PAGE} into {folder} and re-run this command (or unzip it there so that "
                    f"{folder / HALLUSION_IMAGES}/VD exists)"], 0
    try:
        written = extract_zip(zip_path, folder, HALLUSION_IMAGES)
    except UserError:
        if downloaded:
            zip_path.unlink()
        raise
    if downloaded:
        zip_path.unlink()  # a zip the user placed there is theirs to keep
    still = [ref.local for ref in refs if not (folder / ref.local).is_file()]
    if still:
        return [f"{len(still):,} images named in HallusionBench.json are not in {HALLUSION_ZIP} "
                f"(first: {', '.join(still[:3])})"], written
    return [], written


def _present(path: Path, size: int | None) -> bool:
    """A file written by fetch is whole (atomic writes); a recorded size also catches a damaged copy."""
    return path.is_file() and (size is None or path.stat().st_size == size)


def _stamp(doc: dict[str, Any], folder: Path, refs: list[ImageRef]) -> dict[str, Any]:
    sizes = {ref.local: (folder / ref.local).stat().st_size for ref in refs if (folder / ref.local).is_file()}
    images = {"expected": len(refs), "present": len(sizes), "sizes": sizes}
    return {**doc, "images": images, "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
