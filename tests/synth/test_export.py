"""Clinical export formats (8-bit, low resolution, single-leg crops) and generator version 6's appearance."""

import dataclasses

import cv2
import numpy as np
import pytest

from llm_viewer.core.store import Store
from llm_viewer.synth.appearance import panel_rows, shift_point, shift_rows
from llm_viewer.synth.export import ExportError, ExportSpec, export_case, sample_export_spec
from llm_viewer.synth.generator import expected_metrics_ok, generate_case
from llm_viewer.synth.params import SynthConfig
from llm_viewer.synth.truth import mask_landmark

CFG = SynthConfig.with_height(2025)


@pytest.fixture(scope="module")
def case():
    return generate_case(3, CFG, index=1)


def _blob_case(w=400, h=1200):
    """A flat image with small bright discs exactly at known landmark positions (to follow them through)."""
    px = np.full((h, w), 1000, np.uint16)
    lms = {"right": {"femoral_head": [100.25, 200.5], "knee_center": [110.0, 640.0], "malleolus_medial": [120.75, 1050.0]},
           "left": {"femoral_head": [300.0, 210.0], "knee_center": [290.5, 650.25], "malleolus_medial": [280.0, 1040.0]}}
    yy, xx = np.mgrid[0:h, 0:w]
    for side in lms.values():
        for x, y in side.values():
            px[(xx - x) ** 2 + (yy - y) ** 2 <= 12 ** 2] = 30000

    class C:
        pixels, photometric, window, landmarks, pixel_spacing_mm = px, "MONOCHROME2", (15000.0, 30000.0), lms, 0.5
        rois = [{"side": "right", "region": "knee", "box_px": [60.0, 600.0, 160.0, 700.0], "score": 1.0}]
    return C


@pytest.mark.parametrize("spec", [
    ExportSpec(kind="bilateral", width_px=250, fmt="png"),
    ExportSpec(kind="bilateral", width_px=1000, fmt="png", gamma=0.7, grey_lo=30, grey_hi=90),
    ExportSpec(kind="single_leg", width_px=256, canvas_px=(128, 1024), side="right", clahe_clip=1.0),
    ExportSpec(kind="single_leg", width_px=240, canvas_px=(128, 1024), side="left", crop_shift_frac=0.1),
])
def test_landmarks_follow_the_pixels_through_every_export(spec):
    """Each mapped landmark sits on the centroid of its disc in the exported image (to a tenth of a pixel
    of the disc's own resampling), and nothing of the other leg is reported in a single-leg crop."""
    ex = export_case(_blob_case(), spec)
    img = ex.pixels.astype(np.float64)
    assert ex.pixels.dtype == np.uint8
    for side, pts in ex.landmarks.items():
        for x, y in pts.values():
            r = 12 * ex.matrix[0, 0] * 2.5
            y0, y1, x0, x1 = int(y - r), int(y + r) + 1, int(x - r), int(x + r) + 1
            win = img[max(0, y0):y1, max(0, x0):x1]
            win = np.clip(win - np.median(img), 0, None)
            ys, xs = np.mgrid[max(0, y0):y1, max(0, x0):x1]
            cx, cy = (win * xs).sum() / win.sum(), (win * ys).sum() / win.sum()
            assert abs(cx - x) < 0.35 and abs(cy - y) < 0.35, (side, x, y, cx, cy)
    if spec.kind == "single_leg":
        assert set(ex.landmarks) == {spec.side}
        assert ex.pixels.shape == (1024, 128)
        assert ex.pixels[:20].max() == 0 and ex.pixels[-20:].max() == 0  # black bars above and below
    assert ex.pixel_spacing_mm is None and ex.true_spacing_mm == pytest.approx(0.5 * 400 / spec.width_px)


def test_a_single_leg_export_of_a_missing_leg_is_refused():
    c = _blob_case()
    c.landmarks = {"right": c.landmarks["right"]}
    with pytest.raises(ExportError, match="left"):
        export_case(c, ExportSpec(kind="single_leg", width_px=256, canvas_px=(128, 1024), side="left"))


def test_exports_reach_the_low_contrast_band_of_real_exports(case):
    """A console window squeezed into 20-100 of 255 gives an 8-bit image whose 1st-99th percentiles lie in
    that band (real exports: about 23 / 93), and the encoded JPEG decodes to nearly the same pixels."""
    ex = export_case(case, ExportSpec(kind="bilateral", width_px=500, fmt="jpeg", jpeg_quality=85,
                                      grey_lo=20, grey_hi=100))
    p1, p99 = np.percentile(ex.pixels, [1, 99])
    assert 15 <= p1 and p99 <= 105
    dec = cv2.imdecode(np.frombuffer(ex.encoded, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert dec.shape == ex.pixels.shape and np.abs(dec.astype(int) - ex.pixels).mean() < 3


def test_sampled_specs_cover_the_clinical_range():
    specs = [sample_export_spec(np.random.default_rng(i)) for i in range(300)]
    widths = [s.width_px for s in specs if s.kind == "bilateral"]
    assert min(widths) < 350 and max(widths) > 2000
    assert 0.3 < np.mean([s.kind == "single_leg" for s in specs]) < 0.6
    assert {s.fmt for s in specs} == {"png", "jpeg"}
    assert any(s.invert for s in specs) and any(s.clahe_clip > 0 for s in specs)


def test_version6_ground_truth_stays_exact_with_mis_stitched_panels():
    """Panels shifted sideways move their landmarks, masks and boxes by whole pixels: the spec's metrics of
    the landmarks still equal the recorded targets, and the mask rule still returns the diaphysis landmark."""
    shifted = 0
    for i in range(8):
        c = generate_case(21, CFG, index=i)
        assert expected_metrics_ok(c)
        for side in c.masks:
            assert np.allclose(mask_landmark(c.masks[side]), c.landmarks[side]["diaphysis_center"])
        shifted += any(abs(s) > 0 for s in c.appearance["panel_shift_mm"])
    assert shifted >= 2


def test_shift_rows_and_points_agree():
    a = np.zeros((10, 12), np.float32)
    a[2, 3] = 1.0
    a[7, 3] = 1.0
    rows = panel_rows((5,), 10)
    shift_rows(a, rows, (2, -1), fill=0.0)
    assert a[2, 5] == 1.0 and a[7, 2] == 1.0
    assert shift_point([3.0, 2.0], rows, (2, -1)) == [5.0, 2.0]
    assert shift_point([3.0, 7.0], rows, (2, -1)) == [2.0, 7.0]


def test_version6_appearance_varies_between_studies():
    """Bone against soft tissue, contrast and texture differ between studies far more than in version 5."""
    apps = [generate_case(4, CFG, index=i).appearance for i in range(6)]
    gains = [a["bone_gain"] for a in apps]
    assert max(gains) - min(gains) > 0.3
    assert len({round(a["gamma"], 3) for a in apps}) == 6


def test_synth_command_writes_clinical_exports_beside_each_study(tmp_path):
    from llm_viewer.cli import main

    out = tmp_path / "store"
    assert main(["synth", "--count", "2", "--seed", "5", "--size", "small", "--exports", "2", "--out", str(out),
                 "--no-progress"]) == 0
    store = Store.open(out)
    ids = {e.id for e in store.entries()}
    assert {"synth-5-000000", "synth-5-000000-x0", "synth-5-000000-x1", "synth-5-000001-x1"} <= ids
    e = next(e for e in store.entries() if e.id == "synth-5-000000-x0")
    parent = next(p for p in store.entries() if p.id == "synth-5-000000")
    assert e.split == parent.split  # an export never lands in another split than its study
    case = store.load_case(e)
    assert store.image_path(e).suffix in (".png", ".jpg")
    assert case.get("synthetic")["export"]["of"] == "synth-5-000000"
    assert all(len(case.landmarks(s)) == 9 for s in case.sides)
    # a repeated run adds nothing
    assert main(["synth", "--count", "2", "--seed", "5", "--size", "small", "--exports", "2", "--out", str(out),
                 "--no-progress"]) == 0
    assert len(list(store.entries())) == len(ids)


def test_specs_are_plain_data():
    s = sample_export_spec(np.random.default_rng(0))
    assert dataclasses.replace(s) == s and isinstance(s.as_dict(), dict)


def test_more_exports_can_be_added_to_a_store_later(tmp_path):
    """``--exports-only --exports 2`` on a store that has each study and its first export adds only the second,
    and ``--single-leg-rate 1`` makes it a single-leg crop."""
    from llm_viewer.cli import main

    out = tmp_path / "store"
    assert main(["synth", "--count", "1", "--seed", "6", "--size", "small", "--exports", "1", "--out", str(out),
                 "--no-progress"]) == 0
    assert main(["synth", "--count", "1", "--seed", "6", "--size", "small", "--exports", "2", "--exports-only",
                 "--single-leg-rate", "1", "--out", str(out), "--no-progress"]) == 0
    store = Store.open(out)
    ids = sorted(e.id for e in store.entries())
    assert ids == ["synth-6-000000", "synth-6-000000-x0", "synth-6-000000-x1"]
    x1 = store.load_case(next(e for e in store.entries() if e.id.endswith("-x1")))
    assert x1.get("synthetic")["export"]["spec"]["kind"] == "single_leg"


def test_a_one_leg_crop_boxes_the_other_legs_regions_it_still_shows():
    """The other leg's knee half inside the crop is boxed (so the detector never learns it as background);
    its hip, outside, is not; and the crop's ground truth stays the exported leg's alone."""
    c = _blob_case()
    c.rois = [{"side": "right", "region": "knee", "box_px": [60.0, 600.0, 160.0, 700.0], "score": 1.0},
              {"side": "left", "region": "knee", "box_px": [170.0, 600.0, 250.0, 700.0], "score": 1.0},
              {"side": "left", "region": "hip", "box_px": [260.0, 150.0, 340.0, 260.0], "score": 1.0}]
    ex = export_case(c, ExportSpec(kind="single_leg", width_px=256, canvas_px=(128, 1024), side="right"))
    assert set(ex.landmarks) == {"right"}
    got = {(r["side"], r["region"]) for r in ex.rois}
    assert got == {("right", "knee"), ("left", "knee")}
    box = next(r["box_px"] for r in ex.rois if r["side"] == "left")
    h, w = ex.pixels.shape
    assert -0.5 <= box[0] < box[2] <= w - 0.5 and -0.5 <= box[1] < box[3] <= h - 0.5
    # the box is where the other knee is: its left edge maps like a point
    x0 = ex.matrix[0, 0] * 170.0 + ex.matrix[0, 2]
    assert box[0] == pytest.approx(max(-0.5, x0), abs=1e-6)
