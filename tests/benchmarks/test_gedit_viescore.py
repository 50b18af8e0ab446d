"""VIEScore: judge replies read as upstream's mllm_output_to_dict (minus its random guess), requests, records."""

from __future__ import annotations

import io
import json
import math

import pytest
from gedit_data import official_rows, write_parquet
from PIL import Image

from benchmarks.gedit import GEditBench
from benchmarks.viescore import OWN_PROMPTS, judge_requests, judged, parse_scores
from sgt_eval.records import Sample


@pytest.mark.parametrize("reply, scores", [
    ('{"score": [7, 9], "reasoning": "fine"}', [7, 9]),
    ('Here you go:\n```json\n{\n"score" : [3, 10],\n"reasoning" : "ok"\n}\n```', [3, 10]),
    ('||V^=^V|| {"score": [5, 6], "reasoning": "x"} ||V^=^V|| trailing {"score": [1, 1]}', [5, 6]),
    ('{"score": 4, "reasoning": "one number"}', [4]),
    ('{"score": [6.5, 8]}', [6.5, 8]),
    ("[2, 8]", [2, 8]),
    ("scores: [2,8]", [2, 8]),
    ("7", [7]),
    (" 10\n", [10]),
    ('[{"score": [1, 2]}]', [1, 2]),  # from the first "{" to the last "}"
    ("{ opened, never closed: [4, 5]", [4, 5]),  # no "}": the bare list form
])
def test_replies_upstream_reads_are_read(reply, scores):
    assert parse_scores(reply) == scores


@pytest.mark.parametrize("reply", [
    "The edit looks great!",  # upstream guesses random.randint(0, 10) here
    "",
    '{"score": [7, 8}',  # malformed JSON (upstream's fix_json regex repair is not applied)
    "{score: [7, 8], reasoning: unquoted}",
    '{"score": [7, 11]}', '{"score": [-1, 5]}', "11", "[12, 3]",  # out of 0..10
    '{"score": []}', '{"score": ["7", "8"]}', '{"score": [true, 8]}', '{"reasoning": "no score"}',
    "[1, 2, 3]", "[1, 2", "rate_limit_exceeded",
])
def test_unreadable_or_out_of_range_replies_are_unparsed(reply):
    assert parse_scores(reply) is None


def sample() -> Sample:
    return Sample(id="color_alter/en/k1", question="Make the car blue.", answer="",
                  meta={"task_type": "color_alter", "language": "en", "intersection": True, "key": "k1"})


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


def test_requests_show_source_and_resized_edit_then_the_edit_alone():
    source, edited = Image.new("RGB", (64, 48), (200, 0, 0)), Image.new("RGB", (100, 100), (0, 0, 200))
    sc, pq = judge_requests("Make the car blue.", source, edited, OWN_PROMPTS)
    assert "Make the car blue." in sc.text and "<instruction>" not in sc.text and sc.text != pq.text
    assert sc.prompt_version == pq.prompt_version == "sgt-eval-own-v1"
    first, second = (decode(b) for b in sc.images)
    assert first.size == second.size == (64, 48)  # the edit at the source's size
    assert first.getpixel((5, 5))[0] > 150 and second.getpixel((5, 5))[2] > 150
    [alone] = pq.images
    assert alone == sc.images[1]


def test_judged_record_keeps_both_replies_and_takes_the_minimum_of_each_pair():
    rec = judged(sample(), "images/fullset/color_alter/en/k1.png", '{"score": [9, 4]}', "[8, 10]")
    assert rec.method == "judge" and rec.correct is None
    assert rec.values == {"SC": 4.0, "PQ": 8.0, "O": math.sqrt(32)}
    assert json.loads(rec.judge_reply) == {"SC": '{"score": [9, 4]}', "PQ": "[8, 10]"}
    assert json.loads(rec.parsed) == {"SC": [9, 4], "PQ": [8, 10]}


@pytest.mark.parametrize("sc_reply, pq_reply", [("[3, 4]", "no idea"), ('{"score": [42, 4]}', "[5, 5]")])
def test_one_unreadable_reply_makes_the_record_unparsed(sc_reply, pq_reply):
    rec = judged(sample(), "x.png", sc_reply, pq_reply)
    assert rec.unparsed and rec.values == {} and rec.parsed is None
    assert json.loads(rec.judge_reply) == {"SC": sc_reply, "PQ": pq_reply}


def test_fetched_official_prompts_are_used_and_named(tmp_path):
    write_parquet(tmp_path / "data" / "train.parquet", official_rows()[:2])
    doc = {"version": "official@570eba6", "source": "stepfun-ai/Step1X-Edit@570eba6:vie_prompts.py",
           "sc": "Judge the edit.\nEditing instruction: <instruction>\n", "pq": "Judge the picture."}
    (tmp_path / "viescore_prompts.json").write_text(json.dumps(doc))
    bench = GEditBench()
    bench.load(tmp_path)
    assert bench.settings()["judge_prompt"] == "official@570eba6"
    assert bench.grader(type("J", (), {"id": "qwen@local"})()) == "judge:qwen@local|prompt:official@570eba6"
    sc, pq = judge_requests("Add a hat.", Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8)), bench.prompts)
    assert (sc.text, pq.text) == ("Judge the edit.\nEditing instruction: Add a hat.\n", "Judge the picture.")
    (tmp_path / "viescore_prompts.json").write_text(json.dumps({**doc, "sc": "no placeholder"}))
    with pytest.raises(Exception, match="field 'sc' lacks <instruction>"):
        bench.load(tmp_path)
