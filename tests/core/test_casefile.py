"""Case files: shape, provenance, history, validation and crash-safe saving."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from llm_viewer.core import atomic
from llm_viewer.core.casefile import CASE_VERSION, Case, CaseFileError, load_case, save_case
from llm_viewer.core.landmarks import LANDMARK_IDS, LandmarkError
from llm_viewer.core.measurement import measure_document


@pytest.fixture()
def predicted_case(alignment_examples, tmp_path):
    ex = alignment_examples[0]
    img = tmp_path / "images" / "a.png"
    img.parent.mkdir()
    img.write_bytes(b"\x89PNG fake image bytes")
    case = Case.new(pixel_spacing_mm=ex["pixel_spacing_mm"], spacing_source="ImagerPixelSpacing")
    case_path = tmp_path / "cases" / "a.case.json"
    case_path.parent.mkdir()
    case.set_image(img, case_path, width_px=2800, height_px=8100)
    for side, leg in ex["legs"].items():
        for lm, xy in leg["landmarks"].items():
            case.set_prediction(side, lm, xy, model_id="demo-1", score=0.9, uncertainty_px=2.0)
    return case, case_path, img, ex


def test_case_file_keeps_the_spec_shape_and_measures_directly(predicted_case):
    case, path, img, ex = predicted_case
    save_case(case, path)
    raw = json.loads(path.read_text())
    assert raw["format"] == "llm-viewer-case" and raw["format_version"] == CASE_VERSION
    assert raw["pixel_spacing_mm"] == ex["pixel_spacing_mm"]
    assert raw["legs"]["right"]["landmarks"]["femoral_head"] == ex["legs"]["right"]["landmarks"]["femoral_head"]
    assert raw["image"]["path"] == "../images/a.png"
    assert raw["image"]["size_bytes"] == img.stat().st_size and len(raw["image"]["sha256"]) == 64
    assert raw["review"]["status"] == "predicted"
    # measure reads it as is
    m = measure_document(raw).as_dict()
    assert m["legs"]["right"]["metrics"]["hka_deg"] == pytest.approx(
        ex["expected"]["legs"]["right"]["metrics"]["hka_deg"], abs=1e-3)
    assert load_case(path).resolve_image_path(path) == img.resolve()


def test_manual_move_keeps_original_and_reset_restores(predicted_case):
    case, path, _, ex = predicted_case
    orig = ex["legs"]["left"]["landmarks"]["knee_center"]
    case.move_landmark("left", "knee_center", [orig[0] + 10, orig[1] - 5], by="dr.who")
    prov = case.provenance("left", "knee_center")
    assert prov["source"] == "manual" and prov["original"] == orig and prov["by"] == "dr.who"
    assert case.status == "corrected"
    moves = case.manual_moves()
    assert len(moves) == 1 and moves[0]["moved_px"] == pytest.approx((10**2 + 5**2) ** 0.5)
    # a second move keeps the first original
    case.move_landmark("left", "knee_center", [orig[0] + 20, orig[1]], by="dr.who")
    assert case.provenance("left", "knee_center")["original"] == orig
    assert case.reset_landmark("left", "knee_center")
    assert case.landmark("left", "knee_center").as_list() == orig
    assert case.provenance("left", "knee_center")["source"] == "model"
    actions = [h["action"] for h in case.history]
    assert actions[-3:] == ["moved", "moved", "reset"]


def test_history_is_append_only_and_approval_records_reviewer(predicted_case):
    case, path, _, _ = predicted_case
    n = len(case.history)
    case.approve("A. Surgeon")
    assert case.status == "approved" and case.review["by"] == "A. Surgeon" and case.review["at"].endswith("Z")
    assert len(case.history) == n + 1
    with pytest.raises(CaseFileError, match="reviewer"):
        case.approve("  ")
    save_case(case, path)
    again = load_case(path)
    assert again.history[: n + 1] == case.history[: n + 1]


def test_unknown_keys_are_preserved(predicted_case):
    case, path, _, _ = predicted_case
    raw = case.to_dict()
    raw["future_feature"] = {"x": [1, 2, 3]}
    raw["legs"]["right"]["extra"] = "kept"
    path.write_text(json.dumps(raw))
    c2 = load_case(path)
    c2.move_landmark("right", "femoral_head", [1, 2])
    save_case(c2, path)
    out = json.loads(path.read_text())
    assert out["future_feature"] == {"x": [1, 2, 3]} and out["legs"]["right"]["extra"] == "kept"


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"{not json", "not valid JSON (line 1"),
    (b"[1, 2]", "expected a JSON object"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
    (json.dumps({"format": "something-else"}).encode(), "not an llm-viewer case file"),
    (json.dumps({"format_version": CASE_VERSION + 1}).encode(), "newer llm-viewer"),
    (json.dumps({"legs": {"middle": {}}}).encode(), "unknown leg 'middle'"),
    (json.dumps({"legs": {"right": {"landmarks": {"knee_center": [1]}}}}).encode(), "right leg: landmark 'knee_center'"),
    (json.dumps({"legs": {"right": {"landmarks": {"kneecap": [1, 2]}}}}).encode(), "unknown landmark 'kneecap'"),
    (json.dumps({"pixel_spacing_mm": [-1, 1]}).encode(), "pixel_spacing_mm"),
    (json.dumps({"review": {"status": "maybe"}}).encode(), "review.status"),
])
def test_malformed_files_give_clear_errors(tmp_path, content, message):
    p = tmp_path / "bad.case.json"
    p.write_bytes(content)
    with pytest.raises(CaseFileError, match=message.replace("(", r"\(")) as exc:
        load_case(p)
    assert str(p) in str(exc.value)
    assert p.read_bytes() == content, "a failed load never touches the file"


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CaseFileError, match="no such file"):
        load_case(tmp_path / "nope.json")
    with pytest.raises(CaseFileError, match="folder"):
        load_case(tmp_path)


def test_partial_case_is_allowed_but_unknown_ids_are_not():
    case = Case.new()
    case.set_prediction("right", "femoral_head", [10, 20], model_id="m")
    assert case.missing_landmarks("right") == list(LANDMARK_IDS[1:])
    with pytest.raises(LandmarkError):
        case.move_landmark("right", "kneecap", [1, 2])
    with pytest.raises(LandmarkError):
        case.move_landmark("middle", "knee_center", [1, 2])


# ---------------------------------------------------------------- crash safety
class _Boom(Exception):
    pass


@pytest.mark.parametrize("stage", ["write", "fsync", "chmod", "replace"])
def test_interrupted_save_leaves_old_file(tmp_path, monkeypatch, predicted_case, stage):
    case, _, _, _ = predicted_case
    path = tmp_path / "x.case.json"
    save_case(case, path)
    old = path.read_bytes()
    case.move_landmark("right", "knee_center", [5, 5])

    def boom(*a, **k):
        raise _Boom(stage)

    if stage == "write":
        real_fdopen = os.fdopen

        class HalfWriter:
            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, data):
                self.fh.write(data[: len(data) // 2])
                raise _Boom("disk full")

            def __getattr__(self, name):
                return getattr(self.fh, name)

        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    elif stage == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", boom)
    elif stage == "chmod":
        monkeypatch.setattr(atomic.os, "chmod", boom)
    else:
        monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(_Boom):
        save_case(case, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert not list(tmp_path.glob(atomic.TEMP_PREFIX + "*")), "temporary file cleaned up"


_WRITER = textwrap.dedent("""
    import sys
    from llm_viewer.core.casefile import Case, save_case
    path = sys.argv[1]
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        c = Case.new(pixel_spacing_mm=[0.1, 0.1])
        c.set("counter", i)
        c.set("payload", ["x" * 200] * (2000 + (i % 7) * 300))
        save_case(c, path)
""")


def test_killed_writer_never_leaves_a_broken_file(tmp_path):
    """SIGKILL a process saving in a loop at random moments: the file always parses completely."""
    path = tmp_path / "c.case.json"
    save_case(Case.new(), path)
    seen = set()
    for attempt in range(8):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + 0.037 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        case = load_case(path)  # raises if torn
        seen.add(case.get("counter"))
        assert case.get("payload") is None or len(case.get("payload")) >= 2000
    assert len(seen) > 1, "the writer made progress between kills"
    atomic.sweep_temp(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.case.json"]


def test_restore_point_puts_back_position_provenance_and_review(predicted_case):
    case, _, _, ex = predicted_case
    before_xy = case.landmark("right", "malleolus_lateral").as_list()
    before_prov, before_review = case.provenance("right", "malleolus_lateral"), case.review
    case.move_landmark("right", "malleolus_lateral", [1.0, 2.0], by="u")
    assert case.status == "corrected"
    case.restore_point("right", "malleolus_lateral", before_xy, before_prov, before_review, action="undo", by="u")
    assert case.landmark("right", "malleolus_lateral").as_list() == before_xy
    assert case.provenance("right", "malleolus_lateral") == before_prov
    assert case.review == before_review
    assert [h["action"] for h in case.history][-2:] == ["moved", "undo"]
    case.restore_point("right", "malleolus_lateral", None, None, None, action="undo-placement")
    assert case.landmark("right", "malleolus_lateral") is None
