"""One synthetic study: parameters -> exact landmarks -> anatomy -> radiograph, with its ground truth.

Entry point: :func:`generate_case`. It is a pure function of ``(seed, index, config)``: the same inputs
give the same pixels, landmarks, masks and boxes on any machine with the same library versions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..core.landmarks import SIDES
from .anatomy import render_leg
from .appearance import (
    add_bone_density,
    apply_acquisition,
    panel_rows,
    panel_shifts_px,
    sample_appearance,
    shift_point,
    shift_rows,
    tone_curve,
    widen_exposure,
)
from .geometry import GeometryBuildError, StudyGeometry, build_study
from .imaging import Exposure, form_log_image, to_full_resolution
from .overlays import (
    OverlayBox,
    draw_ball,
    draw_marker,
    draw_ruler,
    render_bracelet,
    render_hip_implant,
    render_knee_implant,
    render_plate,
)
from .params import StudyParameters, SynthConfig, sample_study
from .pelvis import render_pelvis
from .primitives import Canvas, Layer
from .truth import diaphysis_mask, roi_boxes

GENERATOR_VERSION = 6
VALUE_OFFSET = 1200.0
VALUE_GAIN = 7800.0
MAX_ATTEMPTS = 20


@dataclass
class SyntheticCase:
    """A generated study and its exact ground truth.

    Attributes
    ----------
    case_id : str
    seed, index : int
    config : SynthConfig
    study : StudyParameters
    pixels : numpy.ndarray
        ``(height, width)`` uint16 as stored in the DICOM (already inverted when MONOCHROME1).
    photometric : str
        ``"MONOCHROME1"`` or ``"MONOCHROME2"``.
    pixel_spacing_mm : float
        Square pixel spacing (written as ImagerPixelSpacing).
    window : (center, width)
        Default display window in stored values.
    landmarks : dict
        ``{side: {landmark_id: [x, y]}}`` for the legs in the field of view.
    targets : dict
        ``{side: {metric: value}}``: the requested alignment (equal to the landmarks' metrics).
    masks : dict
        ``{side: uint8 array}``: femoral diaphysis masks (0/255, full resolution).
    rois : list of dict
        ROI boxes (``side``, ``region``, ``box_px``, ``score``).
    overlays : list of OverlayBox
    """

    case_id: str
    seed: int
    index: int
    config: SynthConfig
    study: StudyParameters
    pixels: np.ndarray
    photometric: str
    pixel_spacing_mm: float
    window: tuple[float, float]
    landmarks: dict[str, dict[str, list[float]]]
    targets: dict[str, dict[str, float]]
    masks: dict[str, np.ndarray]
    rois: list[dict[str, Any]]
    overlays: list[OverlayBox] = field(default_factory=list)
    attempt: int = 0
    appearance: dict[str, Any] = field(default_factory=dict)
    """Version 6's appearance draw (:class:`llm_viewer.synth.appearance.Appearance`)."""

    @property
    def height_px(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width_px(self) -> int:
        return int(self.pixels.shape[1])

    def synthetic_block(self) -> dict[str, Any]:
        """The ``synthetic`` entry of the case file: what was requested and how it was made."""
        return {
            "generator": "llm-viewer synth", "generator_version": GENERATOR_VERSION,
            "seed": self.seed, "index": self.index, "attempt": self.attempt,
            "targets": self.targets, "config": self.config.as_dict(), "parameters": self.study.as_dict(),
            "diaphysis_mask_rule": "mask's most distal row y; D = ((first + last set column) / 2, y)",
            "overlays": [{"kind": o.kind, "box_px": list(o.box_px)} for o in self.overlays],
            "appearance": self.appearance,
        }


def case_id_for(seed: int, index: int) -> str:
    """The store id of case ``index`` of a run with ``seed``."""
    return f"synth-{seed}-{index:06d}"


def _rng(seed: int, index: int, attempt: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(seed) >> 32, index, attempt,
                                                         stream]))


def _inside(geo: StudyGeometry, sides: tuple[str, ...], config: SynthConfig, margin_mm: float) -> bool:
    w = config.width_px * config.pixel_spacing_mm
    h = config.height_px * config.pixel_spacing_mm
    for side in sides:
        g = geo.legs[side]
        r = g.params.head_radius_mm
        pts = list(g.landmarks_mm().values()) + [g.H - np.array([0.0, r + 15.0])]
        for p in pts:
            if not (margin_mm <= p[0] <= w - margin_mm and margin_mm <= p[1] <= h - margin_mm):
                return False
    return True


def _exposure(study: StudyParameters, config: SynthConfig, rng: np.random.Generator, sole_mm: float) -> Exposure:
    """Acquisition of one image; ``sole_mm`` is the row of the soles (the radiographer collimates to the feet)."""
    H = config.height_px
    n = study.seams
    cuts = np.sort(rng.uniform(0.9, 1.1, size=n) * (np.arange(1, n + 1) / (n + 1))) * H
    gains = tuple(float(g) for g in rng.normal(0.0, 0.025, size=n + 1))
    sp = config.pixel_spacing_mm
    col = (study.collimation_mm[0] / sp, study.collimation_mm[1] / sp)
    top = rng.uniform(-40.0, 25.0) / sp
    # the lower blade sits near the soles (sometimes cutting through the feet, never above the ankles),
    # or at the cassette's end when the patient is tall
    bottom = min(H - 1 - rng.uniform(-40.0, 20.0) / sp, (sole_mm + rng.uniform(-20.0, 70.0)) / sp)
    photons = 9000.0 * study.exposure / study.noise_level ** 2 * (sp / 0.14) ** 2
    return Exposure(seams_y_px=tuple(int(c) for c in cuts), section_gain=gains, heel=float(rng.uniform(0.05, 0.2)),
                    collimation_x_px=col, collimation_y_px=(float(top), float(bottom)), photons=float(photons),
                    scatter_fraction=study.scatter_fraction, compression=float(rng.uniform(0.55, 0.75)),
                    detail_gain=float(rng.uniform(0.6, 1.2)), texture=float(rng.uniform(0.06, 0.11)),
                    fine_texture=float(rng.uniform(0.05, 0.09)), soft_mottle=float(rng.uniform(0.015, 0.035)))


def generate_case(seed: int, config: SynthConfig | None = None, *, index: int = 0) -> SyntheticCase:
    """Generate one synthetic full-leg radiograph with exact ground truth.

    Parameters
    ----------
    seed : int
        Run seed (non-negative).
    config : SynthConfig, optional
        Image size, spacing, rates; full size (2800 x 8100 at 0.14 mm) by default.
    index : int
        Case number within the run; ``(seed, index)`` fixes everything.

    Returns
    -------
    SyntheticCase

    Raises
    ------
    ValueError
        For a negative seed or index.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    config = config or SynthConfig()
    sp = config.pixel_spacing_mm
    for attempt in range(MAX_ATTEMPTS):
        study = sample_study(_rng(seed, index, attempt, 0), config)
        try:
            geo = build_study(study, sp)
        except GeometryBuildError:
            continue
        if _inside(geo, study.sides, config, margin_mm=25.0):
            break
    else:  # pragma: no cover - the distributions make this practically impossible
        raise GeometryBuildError(f"no valid study for seed {seed}, index {index} in {MAX_ATTEMPTS} attempts")
    rng = _rng(seed, index, attempt, 1)
    W, H = config.width_px, config.height_px
    canvas = Canvas(W, H, sp, config.render_scale)
    body = Layer(canvas, denser_core=True)
    crotch_y = render_pelvis(canvas, body, geo, rng)
    frames = {}
    for side in SIDES:
        g = geo.legs[side]
        frames[side] = render_leg(canvas, body, g, crotch_y, rng)
        p = g.params
        if p.knee_implant:
            render_knee_implant(canvas, g)
        if p.hip_implant:
            render_hip_implant(canvas, g, frames[side])
        if p.plate != "none":
            render_plate(canvas, g, frames[side], rng)
        if p.bracelet:
            render_bracelet(canvas, g, rng)
    body.commit()
    sole_mm = max(float(geo.legs[side].A[1]) + 75.0 * geo.legs[side].params.bone_scale for side in study.sides)
    exp = _exposure(study, config, rng, sole_mm)
    # version 6: appearance and acquisition from a stream of their own (the patient stays version 5's)
    app_rng = _rng(seed, index, attempt, 2)
    exp = widen_exposure(exp, app_rng)
    appearance = sample_appearance(app_rng, len(exp.seams_y_px) + 1)
    add_bone_density(canvas.bone, canvas.att, appearance.bone_gain)
    value, sigma = form_log_image(canvas, exp, rng)
    img = to_full_resolution(value, sigma, canvas, exp, rng)
    overlays = _draw_overlays(img, study, geo, config, exp, rng)
    window = _window(value, exp, canvas)
    field_value = float(np.median(img[:, :2]))
    apply_acquisition(img, appearance, exp.seams_y_px, sp, field_value, sole_mm / sp, app_rng,
                      field_px=(exp.collimation_x_px[0], exp.collimation_y_px[0], exp.collimation_x_px[1],
                       exp.collimation_y_px[1]))
    tone_curve(img, (window[0] - window[1] / 2 - VALUE_OFFSET) / VALUE_GAIN,
               (window[0] + window[1] / 2 - VALUE_OFFSET) / VALUE_GAIN, appearance)
    rows = panel_rows(exp.seams_y_px, H)
    shifts = panel_shifts_px(appearance, sp)
    photometric = study.monochrome
    # 16-bit quantisation in one saturating pass (rounded to nearest); MONOCHROME1 stores the inverted scale
    pixels = cv2.addWeighted(img, VALUE_GAIN, img, 0.0, VALUE_OFFSET, dtype=cv2.CV_16U)
    if photometric == "MONOCHROME1":
        np.subtract(np.uint16(65535), pixels, out=pixels)
        window = (65535.0 - window[0], window[1])
    landmarks, targets, masks, rois = {}, {}, {}, []
    for side in study.sides:
        g = geo.legs[side]
        landmarks[side] = {k: shift_point(v, rows, shifts) for k, v in g.landmarks_px(sp).items()}
        targets[side] = g.params.targets()
        if any(shifts):  # a stitching shift changes what the film shows: the truth is the film's
            targets[side] = _film_targets(targets[side], landmarks[side], side, sp)
        masks[side] = diaphysis_mask(g, frames[side], W, H, sp)
        boxes = roi_boxes(g, masks[side], W, H, sp)
        shift_rows(masks[side], rows, shifts, 0)
        for b in boxes:  # a box moves with the panel that holds its centre
            x0, y0, x1, y1 = b["box_px"]
            dx = shift_point([0.0, 0.5 * (y0 + y1)], rows, shifts)[0]
            b["box_px"] = [float(min(max(x0 + dx, -0.5), W - 0.5)), y0, float(min(max(x1 + dx, -0.5), W - 0.5)), y1]
        rois.extend(boxes)
    return SyntheticCase(case_id=case_id_for(seed, index), seed=seed, index=index, config=config, study=study,
                         pixels=pixels, photometric=photometric, pixel_spacing_mm=sp, window=window,
                         landmarks=landmarks, targets=targets, masks=masks, rois=rois, overlays=overlays,
                         attempt=attempt, appearance=appearance.as_dict())


def _film_targets(targets: dict[str, float], landmarks: dict[str, list[float]], side: str,
                  spacing_mm: float) -> dict[str, float]:
    """The requested metrics replaced by those of the landmarks as the (mis-stitched) film shows them."""
    from ..core.metrics import compute_leg_metrics

    m = compute_leg_metrics(landmarks, side, [spacing_mm, spacing_mm]).as_dict()
    return {k: (float(m[k]) if isinstance(m.get(k), (int, float)) else v) for k, v in targets.items()}


def _window(value: np.ndarray, exp: Exposure, canvas: Canvas) -> tuple[float, float]:
    """Default display window from the body's value range (coarse image, inside the collimation)."""
    f = canvas.scale
    j0 = int(max(0, exp.collimation_x_px[0] / f + 4))
    j1 = int(min(value.shape[1], exp.collimation_x_px[1] / f - 4))
    v = value[::2, j0:max(j0 + 1, j1):2]
    lo, hi = np.percentile(v, [2.0, 99.7])
    lo_s, hi_s = VALUE_OFFSET + VALUE_GAIN * lo, VALUE_OFFSET + VALUE_GAIN * hi
    return (float(round((lo_s + hi_s) / 2.0)), float(round(max(100.0, hi_s - lo_s))))


def _draw_overlays(img: np.ndarray, study: StudyParameters, geo: StudyGeometry, config: SynthConfig,
                   exp: Exposure, rng: np.random.Generator) -> list[OverlayBox]:
    sp = config.pixel_spacing_mm
    out: list[OverlayBox] = []
    H = config.height_px
    x_lo, x_hi = exp.collimation_x_px[0] + 30.0 / sp, exp.collimation_x_px[1] - 30.0 / sp
    mid = study.midline_x_mm / sp
    if study.calibration == "ruler":
        # between the legs, or at the lateral side of one leg
        if rng.random() < 0.6 and len(study.sides) == 2:
            x = mid + rng.normal(0.0, 6.0) / sp
        else:
            x = x_lo + 10.0 / sp if rng.random() < 0.5 else x_hi - 10.0 / sp
        y0 = max(0.0, exp.collimation_y_px[0]) + rng.uniform(0.05, 0.2) * H
        box = draw_ruler(img, sp, x, y0, min(H - 1.0, y0 + rng.uniform(0.45, 0.7) * H))
        if box:
            out.append(box)
    elif study.calibration == "ball":
        side = study.sides[0]
        g = geo.legs[side]
        y = (g.H[1] / sp) + rng.uniform(-10.0, 120.0) / sp
        x = (g.H[0] / sp) + g.lat[0] * rng.uniform(110.0, 150.0) / sp
        x = float(min(max(x, x_lo), x_hi))
        box = draw_ball(img, sp, x, y)
        if box:
            out.append(box)
    marker_side = "right" if study.marker == "R" else "left"
    x = x_lo + 15.0 / sp if marker_side == "right" else x_hi - 15.0 / sp
    y = max(0.0, exp.collimation_y_px[0]) + rng.uniform(40.0, 160.0) / sp
    box = draw_marker(img, sp, study.marker, float(x), float(y))
    if box:
        out.append(box)
    return out


def expected_metrics_ok(case: SyntheticCase, tol_deg: float = 0.05) -> bool:
    """True when the spec's metrics of the ground truth equal the targets within ``tol_deg``."""
    from ..core.metrics import compute_leg_metrics

    sp = [case.pixel_spacing_mm, case.pixel_spacing_mm]
    for side, lm in case.landmarks.items():
        m = compute_leg_metrics(lm, side, sp).as_dict()
        for k, v in case.targets[side].items():
            if k.endswith("_deg") and not math.isclose(float(m[k]), v, abs_tol=tol_deg):
                return False
    return True
