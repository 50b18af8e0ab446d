"""GenEval data: the real prompt files, the official folder layout written and read back."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.geneval import GenEval, metadata_line
from sgt_eval.errors import UserError

PER_TAG = {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94, "position": 100, "color_attr": 100}
FILES = {"original": "prompts/evaluation_metadata.jsonl", "bagel_long": "bagel_rewritten/evaluation_metadata_long.jsonl"}


@pytest.mark.parametrize("prompt_set", ["original", "bagel_long"])
def test_real_prompt_files_load_553_prompts_with_the_official_tag_counts(shared_data, prompt_set):
    bench = GenEval(prompt_set=prompt_set)
    dataset = bench.load(shared_data / "geneval")  # found under prompts/ or bagel_rewritten/
    assert len(dataset.samples) == 553 * 4
    first = dataset.samples[::4]
    assert Counter(s.meta["tag"] for s in first) == PER_TAG
    assert dataset.version == {"original": "geneval@af4902f", "bagel_long": "bagel@056b5fd"}[prompt_set]
    assert [s.id for s in dataset.samples[:5]] == ["00000/0000", "00000/0001", "00000/0002", "00000/0003",
                                                    "00001/0000"]
    counting = next(s for s in first if s.meta["tag"] == "counting")
    assert counting.meta["exclude"][0]["count"] == counting.meta["include"][0]["count"] + 1
    assert "exclude" not in first[0].meta and first[7].meta["prompt_index"] == 7


def test_both_prompt_sets_share_tags_and_clauses(shared_data):
    short = GenEval().load(shared_data / "geneval").samples
    long = GenEval(prompt_set="bagel_long").load(shared_data / "geneval").samples
    assert [s.meta for s in short] == [s.meta for s in long]
    assert all(len(b.question) > len(a.question) for a, b in zip(short, long))


def test_sidecar_is_byte_for_byte_the_official_metadata_line(shared_data, tmp_path):
    for prompt_set, name in FILES.items():
        bench = GenEval(prompt_set=prompt_set, images_per_prompt="1")
        dataset = bench.load(shared_data / "geneval" / name)  # the file itself is accepted too
        raw = (shared_data / "geneval" / name).read_text(encoding="utf-8").splitlines()
        for sample, line in zip(dataset.samples, raw, strict=True):
            bench.write_sidecars(sample, dataset, tmp_path / prompt_set)
            folder = tmp_path / prompt_set / "images" / sample.id.split("/")[0]
            assert (folder / "metadata.jsonl").read_text(encoding="utf-8") == line


def test_options_and_data_errors_are_one_clear_line(shared_data, tmp_path):
    for bad in ("0", "-1", "four", "2.5"):
        with pytest.raises(UserError, match="--images-per-prompt must be a positive integer"):
            GenEval(images_per_prompt=bad)
    with pytest.raises(UserError, match="is the bagel_long prompt set; pass --prompt-set bagel_long"):
        GenEval().load(shared_data / "geneval" / FILES["bagel_long"])
    with pytest.raises(UserError, match="no geneval data at .*sgt-eval data fetch --bench geneval"):
        GenEval().load(tmp_path)
    bad_line = tmp_path / "evaluation_metadata.jsonl"
    bad_line.write_text('{"tag": "position", "include": [{"class": "dog", "count": 1, "position": ["near", 0]}],'
                        ' "prompt": "x"}\n')
    with pytest.raises(UserError, match=r"evaluation_metadata.jsonl:1: field 'include\[0\].position'"):
        GenEval().load(tmp_path)


def write_folder(root: Path, lines: list[dict], images: dict[int, list[str]]) -> None:
    """An official-layout folder as another tool would make it."""
    for i, line in enumerate(lines):
        folder = root / f"{i:05d}"
        (folder / "samples").mkdir(parents=True)
        (folder / "metadata.jsonl").write_text(json.dumps(line))
        for name in images.get(i, []):
            Image.new("RGB", (8, 8)).save(folder / "samples" / name, format="PNG")


LINES = [{"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo of a dog"},
         {"tag": "counting", "include": [{"class": "cup", "count": 2}], "exclude": [{"class": "cup", "count": 3}],
          "prompt": "a photo of two cups"}]


def test_read_outputs_reads_folders_as_the_official_scorer(tmp_path):
    write_folder(tmp_path, LINES, {0: ["0000.png", "0001.png", "notes.txt", "x1.png"], 1: ["3.png", "0000.jpg"]})
    (tmp_path / "logs").mkdir()  # not all digits: ignored, as upstream does
    dataset, outputs = GenEval().read_outputs(tmp_path, None)
    assert outputs == {"00000/0000": "00000/samples/0000.png", "00000/0001": "00000/samples/0001.png",
                       "00001/0003": "00001/samples/3.png"}
    assert [s.id for s in dataset.samples] == list(outputs)
    assert dataset.samples[2].meta["exclude"] == [{"class": "cup", "count": 3}]
    assert dataset.samples[2].question == "a photo of two cups" and dataset.version == ""


def test_read_outputs_with_data_checks_each_folder_against_its_prompt(shared_data, tmp_path):
    bench = GenEval(images_per_prompt="2")
    dataset = bench.load(shared_data / "geneval")
    lines = [metadata_line(s.meta, s.question) for s in dataset.samples[:4:2]]
    write_folder(tmp_path / "ok", lines, {0: ["0000.png"], 1: ["0001.png"]})
    scored, outputs = bench.read_outputs(tmp_path / "ok", dataset)
    assert outputs == {"00000/0000": "00000/samples/0000.png", "00001/0001": "00001/samples/0001.png"}
    assert scored.version == "geneval@af4902f" and len(scored.samples) == 553 * 2
    write_folder(tmp_path / "swapped", lines[::-1], {0: ["0000.png"]})
    with pytest.raises(UserError, match="differs from prompt 0 of the --data file"):
        bench.read_outputs(tmp_path / "swapped", dataset)


def test_a_complete_folder_set_is_recognised_as_the_official_prompts(shared_data, tmp_path):
    file = shared_data / "geneval" / FILES["original"]
    lines = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()]
    write_folder(tmp_path, lines, {0: ["0000.png"]})
    bench = GenEval()
    dataset, outputs = bench.read_outputs(tmp_path, None)
    assert dataset.version == "geneval@af4902f (from folders)" and list(outputs) == ["00000/0000"]
    options = bench.settings()["options"]  # what the folder holds, and the detector that will score it
    assert (options["prompt_set"], options["images_per_prompt"], options["detector"]) == ("original", "1", "hf")
    assert options["detector_model"] == "facebook/mask2former-swin-small-coco-instance"


def test_read_outputs_refuses_two_images_with_one_index_and_broken_metadata(tmp_path):
    write_folder(tmp_path / "dup", LINES[:1], {0: ["1.png", "0001.png"]})
    with pytest.raises(UserError, match="a second image for prompt 0 image 1"):
        GenEval().read_outputs(tmp_path / "dup", None)
    write_folder(tmp_path / "broken", LINES[:1], {0: ["0000.png"]})
    (tmp_path / "broken" / "00000" / "metadata.jsonl").write_text('{"tag": "single_object"')
    with pytest.raises(UserError, match="metadata.jsonl: not one JSON object"):
        GenEval().read_outputs(tmp_path / "broken", None)
    with pytest.raises(UserError, match="no prompt folders"):
        GenEval().read_outputs(tmp_path / "broken" / "00000" / "samples", None)
