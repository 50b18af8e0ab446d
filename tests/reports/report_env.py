"""What the report tests need beyond Python: headless Chromium (driven by Playwright) and pdflatex.

On a developer machine a missing tool skips its test with the reason; in CI (``SGT_EVAL_REQUIRE_TOOLS=1``,
set by ``.ci/run``, which installs them) it fails, so nothing is skipped unseen.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("SGT_EVAL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# as the machine notes advise: no background or component traffic, so every request seen is the page's own
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-quic"]


def required(what: str) -> None:
    if os.environ.get("SGT_EVAL_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{what} is required here (SGT_EVAL_REQUIRE_TOOLS=1) but is not installed")
    pytest.skip(f"{what} is not installed (.ci/run installs it)")


def artifacts() -> Path:
    """Where screenshots go: ``$SGT_EVAL_ARTIFACTS`` (CI archives it), else a temporary folder."""
    folder = Path(os.environ.get("SGT_EVAL_ARTIFACTS") or os.environ.get("PYTEST_TMPDIR", "/tmp")) / "report-artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def offline_page(html: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    """``(page, console problems, requests that left the file)`` for a report opened with the network cut:
    the browser context is offline and every request other than the file itself is aborted and recorded."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        required("playwright (pip install 'sgt-eval[dev]')")
    if not CHROMIUM:
        required("chromium (apt-get install chromium)")
    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})

        def route(r: Any) -> None:
            if r.request.url == html.as_uri() or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("request", lambda r: None if r.url == html.as_uri() or r.url.startswith(("data:", "blob:"))
                else outside.append(r.url))
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        try:
            yield page, problems, outside
        finally:
            browser.close()
