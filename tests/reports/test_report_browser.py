"""The report in headless Chromium with the network cut: it draws, sorts, filters, and runs no injected script."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_env import artifacts, offline_page

from sgt_eval.cli import main

INJECTED_LABEL = "sgt<img src=x onerror=document.title='pwned-label'>"


@pytest.fixture(scope="module")
def compare_html(runs, probe_runs, tmp_path_factory) -> Path:
    """base vs an sgt run whose folder name, a question, a judge id and its wrong answers are injections;
    the probe runs come along so every section, charts included, is on the page."""
    root = tmp_path_factory.mktemp("browser")
    hostile = root / INJECTED_LABEL
    shutil.copytree(runs["sgt"], hostile)
    log = hostile / "vsr" / "predictions.jsonl"
    log.write_text(log.read_text().replace('"question": "The ', '"question": "<script>document.title=\'pwned-q\'</script>The '))
    metrics = hostile / "pope" / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"grader": "rules"', '"grader": "<b onmouseover=alert(1)>judge</b>"'))
    out = root / "compare.html"
    assert main(["compare", str(runs["base"]), str(hostile), str(probe_runs["base"]), str(probe_runs["sgt"]),
                 "--out", str(out), "--n-boot", "300"]) == 0
    return out


def open_sections(page) -> None:
    """Open every collapsed part of the page (not the charts' own action menus)."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { if (!d.closest('[data-chart]')) d.open = true; })")


def test_report_works_offline_sorts_filters_and_draws(compare_html):
    with offline_page(compare_html) as (page, problems, outside):
        charts = page.locator("[data-chart]")
        assert charts.count() >= 7
        page.wait_for_function("[...document.querySelectorAll('[data-chart]')].every(n => n.querySelector('svg'))",
                               timeout=30_000)
        for section in ("summary", "benchmarks", "flips", "galleries", "probes", "provenance"):
            assert page.locator(f"section#{section}").count() == 1, section

        # sorting: the sgt column, descending then ascending; empty cells stay last
        def column(index: int) -> list[float | None]:
            return page.eval_on_selector_all(f"#summary-table tbody tr td:nth-child({index})",
                                             "tds => tds.map(t => t.dataset.value === '' ? null : Number(t.dataset.value))")

        header = page.locator("#summary-table thead th").nth(3)
        before = column(4)
        header.click()
        values = column(4)
        numbers = [v for v in values if v is not None]
        assert numbers == sorted(numbers, reverse=True) and values[len(numbers):] == [None] * (len(values) - len(numbers))
        header.click()
        numbers = [v for v in column(4) if v is not None]
        assert numbers == sorted(numbers) and sorted(numbers) == sorted(v for v in before if v is not None)

        # flip filters: direction, then text
        rows = page.locator("#flip-table tbody tr")
        total = rows.count()
        page.select_option("#flip-direction", "broken")
        visible = page.locator("#flip-table tbody tr:not([hidden])")
        broken = visible.count()
        assert 0 < broken < total
        assert all("broken" in (visible.nth(i).get_attribute("class") or "") for i in range(broken))
        shown = page.eval_on_selector_all("#flip-totals tbody tr td:nth-child(5)", "tds => tds.map(t => +t.textContent)")
        assert broken == min(sum(shown), broken) and page.locator("#flip-count").inner_text().startswith(f"{broken} of {total}")
        page.fill("#flip-text", "pwned")
        assert 0 < visible.count() <= broken
        page.select_option("#flip-direction", "")
        page.fill("#flip-text", "")
        assert visible.count() == total

        # galleries load their images when opened
        gallery = page.locator("details.gallery").first
        assert gallery.locator("img").count() == 0
        gallery.locator("summary").click()
        assert gallery.locator("img").count() > 0
        open_sections(page)
        page.mouse.move(0, 0)
        page.screenshot(path=str(artifacts() / "compare.png"), full_page=True)
        print(f"\nscreenshot: {artifacts() / 'compare.png'}")
    assert not problems, problems
    assert not outside, outside


def test_injected_text_is_shown_as_text_and_never_runs(compare_html):
    with offline_page(compare_html) as (page, problems, outside):
        open_sections(page)
        page.hover("#summary-table")
        # every payload would replace the title; the label inside it is text
        assert page.title() == f"sgt-eval comparison: base vs {INJECTED_LABEL} vs probe-base vs probe-sgt"
        assert page.locator("img[src='x']").count() == 0 and page.locator("b[onmouseover]").count() == 0
        texts = page.eval_on_selector_all("#flip-table pre", "ps => ps.map(p => p.textContent)")
        assert '<img src=x onerror="document.title=\'pwned-img\'">' in texts
        assert '</script><script>document.title="pwned-script"</script>' in texts
        assert INJECTED_LABEL in page.locator("#summary-table thead").inner_text()
        assert "<b onmouseover=alert(1)>judge</b>" in page.locator("#bench-pope").inner_text()
        assert "<script>document.title='pwned-q'</script>" in page.locator("#flip-table").inner_text()
        assert page.evaluate("document.scripts.length") == 3  # the data block, Vega, the report's own
    assert not problems, problems
    assert not outside, outside
