"""Calibrated landmark radii and the out-of-distribution (OOD) flag, from a bundle's ``calibration.json``.

Written by ``python -m training.calibrate``; read by :meth:`InferenceEngine.from_bundle`. Plain JSON, validated
on load like ``bundle.json`` (a malformed file is a :class:`BundleError` naming the problem; a file made for
other weights is ignored with a warning: the radii would be stale). Older code ignores the file. A bundle
without it keeps working: every ``radius90_px`` is ``None`` and the result says the radius is uncalibrated.

**Raw score** per landmark (original pixels), from what the engine already gives::

    raw = sqrt(u² + t² + 0.5²)

``u`` = ``LandmarkPrediction.uncertainty_px`` (the refinement map's spread for refined points, SGR disagreement
+ map peak for first-stage ones), ``t`` = the test-time spread (``tta_spread_px``; only in the ``tta`` mode, i.e. when the engine runs with
``tta=True``), 0.5 px = the pixel's own quantisation (so the radius grows with the pixel size). How far the
refinement stage moved the point is recorded too (``shift_px``) but left out: on the version-5/3 calibration
stores it did not rank the errors (Spearman 0.0-0.25) and only widened the radii (training/calibrate.py).

**Split-conformal factor** per landmark: on a calibration store with ground truth, the nonconformity of each
placed landmark is ``e / (raw · g)`` (``e`` = error in original pixels, ``g`` the OOD inflation below); the
factor ``q`` is its finite-sample quantile, the ``ceil((n + 1) · 0.9)``-th smallest of ``n`` values. Then
``radius90_px = q · raw · g`` holds the true point with probability ≥ 90 % for exchangeable data. A landmark
with fewer than :data:`MIN_PER_LANDMARK` calibration points uses its region's pooled factor. Landmarks whose ROI box
is smaller than the region model's input (low resolution, the crop upsampled: one-leg exports, small studies) form a class of their
own with its own factors (Mondrian conformal: coverage holds within each class), where the calibration set has
at least :data:`MIN_PER_LANDMARK` of them for the landmark or its region; otherwise the common factor is used.

**OOD** (image and landmark level; each score is scaled so that 1 is the threshold, ``> 1`` fires):

* image: the distance of its texture (``log`` of the mean absolute Laplacian of the normalised image: noise
  raises it, blur and downscaling lower it) from the calibration mean, over ``margin ×`` the largest such
  distance on the calibration set; the Hellinger distance of the normalised-intensity histogram (32 bins) to the calibration set's mean
  histogram, over ``margin ×`` the largest distance seen on the calibration set; the share of flagged
  landmarks over ``max(margin × calibration max, 0.1)`` (two of 18 landmarks; the engine's own flags, from the
  maps and the plausibility rules: on generator version 1, where the bundle is grossly wrong, 13 of 20 studies have
  two or more, on versions 2-5 none of 80); one minus the weakest assigned detector score over
  ``margin ×`` the calibration's largest; no leg found at all scores :data:`NO_LEG_SCORE`;
* landmark: the Hellinger distance of its ROI crop's histogram to the calibration's mean crop histogram of that
  region, over ``margin ×`` the calibration max; and ``raw`` over ``margin ×`` the largest ``raw`` of that
  landmark in calibration. A landmark's score is the larger of its own and the image's.

The inflation is ``g = max(1, landmark OOD score)``: outside the calibrated range the radius grows in
proportion to the distance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.landmarks import LANDMARK_IDS, LANDMARK_REGION, REGIONS
from .config import BundleError
from .crop import Box, crop_affine, warp_crop

CALIBRATION_JSON = "calibration.json"
CALIBRATION_FORMAT = "llm-viewer-calibration"
CALIBRATION_FORMAT_VERSION = 1
HIST_BINS = 32
MIN_PER_LANDMARK = 20
PIXEL_FLOOR_PX = 0.5
NO_LEG_SCORE = 10.0
FLAGGED_FLOOR = 0.1
"""The share of flagged landmarks never fires below this (2 of a study's 18 landmarks do)."""
BEST_DETECTION_FLOOR = 0.2
"""The image is flagged when even its most confident region box scores below ``1 − margin × max(calibration
value, this floor)``: a leg film always holds at least one clear region (generated films and their exports:
0.93–0.99), a chest radiograph or a CT slice where the detector finds a "knee" at 0.63 does not."""
MODES = ("plain", "tta")
OOD_MESSAGE = "outside what the model was trained on; check every point"
UNCALIBRATED_MESSAGE = "uncertainty radius uncalibrated (the bundle has no calibration.json)"
_IMAGE_FEATURES = ("hist", "flagged", "detector")


# --------------------------------------------------------------------------- conformal maths
def conformal_quantile(scores: Sequence[float], coverage: float = 0.9) -> float:
    """Split-conformal quantile: the ``ceil((n + 1) · coverage)``-th smallest score (``inf`` when n is too small).

    For exchangeable calibration and test scores, a test score is at most this value with probability
    ≥ ``coverage`` (and < ``coverage + 1/(n + 1)`` without ties).
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    s = np.sort(np.asarray([float(v) for v in scores if math.isfinite(float(v))], dtype=np.float64))
    n = s.size
    k = math.ceil((n + 1) * coverage)
    if n == 0 or k > n:
        return math.inf
    return float(s[k - 1])


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    """Hellinger distance of two histograms (each normalised to sum 1); 0 equal, 1 disjoint."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / max(p.sum(), 1e-12)
    q = q / max(q.sum(), 1e-12)
    return float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(p * q).sum()))))


def intensity_histogram(norm: np.ndarray, bins: int = HIST_BINS, max_samples: int = 250_000) -> np.ndarray:
    """Normalised histogram (sum 1) of a ``[0, 1]`` image, on a regular subsample."""
    a = np.asarray(norm, dtype=np.float32)
    step = max(1, int(np.ceil(np.sqrt(a.size / max_samples))))
    sample = a[::step, ::step].ravel()
    h, _ = np.histogram(sample, bins=bins, range=(0.0, 1.0))
    return h.astype(np.float64) / max(1, h.sum())


def image_texture(norm: np.ndarray) -> float:
    """``log`` of the mean absolute Laplacian of a normalised image (noise up, blur/downscaling down)."""
    import cv2

    lap = cv2.Laplacian(np.ascontiguousarray(norm, dtype=np.float32), cv2.CV_32F)
    return float(np.log(float(np.mean(np.abs(lap))) + 1e-6))


def raw_uncertainty_px(uncertainty_px: float, tta_spread_px: float, *, tta: bool) -> float:
    """``sqrt(u² + t² + 0.5²)`` (``t`` only in the tta mode); see the module docstring."""
    t = float(tta_spread_px) if tta else 0.0
    return float(math.sqrt(float(uncertainty_px) ** 2 + t * t + PIXEL_FLOOR_PX ** 2))


# --------------------------------------------------------------------------- features of one analysis
@dataclass
class LandmarkFeatures:
    uncertainty_px: float
    shift_px: float
    tta_spread_px: float
    score: float
    flagged: bool
    low_res: bool = False
    """The landmark's ROI box is smaller than its region model's input (the crop is upsampled: one-leg exports
    128 px wide, 250-500 px studies): it is calibrated in its own class (:attr:`ModeCalibration.low_res_factors`)."""


@dataclass
class ImageFeatures:
    """What the OOD scores and the raw uncertainty are made of, for one analysed image."""

    hist: list[float]
    region_hist: dict[tuple[str, str], list[float]]
    det_scores: list[float]
    n_legs: int
    flagged_frac: float
    landmarks: dict[tuple[str, str], LandmarkFeatures]
    texture: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"hist": self.hist, "region_hist": {f"{s}/{r}": h for (s, r), h in self.region_hist.items()},
                "det_scores": self.det_scores, "n_legs": self.n_legs, "flagged_frac": self.flagged_frac,
                "texture": self.texture,
                "landmarks": {f"{s}/{lm}": vars(f) for (s, lm), f in self.landmarks.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ImageFeatures:
        def key(k: str) -> tuple[str, str]:
            a, b = k.split("/", 1)
            return a, b
        return cls(list(d["hist"]), {key(k): list(v) for k, v in d["region_hist"].items()},
                   list(d["det_scores"]), int(d["n_legs"]), float(d["flagged_frac"]),
                   {key(k): LandmarkFeatures(**v) for k, v in d["landmarks"].items()}, float(d.get("texture", 0.0)))


def image_features(norm: np.ndarray, result: Any, region_configs: Mapping[str, Any]) -> ImageFeatures:
    """Collect the features of an :class:`~llm_viewer.pipeline.engine.AnalysisResult` (``norm``: its image)."""
    region_hist: dict[tuple[str, str], list[float]] = {}
    upsampled: set[tuple[str, str]] = set()
    for roi in result.rois:
        rcfg = region_configs.get(roi.region)
        if rcfg is None:
            continue
        if max(roi.x1 - roi.x0, roi.y1 - roi.y0) < rcfg.input_size_px:
            upsampled.add((roi.side, roi.region))
        m = crop_affine(Box(roi.x0, roi.y0, roi.x1, roi.y1), 64, margin=rcfg.margin)
        region_hist[(roi.side, roi.region)] = intensity_histogram(warp_crop(norm, m, 64)).tolist()
    stage1 = getattr(result, "stage1_xy_px", {}) or {}
    lms: dict[tuple[str, str], LandmarkFeatures] = {}
    n_flag = 0
    for side, leg in result.legs.items():
        for lm, p in leg.landmarks.items():
            s0 = stage1.get((side, lm))
            shift = math.hypot(p.x_px - s0[0], p.y_px - s0[1]) if s0 is not None else 0.0
            lms[(side, lm)] = LandmarkFeatures(float(p.uncertainty_px), float(shift),
                                               float(getattr(p, "tta_spread_px", 0.0)), float(p.score),
                                               bool(p.flagged), (side, LANDMARK_REGION.get(lm)) in upsampled)
            n_flag += bool(p.flagged)
    return ImageFeatures(hist=intensity_histogram(norm).tolist(), region_hist=region_hist,
                         det_scores=[float(r.score) for r in result.rois], n_legs=len(result.legs),
                         flagged_frac=n_flag / len(lms) if lms else 0.0, landmarks=lms,
                         texture=image_texture(norm))


# --------------------------------------------------------------------------- the calibration itself
@dataclass(frozen=True)
class ModeCalibration:
    """Conformal factors of one mode (``plain`` or ``tta``)."""

    factors: dict[str, float]
    """landmark -> factor ``q``."""
    raw_max: dict[str, float]
    """landmark -> the largest raw score seen in calibration (its OOD reference)."""
    metric_factors: dict[str, float] = field(default_factory=dict)
    """metric -> conformal factor on the propagated interval (``core.uncertainty``)."""
    n: dict[str, int] = field(default_factory=dict)
    low_res_factors: dict[str, float] = field(default_factory=dict)
    """landmark -> factor for landmarks whose ROI box is smaller than the model's input (one-leg exports 128 px
    wide, 250-500 px studies): a class of its own (Mondrian conformal), where a calibration set has enough of them;
    others use :attr:`factors`."""
    low_res_n: dict[str, int] = field(default_factory=dict)

    def factor(self, lm: str, low_res: bool) -> float | None:
        """The conformal factor of ``lm`` in its resolution class."""
        if low_res and lm in self.low_res_factors:
            return self.low_res_factors[lm]
        return self.factors.get(lm)


@dataclass(frozen=True)
class Calibration:
    model_id: str
    coverage: float
    modes: dict[str, ModeCalibration]
    reference_hist: list[float]
    hist_max: float
    region_reference_hist: dict[str, list[float]]
    region_hist_max: dict[str, float]
    flagged_max: float
    detector_max: float
    margin: float = 1.25
    texture_ref: float | None = None
    """Calibration mean of :func:`image_texture`; ``None``: the texture is not scored."""
    texture_dev: float | None = None
    """Largest ``|texture - texture_ref|`` on the calibration set."""
    created_utc: str = ""
    data: list[dict[str, Any]] = field(default_factory=list)
    best_detector_max: float | None = None
    """Largest ``1 − best region score`` of an image on the calibration set; ``None`` (older files): not scored."""

    # ------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT, "format_version": CALIBRATION_FORMAT_VERSION,
            "model_id": self.model_id, "created_utc": self.created_utc, "coverage": self.coverage,
            "margin": self.margin,
            "raw_formula": "sqrt(uncertainty_px^2 + [tta] tta_spread_px^2 + 0.5^2)",
            "modes": {k: {"factors": m.factors, "raw_max": m.raw_max, "metric_factors": m.metric_factors,
                          "n": m.n, "low_res_factors": m.low_res_factors, "low_res_n": m.low_res_n}
                      for k, m in self.modes.items()},
            "ood": {"hist_bins": HIST_BINS, "reference_hist": self.reference_hist, "hist_max": self.hist_max,
                    "region_reference_hist": self.region_reference_hist, "region_hist_max": self.region_hist_max,
                    "flagged_max": self.flagged_max, "detector_max": self.detector_max,
                    "best_detector_max": self.best_detector_max,
                    "texture_ref": self.texture_ref, "texture_dev": self.texture_dev},
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: Any, where: str = CALIBRATION_JSON) -> Calibration:
        """Validate and build; every problem is a :class:`BundleError` naming the key."""
        def fail(msg: str) -> BundleError:
            return BundleError(f"{where}: {msg}")

        def num(v: Any, what: str, *, lo: float = 0.0, positive: bool = False) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                raise fail(f"{what} must be a finite number, got {v!r}")
            if float(v) < lo or (positive and float(v) <= 0):
                raise fail(f"{what} must be {'>' if positive else '>='} {lo}, got {v!r}")
            return float(v)

        def obj(v: Any, what: str) -> dict:
            if not isinstance(v, dict):
                raise fail(f"{what} must be a JSON object")
            return v

        def hist(v: Any, what: str) -> list[float]:
            if not isinstance(v, list) or len(v) != HIST_BINS:
                raise fail(f"{what} must be a list of {HIST_BINS} numbers")
            out = [num(x, what) for x in v]
            if sum(out) <= 0:
                raise fail(f"{what} is empty")
            return out

        raw = obj(raw, "the file")
        if raw.get("format") != CALIBRATION_FORMAT:
            raise fail(f"not a calibration file (format {raw.get('format')!r}, expected {CALIBRATION_FORMAT!r})")
        if raw.get("format_version") != CALIBRATION_FORMAT_VERSION:
            raise fail(f"format_version {raw.get('format_version')!r} is not supported "
                       f"(this code reads {CALIBRATION_FORMAT_VERSION})")
        model_id = raw.get("model_id")
        if not isinstance(model_id, str) or not model_id:
            raise fail("model_id must be a non-empty string")
        coverage = num(raw.get("coverage"), "coverage", positive=True)
        if coverage >= 1:
            raise fail(f"coverage must be below 1, got {coverage}")
        modes_raw = obj(raw.get("modes"), "modes")
        if not modes_raw or set(modes_raw) - set(MODES):
            raise fail(f"modes must name some of {MODES}, got {sorted(modes_raw)}")
        modes: dict[str, ModeCalibration] = {}
        for name, m in modes_raw.items():
            m = obj(m, f"modes.{name}")
            factors = obj(m.get("factors"), f"modes.{name}.factors")
            for lm in factors:
                if lm not in LANDMARK_IDS:
                    raise fail(f"modes.{name}.factors: unknown landmark {lm!r}")
            raw_max = obj(m.get("raw_max", {}), f"modes.{name}.raw_max")
            mf = obj(m.get("metric_factors", {}), f"modes.{name}.metric_factors")
            n = obj(m.get("n", {}), f"modes.{name}.n")
            low = obj(m.get("low_res_factors", {}), f"modes.{name}.low_res_factors")
            low_n = obj(m.get("low_res_n", {}), f"modes.{name}.low_res_n")
            for lm in low:
                if lm not in LANDMARK_IDS:
                    raise fail(f"modes.{name}.low_res_factors: unknown landmark {lm!r}")
            modes[name] = ModeCalibration(
                {lm: num(v, f"modes.{name}.factors.{lm}", positive=True) for lm, v in factors.items()},
                {lm: num(v, f"modes.{name}.raw_max.{lm}", positive=True) for lm, v in raw_max.items()},
                {k: num(v, f"modes.{name}.metric_factors.{k}", positive=True) for k, v in mf.items()},
                {k: int(num(v, f"modes.{name}.n.{k}")) for k, v in n.items()},
                {lm: num(v, f"modes.{name}.low_res_factors.{lm}", positive=True) for lm, v in low.items()},
                {k: int(num(v, f"modes.{name}.low_res_n.{k}")) for k, v in low_n.items()})
        ood = obj(raw.get("ood"), "ood")
        if ood.get("hist_bins") != HIST_BINS:
            raise fail(f"ood.hist_bins must be {HIST_BINS}, got {ood.get('hist_bins')!r}")
        region_ref = obj(ood.get("region_reference_hist", {}), "ood.region_reference_hist")
        region_max = obj(ood.get("region_hist_max", {}), "ood.region_hist_max")
        for r in list(region_ref) + list(region_max):
            if r not in REGIONS:
                raise fail(f"ood: unknown region {r!r}")
        tex_ref, tex_dev = ood.get("texture_ref"), ood.get("texture_dev")
        if (tex_ref is None) != (tex_dev is None):
            raise fail("ood.texture_ref and ood.texture_dev go together")
        data = raw.get("data", [])
        if not isinstance(data, list):
            raise fail("data must be a list")
        return cls(
            model_id=model_id, coverage=coverage, modes=modes,
            reference_hist=hist(ood.get("reference_hist"), "ood.reference_hist"),
            hist_max=num(ood.get("hist_max"), "ood.hist_max", positive=True),
            region_reference_hist={r: hist(v, f"ood.region_reference_hist.{r}") for r, v in region_ref.items()},
            region_hist_max={r: num(v, f"ood.region_hist_max.{r}", positive=True) for r, v in region_max.items()},
            flagged_max=num(ood.get("flagged_max"), "ood.flagged_max"),
            detector_max=num(ood.get("detector_max"), "ood.detector_max", positive=True),
            margin=num(raw.get("margin", 1.25), "margin", positive=True),
            texture_ref=None if tex_ref is None else num(tex_ref, "ood.texture_ref", lo=-math.inf),
            texture_dev=None if tex_dev is None else num(tex_dev, "ood.texture_dev", positive=True),
            created_utc=str(raw.get("created_utc", "")), data=data,
            best_detector_max=None if ood.get("best_detector_max") is None else
            num(ood.get("best_detector_max"), "ood.best_detector_max"))

    def save(self, folder: str | Path) -> Path:
        """Write ``calibration.json`` into a bundle folder atomically."""
        from ..core.atomic import atomic_write_text

        path = Path(folder) / CALIBRATION_JSON
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    # ------------------------------------------------------------- scoring
    def mode(self, tta: bool) -> ModeCalibration | None:
        return self.modes.get("tta" if tta else "plain") or (self.modes.get("plain") if tta else None)

    def image_ood(self, f: ImageFeatures) -> tuple[float, list[str]]:
        """Image-level OOD score (``> 1`` fires) and the reasons that reach it."""
        if f.n_legs == 0:
            return NO_LEG_SCORE, ["no leg found"]
        parts = {
            "hist": hellinger(np.array(f.hist), np.array(self.reference_hist)) / (self.margin * self.hist_max),
            "flagged": f.flagged_frac / max(self.margin * self.flagged_max, FLAGGED_FLOOR),
            "detector": (1.0 - min(f.det_scores, default=0.0)) / (self.margin * self.detector_max),
        }
        if self.best_detector_max is not None:
            parts["best_detection"] = (1.0 - max(f.det_scores, default=0.0)) / (
                self.margin * max(self.best_detector_max, BEST_DETECTION_FLOOR))
        if self.texture_ref is not None and self.texture_dev is not None:
            parts["texture"] = abs(f.texture - self.texture_ref) / (self.margin * self.texture_dev)
        words = {"hist": "intensity histogram unlike the training images",
                 "texture": "noise or sharpness unlike the training images",
                 "flagged": f"{100 * f.flagged_frac:.0f} % of landmarks flagged",
                 "detector": "weak region detections",
                 "best_detection": "no region detected with confidence (is this a leg radiograph?)"}
        score = max(parts.values())
        return float(score), [words[k] for k, v in parts.items() if v > 1.0]

    def landmark_ood(self, f: ImageFeatures, side: str, lm: str, raw: float, mode: ModeCalibration) -> float:
        region = LANDMARK_REGION.get(lm)
        z = 0.0
        h = f.region_hist.get((side, region)) if region else None
        if h is not None and region in self.region_reference_hist and region in self.region_hist_max:
            z = hellinger(np.array(h), np.array(self.region_reference_hist[region])) / (
                self.margin * self.region_hist_max[region])
        if lm in mode.raw_max:
            z = max(z, raw / (self.margin * mode.raw_max[lm]))
        return float(z)


@dataclass
class UncertaintyReport:
    """Image-level trust of one analysis: calibration status and the OOD flag."""

    calibrated: bool
    coverage: float | None
    message: str
    ood_score: float | None = None
    ood_flagged: bool = False
    ood_reasons: list[str] = field(default_factory=list)
    metric_factors: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"calibrated": self.calibrated, "coverage": self.coverage, "message": self.message,
                "ood": {"flagged": self.ood_flagged, "score": self.ood_score, "reasons": list(self.ood_reasons),
                        "message": OOD_MESSAGE if self.ood_flagged else None}}


def apply_calibration(calibration: Calibration | None, norm: np.ndarray, result: Any,
                      region_configs: Mapping[str, Any], *, tta: bool) -> UncertaintyReport:
    """Set ``radius90_px``, ``ood_score`` and ``ood`` of every landmark of ``result`` (in place) and return
    the image-level report (also stored as ``result.uncertainty``)."""
    mode = calibration.mode(tta) if calibration is not None else None
    if calibration is None or mode is None:
        report = UncertaintyReport(False, None, UNCALIBRATED_MESSAGE if calibration is None else
                                   "uncertainty radius uncalibrated for test-time augmentation off")
        result.uncertainty = report
        return report
    f = image_features(norm, result, region_configs)
    img_score, reasons = calibration.image_ood(f)
    use_tta = tta and "tta" in calibration.modes
    n_ood = 0
    for side, leg in result.legs.items():
        for lm, p in list(leg.landmarks.items()):
            lf = f.landmarks[(side, lm)]
            raw = raw_uncertainty_px(lf.uncertainty_px, lf.tta_spread_px, tta=use_tta)
            z = max(img_score, calibration.landmark_ood(f, side, lm, raw, mode))
            q = mode.factor(lm, lf.low_res)
            radius = q * raw * max(1.0, z) if q is not None and math.isfinite(q) else None
            n_ood += z > 1.0
            leg.landmarks[lm] = replace(p, radius90_px=radius, ood_score=z, ood=bool(z > 1.0))
    flagged = img_score > 1.0
    if not flagged and n_ood:
        reasons = reasons + [f"{n_ood} landmark(s) unlike the calibration data"]
    report = UncertaintyReport(True, calibration.coverage,
                               f"{100 * calibration.coverage:.0f} % radius calibrated ({'tta' if use_tta else 'plain'})",
                               img_score, flagged, reasons, dict(mode.metric_factors))
    if flagged:
        msg = f"image {OOD_MESSAGE} ({'; '.join(reasons)})"
        if msg not in result.warnings:
            result.warnings.append(msg)
    result.uncertainty = report
    return report


def not_analysed_report(calibration: Calibration | None, reason: str) -> UncertaintyReport:
    """The report of an image the engine refused (noise, empty, too small): out of distribution by definition."""
    return UncertaintyReport(calibration is not None, calibration.coverage if calibration is not None else None,
                             UNCALIBRATED_MESSAGE if calibration is None else "nothing analysed",
                             NO_LEG_SCORE, True, [reason])


def load_calibration(folder: str | Path, model_id: str) -> tuple[Calibration | None, str | None]:
    """``calibration.json`` of a bundle folder: ``(calibration, None)``, ``(None, None)`` when there is none,
    ``(None, warning)`` when it was made for other weights.

    Raises
    ------
    BundleError
        The file exists but is not valid JSON or not a valid calibration (the message names the key).
    """
    path = Path(folder) / CALIBRATION_JSON
    if not path.is_file():
        return None, None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    cal = Calibration.from_dict(raw, where=str(path))
    if cal.model_id != model_id:
        return None, (f"{path} was made for model {cal.model_id}, not {model_id}: radii uncalibrated; "
                      f"re-run python -m training.calibrate")
    return cal, None
