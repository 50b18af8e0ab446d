"""GenEval-mini: the official prompt-file format, and truth images that pass GenEval's rules.

Formats are compared with the real files in ../shared/data/geneval. The truth images are checked
with an independent plain-numpy reading of GenEval's rules on the rendered instance masks.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sgt_eval.errors import UserError
from sgt_eval.world import COLORS, KINDS, WORLD_VERSION, Scene, Shape, render
from sgt_eval.world.files import Sink
from sgt_eval.world.geneval import geneval_truth_scene, render_geneval_truth, write

TAGS = ["single_object", "two_object", "counting", "colors", "position", "color_attr"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def real(shared_data: Path, long: bool = False) -> list[dict[str, Any]]:
    name = "bagel_rewritten/evaluation_metadata_long.jsonl" if long else "prompts/evaluation_metadata.jsonl"
    return jsonl(shared_data / "geneval" / name)


def ours(world: Path, long: bool = False) -> list[dict[str, Any]]:
    return jsonl(world / "geneval" / f"evaluation_metadata{'_long' if long else ''}.jsonl")


def shape_of(rows: list[dict[str, Any]]) -> set[tuple]:
    """Per tag: the line's keys in order, each include/exclude clause's keys and value types."""
    def clause(c: dict[str, Any]) -> tuple:
        return tuple((k, type(v).__name__, tuple(type(x).__name__ for x in v) if isinstance(v, list) else ())
                     for k, v in c.items())

    return {(r["tag"], tuple(r), tuple(clause(c) for c in r["include"]), tuple(clause(c) for c in r.get("exclude", [])))
            for r in rows}


def expected_prompt(line: dict[str, Any], opening: str) -> str:
    """The official prompt grammar, written from the real file's examples."""
    def article(words: str) -> str:
        return ("an " if words[0] in "aeiou" else "a ") + words

    def phrase(c: dict[str, Any]) -> str:
        return article(f"{c['color']} {c['class']}" if "color" in c else c["class"])

    inc = line["include"]
    if line["tag"] == "counting":
        noun = inc[0]["class"]
        return f"{opening} {NUMBER_WORDS[inc[0]['count']]} {noun}{'es' if noun.endswith(('s', 'x')) else 's'}"
    if line["tag"] == "position":
        return f"{opening} {phrase(inc[1])} {inc[1]['position'][0]} {phrase(inc[0])}"
    return f"{opening} " + " and ".join(phrase(c) for c in inc)


# -- files ---------------------------------------------------------------------------------------
def test_metadata_lines_have_the_real_fields_types_and_tag_order(world: Path, shared_data: Path) -> None:
    reference, mine = real(shared_data), ours(world)
    assert shape_of(mine) == shape_of(reference)  # every (tag, key order, clause layout) the real file has
    assert list(dict.fromkeys(r["tag"] for r in mine)) == list(dict.fromkeys(r["tag"] for r in reference)) == TAGS
    assert Counter(r["tag"] for r in mine) == {tag: 10 for tag in TAGS}
    assert len({r["prompt"] for r in mine}) == len(mine)
    for text in ("prompts/evaluation_metadata.jsonl", "bagel_rewritten/evaluation_metadata_long.jsonl"):
        lines = (shared_data / "geneval" / text).read_text(encoding="utf-8").splitlines()
        assert all(json.dumps(json.loads(line)) == line for line in lines)  # default json.dumps style
    for name in ("evaluation_metadata.jsonl", "evaluation_metadata_long.jsonl"):
        lines = (world / "geneval" / name).read_text(encoding="utf-8").splitlines()
        assert all(json.dumps(json.loads(line)) == line for line in lines)


def test_clauses_follow_the_official_conventions(world: Path, shared_data: Path) -> None:
    for rows, classes in ((real(shared_data), None), (ours(world), set(KINDS))):
        relations = set()
        for r in rows:
            named = [c["class"] for c in r["include"]]
            assert len(set(named)) == len(named)
            assert classes is None or set(named) <= classes
            assert all(c["color"] in COLORS for c in r["include"] if "color" in c)
            if r["tag"] == "counting":  # exclude one more than asked
                ((inc,), (exc,)) = r["include"], r["exclude"]
                assert exc == {"class": inc["class"], "count": inc["count"] + 1} and inc["count"] in (2, 3, 4)
            else:
                assert "exclude" not in r and all(c["count"] == 1 for c in r["include"])
            if r["tag"] == "position":
                assert r["include"][1]["position"][1] == 0
                relations.add(r["include"][1]["position"][0])
            if r["tag"] == "color_attr":
                assert r["include"][0]["color"] != r["include"][1]["color"]
        assert relations == {"left of", "right of", "above", "below"}
    assert {r["include"][0]["count"] for r in ours(world) if r["tag"] == "counting"} == {2, 3, 4}


def test_prompts_mirror_the_official_wording(world: Path, shared_data: Path) -> None:
    assert all(expected_prompt(r, "a photo of") == r["prompt"] for r in real(shared_data))
    assert all(expected_prompt(r, "a picture of") == r["prompt"] for r in ours(world))
    generation = (world / "geneval" / "generation_prompts.txt").read_text(encoding="utf-8")
    assert generation == "".join(r["prompt"] + "\n" for r in ours(world))
    assert (world / "geneval" / "object_names.txt").read_text(encoding="utf-8") == "".join(k + "\n" for k in KINDS)


def test_long_prompts_repeat_each_line_with_a_longer_prompt(world: Path, shared_data: Path) -> None:
    for short, long in ((real(shared_data), real(shared_data, long=True)), (ours(world), ours(world, long=True))):
        assert [{**r, "prompt": None} for r in short] == [{**r, "prompt": None} for r in long]
        assert [list(r) for r in short] == [list(r) for r in long]
        assert all(len(b["prompt"]) > 3 * len(a["prompt"]) for a, b in zip(short, long))
    for r in ours(world, long=True):
        words = r["prompt"].lower()
        assert all(c["class"] in words and c.get("color", "") in words for c in r["include"]), r
        if r["tag"] == "counting":
            assert f"exactly {NUMBER_WORDS[r['include'][0]['count']]} " in words
        if r["tag"] == "position":
            rel = r["include"][1]["position"][0]
            assert {"left of": "to its left", "right of": "to its right", "above": "above it",
                    "below": "below it"}[rel] in words


def test_marker_names_the_build(world: Path) -> None:
    marker = json.loads((world / "geneval" / "shapesworld.json").read_text())
    assert marker == {"version": WORLD_VERSION, "seed": 0, "classes": list(KINDS)}


def test_full_scale_has_more_distinct_prompts_capped_by_what_exists(tmp_path: Path) -> None:
    write(Sink(tmp_path, "geneval", 224, stamp={}), np.random.default_rng(5), 8)
    rows = jsonl(tmp_path / "geneval" / "evaluation_metadata.jsonl")
    assert Counter(r["tag"] for r in rows) == {"single_object": 10, "two_object": 45, "counting": 30,
                                               "colors": 80, "position": 80, "color_attr": 80}
    assert len({r["prompt"] for r in rows}) == len(rows)
    counts = Counter(r["include"][0]["count"] for r in rows if r["tag"] == "counting")
    assert counts == {2: 10, 3: 10, 4: 10}


# -- truth images: GenEval's rules in plain numpy ------------------------------------------------------
def relative_position(a: np.ndarray, b: np.ndarray) -> set[str]:
    """GenEval's relation of box ``a`` to box ``b`` (x0, y0, x1, y1) with the 0.1 margin."""
    ca, cb = (a[:2] + a[2:]) / 2, (b[:2] + b[2:]) / 2
    offset = ca - cb
    revised = np.maximum(np.abs(offset) - 0.1 * ((a[2:] - a[:2]) + (b[2:] - b[:2])), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    return {rel for rel, on in (("left of", dx < -0.5), ("right of", dx > 0.5), ("above", dy < -0.5),
                                ("below", dy > 0.5)) if on}


def detections(scene: Scene, far_corner: int) -> dict[str, list[tuple[np.ndarray, str]]]:
    """A perfect detector: per class, (box, colour) of every visible instance, colour read from the pixels."""
    image, mask = render(scene)
    pixels = np.asarray(image)
    out: dict[str, list[tuple[np.ndarray, str]]] = {}
    for i, shape in enumerate(scene.shapes):
        ys, xs = np.nonzero(mask == i + 1)
        if xs.size:
            (rgb,) = {tuple(p) for p in pixels[ys, xs].tolist()}
            colour = next(c for c, v in COLORS.items() if v == rgb)
            box = np.array([xs.min(), ys.min(), xs.max() + far_corner, ys.max() + far_corner], dtype=float)
            out.setdefault(shape.kind, []).append((box, colour))
    return out


def passes(meta: dict[str, Any], scene: Scene, far_corner: int = 1) -> bool:
    found = detections(scene, far_corner)
    groups: list[list[np.ndarray] | None] = []
    ok = True
    for clause in meta["include"]:
        objs = found.get(clause["class"], [])[:clause["count"]]
        good = len(objs) == clause["count"]
        good = good and sum(c == clause.get("color", c) for _, c in objs) >= clause["count"]
        if good and "position" in clause:
            rel, target = clause["position"]
            good = groups[target] is not None and all(rel in relative_position(box, other)
                                                      for box, _ in objs for other in groups[target])
        groups.append([box for box, _ in objs] if good else None)
        ok = ok and good
    return ok and all(len(found.get(c["class"], [])) < c["count"] for c in meta.get("exclude", []))


def test_relative_position_by_hand() -> None:
    box = np.array
    assert relative_position(box([0, 0, 10, 10.]), box([12, 0, 22, 10.])) == {"left of"}  # -10/12
    assert relative_position(box([11, 30, 21, 40.]), box([0, 0, 10, 10.])) == {"below"}  # (9, 28) / 31.9
    assert relative_position(box([0, 0, 100, 10.]), box([5, 0, 105, 10.])) == set()  # inside the margin
    assert relative_position(box([0, 0, 100, 10.]), box([60, 0, 160, 10.])) == {"left of"}  # (60-20)/60


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_truth_images_pass_the_rules_for_every_world_prompt(world: Path, seed: int) -> None:
    for k, meta in enumerate(ours(world)):
        scene = geneval_truth_scene(meta, np.random.default_rng([seed, k]))
        image = render_geneval_truth(meta, np.random.default_rng([seed, k]))
        assert np.array_equal(np.asarray(image), np.asarray(render(scene)[0]))
        assert passes(meta, scene, far_corner=0) and passes(meta, scene, far_corner=1), meta["prompt"]
        assert len(scene.shapes) - sum(c["count"] for c in meta["include"]) in (0, 1, 2)


def test_the_rule_check_fails_broken_truth_images(world: Path) -> None:
    rng = np.random.default_rng(9)
    by_tag = {r["tag"]: r for r in ours(world)}
    for tag, meta in by_tag.items():
        scene = geneval_truth_scene(meta, rng)
        named = [i for i, s in enumerate(scene.shapes) if s.kind == meta["include"][-1]["class"]]
        missing = Scene(tuple(s for i, s in enumerate(scene.shapes) if i != named[0]))
        assert not passes(meta, missing), tag
    counting = by_tag["counting"]
    scene = geneval_truth_scene(counting, rng)
    extra = Shape(counting["include"][0]["class"], "red", 0.5, 0.5, 0.01)  # tiny, but a detection
    assert not passes(counting, Scene((*scene.shapes, extra)))  # exclude = N + 1
    colours = by_tag["colors"]
    scene = geneval_truth_scene(colours, rng)
    other = next(c for c in COLORS if c != colours["include"][0]["color"])
    recoloured = [Shape(**{**s.to_json(), "color": other}) if s.kind == colours["include"][0]["class"] else s
                  for s in scene.shapes]
    assert not passes(colours, Scene(tuple(recoloured)))
    position = by_tag["position"]
    scene = geneval_truth_scene(position, rng)
    mirrored = [Shape(**{**s.to_json(), "x": 1 - s.x, "y": 1 - s.y}) for s in scene.shapes]
    assert not passes(position, Scene(tuple(mirrored)))


def test_truth_refuses_lines_shapesworld_cannot_draw(shared_data: Path) -> None:
    coco = real(shared_data)[0]
    with pytest.raises(UserError, match=r"include\[0\]\.class '" + coco["include"][0]["class"]):
        render_geneval_truth(coco, np.random.default_rng(0))
    bad = [
        ({"include": [{"class": "circle", "count": 2}], "exclude": [{"class": "circle", "count": 2}]}, "exclude"),
        ({"include": [{"class": "circle", "count": 1, "color": "teal"}]}, "color"),
        ({"include": [{"class": "circle", "count": 1, "position": ["near", 0]}]}, "position"),
        ({"include": [{"class": "circle", "count": 7}]}, "at most"),
        ({"include": []}, "include"),
    ]
    for meta, words in bad:
        with pytest.raises(UserError, match=words):
            geneval_truth_scene(meta, np.random.default_rng(0))
