"""Local stand-ins for GitHub raw, the Hugging Face hub, COCO and Google Drive (data tests).

The real POPE / VSR / HallusionBench / GenEval metadata files are copied from ../shared/data into a
temporary folder laid out like each host; images, CV-Bench, MMVP, GEdit-Bench (a parquet with the
official columns and its hub API listing), HallusionBench's ``utils.py`` and zip and Step1X-Edit's
``vie_prompts.py`` are small fakes generated here. The fetch code under test runs unchanged against
it: only the base URLs are pointed here, through the same environment variables users set.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.parquet as pq
from hosts_server import FAKE_COMMIT

from sgt_eval.data.sources import GEDIT_ROWS, VIESCORE_SOURCE, github_releases

COCO_HOST = "http://images.cocodataset.org/"

# A synthetic upstream utils.py in the shape of HallusionBench's (made-up words, not the real prompt).
SYNTHETIC_UTILS = '''import os

def evaluate_by_chatgpt(data, output_entry, correctness_entry, gpt_model="gpt-4"):
    output = []
    for sample in data:
        prompt = 'Pretend you grade {curly} parrots. '
        prompt += "Ponder turnips.\\n\\n Riddle:"
        prompt += sample['question']
        prompt += '\\nTrue note: '
        prompt += sample['gt_answer_details']
        prompt += '\\nGuess:' + sample[output_entry]
        prompt += '\\nVerdict:'
        other = 'not part of the prompt'
        output.append(other)
    return output

def check_same_by_chatgpt(data):
    prompt = 'a different prompt'
    return prompt
'''
SYNTHETIC_TEMPLATE = ("Pretend you grade {{curly}} parrots. Ponder turnips.\n\n Riddle:{question}"
                      "\nTrue note: {reference}\nGuess:{prediction}\nVerdict:")

# A synthetic vie_prompts.py in the shape of Step1X-Edit's (made-up words, not the real prompts).
SYNTHETIC_VIE_PROMPTS = '''# This file is generated automatically through parse_prompt.py

_context_no_delimit = """Act as a fussy heron.
Answer {"score" : [...]}"""

_context = """not one of the tie prompts"""

_prompts_0shot_two_image_edit_rule = """RULES:
Two ponds: before and after."""

_prompts_0shot_tie_rule_SC = """
Rate the ripples twice.
Wish: <instruction>
"""

_prompts_0shot_rule_PQ = """RULES:
One pond. Rate it twice."""
'''
SYNTHETIC_SC = ('Act as a fussy heron.\nAnswer {"score" : [...]}\nRULES:\nTwo ponds: before and after.\n'
                '\nRate the ripples twice.\nWish: <instruction>\n')
SYNTHETIC_PQ = 'Act as a fussy heron.\nAnswer {"score" : [...]}\nRULES:\nOne pond. Rate it twice.'
GEDIT_REPO = "stepfun-ai/GEdit-Bench"
GEDIT_FILE = "data/train-00000-of-00001.parquet"
# local file name -> path of the unmodified copy under ../shared/data/geneval
GENEVAL_SHARED = {"evaluation_metadata.jsonl": "prompts/evaluation_metadata.jsonl",
                  "evaluation_metadata_long.jsonl": "bagel_rewritten/evaluation_metadata_long.jsonl",
                  "object_names.txt": "prompts/object_names.txt",
                  "generation_prompts.txt": "prompts/generation_prompts.txt"}


def fake_image(name: str) -> bytes:
    """Bytes standing in for an image (fetch never decodes images); distinct per name."""
    return b"\xff\xd8 fake image " + name.encode()


@dataclass(frozen=True)
class Server:
    """Client side of the local hosts (hosts_server.py): their URL, the tree served, the request log."""

    url: str
    tree: Path

    def _control(self, command: str) -> bytes:
        with urllib.request.urlopen(f"{self.url}/__{command}", timeout=10) as resp:
            return resp.read()

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        """``(path, Authorization header)`` of every request since the last :meth:`clear`."""
        return [(path, auth) for path, auth in json.loads(self._control("log"))]

    def clear(self) -> None:
        self._control("reset")

    def fail(self, path: str, times: int) -> None:
        """Answer ``path`` with HTTP 503 the next ``times`` times."""
        self._control(f"fail?{urlencode({'path': path, 'n': times})}")

    def count(self, prefix: str = "/") -> int:
        return len(self.paths(prefix))

    def paths(self, prefix: str = "/") -> list[str]:
        return [path for path, _ in self.requests if path.startswith(prefix)]


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def build_tree(tree: Path, shared: Path) -> None:
    """Lay out the metadata as each host serves it, and fake images for every referenced name."""
    shared_files = {
        "pope": {"head": shared / "pope/head_3df3ba1", "llava15": shared / "pope/v2023-08_e3e3926_llava15"},
        "vsr": {"b27a0af": shared / "vsr"},
        "hallusionbench": {"744007c": shared / "hallusionbench"},
    }
    for bench, versions in shared_files.items():
        for rel in github_releases(bench):
            for f in rel.files:
                src = versions[rel.version] / (f.local if bench != "pope" else Path(f.local).name)
                dest = tree / "github" / rel.repo / rel.revision / f.remote
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
    hb = tree / "github/tianyi-lab/HallusionBench" / github_releases("hallusionbench")[0].revision
    _write(hb / "utils.py", SYNTHETIC_UTILS)
    geneval = github_releases("geneval")[0]
    for f in geneval.files:
        dest = tree / "github" / (f.repo or geneval.repo) / (f.revision or geneval.revision) / f.remote
        _write(dest, (shared / "geneval" / GENEVAL_SHARED[f.local]).read_bytes())
    repo, commit, path, _ = VIESCORE_SOURCE
    _write(tree / "github" / repo / commit / path, SYNTHETIC_VIE_PROMPTS)
    write_gedit_hub(tree, "main", FAKE_COMMIT, {GEDIT_FILE: gedit_parquet()})
    for name in _pope_images(shared):
        _write(tree / "coco/val2014" / name, fake_image(name))
    for split in ("zeroshot", "random"):
        for line in (shared / f"vsr/splits/{split}/test.jsonl").read_text().splitlines():
            link = json.loads(line)["image_link"]
            _write(tree / "coco" / link.removeprefix(COCO_HOST), fake_image(link))
    _build_hub(tree / "cdn", FAKE_COMMIT)
    _write(tree / "gdrive/download", hallusion_zip(shared, top="hallusion_bench"))
    _write(tree / "gdrive_html/download", "<html><body>Google Drive can't scan this file</body></html>")


def _pope_images(shared: Path) -> set[str]:
    return {json.loads(line)["image"] for p in (shared / "pope").glob("*/coco_pope_*.json")
            for line in p.read_text().splitlines() if line.strip()}


def hallusion_zip(shared: Path, top: str) -> bytes:
    """A zip of fake images at every ``filename`` of HallusionBench.json, under ``top`` (if any)."""
    rows = json.loads((shared / "hallusionbench/HallusionBench.json").read_text())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in sorted({r["filename"].removeprefix("./") for r in rows if r["filename"]}):
            z.writestr(f"{top}/{name}" if top else name, fake_image(name))
        z.writestr("__MACOSX/._junk", b"x")
    return buf.getvalue()


def cvbench_rows(n_2d: int = 1438, n_3d: int = 1200, bad_filename: str | None = None) -> dict[str, str]:
    """Fake CV-Bench files with the real row counts; images are shared by rows to keep tests fast."""
    files = {}
    for kind, n in (("2d", n_2d), ("3d", n_3d)):
        rows = [{"idx": i, "type": kind.upper(), "filename": f"img/{kind.upper()}/count/ade20k_{i % 7}.png",
                 "answer": "(A)"} for i in range(n)]
        if bad_filename:
            rows[-1]["filename"] = bad_filename
        files[f"test_{kind}.jsonl"] = "".join(json.dumps(r) + "\n" for r in rows)
    return files


def mmvp_csv(n: int = 300) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["Index", "Question", "Options", "Correct Answer"])
    for i in range(1, n + 1):
        writer.writerow([i, "Is the door, in the picture, open?", "(a) Open (b) Closed", "(a)"])
    return buf.getvalue()


def write_hub_dataset(cdn: Path, repo: str, commit: str, files: dict[str, str], image_names: list[str]) -> None:
    for name, text in files.items():
        _write(cdn / repo / commit / name, text)
    for name in image_names:
        _write(cdn / repo / commit / name, fake_image(name))


def _build_hub(cdn: Path, commit: str) -> None:
    cv = cvbench_rows()
    images = sorted({json.loads(line)["filename"] for text in cv.values() for line in text.splitlines()})
    write_hub_dataset(cdn, "nyu-visionx/CV-Bench", commit, cv, images)
    write_hub_dataset(cdn, "MMVP/MMVP", commit, {"Questions.csv": mmvp_csv()},
                      [f"MMVP Images/{i}.jpg" for i in range(1, 301)])


def gedit_parquet(rows: int = GEDIT_ROWS) -> bytes:
    """A parquet with GEdit-Bench's columns: half the rows en, half cn, one tiny shared image."""
    image = {"bytes": b"\x89PNG fake", "path": "x.png"}
    table = pa.Table.from_pylist([
        {"task_type": "color_alter", "key": f"k{i % (rows // 2)}", "instruction": "make it blue",
         "instruction_language": "en" if i < rows // 2 else "cn", "input_image": image, "input_image_raw": image,
         "Intersection_exist": i % 3 == 0} for i in range(rows)])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_gedit_hub(tree: Path, revision: str, commit: str, files: dict[str, bytes],
                    lfs_sha256: dict[str, str] | None = None) -> None:
    """GEdit-Bench on the fake hub: the files at ``commit`` and the API listing ``revision`` resolves with.

    ``lfs_sha256`` overrides the hash the listing gives for a file (to serve a file that is not the listed one).
    """
    siblings: list[dict[str, object]] = [{"rfilename": ".gitattributes"}, {"rfilename": "README.md"}]
    for name, data in files.items():
        _write(tree / "cdn" / GEDIT_REPO / commit / name, data)
        digest = (lfs_sha256 or {}).get(name) or hashlib.sha256(data).hexdigest()
        siblings.append({"rfilename": name, "size": len(data), "lfs": {"sha256": digest, "size": len(data)}})
    listing = {"id": GEDIT_REPO, "sha": commit, "siblings": siblings}
    _write(tree / "hf/api/datasets" / GEDIT_REPO / "revision" / revision, json.dumps(listing))
