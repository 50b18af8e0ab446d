"""Bad input stops a run with one line naming the file and line and the fix; --skip-bad-samples counts it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgt_train.cli import main
from tests.train.conftest import SMALL_MODEL, data_flags

QUICK = ["--train.steps", "2", "--train.micro_batch", "3", "--checkpoint.every", "2", "--log.samples", "0",
         "--data.num_workers", "0", *SMALL_MODEL]


def train(capsys, out: Path, *flags: str) -> tuple[int, str]:
    code = main(["--out", str(out), *QUICK, *flags])
    return code, capsys.readouterr().err


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("sgt-train: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_missing_mask(capsys, small_data: Path, tmp_path: Path):
    line = (small_data / "sam_sgt.txt").read_text().splitlines()[2]
    (small_data / line.replace("sam_selection", "sam_mask").replace(".jpg", ".png")).unlink()
    code, err = train(capsys, tmp_path / "run", *data_flags(small_data))
    assert code == 2
    assert "sam_sgt.txt:3: mask file" in error_line(err) and "--skip-bad-samples" in error_line(err)


def test_corrupt_image_is_found_when_loaded(capsys, small_data: Path, tmp_path: Path):
    for line in (small_data / "sam_sgt.txt").read_text().splitlines():
        (small_data / line).write_bytes(b"not a jpeg")
    code, err = train(capsys, tmp_path / "run", *data_flags(small_data))
    assert code == 2
    assert "is not a readable image" in error_line(err) and "sam_sgt.txt:" in error_line(err)


def test_empty_list_file(capsys, small_data: Path, tmp_path: Path):
    (small_data / "sam_sgt.txt").write_text("")
    code, err = train(capsys, tmp_path / "run", *data_flags(small_data))
    assert code == 2 and "is empty; it needs one image path a line" in error_line(err)


def test_sft_row_without_assistant_turn(capsys, small_data: Path, tmp_path: Path):
    rows = json.loads((small_data / "llava_ov.json").read_text())
    rows[3]["conversations"] = rows[3]["conversations"][:1]
    (small_data / "llava_ov.json").write_text(json.dumps(rows))
    code, err = train(capsys, tmp_path / "run", *data_flags(small_data))
    assert code == 2 and "llava_ov.json row 4" in error_line(err) and "has no assistant turn" in error_line(err)


def test_ratio_the_batch_cannot_hold(capsys, small_data: Path, tmp_path: Path):
    code, err = train(capsys, tmp_path / "run", *data_flags(small_data), "--train.micro_batch", "4")
    assert code == 2
    assert "data.ratio 2:1 cannot be met exactly by 4 samples a step" in error_line(err)
    assert "e.g. train.micro_batch 6" in error_line(err)


def test_skip_bad_samples_counts_and_reports_what_it_skipped(capsys, small_data: Path, tmp_path: Path):
    lines = (small_data / "sam_sgt.txt").read_text().splitlines()
    (small_data / lines[0].replace("sam_selection", "sam_mask").replace(".jpg", ".png")).unlink()
    for line in lines[1:]:  # every remaining image but the last is corrupt: replacements walk past them
        if line != lines[-1]:
            (small_data / line).write_bytes(b"garbage")
    rows = json.loads((small_data / "llava_ov.json").read_text())
    rows[0]["conversations"] = rows[0]["conversations"][:1]
    (small_data / "llava_ov.json").write_text(json.dumps(rows))
    out = tmp_path / "run"
    code, err = train(capsys, out, *data_flags(small_data), "--skip-bad-samples")
    assert code == 0, err
    assert "skipped" in err and "see" in err and (out / "skipped.jsonl").is_file()
    skipped = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    reasons = {e["reason"] for e in skipped}
    assert reasons == {"missing mask", "no assistant turn", "corrupt image"}
    result = json.loads((out / "run.json").read_text())["result"]["skipped"]
    assert result["missing mask"] == 1 and result["no assistant turn"] == 1 and result["corrupt image"] >= 1
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(m["ratio"] == {"seg": 2, "vqa": 1} for m in metrics)  # replacements keep the exact ratio


@pytest.mark.parametrize("flags, message", [
    (["--train.stepz", "2"], "unknown key train.stepz; did you mean 'steps'?"),
    (["--data.proxy", "normals"], "data.proxy 'normals' is not a proxy"),
])
def test_config_mistakes_are_one_line(capsys, tmp_path: Path, flags, message):
    code, err = train(capsys, tmp_path / "run", *flags)
    assert code == 2 and message in error_line(err)
