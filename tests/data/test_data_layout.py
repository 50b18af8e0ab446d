"""Dataset-provided names and archives cannot write outside the benchmark folder."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from sgt_eval.data.archive import extract_zip
from sgt_eval.data.layout import image_refs, read_rows
from sgt_eval.data.sources import base_url, release
from sgt_eval.errors import UserError


def _vsr_folder(tmp_path, row):
    folder = tmp_path / "vsr"
    (folder / "splits/zeroshot").mkdir(parents=True)
    (folder / "splits/zeroshot/test.jsonl").write_text(json.dumps(row) + "\n")
    return folder


def test_vsr_links_are_moved_onto_the_coco_base(tmp_path, monkeypatch):
    monkeypatch.setenv("SGT_EVAL_COCO_IMAGES", "http://mirror.example/coco/")
    folder = _vsr_folder(tmp_path, {"image": "1.jpg", "image_link": "http://images.cocodataset.org/val2017/1.jpg"})
    [ref] = image_refs(release("vsr"), folder)
    assert (ref.local, ref.url) == ("images/1.jpg", "http://mirror.example/coco/val2017/1.jpg")
    assert base_url("coco") == "http://mirror.example/coco"


@pytest.mark.parametrize("row, message", [
    ({"image": "../../x.jpg", "image_link": "http://images.cocodataset.org/val2017/x.jpg"}, "field 'image' has path"),
    ({"image": "x.jpg", "image_link": "http://evil.example/val2017/x.jpg"}, "points to 'evil.example'"),
    ({"image": "x.jpg", "image_link": "http://images.cocodataset.org/../x.jpg"}, "field 'image_link' has path"),
    ({"image_link": "http://images.cocodataset.org/val2017/x.jpg"}, "no usable 'image' field"),
])
def test_unsafe_dataset_fields_are_refused(tmp_path, row, message):
    with pytest.raises(UserError, match=message):
        image_refs(release("vsr"), _vsr_folder(tmp_path, row))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_members_land_under_the_top_folder(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"top/VD/a.png": b"a", "VS/b.png": b"bb", "__MACOSX/top/._a.png": b"junk"}))
    assert extract_zip(archive, tmp_path / "out", "top") == 2
    assert (tmp_path / "out/top/VD/a.png").read_bytes() == b"a" and (tmp_path / "out/top/VS/b.png").read_bytes() == b"bb"
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.png", "b.png"]
    assert extract_zip(archive, tmp_path / "out", "top") == 0  # present files are kept


def test_zip_slip_is_refused(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"top/ok.png": b"a", "../../escape.png": b"x"}))
    with pytest.raises(UserError, match="outside the data folder"):
        extract_zip(archive, tmp_path / "out", "top")
    assert not list(tmp_path.rglob("escape.png"))


def test_not_a_zip_is_a_clear_error(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_text("<html>not a zip</html>")
    with pytest.raises(UserError, match="is not a usable zip archive"):
        extract_zip(archive, tmp_path / "out", "top")


def test_read_rows_names_the_broken_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(UserError, match=r"x.jsonl:2 is not a JSON line"):
        read_rows(path)
    csv_path = tmp_path / "Questions.csv"
    csv_path.write_bytes('\ufeffIndex,Question\n1,"Is it, really?"\n'.encode())
    assert read_rows(csv_path) == [{"Index": "1", "Question": "Is it, really?"}]
