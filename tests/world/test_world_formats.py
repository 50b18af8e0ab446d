"""The mini benchmarks are in the official layouts: same files, fields, value types and structure.

POPE, HallusionBench and VSR rows are compared with the real files in ../shared/data; CV-Bench and
MMVP, whose files are not there, against their documented formats.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

SPLITS = ("random", "popular", "adversarial")


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def schema(row: dict[str, Any]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in row.items()}


def schemas(rows: list[dict[str, Any]]) -> set[tuple[tuple[str, str], ...]]:
    return {tuple(sorted(schema(r).items())) for r in rows}


# -- POPE ----------------------------------------------------------------------------------------
def test_pope_rows_match_the_real_label_files(world: Path, shared_data: Path) -> None:
    for split in SPLITS:
        real = jsonl(shared_data / "pope" / "head_3df3ba1" / f"coco_pope_{split}.json")
        ours = jsonl(world / "pope" / f"coco_pope_{split}.json")
        assert schemas(ours) == schemas(real)
        assert [r["question_id"] for r in ours] == list(range(1, len(ours) + 1))
        question = re.compile(r"^Is there an? [a-z ]+ in the image\?$")
        assert all(question.match(r["text"]) for r in real[:50])  # the pattern fits the real questions too
        assert all(question.match(r["text"]) for r in ours)
        assert [r["label"] for r in ours] == ["yes", "no"] * (len(ours) // 2)
        per_image = Counter(r["image"] for r in ours)
        assert set(per_image.values()) == {6}
        assert all((world / "pope" / "val2014" / image).is_file() for image in per_image)


def test_pope_splits_share_images_and_yes_questions_and_differ_in_negatives(world: Path) -> None:
    rows = {s: jsonl(world / "pope" / f"coco_pope_{s}.json") for s in SPLITS}
    yes = {s: [(r["image"], r["text"]) for r in rows[s] if r["label"] == "yes"] for s in SPLITS}
    no = {s: [(r["image"], r["text"]) for r in rows[s] if r["label"] == "no"] for s in SPLITS}
    assert yes["random"] == yes["popular"] == yes["adversarial"]
    assert no["random"] != no["popular"] and no["popular"] != no["adversarial"]
    for s in SPLITS:  # a kind is never both present and absent in one image
        assert not set(yes[s]) & set(no[s])


# -- HallusionBench ------------------------------------------------------------------------------
def hallusion(world: Path) -> list[dict[str, Any]]:
    return json.loads((world / "hallusionbench" / "HallusionBench.json").read_text(encoding="utf-8"))


def test_hallusionbench_rows_match_the_real_file(world: Path, shared_data: Path) -> None:
    real = json.loads((shared_data / "hallusionbench" / "HallusionBench.json").read_text(encoding="utf-8"))
    ours = hallusion(world)
    assert schemas(ours) == schemas(real)  # all strings; filename str or None
    for row in ours:
        assert row["category"] in ("VD", "VS") and row["gt_answer"] in ("0", "1")
        assert (row["filename"] is None) == (row["visual_input"] == "0")
        if row["filename"]:
            assert row["filename"] == f"./{row['category']}/{row['subcategory']}/{row['set_id']}_{row['figure_id']}.png"
            assert (world / "hallusionbench" / "hallusion_bench" / row["filename"][2:]).is_file()
    assert Counter(r["gt_answer"] for r in ours)["1"] == len(ours) / 2


def test_hallusionbench_pairs_have_their_designed_members(world: Path) -> None:
    pairs: dict[tuple[str, ...], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in hallusion(world):
        key = (row["category"], row["subcategory"], row["set_id"], row["question_id"])
        assert row["figure_id"] not in pairs[key]
        pairs[key][row["figure_id"]] = row
    assert {k[0] for k in pairs} == {"VD", "VS"}
    for (category, *_), members in pairs.items():
        inputs = {fig: r["visual_input"] for fig, r in members.items()}
        answers = {fig: r["gt_answer"] for fig, r in members.items()}
        assert len({r["question"] for r in members.values()}) == 1
        if category == "VD":  # original then edited, the edit flips the answer
            assert inputs == {"0": "1", "1": "2"}
            assert answers["0"] != answers["1"]
        else:  # text-only, original (agrees with knowledge), edited (contradicts it)
            assert inputs == {"0": "0", "1": "1", "2": "2"}
            assert answers["0"] == answers["1"] != answers["2"]
    figures = Counter((r["category"], r["subcategory"], r["set_id"], r["figure_id"]) for r in hallusion(world))
    assert set(figures.values()) == {2}  # every figure is asked both questions of its set


# -- VSR -----------------------------------------------------------------------------------------
def test_vsr_rows_match_the_real_splits(world: Path, shared_data: Path) -> None:
    for split in ("zeroshot", "random"):
        real = jsonl(shared_data / "vsr" / "splits" / split / "test.jsonl")
        real_schemas = schemas(real)
        for name in ("train", "dev", "test"):
            ours = jsonl(world / "vsr" / "splits" / split / f"{name}.jsonl")
            assert ours and schemas(ours) <= real_schemas
            for row in ours:
                assert isinstance(json.loads(row["vote_true_validator_id"]), list)
                assert isinstance(json.loads(row["vote_false_validator_id"]), list)
                assert row["label"] in (0, 1) and row["caption"].startswith("The ")
                assert (world / "vsr" / "images" / row["image"]).is_file()
    zeroshot = jsonl(world / "vsr" / "splits" / "zeroshot" / "test.jsonl")
    for row in zeroshot:
        assert row["caption"] == f"The {row['subj']} is {row['relation']} the {row['obj']}."


def test_vsr_test_is_separate_from_train(world: Path) -> None:
    def rows(split: str, name: str) -> list[dict[str, Any]]:
        return jsonl(world / "vsr" / "splits" / split / f"{name}.jsonl")

    assert not {r["image"] for r in rows("zeroshot", "test")} & {r["image"] for r in rows("zeroshot", "train")}
    assert not ({(r["image"], r["caption"]) for r in rows("random", "test")}
                & {(r["image"], r["caption"]) for r in rows("random", "train")})
    everything = [r["caption"] for name in ("train", "dev", "test") for r in rows("zeroshot", name)]
    assert sorted(everything) == sorted(r["caption"] for name in ("train", "dev", "test") for r in rows("random", name))


def test_vsr_relations_and_meta_categories_follow_the_real_dictionary(world: Path, shared_data: Path) -> None:
    def parse(path: Path) -> dict[str, str]:
        out = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            category, rels = line.split(":", 1)
            out.update({rel.strip(): category for rel in rels.split(",") if rel.strip()})
        return out

    real = parse(shared_data / "vsr" / "rel_meta_category_dict.txt")
    ours = parse(world / "vsr" / "rel_meta_category_dict.txt")
    assert ours and all(real[rel] == category for rel, category in ours.items())
    used = {r["relation"] for r in jsonl(world / "vsr" / "splits" / "zeroshot" / "test.jsonl")}
    assert used <= set(ours) and len(used) >= 8
    labels = Counter((r["relation"], r["label"]) for name in ("train", "dev", "test")
                     for r in jsonl(world / "vsr" / "splits" / "random" / f"{name}.jsonl"))
    assert all(labels[(rel, 1)] == labels[(rel, 0)] for rel in ours)  # balanced per relation


# -- CV-Bench ------------------------------------------------------------------------------------
CVBENCH_FIELDS = ["idx", "type", "task", "question", "choices", "answer", "prompt", "filename", "source",
                  "source_dataset", "source_filename", "target_class", "target_size", "bbox"]


def test_cvbench_rows_follow_the_official_fields(world: Path) -> None:
    rows = jsonl(world / "cvbench" / "test_2d.jsonl") + jsonl(world / "cvbench" / "test_3d.jsonl")
    assert [r["idx"] for r in rows] == list(range(len(rows)))
    tasks = {"2D": {"Count", "Relation"}, "3D": {"Depth", "Distance"}}
    for row in rows:
        assert list(row) == CVBENCH_FIELDS
        assert row["task"] in tasks[row["type"]]
        assert row["source"] in (("ADE20K", "COCO") if row["type"] == "2D" else ("Omni3D",))
        letters = "ABCDEF"[: len(row["choices"])]
        assert re.fullmatch(rf"\([{letters}]\)", row["answer"])
        expected = row["question"] + " Select from the following choices." + "".join(
            f"\n({letters[k]}) {c}" for k, c in enumerate(row["choices"]))
        assert row["prompt"] == expected
        assert all(isinstance(c, str) for c in row["choices"]) and len(set(row["choices"])) == len(row["choices"])
        assert row["filename"].startswith(f"img/{row['type']}/{row['task'].lower()}/")
        assert Image.open(world / "cvbench" / row["filename"]).size == (224, 224)
        coco, omni = row["source"] == "COCO", row["source"] == "Omni3D"
        assert isinstance(row["target_class"], str) == coco and isinstance(row["target_size"], int) == coco
        assert isinstance(row["bbox"], list) == omni
        if omni:
            assert len(row["bbox"]) == (2 if row["task"] == "Depth" else 3)
            assert all(len(b) == 4 and all(isinstance(v, int) for v in b) for b in row["bbox"])


def test_cvbench_answers_are_balanced(world: Path) -> None:
    rows = jsonl(world / "cvbench" / "test_2d.jsonl") + jsonl(world / "cvbench" / "test_3d.jsonl")
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in rows:
        groups[(row["task"], row["source"])][row["answer"]] += 1
    assert set(groups) == {("Count", "ADE20K"), ("Count", "COCO"), ("Relation", "ADE20K"), ("Relation", "COCO"),
                           ("Depth", "Omni3D"), ("Distance", "Omni3D")}
    for (task, _), letters in groups.items():
        n_letters = 4 if task == "Count" else 2
        assert len(letters) == n_letters and max(letters.values()) - min(letters.values()) <= 1


# -- MMVP ----------------------------------------------------------------------------------------
def test_mmvp_csv_pairs_and_images(world: Path) -> None:
    with open(world / "mmvp" / "Questions.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["Index", "Question", "Options", "Correct Answer"]
        rows = list(reader)
    assert [int(r["Index"]) for r in rows] == list(range(1, len(rows) + 1)) and len(rows) % 2 == 0
    assert 30 <= len(rows) // 2 <= 40
    for first, second in zip(rows[::2], rows[1::2]):
        assert first["Question"] == second["Question"] and first["Options"] == second["Options"]
        assert re.fullmatch(r"\(a\) .+ \(b\) .+", first["Options"])
        assert {first["Correct Answer"], second["Correct Answer"]} == {"(a)", "(b)"}
    assert Counter(r["Correct Answer"] for r in rows[::2]) == Counter({"(a)": len(rows) // 4, "(b)": len(rows) // 4})
    for row in rows:
        with Image.open(world / "mmvp" / "MMVP Images" / f"{row['Index']}.jpg") as image:
            assert image.format == "JPEG" and image.size == (224, 224)
