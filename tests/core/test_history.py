"""Approval fingerprints, stale approvals and earlier versions rebuilt from the case history; the store's
manifest after an edit in place."""

from __future__ import annotations

from llm_viewer.core.casefile import Case, save_case, sha256_file
from llm_viewer.core.history import positions_at, record_approval, stale_approval, versions
from llm_viewer.core.store import Store, store_case_of


def _case() -> Case:
    c = Case.new(pixel_spacing_mm=[0.2, 0.2], spacing_source="synthetic")
    c.set_ground_truth("right", "femoral_head", [10.0, 20.0])
    c.set_prediction("right", "knee_center", [11.0, 200.0], model_id="m")
    return c


def test_an_approval_goes_stale_when_points_or_spacing_change():
    c = _case()
    c.approve("Dr. A")
    assert stale_approval(c) is None
    c.move_landmark("right", "knee_center", [12.0, 200.0], by="x")
    c.set_status("approved", by="Dr. A")  # the old viewer's bug: an approval that survived a change
    assert stale_approval(c) is None  # a new approval (no fingerprint): later changes only count
    c.set_spacing([0.3, 0.3], "manual-entry", by="x")
    assert "calibrated" in stale_approval(c)
    c.approve("Dr. A")
    record_approval(c)
    assert stale_approval(c) is None
    c._data["legs"]["right"]["landmarks"]["knee_center"] = [50.0, 200.0]  # edited by another tool
    assert "no longer matches" in stale_approval(c)


def test_positions_at_rebuilds_every_earlier_version():
    c = _case()
    start = len(c.history)
    c.move_landmark("right", "femoral_head", [15.0, 20.0], by="a")
    c.reset_landmark("right", "knee_center", by="a")
    c.move_landmark("right", "knee_center", [30.0, 210.0], by="b")
    c.set_spacing([0.5, 0.5], "manual-entry", by="b")
    pts, spacing = positions_at(c, start)
    assert pts["right"] == {"femoral_head": [10.0, 20.0], "knee_center": [11.0, 200.0]} and spacing == [0.2, 0.2]
    pts, _ = positions_at(c, start + 2)
    assert pts["right"]["femoral_head"] == [15.0, 20.0] and pts["right"]["knee_center"] == [11.0, 200.0]
    assert [i for i, _ in versions(c)][:4] == [start + 3, start + 2, start + 1, start]


def test_refresh_case_records_an_edit_in_place(tmp_path):
    (tmp_path / "img.png").write_bytes(b"not really a png")
    store = Store.create(tmp_path / "s")
    entry = store.add_case("c1", _case(), image_path=tmp_path / "img.png", source="import")
    path = store.case_path(entry)
    assert store_case_of(path) == (store, "c1") or store_case_of(path)[1] == "c1"
    assert store.refresh_case("c1", by="Dr. A") is None  # unchanged: nothing appended
    c = store.load_case(entry)
    c.move_landmark("right", "knee_center", [12.0, 201.0], by="Dr. A")
    save_case(c, path)
    new = store.refresh_case("c1", by="Dr. A")
    assert new.case_sha256 == sha256_file(path) and new.extra["edited_by"] == "Dr. A"
    (latest,) = Store.open(store.root).entries(check="hash")
    assert latest.case_sha256 == new.case_sha256 and latest.split == entry.split
    assert store.verify().reviewed_in_place == ()
    assert store_case_of(tmp_path / "img.png") is None
