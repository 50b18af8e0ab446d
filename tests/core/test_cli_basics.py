"""The CLI's promises that need no model or data: fast start, no torch, one-line user errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sgt_eval.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sgt_eval", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["run", "--help"], ["score", "--help"]])
def test_help_and_list_import_no_torch(argv):
    probe = (
        "import sys\n"
        "from sgt_eval.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stderr.strip().splitlines()[-1] == "NO-TORCH"


def test_list_names_benchmarks_suites_and_backends():
    out = run_cli("list").stdout
    for name in ("cvbench", "mmvp", "vsr", "pope", "hallusionbench", "understanding", "tiny-random", "hf"):
        assert name in out


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("sgt-eval: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_benchmark_and_model_get_did_you_mean(tmp_path):
    assert_one_line_error(run_cli("run", "--model", "tiny-random", "--bench", "popee", "--out", str(tmp_path)),
                          "did you mean 'pope'")
    assert_one_line_error(run_cli("score", "mmvpp", "--data", str(tmp_path), "--predictions", "x"),
                          "did you mean 'mmvp'")


def test_missing_data_root_names_the_fetch_command(tmp_path):
    missing = tmp_path / "nowhere"
    result = run_cli("run", "--model", "tiny-random", "--bench", "pope", "--data-root", str(missing),
                     "--out", str(tmp_path / "run"))
    assert_one_line_error(result, str(missing), "sgt-eval data fetch")


def test_options_that_apply_to_no_selected_benchmark_are_refused(tmp_path):
    result = run_cli("run", "--model", "tiny-random", "--bench", "pope", "--mmvp-gt", "original",
                     "--out", str(tmp_path))
    assert_one_line_error(result, "--mmvp-gt does not apply to pope")


def test_main_returns_2_for_user_errors(capsys, tmp_path):
    assert main(["run", "--model", "tiny-random", "--bench", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
