"""HTTP downloads for ``sgt-eval data fetch``: atomic, verified, retried, bounded in parallel.

One pooled ``httpx`` client per fetch, so thousands of image requests reuse their connections
(and TLS sessions) instead of opening one each. Every file is streamed into a temporary file
beside its destination, hashed on the way, and moved into place with ``os.replace`` only when
complete and verified: a present file is always a whole file, and an interrupted fetch resumes
by skipping what is there.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
from tqdm import tqdm

from sgt_eval.data.lock import part_path
from sgt_eval.errors import UserError

T = TypeVar("T")
USER_AGENT = "sgt-eval-data/0.1"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 10
CHUNK = 1 << 16


class DownloadFailed(UserError):
    """The server answered but the file could not be had (HTTP 4xx, or 5xx after retries)."""


class Unreachable(UserError):
    """The host could not be reached at all (offline, DNS failure, refused, timed out)."""


class HashMismatch(UserError):
    """A file arrived whole but is not the pinned file; it is never written."""


class NeedsBrowser(UserError):
    """The server sent a web page (e.g. a confirmation page) instead of the file."""


class _Transient(Exception):
    """A failure worth retrying: 5xx, timeout, connection reset, truncated body."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Fetched:
    """What a download produced."""

    sha256: str
    size: int
    commit: str | None  # the hub's X-Repo-Commit, from the response or any redirect before it


class Http:
    """A pooled HTTP client with retries and one-line errors; use it as a context manager.

    Parameters
    ----------
    hint
        What to do when a host is unreachable, appended to the error (e.g. "fetch on a connected
        machine and copy DATA/pope").
    tokens
        Bearer tokens by host (``netloc``); sent only to that host, so never to a CDN it
        redirects to.
    retries, backoff, timeout
        Retries after a transient failure, the first wait in seconds (doubling), socket timeout.
    """

    def __init__(self, hint: str, tokens: dict[str, str] | None = None, retries: int = 3,
                 backoff: float = 1.0, timeout: float = 60.0) -> None:
        self.hint = hint
        self.tokens = dict(tokens or {})
        self.retries = retries
        self.backoff = backoff
        # identity encoding: the bytes hashed and written are exactly the bytes served
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=True,
                                    headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- public -----------------------------------------------------------------------------
    def read(self, url: str, sha256: str | None = None) -> bytes:
        """The body of ``url`` in memory (small files), verified against ``sha256`` if given."""
        data = self._with_retries(url, lambda resp, _: resp.read())
        _check_hash(url, hashlib.sha256(data).hexdigest(), sha256)
        return data

    def download(self, url: str, dest: Path, sha256: str | None = None, reject_html: bool = False,
                 progress: str | None = None) -> Fetched:
        """Stream ``url`` into ``dest`` atomically.

        Parameters
        ----------
        url, dest
            Source and destination; the parent folder is created.
        sha256
            Expected hash: a different file raises :class:`HashMismatch` and nothing is written.
        reject_html
            Raise :class:`NeedsBrowser` when the server answers with a web page instead of a file.
        progress
            Label of a byte progress bar (for single large files); none by default.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = part_path(dest)

        def stream(resp: httpx.Response, commit: str | None) -> Fetched:
            if reject_html and resp.headers.get("Content-Type", "").startswith("text/html"):
                raise NeedsBrowser(f"{urlsplit(url).netloc} sent a web page instead of the file at {url}")
            h, size = hashlib.sha256(), 0
            total = resp.headers.get("Content-Length", "")
            with open(tmp, "wb") as out, tqdm(total=int(total) if total.isdigit() else None, unit="B",
                                              unit_scale=True, desc=progress, disable=None if progress else True) as bar:
                for chunk in resp.iter_bytes(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
            return Fetched(h.hexdigest(), size, commit)

        try:
            fetched = self._with_retries(url, stream)
            _check_hash(url, fetched.sha256, sha256)
            os.replace(tmp, dest)
        except OSError as err:  # network errors are UserErrors by now: this is the local disk
            raise UserError(f"cannot write {dest}: {err.strerror or err}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return fetched

    def download_many(self, items: Sequence[tuple[str, Path]], jobs: int, desc: str) -> list[str]:
        """Download ``(url, dest)`` pairs with at most ``jobs`` in flight, showing a progress bar.

        An unreachable host stops everything (raised); a file the server refuses is reported in
        the returned list (``"<dest name>: <reason>"``) and the others still download.
        """
        failures: list[str] = []
        if not items:
            return failures
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        futures = {pool.submit(self.download, url, dest): dest for url, dest in items}
        try:
            with tqdm(total=len(items), desc=desc, unit="file", disable=None) as bar:
                for fut in as_completed(futures):
                    try:
                        fut.result()
                    except (DownloadFailed, HashMismatch, NeedsBrowser) as err:
                        failures.append(f"{futures[fut].name}: {err}")
                    bar.update()
        finally:
            # on an error or Ctrl-C, drop the queue and wait only for the requests in flight
            pool.shutdown(wait=True, cancel_futures=True)
        return failures

    # -- internals --------------------------------------------------------------------------
    def _with_retries(self, url: str, action: Callable[[httpx.Response, str | None], T]) -> T:
        host = urlsplit(url).netloc
        for attempt in range(self.retries + 1):
            try:
                return self._once(url, action)
            except _Transient as err:
                if attempt == self.retries:
                    if err.status is not None:
                        raise DownloadFailed(f"HTTP {err.status} from {host} for {url} after {attempt + 1} tries; "
                                             f"try again later") from None
                    raise Unreachable(f"cannot reach {host} (offline?): {err}; {self.hint}") from None
                time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("the loop above returns or raises")

    def _once(self, url: str, action: Callable[[httpx.Response, str | None], T]) -> T:
        """One attempt, following redirects by hand to keep the hub's commit header and scope the token.

        The hub puts ``X-Repo-Commit`` on its own response, which for large files is a redirect to
        a CDN whose response does not repeat it.
        """
        commit: str | None = None
        current = url
        for _ in range(MAX_REDIRECTS):
            host = urlsplit(current).netloc
            token = self.tokens.get(host)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                with self._client.stream("GET", current, headers=headers) as resp:
                    commit = commit or resp.headers.get("X-Repo-Commit")
                    if resp.is_redirect:
                        current = urljoin(current, resp.headers["Location"])
                        continue
                    if resp.status_code in RETRY_STATUS:
                        raise _Transient(f"HTTP {resp.status_code}", resp.status_code)
                    if resp.status_code >= 400:
                        hint = " (a gated Hugging Face dataset needs HF_TOKEN)" if resp.status_code in (401, 403) else ""
                        raise DownloadFailed(f"HTTP {resp.status_code} {resp.reason_phrase} for {current}{hint}")
                    return action(resp, commit)
            except httpx.ConnectError as err:
                raise Unreachable(f"cannot reach {host} (offline?): {_reason(err)}; {self.hint}") from None
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as err:
                raise _Transient(_reason(err)) from None
            except httpx.HTTPError as err:
                raise DownloadFailed(f"cannot download {current}: {_reason(err)}") from None
        raise DownloadFailed(f"more than {MAX_REDIRECTS} redirects for {url}")


def _reason(err: Exception) -> str:
    """The readable part of a network error: "Connection refused", not "[Errno 111] Connection refused"."""
    text = str(err) or type(err).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text)


def _check_hash(url: str, actual: str, expected: str | None) -> None:
    if expected is not None and actual != expected:
        raise HashMismatch(f"{url} has sha256 {actual[:16]}..., expected the pinned {expected[:16]}...; "
                           f"the source changed or the download was corrupted, so it was not written")
