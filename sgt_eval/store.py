"""The run directory (DESIGN.md section 5): the source of truth every later stage reads.

``predictions.jsonl`` is append-only and flushed per batch, so a run killed at any instant
loses at most the batch in flight. A torn last line (the process died mid-write) is cut off
before appending; damage anywhere else is reported with file and line, never skipped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sgt_eval.errors import UserError
from sgt_eval.records import Prediction

TEMP_MARK = ".tmp-"  # in every temporary name, so leftovers of a killed write can be recognised


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and ``os.replace``: readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """Sorted, indented JSON written atomically (``run.json``, ``metrics.json``)."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temps(folder: Path) -> None:
    """Delete temporary files that a killed atomic write left under ``folder``."""
    for leftover in folder.rglob(f".*{TEMP_MARK}*"):
        leftover.unlink(missing_ok=True)


def read_jsonl(path: Path, torn_tail: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-empty line; a bad line is a one-line error naming it.

    With ``torn_tail``, an unreadable last line without its newline (the write a kill interrupted) is
    passed over instead, for readers that must not repair the file.
    """
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                if torn_tail and not line.endswith("\n"):
                    return
                raise UserError(f"{path}:{number}: not valid JSON ({err.msg}); fix or delete that line") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{number}: expected a JSON object per line")
            yield number, row


class PredictionLog:
    """One benchmark's ``predictions.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def repair_torn_tail(self) -> None:
        """Drop a last line without its newline: the write that a kill interrupted."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def load(self, torn_tail: bool = False) -> dict[str, Prediction]:
        """All records by id; a duplicated id is an error (our runs never write one). ``torn_tail``: see
        :func:`read_jsonl` (readers such as reports, which never write into a run)."""
        if not self.path.exists():
            return {}
        records: dict[str, Prediction] = {}
        first_line: dict[str, int] = {}
        for number, row in read_jsonl(self.path, torn_tail):
            if "id" not in row:
                raise UserError(f"{self.path}:{number}: record has no 'id' field")
            record = Prediction.from_json(row)
            if record.id in records:
                raise UserError(f"{self.path}:{number}: id {record.id!r} repeats line {first_line[record.id]}")
            records[record.id] = record
            first_line[record.id] = number
        return records

    def append(self, records: Iterable[Prediction]) -> None:
        lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())

    def rewrite(self, records: Iterable[Prediction]) -> None:
        """Replace the file atomically (used to drop error records before retrying them)."""
        write_bytes_atomic(self.path, "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n"
                                              for r in records).encode("utf-8"))


class RunDir:
    """``runs/<run-id>/``: ``run.json`` plus one folder per benchmark."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def manifest_path(self) -> Path:
        return self.path / "run.json"

    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.exists():
            return None
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise UserError(f"{self.manifest_path}: not valid JSON ({err.msg}); restore it or use a new --out") from None

    def display_name(self) -> str:
        """How figures, probe results and reports name the run: ``folder (model spec)``, or the folder."""
        spec = (self.read_manifest() or {}).get("model", {}).get("spec")
        folder = self.path.resolve().name
        return f"{folder} ({spec})" if spec and spec != folder else folder

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def predictions(self, bench: str) -> PredictionLog:
        return PredictionLog(self.path / bench / "predictions.jsonl")

    def write_metrics(self, bench: str, metrics: dict[str, Any]) -> None:
        write_json_atomic(self.path / bench / "metrics.json", metrics)
