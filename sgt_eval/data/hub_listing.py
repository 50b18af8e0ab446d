"""Hub datasets whose data files are found by listing the revision (GEdit-Bench), not named in ``sources``.

The listing is the hub API call ``huggingface_hub.dataset_info(files_metadata=True)`` makes: it
names the commit the revision resolves to and every file with its LFS sha256, so each data file
is downloaded at that commit and verified byte for byte. Only the total row count is known in
advance (``sources.GEDIT_ROWS``); the lock records each file's hash and rows, which ``check``
verifies offline and a later fetch reuses without a request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.base import safe_relpath, sha256_file
from sgt_eval.data.download import Http
from sgt_eval.data.layout import count_rows
from sgt_eval.data.lock import LOCK_NAME, file_entry, locked_sha256
from sgt_eval.data.sources import GEDIT_DATA_SUFFIXES, GEDIT_ROWS, Release, file_url, hub_listing_url
from sgt_eval.errors import UserError

_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubFile:
    """One data file of the listing: its path in the repository (= under the benchmark folder) and LFS hash."""

    path: str
    sha256: str | None


def list_data_files(http: Http, rel: Release, revision: str) -> tuple[str, list[HubFile]]:
    """The commit ``revision`` resolves to and the dataset's data files there, sorted by path.

    Raises
    ------
    UserError
        When the listing is not the hub's JSON, has no commit, or names no data file.
    """
    url = hub_listing_url(rel, revision)
    try:
        doc = json.loads(http.read(url))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{url} did not return the hub's JSON listing; check HF_ENDPOINT") from None
    commit = doc.get("sha") if isinstance(doc, dict) else None
    siblings = doc.get("siblings") if isinstance(doc, dict) else None
    if not (isinstance(commit, str) and _SHA.fullmatch(commit) and isinstance(siblings, list)):
        raise UserError(f"{url}: the listing lacks 'sha' (a commit) or 'siblings'; check HF_ENDPOINT")
    files = []
    for entry in siblings:
        name = entry.get("rfilename") if isinstance(entry, dict) else None
        if isinstance(name, str) and name.endswith(GEDIT_DATA_SUFFIXES):
            lfs = entry.get("lfs")
            digest = lfs.get("sha256") if isinstance(lfs, dict) else None
            files.append(HubFile(safe_relpath(name, "rfilename", Path(f"{rel.source} listing")), digest if isinstance(digest, str) else None))
    if not files:
        raise UserError(f"{rel.source} at {revision} has no {'/'.join(GEDIT_DATA_SUFFIXES)} files; "
                        f"pin a revision that has them with --version <sha>")
    return commit, sorted(files, key=lambda f: f.path)


def fetch_listed(http: Http, rel: Release, folder: Path, old: dict[str, Any] | None,
                 commit: str | None) -> tuple[dict[str, Any], dict[str, int], str]:
    """Download (or keep) every data file of the dataset; return lock entries, row counts and the commit.

    Parameters
    ----------
    old
        The previous lock when it describes the same revision: if every data file it recorded is
        present with its hash, nothing is requested.
    commit
        The commit that lock recorded (``None`` to resolve ``rel.revision`` now).

    Raises
    ------
    UserError
        When a download fails or the files do not hold :data:`GEDIT_ROWS` rows (they are then
        deleted: a present data file is always a verified one).
    """
    kept = _locked_data_files(old)
    if commit and kept and all((folder / p).is_file() and sha256_file(folder / p) == h for p, h in kept.items()):
        paths = sorted(kept)
    else:
        commit, files = list_data_files(http, rel, commit or rel.revision)
        for f in files:
            dest = folder / f.path
            expected = f.sha256 or kept.get(f.path)
            if not (expected and dest.is_file() and sha256_file(dest) == expected):
                http.download(file_url(rel, f.path, commit), dest, f.sha256, progress=f.path)
        paths = [f.path for f in files]
    counts = {p: count_rows(folder / p) for p in paths}
    if sum(counts.values()) != GEDIT_ROWS:
        for p in paths:
            (folder / p).unlink()
        raise UserError(f"{rel.source} at {rel.label(commit)} has {sum(counts.values())} rows in "
                        f"{', '.join(paths)}, expected {GEDIT_ROWS}; the dataset changed (pin a known revision "
                        f"with --version <sha>), so the files were not kept")
    return {p: file_entry(folder / p) for p in paths}, counts, commit


def check_listed(folder: Path, lock: dict[str, Any] | None, fix: str) -> tuple[int, int, list[str]]:
    """Offline check of the data files a lock recorded: ``(files, rows, problems)``."""
    recorded = _locked_data_files(lock)
    if not recorded:
        return 0, 0, [f"{LOCK_NAME} records no {'/'.join(GEDIT_DATA_SUFFIXES)} data files; {fix}"]
    problems, rows = [], 0
    for path, digest in sorted(recorded.items()):
        file = folder / path
        if not file.is_file():
            problems.append(f"missing {path}; {fix}")
            continue
        if sha256_file(file) != digest:
            problems.append(f"{path}: sha256 differs from the hash {LOCK_NAME} recorded (damaged or edited); {fix}")
        try:
            rows += count_rows(file)
        except UserError as err:
            problems.append(str(err))
    if not problems and rows != GEDIT_ROWS:
        problems.append(f"the data files hold {rows:,} rows, expected {GEDIT_ROWS:,}; {fix}")
    return len(recorded), rows, problems


def _locked_data_files(lock: dict[str, Any] | None) -> dict[str, str]:
    """Data file -> sha256, as a lock recorded them."""
    names = (lock or {}).get("files", {})
    found = {name: locked_sha256(lock, name) for name in names if name.endswith(GEDIT_DATA_SUFFIXES)}
    return {name: digest for name, digest in found.items() if digest}
