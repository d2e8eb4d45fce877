"""Side and orientation from anatomy (fibula, model mirror test), mirrored images, absent regions, low resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm_viewer.pipeline import decode
from llm_viewer.pipeline.crop import Box
from llm_viewer.pipeline.engine import InferenceEngine
from llm_viewer.pipeline.legs import NOT_DETECTED, NOT_IN_IMAGE, Detection, assign_legs
from llm_viewer.pipeline.models import LandmarkModelOutput
from llm_viewer.pipeline.sidecue import combine_votes, fibula_vote, knee_fibula_vote, mirror_vote_from_scores

from .conftest import leg_boxes, tiny_config


# ------------------------------------------------------------------ fibula
def _lower_leg(fibula_side: str, w: int = 300, h: int = 600, tibia_cx: float = 150.0) -> np.ndarray:
    """Soft tissue with a wide bright bar (tibia) and a thin one (fibula) on ``fibula_side`` of it."""
    rng = np.random.default_rng(1)
    img = rng.normal(0.1, 0.005, size=(h, w)).astype(np.float32)
    img[:, int(tibia_cx) - 70:int(tibia_cx) + 70] += 0.15  # soft tissue of the leg
    img[:, int(tibia_cx) - 22:int(tibia_cx) + 22] += 0.5  # tibia, 44 px
    fx = tibia_cx - 40 if fibula_side == "-x" else tibia_cx + 40
    img[:, int(fx) - 5:int(fx) + 5] += 0.4  # fibula, 10 px, a soft-tissue gap from the tibia
    return img


def _ankle(cx: float = 150.0) -> Detection:
    return Detection("ankle", Box(cx - 50, 420, cx + 50, 520), 0.9)


def test_fibula_at_image_left_of_the_tibia_votes_right_leg_and_its_mirror_left():
    vote, detail = fibula_vote(_lower_leg("-x"), {"ankle": _ankle()})
    assert vote > 0.5 and "fibula -x" in detail
    vote, detail = fibula_vote(_lower_leg("+x"), {"ankle": _ankle()})
    assert vote < -0.5 and "fibula +x" in detail
    # one bone only, or no ankle box: no vote
    img = _lower_leg("-x")
    img[:, 100:120] = img[:, 95:96]
    assert fibula_vote(img, {"ankle": _ankle()})[0] == 0.0
    assert fibula_vote(_lower_leg("-x"), {"knee": _ankle()})[0] == 0.0


def test_a_narrow_tibia_ridge_gives_only_a_weak_fibula_vote():
    # the same leg in a wide ankle box: the 44-px "tibia" is a line (a cortex), not the bone, at this box width
    wide = Detection("ankle", Box(0, 420, 300, 520), 0.9)
    vote, detail = fibula_vote(_lower_leg("-x"), {"ankle": wide})
    assert 0.0 < vote <= 0.5 and "narrow ridge" in detail
    vote, _ = fibula_vote(_lower_leg("-x"), {"ankle": _ankle()})  # 44 px of a 100-px box: a bone, full vote
    assert vote > 1.0


def _knee_view(fibula_side: str | None, ruler: bool = False) -> np.ndarray:
    """A knee alone: femur above row 200, tibia below; the fibula only below the joint; a ruler the whole height."""
    img = _lower_leg(fibula_side or "-x")
    if fibula_side is None:
        img[:, :] = img[:, 150:151].mean()
    img[:200] = img[:200, 150:151]  # above the joint: one bone (the femur) over the soft tissue
    img[:200, 80:220] = 0.25
    img[:200, 105:195] = 0.75
    if ruler:
        img[:, 235:243] += 0.6  # thin, bright, and the whole height of the film
    return img


def test_fibula_below_a_knee_alone_gives_the_side_and_a_ruler_does_not():
    knee = {"knee": Detection("knee", Box(90, 120, 210, 240), 0.9)}  # bands: rows 192..264 and 216..288
    vote, detail = knee_fibula_vote(_knee_view("-x"), knee)
    assert vote > 0.5 and "fibula below the knee" in detail
    assert knee_fibula_vote(_knee_view("+x"), knee)[0] < -0.5
    assert knee_fibula_vote(_knee_view(None), knee)[0] == 0.0
    # a ruler beside a fibula-less tibia goes on up past the joint: it is no fibula
    assert knee_fibula_vote(_knee_view(None, ruler=True), knee)[0] == 0.0
    assert knee_fibula_vote(_knee_view("-x"), {"ankle": _ankle()})[0] == 0.0  # no knee box


def test_a_ridge_at_the_end_of_the_band_is_no_fibula():
    """A bone cut off at the band's end (the other leg at the edge of a one-leg crop) does not vote."""
    img = _lower_leg("-x")
    img[:, 105:115] = img[:, 95:96]  # remove the fibula (soft tissue there)
    assert fibula_vote(img, {"ankle": _ankle()})[0] == 0.0
    img[:, 77:83] += 0.4  # a thin ridge 2-8 px inside the band (columns 75..225)
    assert fibula_vote(img, {"ankle": _ankle()})[0] == 0.0
    img[:, 77:83] -= 0.4
    img[:, 105:115] += 0.4  # the same ridge 30 px inside: a fibula
    assert fibula_vote(img, {"ankle": _ankle()})[0] > 0.5


def test_fibula_found_in_a_higher_band_when_the_ankle_box_sits_low():
    """RG3: a box drawn around the talus puts the default band where tibia and fibula merge at the malleoli."""
    img = _lower_leg("+x")
    img[425:600, 100:200] = img[425:600, 150:151]  # below row 425 the two bones merge into one ridge
    low = Detection("ankle", Box(100, 480, 200, 580), 0.9)  # default band: rows 430..510, merged
    vote, detail = fibula_vote(img, {"ankle": low})
    assert vote < -0.5 and "higher" in detail
    merged = img.copy()
    merged[:, 100:200] = merged[:, 150:151]
    assert fibula_vote(merged, {"ankle": low})[0] == 0.0


def test_single_leg_side_from_the_fibula_in_the_engine(tiny_engine, monkeypatch):
    monkeypatch.setattr(InferenceEngine, "mirror_scores", lambda self, *a: None)  # fibula alone
    dets = [Detection("knee", Box(100, 160, 200, 260), 0.9), _ankle()]
    for fib, side in (("-x", "right"), ("+x", "left")):
        res = tiny_engine.analyze(_lower_leg(fib), detections=dets)
        assert list(res.legs) == [side]
        ev = res.legs[side].side_evidence
        assert ev.decided_by == "anatomy" and ev.cues == ["fibula"] and not ev.disagree
        assert not any("side could not be decided" in w or "assumed" in w for w in res.warnings)


# ------------------------------------------------------------------ model mirror test
class _PrefersBrightLeft(torch.nn.Module):
    """A fake SGR model: a crisp map and agreeing heads only when the crop's left half is the brighter.

    The trained models know right-leg crops only; this one stands for a model that recognises an orientation.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> LandmarkModelOutput:
        b, _, s, _ = x.shape
        asym = x[:, 0, :, : s // 2].mean((1, 2)) - x[:, 0, :, s // 2:].mean((1, 2))  # (B,)
        yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        blob = torch.exp(-((xx - s / 2) ** 2 + (yy - s / 2) ** 2) / 8.0)
        amp = 40.0 * asym  # logit of the peak: high (crisp) for a bright left half, low otherwise
        logits = (-6.0 + (amp[:, None, None] + 6.0) * blob)[:, None].expand(b, self.n, s, s)
        coords = torch.full((b, self.n, 2), (s / 2 + 0.5) / s)
        coords = coords + (asym < 0).float()[:, None, None] * 0.3  # heads disagree when not recognised
        return LandmarkModelOutput(logits.contiguous(), coords)


def _fake_engine():
    eng = InferenceEngine.from_config(tiny_config(), device="cpu", seed=0)
    for region in ("knee", "ankle"):
        eng.region_models[region] = _PrefersBrightLeft(len(eng.config.regions[region].landmark_ids)).eval()
    return eng


def _bright_left_knee(w: int = 300, h: int = 600) -> np.ndarray:
    img = np.full((h, w), 0.2, np.float32)
    img[:, 100:150] = 0.8  # left half of the knee box (x 100-200) bright; uniform lower leg: no fibula ridge
    img[:5, :5] = 0.0
    return img


def test_single_leg_side_decided_by_the_model_mirror_test():
    eng = _fake_engine()
    dets = [Detection("knee", Box(100, 160, 200, 260), 0.9)]
    res = eng.analyze(_bright_left_knee(), detections=dets, refine=False)
    assert list(res.legs) == ["right"]
    ev = res.legs["right"].side_evidence
    assert ev.decided_by == "anatomy" and ev.cues == ["model_mirror"] and ev.votes["model_mirror"] > 0
    # the mirror image: the model recognises the mirrored crop, so the leg is a left one
    mirrored = _bright_left_knee()[:, ::-1].copy()
    res = eng.analyze(mirrored, detections=[Detection("knee", Box(99, 160, 199, 260), 0.9)], refine=False)
    assert list(res.legs) == ["left"] and res.legs["left"].side_evidence.votes["model_mirror"] < 0
    assert res.legs["left"].side_evidence.cues == ["model_mirror"]


def test_mirror_vote_needs_a_clear_preference():
    assert mirror_vote_from_scores(0.40, 0.39) == 0.0
    assert mirror_vote_from_scores(0.40, 0.20) == pytest.approx(1.0)  # capped: weaker than the fibula
    assert mirror_vote_from_scores(0.20, 0.25) == pytest.approx(-0.5)


# ------------------------------------------------------------------ disagreement, mirrored images
def test_cues_that_disagree_give_a_warning_and_the_stronger_decides():
    # femoral neck: hip box centre +x of the shaft's line -> right (+1); fibula says left, strongly (-2)
    dets = leg_boxes(150, regions=("hip", "diaphysis", "knee", "ankle"))
    dets[0] = Detection("hip", Box(dets[0].box.x0 + 12, dets[0].box.y0, dets[0].box.x1 + 12, dets[0].box.y1), 0.9)
    a = assign_legs(dets, side_cues=lambda chain: {"fibula": (-2.0, "fibula +x of the tibia")})
    assert list(a.legs) == ["left"]
    ev = a.side_evidence["left"]
    assert ev.votes == {"femoral_neck": 1.0, "fibula": -2.0} and ev.cues == ["fibula"] and ev.disagree
    assert any("side cues disagree" in w and "femoral_neck: right" in w and "fibula: left" in w for w in a.warnings)
    # all agree: no warning
    a = assign_legs(dets, side_cues=lambda chain: {"fibula": (1.0, "")})
    assert list(a.legs) == ["right"] and a.side_evidence["right"].cues == ["femoral_neck", "fibula"]
    assert not any("disagree" in w for w in a.warnings)
    assert combine_votes({"a": 0.0}) == (None, [], False)


def test_two_legs_whose_anatomy_contradicts_their_positions_are_reported():
    # (a film mirrored as a whole keeps both lateral sides outwards; this is panels mirrored one by one)
    dets = leg_boxes(80) + leg_boxes(220)

    def swapped(chain):  # the leg on the image left has its fibula at +x: anatomy of a left leg, and vice versa
        return {"fibula": (-1.0 if next(iter(chain.values())).box.cx < 150 else 1.0, "")}

    a = assign_legs(dets, side_cues=swapped)
    assert a.mirrored and set(a.legs) == {"right", "left"}
    assert any("contradicting their positions" in w for w in a.warnings)
    assert a.side_evidence["right"].decided_by == "position" and a.side_evidence["right"].mirrored
    a = assign_legs(dets, side_cues=lambda chain: {"fibula": (1.0 if next(iter(chain.values())).box.cx < 150
                                                              else -1.0, "")})
    assert not a.mirrored and not any("mirrored" in w or "disagree" in w for w in a.warnings)
    # only one leg against its position: not a mirrored image, but said
    a = assign_legs(dets, side_cues=lambda chain: {"fibula": (-1.0, "")})
    assert not a.mirrored and any(w.startswith("right leg: side cues disagree") for w in a.warnings)
    assert not any(w.startswith("left leg: side cues disagree") for w in a.warnings)


def test_two_legs_with_medial_fibulae_are_reported_by_the_engine(tiny_engine, monkeypatch):
    monkeypatch.setattr(InferenceEngine, "mirror_scores", lambda self, *a: None)
    # right leg (image left) with its fibula at +x, left leg with its fibula at -x: both fibulae medial
    img = np.concatenate([_lower_leg("+x"), _lower_leg("-x")], axis=1)
    dets = [Detection("ankle", Box(100, 420, 200, 520), 0.9), Detection("ankle", Box(400, 420, 500, 520), 0.9),
            Detection("knee", Box(100, 160, 200, 260), 0.9), Detection("knee", Box(400, 160, 500, 260), 0.9)]
    res = tiny_engine.analyze(img, detections=dets)
    assert set(res.legs) == {"right", "left"} and res.mirrored_suspect
    assert any("contradicting their positions" in w for w in res.warnings)
    assert res.legs["right"].side_evidence.votes["fibula"] < 0 < res.legs["left"].side_evidence.votes["fibula"]


# ------------------------------------------------------------------ absent regions
@pytest.fixture(scope="module")
def synth_case():
    from llm_viewer.synth import generate_case
    from llm_viewer.synth.params import SynthConfig

    cfg = SynthConfig.with_height(1024, monochrome="MONOCHROME2", implants_rate=0.0, one_leg_rate=0.0,
                                  calibration="none")
    return generate_case(7, cfg)


def _case_dets(case, regions, dy=0.0, side="right"):
    out = []
    for r in case.rois:
        if r["side"] == side and r["region"] in regions:
            x0, y0, x1, y1 = r["box_px"]
            out.append(Detection(r["region"], Box(x0, y0 - dy, x1, y1 - dy), 0.9))
    return out


def test_knee_to_ankle_film_reports_hip_and_diaphysis_not_in_the_image(tiny_engine, synth_case):
    case = synth_case
    knee = next(r["box_px"] for r in case.rois if r["side"] == "right" and r["region"] == "knee")
    top = int(knee[1]) - 20  # the film starts just above the knee
    pixels = case.pixels[top:, : case.width_px // 2].astype(np.float32)  # right leg only, knee to ankle
    res = tiny_engine.analyze(pixels, detections=_case_dets(case, ("knee", "ankle"), dy=top))
    (leg,) = res.legs.values()
    assert leg.missing_regions == ["hip", "diaphysis"]
    assert leg.absent_regions == {"hip": NOT_IN_IMAGE, "diaphysis": NOT_IN_IMAGE}
    assert not {"femoral_head", "diaphysis_center"} & set(leg.landmarks)  # never guessed
    assert any("hip region is not in the image" in w for w in res.warnings)
    assert not any("hip region not found" in w for w in res.warnings)


def test_region_inside_the_film_that_is_not_found_is_not_detected(tiny_engine, synth_case):
    pixels = synth_case.pixels.astype(np.float32)
    res = tiny_engine.analyze(pixels, detections=_case_dets(synth_case, ("hip", "diaphysis", "ankle"))
                              + _case_dets(synth_case, ("knee", "ankle"), side="left"))
    assert res.legs["right"].absent_regions == {"knee": NOT_DETECTED}  # between hip and ankle
    assert res.legs["left"].absent_regions == {"hip": NOT_DETECTED, "diaphysis": NOT_DETECTED}  # film goes on
    assert any("left leg: hip region not found" in w for w in res.warnings)


def test_absent_reasons_without_image_height_are_not_detected():
    a = assign_legs([Detection("knee", Box(0, 0, 100, 100), 0.9)])
    assert a.absent[next(iter(a.legs))] == {"hip": NOT_DETECTED, "diaphysis": NOT_DETECTED, "ankle": NOT_DETECTED}


# ------------------------------------------------------------------ low resolution
def test_small_leg_gets_a_resolution_warning_and_uncertainty_floor(tiny_engine):
    rng = np.random.default_rng(0)
    img = rng.normal(100, 10, size=(600, 128)).astype(np.float32)  # a 128-px-wide single leg
    img[:, 50:70] += 200
    # boxes 12 x 12 px: under half the tiny models' 32-px input
    dets = [Detection(d.region, Box(d.box.x0, d.box.y0, d.box.x1, d.box.y0 + 12), d.score)
            for d in leg_boxes(60, half_w=6, step=140)]
    res = tiny_engine.analyze(img, detections=dets, refine=False)
    (leg,) = res.legs.values()
    assert set(leg.resolution_limited) == {"hip", "diaphysis", "knee", "ankle"}
    assert any("low resolution: the image is 128x600 px" in w for w in res.warnings)
    assert any("low resolution: ROI box hip 12 px, diaphysis 12 px" in w for w in res.warnings)
    for p in leg.landmarks.values():
        assert p.uncertainty_px >= decode.RES_FLOOR_PX - 1e-9


def test_resolution_floor_scales_with_the_coarser_pixel():
    assert decode.resolution_floor(0.0, 0.25) == pytest.approx(0.5)  # upsampled crop: half an image pixel
    assert decode.resolution_floor(0.0, 4.0) == pytest.approx(2.0)  # downsampled crop: half a crop pixel
    assert decode.resolution_floor(3.0, 8.0) == pytest.approx(5.0)
    assert decode.resolution_floor(0.0, 4.0) > decode.resolution_floor(0.0, 2.0)


def test_full_size_leg_has_no_resolution_warning(tiny_engine, leg_image):
    res = tiny_engine.analyze(leg_image, detections=leg_boxes(80) + leg_boxes(220))
    assert not any("low resolution" in w for w in res.warnings)
    assert all(not leg.resolution_limited for leg in res.legs.values())


# ------------------------------------------------------------------ analyze JSON
def test_analyze_document_carries_side_evidence_and_absent_regions(tiny_engine, monkeypatch):
    import json
    from types import SimpleNamespace

    from llm_viewer.commands.analyze import result_document

    monkeypatch.setattr(InferenceEngine, "mirror_scores", lambda self, *a: None)
    img = _lower_leg("+x")
    res = tiny_engine.analyze(img, detections=[Detection("ankle", Box(100, 480, 200, 580), 0.9)])
    doc = result_document("x.png", SimpleNamespace(pixel_spacing_mm=None, spacing_source="unknown", width_px=300,
                                                   height_px=600), res)
    doc = json.loads(json.dumps(doc))  # JSON-serialisable
    leg = doc["legs"]["left"]
    assert leg["side_evidence"]["decided_by"] == "anatomy" and leg["side_evidence"]["cues"] == ["fibula"]
    assert leg["side_evidence"]["votes"]["fibula"] < 0
    assert leg["absent_regions"]["hip"] == "not in the image" and leg["absent_regions"]["knee"] == "not detected"
    assert leg["resolution_limited"] == {} and doc["mirrored_suspect"] is False


def test_numpy_peaks_and_smoothing_match_scipy():
    """bone_peaks no longer imports scipy (start-up): its replacements give scipy's numbers."""
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    from llm_viewer.pipeline.sidecue import find_peaks_1d, gaussian_smooth_1d

    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.integers(20, 400))
        raw = rng.normal(size=n).cumsum() + (rng.uniform(size=n) > 0.9) * rng.uniform(0, 5, size=n)
        sigma = float(rng.uniform(0.5, 6.0))
        sm = gaussian_smooth_1d(raw, sigma)
        np.testing.assert_allclose(sm, gaussian_filter1d(raw, sigma, mode="nearest"), atol=1e-9)
        if trial % 5 == 0:
            sm = np.round(sm, 1)  # plateaus
        prom = 0.01 * float(np.ptp(sm))
        idx, props = find_peaks(sm, prominence=prom, width=1, rel_height=0.5)
        ours = find_peaks_1d(sm, prom, 1.0, 0.5)
        assert [i for i, _, _ in ours] == list(idx)
        np.testing.assert_allclose([p for _, p, _ in ours], props["prominences"], atol=1e-9)
        np.testing.assert_allclose([w for _, _, w in ours], props["widths"], atol=1e-9)


def test_fibula_vote_is_capped_at_one_where_its_box_is_below_the_model_input(tiny_engine):
    """One-leg 128-px exports: bones a few pixels wide; the fibula then weighs no more than the femoral neck."""
    size = tiny_engine.config.regions["ankle"].input_size_px
    small = Detection("ankle", Box(0, 0, size - 1, 20), 0.9)
    large = Detection("ankle", Box(0, 0, size + 1, 20), 0.9)
    vote, detail = tiny_engine._low_res_capped((-1.8, "fibula +x"), small, "ankle")
    assert vote == -1.0 and "capped" in detail
    assert tiny_engine._low_res_capped((-1.8, "fibula +x"), large, "ankle") == (-1.8, "fibula +x")
    assert tiny_engine._low_res_capped((0.7, "faint"), small, "ankle") == (0.7, "faint")
