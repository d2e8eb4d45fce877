"""The training-set store: layout, crash safety, verification and COCO export."""

import json

import pytest

from llm_viewer.core.casefile import Case, load_case
from llm_viewer.core.landmarks import LANDMARK_IDS
from llm_viewer.core.store import MANIFEST, Store, StoreError, export_coco, split_for_id


def _case(offset=0.0):
    c = Case.new(pixel_spacing_mm=[0.5, 0.5], spacing_source="ImagerPixelSpacing")
    for i, lm in enumerate(LANDMARK_IDS):
        c.set_ground_truth("right", lm, [100.0 + offset + i, 50.0 + 40 * i])
    return c


def _add(store, cid, **kw):
    return store.add_case(cid, _case(), image_bytes=b"IMG-" + cid.encode(), image_suffix=".dcm",
                          masks={"diaphysis_right": b"PNG-" + cid.encode()}, width_px=300, height_px=500, **kw)


def test_create_add_read_and_relative_image_path(tmp_path):
    store = Store.create(tmp_path / "s")
    e = _add(store, "case-1")
    assert (tmp_path / "s" / "images" / "case-1.dcm").read_bytes() == b"IMG-case-1"
    doc = json.loads((tmp_path / "s" / e.case).read_text())
    assert doc["image"]["path"] == "../images/case-1.dcm"
    assert doc["image"]["width_px"] == 300
    case = load_case(tmp_path / "s" / e.case)
    assert case.resolve_image_path(tmp_path / "s" / e.case) == (tmp_path / "s" / "images" / "case-1.dcm").resolve()
    reopened = Store.open(tmp_path / "s")
    assert [x.id for x in reopened.entries()] == ["case-1"]
    assert reopened.verify().is_ok
    with pytest.raises(StoreError, match="already exists"):
        _add(reopened, "case-1")
    with pytest.raises(StoreError, match="invalid case id"):
        _add(reopened, "../evil")
    with pytest.raises(StoreError, match="not a training-set store"):
        Store.open(tmp_path)


def test_splits_are_deterministic_and_follow_fractions():
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    ids = [f"c{i}" for i in range(2000)]
    splits = [split_for_id(i, fr) for i in ids]
    assert splits == [split_for_id(i, fr) for i in ids]
    assert 0.75 < splits.count("train") / 2000 < 0.85
    assert splits.count("val") > 100 and splits.count("test") > 100


def test_crash_between_files_and_manifest_leaves_a_consistent_store(tmp_path, monkeypatch):
    store = Store.create(tmp_path / "s")
    _add(store, "good")

    def crash(record):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(store, "_append", crash)
    with pytest.raises(KeyboardInterrupt):
        _add(store, "lost")
    monkeypatch.undo()
    reopened = Store.open(tmp_path / "s")
    assert [e.id for e in reopened.entries()] == ["good"]
    rep = reopened.verify()
    assert rep.ok == ("good",)
    assert "images/lost.dcm" in rep.orphans and "cases/lost.case.json" in rep.orphans
    assert not rep.problems
    removed = reopened.clean()
    assert "images/lost.dcm" in removed
    assert not reopened.verify().orphans
    _add(reopened, "lost")  # the id can be written again
    assert [e.id for e in reopened.entries()] == ["good", "lost"]


def test_torn_manifest_line_is_ignored_then_repaired(tmp_path):
    store = Store.create(tmp_path / "s")
    _add(store, "a")
    line = (tmp_path / "s" / MANIFEST).read_bytes()
    with open(tmp_path / "s" / MANIFEST, "ab") as fh:
        fh.write(line[: len(line) // 2].replace(b'"a"', b'"b"'))  # half a line, no newline
    reopened = Store.open(tmp_path / "s")
    assert [e.id for e in reopened.entries()] == ["a"]
    rep = reopened.verify()
    assert rep.torn_lines == 1 and not rep.is_ok
    _add(reopened, "c")  # the next append cuts the torn tail first
    text = (tmp_path / "s" / MANIFEST).read_text()
    assert all(json.loads(x) for x in text.splitlines())
    assert [e.id for e in reopened.entries()] == ["a", "c"]
    assert reopened.verify().is_ok


def test_verify_reports_missing_and_modified_files(tmp_path):
    store = Store.create(tmp_path / "s")
    _add(store, "a")
    _add(store, "b")
    (tmp_path / "s" / "images" / "a.dcm").write_bytes(b"tampered")
    (tmp_path / "s" / "masks" / "b_diaphysis_right.png").unlink()
    rep = store.verify()
    assert not rep.is_ok
    assert any("a:" in p and "sha256" in p for p in rep.problems)
    assert any("b:" in p and "missing" in p for p in rep.problems)
    assert [e.id for e in store.entries()] == ["a"]  # missing file: skipped
    assert store.entries(check="hash") == []  # modified file: skipped when hashes are checked


def test_case_reviewed_in_place_is_not_corruption_but_a_broken_case_is(tmp_path):
    from llm_viewer.core.casefile import save_case

    store = Store.create(tmp_path / "s")
    _add(store, "a")
    (e,) = store.entries()
    case = store.load_case(e)
    case.move_landmark("right", "knee_center", [1.0, 2.0], by="reviewer")
    save_case(case, store.case_path(e))
    rep = store.verify()
    assert rep.is_ok and rep.ok == ("a",) and rep.reviewed_in_place == ("a",)
    assert [x.id for x in store.entries(check="hash")] == ["a"]
    store.case_path(e).write_text("{broken")
    rep = store.verify()
    assert not rep.is_ok and any("a:" in p and "not valid JSON" in p for p in rep.problems)


def test_replace_makes_a_new_version_and_last_line_wins(tmp_path):
    store = Store.create(tmp_path / "s")
    _add(store, "a")
    store.add_case("a", _case(offset=7.0), image_bytes=b"IMG2", masks={}, source="export", replace=True)
    (e,) = store.entries()
    assert e.source == "export" and e.masks == {}
    assert store.load_case(e).landmarks("right")["femoral_head"].x == 107.0
    assert store.verify().ok == ("a",)


def test_coco_export_is_valid_keypoints(tmp_path):
    store = Store.create(tmp_path / "s")
    _add(store, "a")
    _add(store, "b")
    summary = export_coco(store, tmp_path / "coco.json")
    doc = json.loads((tmp_path / "coco.json").read_text())
    assert summary.images == 2 and summary.annotations == 2
    assert set(doc) >= {"images", "annotations", "categories"}
    cats = {c["id"]: c for c in doc["categories"]}
    assert [c["name"] for c in doc["categories"]] == ["right_leg", "left_leg"]
    image_ids = {im["id"] for im in doc["images"]}
    assert len(image_ids) == 2
    assert len({a["id"] for a in doc["annotations"]}) == 2
    for im in doc["images"]:
        assert (tmp_path / im["file_name"]).is_file()
        assert im["width"] == 300 and im["height"] == 500
    for a in doc["annotations"]:
        assert a["image_id"] in image_ids
        cat = cats[a["category_id"]]
        assert cat["keypoints"] == list(LANDMARK_IDS)
        assert len(a["keypoints"]) == 27 and a["num_keypoints"] == 9
        assert a["keypoints"][2::3] == [2] * 9
        assert a["keypoints"][0] == 100.5 and a["keypoints"][1] == 50.5  # pixel centre -> COCO corner origin
        x, y, w, h = a["bbox"]
        xs, ys = a["keypoints"][0::3], a["keypoints"][1::3]
        assert x <= min(xs) and y <= min(ys) and x + w >= max(xs) and y + h >= max(ys) - 1e-9 or y + h == 500
        for i, j in cat["skeleton"]:
            assert 1 <= i <= 9 and 1 <= j <= 9
