"""The HTML report as a file: self-contained, small, every section present, model text inert."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import make_run
from oracle import PAYLOADS

from reports.html import script_json
from sgt_eval.cli import main


def report(out: Path, *runs: Path, extra: tuple[str, ...] = ()) -> str:
    command = ["compare", *map(str, runs)] if len(runs) > 1 else ["report", str(runs[0])]
    assert main([*command, "--out", str(out), "--n-boot", "300", *extra]) == 0
    return out.read_text(encoding="utf-8")


def embedded(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    return json.loads(block.group(1))


def test_two_runs_of_the_five_understanding_benchmarks_stay_under_3_mb(tmp_path, capsys):
    base = make_run(tmp_path / "u-base", 0.45, "--suite", "understanding")
    sgt = make_run(tmp_path / "u-sgt", 0.7, "--suite", "understanding")
    html = report(tmp_path / "u.html", base, sgt)
    size = (tmp_path / "u.html").stat().st_size
    data = embedded(html)
    print(f"\nreport size: {size / 1e6:.2f} MB, {len(data['images'])} thumbnails, "
          f"{len(data['flips']['items'])} flips shown")
    assert size < 3e6
    assert len(data["flips"]["items"]) > 50 and len(data["images"]) > 20


def test_sections_and_no_external_reference(runs, tmp_path):
    html = report(tmp_path / "c.html", runs["base"], runs["sgt"])
    for section in ("summary", "benchmarks", "flips", "galleries", "provenance"):
        assert f'<section id="{section}"' in html
    data = embedded(html)
    assert {g["bench"] for g in data["galleries"]} == {"GenEval", "GEdit-Bench"}
    # nothing may point outside the file: no src/href to a URL, no @import, no fetch of a schema
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "vega.github.io/schema" not in json.dumps(data["charts"])
    assert "default-src 'none'" in html


def test_runs_scored_differently_carry_the_warning_on_the_page(runs, tmp_path):
    html = report(tmp_path / "w.html", runs["base"], runs["pope-vlmevalkit"])
    banner = re.search(r'<section class="banner" id="warnings">(.*?)</section>', html, re.S)
    assert banner and "POPE: settings.protocol differs (base: official, pope-vlmevalkit: vlmevalkit)" in banner.group(1)


def test_gallery_thumbnails_are_downscaled(runs, tmp_path):
    data = embedded(report(tmp_path / "g.html", runs["base"], runs["sgt"], extra=("--max-flips", "0")))
    keys = {k for g in data["galleries"] for row in g["rows"] for c in row["cells"] for k in c["images"] if k}
    sizes = [len(data["images"][k]) * 3 / 4 for k in keys]  # base64 -> bytes
    print(f"\ngallery: {len(keys)} images, mean {sum(sizes) / len(sizes) / 1e3:.1f} KB, max {max(sizes) / 1e3:.1f} KB")
    assert keys and max(sizes) < 12e3


def test_model_text_is_escaped_everywhere(runs, tmp_path):
    html = report(tmp_path / "x.html", runs["base"], runs["sgt"])
    for payload in PAYLOADS:
        assert payload not in html  # neither raw in the page nor raw inside the JSON block
    outputs = {f["other"]["output"] for f in embedded(html)["flips"]["items"]}
    assert set(PAYLOADS) <= outputs  # ...yet the data carries them intact, to be shown as text
    assert script_json({"x": "</script><!--&"}) == '{"x":"\\u003c/script\\u003e\\u003c!--\\u0026"}'


def test_single_run_report_and_probe_only_runs(runs, probe_runs, tmp_path):
    html = report(tmp_path / "one.html", runs["base"])
    assert "sgt-eval report: base" in html and '<section id="flips"' not in html
    html = report(tmp_path / "probes.html", probe_runs["base"], probe_runs["sgt"])
    data = embedded(html)
    assert '<section id="probes"' in html and len(data["charts"]) >= 6
    titles = [spec.get("title") for spec in data["charts"].values()]
    assert "Change of the visual share vs probe-base" in titles
    assert any(str(t).startswith("Linear separability of the confusable pair") for t in titles)


def test_flip_images_come_from_the_data_root_given(runs, tmp_path):
    moved = tmp_path / "moved"
    for name in ("base", "sgt"):
        shutil.copytree(runs[name], moved / name)
        manifest = moved / name / "run.json"
        manifest.write_text(re.sub(r'"data_root": "[^"]*"', '"data_root": "/nowhere"', manifest.read_text()))
    def images(html: str) -> list[str | None]:
        return [f.get("image") for f in embedded(html)["flips"]["items"]]

    original = images(report(tmp_path / "original.html", runs["base"], runs["sgt"], extra=("--gallery", "0")))
    lost = images(report(tmp_path / "lost.html", moved / "base", moved / "sgt", extra=("--gallery", "0")))
    assert any(original) and not any(lost)
    root = json.loads((runs["base"] / "run.json").read_text())["data_root"]
    assert images(report(tmp_path / "found.html", moved / "base", moved / "sgt",
                         extra=("--gallery", "0", "--data-root", root))) == original


def test_default_output_paths(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(runs["base"]), str(runs["sgt"]), "--n-boot", "50", "--gallery", "0"]) == 0
    assert (tmp_path / "compare.html").is_file()
    copy = tmp_path / "own"
    shutil.copytree(runs["base"], copy)
    assert main(["report", str(copy), "--n-boot", "50"]) == 0
    assert (copy / "report.html").is_file()
    assert main(["compare", str(runs["base"])]) == 2
    assert "compare needs at least two run directories" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [("--n-boot", "0"), ("--max-flips", "-1")])
def test_bad_flags(runs, flag, value, capsys):
    assert main(["report", str(runs["base"]), flag, value]) == 2
    assert flag in capsys.readouterr().err
