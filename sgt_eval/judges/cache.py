"""The judge's on-disk cache: one JSON file per (model, prompt, input), so a judged run can be re-scored offline.

Layout: ``<cache_dir>/<model slug>/<prompt hash>/<input hash>.json``. Each entry keeps the reply
text and the completion object exactly as the server returned it. Entries are written through a
unique temporary file and ``os.replace``, so concurrent threads and processes that judge the same
request see either no entry or a whole one (the last writer wins; both wrote equivalent replies).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgt_eval.errors import UserError
from sgt_eval.judges import JudgeRequest
from sgt_eval.manifest import now
from sgt_eval.store import write_json_atomic


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """Where one judge reply lives; equal keys mean the server would be asked the same thing."""

    model: str
    prompt_version: str
    prompt_hash: str
    input_hash: str

    @classmethod
    def of(cls, model: str, request: JudgeRequest, temperature: float | None, max_tokens: int) -> CacheKey:
        """The key of ``request`` sent to ``model`` with these sampling settings.

        The input hash covers the text, every image's bytes (in order) and the settings that
        change replies; it hashes a JSON header rather than concatenated bytes so that no two
        different inputs can run together into the same byte string.
        """
        header = {"text": request.text, "images": [hashlib.sha256(image).hexdigest() for image in request.images],
                  "temperature": temperature, "max_tokens": max_tokens}
        if request.images_first:  # only then, so the keys of every earlier judge request stay valid
            header["images_first"] = True
        input_hash = sha256_text(json.dumps(header, sort_keys=True, ensure_ascii=False))
        return cls(model, request.prompt_version, sha256_text(request.prompt_version), input_hash)


class JudgeCache:
    """Judge replies on disk under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: CacheKey) -> Path:
        # Model names hold "/" and ":"; the slug keeps folders readable, the hash keeps them distinct.
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key.model)[:80]
        folder = f"{slug}-{sha256_text(key.model)[:8]}"
        return self.root / folder / key.prompt_hash / f"{key.input_hash}.json"

    def get(self, key: CacheKey) -> str | None:
        """The cached reply text, or ``None`` on a miss.

        An unreadable entry counts as a miss; the next successful call overwrites it.
        """
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        reply = entry.get("reply") if isinstance(entry, dict) else None
        return reply if isinstance(reply, str) and reply else None

    def put(self, key: CacheKey, reply: str, response: Any) -> None:
        """Store a non-empty ``reply`` with the raw ``response`` JSON; empty replies are never cached."""
        if not reply:
            return
        entry = {"model": key.model, "prompt_version": key.prompt_version, "prompt_hash": key.prompt_hash,
                 "input_hash": key.input_hash, "reply": reply, "response": response, "cached_at": now()}
        path = self.path(key)
        try:
            write_json_atomic(path, entry)
        except OSError as err:
            raise UserError(f"cannot write the judge cache entry {path}: {err.strerror or err}; "
                            f"make the folder writable or point SGT_EVAL_CACHE elsewhere") from None
