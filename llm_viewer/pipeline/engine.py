"""Inference engine: full-leg radiograph -> ROI boxes -> nine landmarks per leg with an uncertainty each.

Models are built and loaded once (``from_bundle``) and reused for every image; all crops of one region type
run in one batch under ``torch.inference_mode`` (bfloat16 autocast and channels-last on CUDA; float32 on CPU,
batch norms folded into the convolutions at load). ``analyze`` reports progress and
checks a cancel flag between stages, which is what the viewer's worker thread uses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..core.landmarks import REGIONS
from . import decode
from .bundle import load_bundle, load_state_dict_checked
from .calibration import Calibration, apply_calibration, load_calibration, not_analysed_report
from .config import MASK_METHOD, BundleConfig, RegionModelConfig
from .crop import (
    Box,
    apply_affine,
    crop_affine,
    from_normalized,
    invert_affine,
    letterbox_content,
    normalize_intensity,
    warp_crop,
)
from .engine_detect import DetectionMixin
from .engine_side import SideCueMixin, forward_key
from .legs import Detection, assign_legs
from .marker import marker_warnings, read_side_markers
from .models import build_detector, build_landmark_model, fold_batchnorm, skip_random_init
from .refine import Refiner
from .results import (
    AnalysisCancelled,
    AnalysisResult,
    LandmarkPrediction,
    LegPrediction,
    RoiBox,
    flag_landmarks,
)

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

_MIN_SIDE_PX = 32
_LOW_RES_IMAGE_PX = 256  # an image narrower than this (its smaller side): the resolution limits accuracy
_TTA_SHIFTS = ((0.03, 0.03, 1.0), (-0.03, -0.03, 1.06))  # (dx, dy as fraction of side, scale)


NOISE_CORRELATION = 0.2
"""Below this correlation of horizontally neighbouring pixels an image is noise, not a radiograph (the models
would otherwise place landmarks on it). Radiographs, synthetic or real, correlate above 0.9; photographs and
test patterns above 0.3; uniform random noise near 0."""


def neighbour_correlation(grey: np.ndarray, max_rows: int = 512) -> float:
    """Pearson correlation of horizontally adjacent pixels over at most ``max_rows`` evenly spaced rows."""
    g = grey[:: max(1, grey.shape[0] // max_rows)]
    a, b = g[:, :-1].astype(np.float64), g[:, 1:].astype(np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 16:
        return 1.0
    a -= a.mean()
    b -= b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 1.0


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA, then MPS, then CPU; otherwise the named device, checked to be available.

    Raises
    ------
    ValueError
        If the requested device is not available here.
    """
    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} requested but MPS is not available on this machine")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return dev


class _Progress:
    def __init__(self, fn: ProgressFn | None, cancel: CancelFn | None) -> None:
        self.fn, self.cancel, self.last = fn, cancel, 0.0

    def __call__(self, frac: float, msg: str) -> None:
        if self.cancel is not None and self.cancel():
            raise AnalysisCancelled("analysis cancelled")
        self.last = max(self.last, min(1.0, frac))
        if self.fn is not None:
            self.fn(self.last, msg)


class InferenceEngine(DetectionMixin, SideCueMixin):
    """Runs a bundle's detector and region models on images. Build with :meth:`from_bundle`."""

    def __init__(self, config: BundleConfig, detector: torch.nn.Module, region_models: dict[str, torch.nn.Module],
                 *, device: str | torch.device = "auto", model_id: str = "untrained", tta: bool = False,
                 refiner: Refiner | None = None, calibration: Calibration | None = None,
                 content_detector: torch.nn.Module | None = None) -> None:
        self.config = config
        self.calibration = calibration
        """Conformal radii and OOD references (``calibration.json`` in the bundle), or ``None``."""
        self.calibration_warning: str | None = None
        self.refiner = refiner
        """Second-stage refinement models (``refine.json`` in the bundle), or ``None``."""
        self._device = device if isinstance(device, torch.device) else resolve_device(device)
        self._model_id = model_id
        self.last_zoom_out = 1.0
        self.tta = tta
        self.detector = detector.to(self._device).eval()
        self.content_detector = None if content_detector is None else content_detector.to(self._device).eval()
        """The bundle's optional second detector (``detector_content``) for the content inside padding bars, read
        when the main detector finds no complete leg on the whole image (:func:`.multiscale.detect_in_content`)."""
        self.region_models = {r: m.to(self._device).eval() for r, m in region_models.items()}
        self._channels_last = self._device.type == "cuda"
        if self._channels_last:  # NHWC convolutions for the GPU's tensor cores (unmeasured: no GPU here)
            for m in self.region_models.values():
                m.to(memory_format=torch.channels_last)
            backbone = getattr(self.detector, "backbone", None)
            if backbone is not None:
                backbone.to(memory_format=torch.channels_last)
            backbone = getattr(self.content_detector, "backbone", None)
            if backbone is not None:
                backbone.to(memory_format=torch.channels_last)

    @classmethod
    def from_bundle(cls, path: str | Path | None = None, device: str = "auto", *, tta: bool = False,
                    fold_bn: bool = True) -> InferenceEngine:
        """Load a bundle (``None``: the bundled demo model) once, ready for many images.

        The models are built without random initialisation (their weights are loaded at once) and, with
        ``fold_bn``, every batch norm is folded into its convolution (same outputs within float rounding,
        fewer passes over the activations); the engine's models are then for inference only.

        Raises
        ------
        BundleError
            The bundle is missing, corrupt or does not fit this code.
        ValueError
            The device is not available.
        """
        bundle = load_bundle(path)
        dev = resolve_device(device)
        cfg = bundle.config
        models: dict[str, torch.nn.Module] = {}
        for name in bundle.files:  # MODEL_NAMES, then the optional models the bundle has
            with skip_random_init():  # every tensor is loaded next (strict), so no random init to pay for
                module = (build_detector(cfg.detector) if name.startswith("detector")
                          else build_landmark_model(cfg.regions[name]))
            load_state_dict_checked(module, bundle.state_dict(name), name=name, where=f"model bundle {bundle.path}")
            if fold_bn:
                fold_batchnorm(module.eval())
            models[name] = module
        detector = models.pop("detector")
        content_detector = models.pop("detector_content", None)
        refiner = Refiner.from_bundle_dir(bundle.path, device=dev)
        calibration, cal_warning = load_calibration(bundle.path, bundle.model_id)
        engine = cls(cfg, detector, models, device=dev, model_id=bundle.model_id, tta=tta, refiner=refiner,
                     calibration=calibration, content_detector=content_detector)
        engine.calibration_warning = cal_warning
        return engine

    @classmethod
    def from_config(cls, config: BundleConfig, device: str = "auto", *, seed: int = 0, tta: bool = False,
                    fold_bn: bool = False) -> InferenceEngine:
        """Random-weight models of a config (tests, benchmarks: speed does not depend on the weights);
        ``fold_bn`` folds the batch norms as :meth:`from_bundle` does (benchmarks of the loaded path)."""
        torch.manual_seed(seed)
        detector = build_detector(config.detector)
        models = {r: build_landmark_model(config.regions[r]) for r in REGIONS}
        if fold_bn:
            for m in (detector, *models.values()):
                fold_batchnorm(m.eval())
        return cls(config, detector, models, device=device, model_id=f"{config.name}-random-{seed}", tta=tta)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """Reduced precision of the forward passes: bfloat16 on a GPU that has it (float16 on older ones),
        ``None`` (float32) on CPU and MPS."""
        if self._device.type != "cuda":
            return None
        bf16 = getattr(torch.cuda, "is_bf16_supported", None)
        return torch.bfloat16 if bf16 is not None and bf16() else torch.float16

    def _autocast(self):
        dtype = self.autocast_dtype
        if dtype is not None:
            return torch.autocast(device_type=self._device.type, dtype=dtype)
        return torch.autocast(device_type="cpu", enabled=False)

    # ------------------------------------------------------------------ main entry
    def analyze(self, image: np.ndarray, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                detections: list[Detection] | None = None, refine: bool = True, side_cues: bool = True
                ) -> AnalysisResult:
        """Find the landmarks of every leg in ``image``.

        Parameters
        ----------
        image : ndarray
            2-D float array, bone bright, any range (``RadiographImage.pixels``). A colour array is converted
            to grey with a warning.
        progress : callable, optional
            ``progress(fraction, message)``, fractions non-decreasing, last call 1.0.
        cancel : callable, optional
            Polled between stages; when it returns true, :class:`AnalysisCancelled` is raised.
        detections : list of Detection, optional
            Use these ROI boxes (original pixels) instead of running the detector (user-corrected boxes, tests).
        refine : bool
            Apply the bundle's refinement stage when it has one (evaluation and active learning turn it off to
            read the first stage's own output, then refine themselves).
        side_cues : bool
            Check every leg's side with the fibula and the model mirror test (:meth:`side_cues`); off, only
            the femoral-neck and pelvis cues of :mod:`.legs` are used.

        Returns
        -------
        AnalysisResult
            Never raises for bad image content: problems are listed in ``warnings`` and legs/regions that
            could not be analysed are absent or listed in ``missing_regions``.
        """
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        warnings: list[str] = []
        report = _Progress(progress, cancel)
        report(0.0, "preparing image")
        t0 = time.perf_counter()
        grey, problem = self._prepare(image, warnings)
        result = AnalysisResult(legs={}, rois=[], warnings=warnings, timings_s=timings, model_id=self.model_id,
                                device=self.device, image_size_px=(int(grey.shape[1]), int(grey.shape[0]))
                                if grey is not None else (0, 0))
        if problem:
            result.uncertainty = not_analysed_report(self.calibration, warnings[-1] if warnings else "not analysed")
            timings["total"] = time.perf_counter() - t_start
            report(1.0, "done")
            return result
        norm = normalize_intensity(grey, self.config.intensity)
        del grey
        dcfg = self.config.detector
        timings["normalize"] = time.perf_counter() - t0
        report(0.05, "detecting regions")

        t0 = time.perf_counter()
        reading = self._find_regions(norm, detections, timings)
        dets, content, looked = reading.detections, reading.content, reading.second_look
        result.detection_box_px = None if content is None else (content.x0, content.y0, content.x1, content.y1)
        lb = letterbox_content(norm, content, dcfg.input_width_px, dcfg.input_height_px)
        timings["detect"] = time.perf_counter() - t0
        result.detection_zoom_out = self.last_zoom_out
        if self.last_zoom_out != 1.0:
            warnings.append(f"no whole leg in view: its regions were detected on the image zoomed out "
                            f"{self.last_zoom_out:g}x (a knee or an ankle alone fills the detector's canvas)")
        report(0.40, "assigning regions to legs")

        t0 = time.perf_counter()
        forwards: dict = {}  # the side cue's model passes, reused by the landmark stage
        mirror_s: list[float] = []
        assignment = assign_legs(dets, image_norm=lb.pixels, matrix=lb.matrix, image_width_px=norm.shape[1],
                                 duplicate_iou=dcfg.nms_threshold, image_height_px=norm.shape[0],
                                 side_cues=self.side_cues(norm, forwards, mirror_s) if side_cues else None)
        warnings.extend(assignment.warnings)
        for side, d in looked.added if looked is not None else ():
            chain = assignment.legs.get(side, {})
            if d.region in chain and chain[d.region].box == d.box:
                warnings.append(f"{side} leg: its {d.region} was found on a second look at the leg's half of the "
                                f"film (score {d.score:.2f}); its landmarks are flagged for review")
        timings["assign"] = time.perf_counter() - t0
        timings["side_cue_models"] = sum(mirror_s)  # part of "assign": the knee and ankle models, both orientations
        result.mirrored_suspect = assignment.mirrored
        assigned = set()
        for side, chain in assignment.legs.items():
            result.legs[side] = LegPrediction(side, {}, list(assignment.missing.get(side, [])),
                                              dict(assignment.absent.get(side, {})),
                                              assignment.side_evidence.get(side))
            for region in REGIONS:
                if region in chain:
                    d = chain[region]
                    assigned.add(id(d.box))  # by box: a knee alias shares its ankle box (legs.knee_aliases)
                    result.rois.append(RoiBox(side, region, d.box.x0, d.box.y0, d.box.x1, d.box.y1, d.score))
        result.review_regions = [(side, region) for side, chain in assignment.legs.items()
                                 for region, d in chain.items() if d.split or d.relabelled_from or d.second_look]
        result.unassigned_rois = [RoiBox("", d.region, d.box.x0, d.box.y0, d.box.x1, d.box.y1, d.score)
                                  for d in dets if id(d.box) not in assigned]
        self._check_resolution(result, assignment.legs, norm.shape)
        result.side_markers = read_side_markers(norm)
        for msg in marker_warnings(result.side_markers, result.legs):
            if result.side_markers[0].mirrored:
                result.mirrored_suspect = True
            warnings.append(msg)
        report(0.45, "locating landmarks")

        frac = 0.45
        for region in REGIONS:
            t0 = time.perf_counter()
            items = [(side, chain[region]) for side, chain in assignment.legs.items() if region in chain]
            if items:
                self._run_region(region, items, norm, result, forwards)
            timings[region] = time.perf_counter() - t0
            frac += 0.55 / len(REGIONS) * 0.98
            report(frac, f"{region} done")
        result.stage1_xy_px = {(side, lm): (p.x_px, p.y_px) for side, leg in result.legs.items()
                               for lm, p in leg.landmarks.items()}
        if refine and self.refiner is not None:
            t0 = time.perf_counter()
            self.refiner.apply(norm, result, self.config.regions)  # ends with flag_landmarks
            timings["refine"] = time.perf_counter() - t0
        else:
            flag_landmarks(result)
        t0 = time.perf_counter()
        apply_calibration(self.calibration, norm, result, self.config.regions, tta=self.tta)
        if self.calibration_warning and self.calibration_warning not in warnings:
            warnings.append(self.calibration_warning)
        timings["calibration"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        report(1.0, "done")
        return result

    # ------------------------------------------------------------------ resolution
    def _check_resolution(self, result: AnalysisResult, legs: dict[str, dict[str, Detection]],
                          shape: tuple[int, int]) -> None:
        """Warn where the image resolution, not the model, limits accuracy (small image or small ROI boxes)."""
        h, w = shape
        if min(h, w) < _LOW_RES_IMAGE_PX and legs:
            result.warnings.append(
                f"low resolution: the image is {w}x{h} px; the resolution limits the accuracy of the landmarks "
                "(their uncertainty is at least half a pixel)")
        for side, chain in legs.items():
            small = {}
            for region, d in chain.items():
                rcfg = self.config.regions.get(region)
                side_px = max(d.box.width, d.box.height)
                if rcfg is not None and side_px < rcfg.input_size_px / 2:
                    small[region] = float(side_px)
            if small:
                result.legs[side].resolution_limited = small
                result.warnings.append(
                    f"{side} leg: low resolution: ROI box " + ", ".join(f"{r} {v:.0f} px" for r, v in small.items())
                    + " across, under half the models' input; the image resolution limits the accuracy of "
                    "these landmarks")

    def _prepare(self, image: np.ndarray, warnings: list[str]) -> tuple[np.ndarray | None, bool]:
        arr = np.asarray(image)
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            warnings.append("colour image converted to grey: radiographs are greyscale, is this one?")
            arr = arr[..., :3].astype(np.float32).mean(axis=2)
        if arr.ndim != 2:
            warnings.append(f"expected a 2-D greyscale image, got an array of shape {arr.shape}; nothing analysed")
            return None, True
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            warnings.append(f"unsupported pixel type {arr.dtype}; nothing analysed")
            return None, True
        grey = np.asarray(arr, dtype=np.float32)
        h, w = grey.shape
        if min(h, w) < _MIN_SIDE_PX:
            warnings.append(f"image of {w}x{h} px is too small to analyse (needs at least {_MIN_SIDE_PX} px a side)")
            return grey, True
        finite = np.isfinite(grey)
        if not finite.all():
            warnings.append(f"{int((~finite).sum())} non-finite pixel(s) treated as background")
            grey = np.where(finite, grey, np.float32(np.nan))
        if not finite.any() or float(np.nanmax(grey)) <= float(np.nanmin(grey)):
            warnings.append("image is empty (constant intensity): nothing to analyse")
            return grey, True
        r = neighbour_correlation(grey)
        if r < NOISE_CORRELATION:
            warnings.append(f"image looks like random noise, not a radiograph (neighbouring pixels correlate "
                            f"{r:.2f}; radiographs above 0.9): nothing analysed")
            return grey, True
        if w > h:
            warnings.append(f"image is wider than tall ({w}x{h} px); full-leg radiographs are portrait")
        return grey, False

    # ------------------------------------------------------------------ landmark stage
    def _crops(self, rcfg: RegionModelConfig, items: list[tuple[str, Detection]], norm: np.ndarray,
               n_aug: int) -> tuple[np.ndarray, list[np.ndarray]]:
        size = rcfg.input_size_px
        crops, mats = [], []
        for side, det in items:
            mirror = side == "left" and rcfg.mirror_left
            for a in range(n_aug):
                box = det.box
                if a > 0:
                    dx, dy, sc = _TTA_SHIFTS[a - 1]
                    side_px = max(box.width, box.height)
                    cx, cy = box.cx + dx * side_px, box.cy + dy * side_px
                    hw, hh = box.width * sc / 2, box.height * sc / 2
                    box = Box(cx - hw, cy - hh, cx + hw, cy + hh)
                m = crop_affine(box, size, margin=rcfg.margin, mirror=mirror)
                crops.append(warp_crop(norm, m, size))
                mats.append(m)
        return np.stack(crops), mats

    def _forward(self, region: str, batch: np.ndarray, in_ch: int):
        x = torch.from_numpy(batch).to(self._device)[:, None].expand(-1, in_ch, -1, -1)
        x = x.contiguous(memory_format=torch.channels_last) if self._channels_last else x.contiguous()
        with torch.inference_mode(), self._autocast():
            out = self.region_models[region](x)
        seg = torch.sigmoid(out.seg_logits.float()).cpu().numpy() if out.seg_logits is not None else None
        coords = out.coords.float().cpu().numpy() if out.coords is not None else None
        return seg, coords

    def _run_region(self, region: str, items: list[tuple[str, Detection]], norm: np.ndarray,
                    result: AnalysisResult, cache: dict | None = None) -> None:
        rcfg = self.config.regions[region]
        n_aug = 3 if (self.tta or rcfg.method == "regression") and rcfg.method != MASK_METHOD else 1
        batch, mats = self._crops(rcfg, items, norm, n_aug)
        keys = [forward_key(region, d.box, side == "left" and rcfg.mirror_left) for side, d in items]
        if n_aug == 1 and cache and all(k in cache for k in keys):  # the side cue ran these crops already
            seg = np.stack([cache[k][0] for k in keys])
            coords = None if cache[keys[0]][1] is None else np.stack([cache[k][1] for k in keys])
        else:
            seg, coords = self._forward(region, batch, rcfg.in_channels)
        size = rcfg.input_size_px
        for i, (side, _det) in enumerate(items):
            j = i * n_aug
            m_inv = invert_affine(mats[j])
            k = float(np.sqrt(abs(np.linalg.det(m_inv[:, :2]))))  # original px per crop px
            crop_side = k * size
            leg = result.legs[side]
            if rcfg.method == MASK_METHOD:
                dp = decode.diaphysis_point(seg[j, 0])
                if dp.point_xy is None:
                    result.warnings.append(f"{side} leg: diaphysis_center not found ({dp.message})")
                    continue
                xy = apply_affine(m_inv, dp.point_xy)
                unc = k * (max(1.0, size / 64) + dp.width_px * (1.0 - dp.score)) + (crop_side / 4 if dp.touches_border
                                                                                   else 0.0)
                unc = decode.resolution_floor(unc, k)
                flagged = dp.score < 0.5 or dp.touches_border
                leg.landmarks["diaphysis_center"] = LandmarkPrediction(float(xy[0]), float(xy[1]), dp.score, unc,
                                                                       None, flagged)
                continue
            r_orig = rcfg.mask_radius_px * k
            for li, lm in enumerate(rcfg.landmark_ids):
                pts = []
                for a in range(n_aug):
                    inv_a = invert_affine(mats[j + a])
                    if coords is not None:
                        pts.append(apply_affine(inv_a, from_normalized(coords[j + a, li], size)))
                    else:
                        _, c = decode.map_peak(seg[j + a, li], 2 * rcfg.mask_radius_px)
                        pts.append(apply_affine(inv_a, c))
                pts_arr = np.array(pts)
                spread = float(np.sqrt(((pts_arr - pts_arr.mean(0)) ** 2).sum(1).mean())) if n_aug > 1 else 0.0
                peak_xy = None
                if seg is not None:
                    peak, c_map = decode.map_peak(seg[j, li], 2 * rcfg.mask_radius_px)
                    map_xy = apply_affine(m_inv, c_map)
                    peak_xy = (float(map_xy[0]), float(map_xy[1]))
                if rcfg.method == "sgr":
                    xy = pts_arr[0]
                    d = float(np.hypot(*(xy - map_xy)))
                    unc = decode.sgr_uncertainty(d, spread, peak, crop_side)
                    score = peak * math.exp(-d / max(r_orig, 1e-6))
                elif rcfg.method == "segmentation":
                    c_thr, n_comp = decode.threshold_centroid(seg[j, li])
                    if c_thr is None:
                        result.warnings.append(f"{side} leg: {lm}: no pixel above 0.5 in its map; map peak used")
                        xy = map_xy
                    else:
                        xy = apply_affine(m_inv, c_thr)
                        if n_comp > 1:
                            result.warnings.append(f"{side} leg: {lm}: {n_comp} candidate blobs; largest used")
                    d = float(np.hypot(*(xy - map_xy)))
                    unc = decode.sgr_uncertainty(d, spread, peak, crop_side)
                    score = peak
                else:  # regression
                    xy = pts_arr[0]
                    peak = 1.0
                    unc = spread
                    score = math.exp(-spread / max(r_orig, 1e-6))
                unc = decode.resolution_floor(unc, k)
                flagged = peak < 0.5 or unc > 2 * r_orig
                leg.landmarks[lm] = LandmarkPrediction(float(xy[0]), float(xy[1]), float(score), float(unc),
                                                       peak_xy, bool(flagged), tta_spread_px=spread)
