"""Optional refinement stage: a second, finer crop centred on each first-stage landmark.

The first stage (SGR on the ROI crop) sees a hip or a knee at about 1 mm per crop pixel; on a CPU budget
its regressor stops at a few millimetres. The refinement stage crops, around every first-stage point, a
square of side ``patch_fraction`` × the ROI crop side (about 25 mm) at ``input_size_px`` (≈ 0.4 mm/px),
mirrored for left legs like the ROI crops and centred on the regressed point, runs a small U-Net whose channel ``i`` is the landmark ``i``
of that region (paper-style circular masks of ``mask_radius_px``), and takes the probability-weighted
centroid around the map's peak (:func:`decode.map_peak`) as the refined point. A patch whose map never
reaches ``min_peak`` keeps the first-stage point (never a missing landmark).

Files in a bundle folder (ignored by :func:`bundle.load_bundle`, which reads only its five models)::

    refine.json               {"format_version": 1, "regions": {region: RefineConfig.to_dict() + "file", "sha256"}}
    refine_<region>.safetensors

Before it, :meth:`Refiner.recentre` re-runs the first stage on ROI boxes moved onto the first stage's own
landmarks (a coarse detector box otherwise puts the anatomy where the model never saw it in training).

Engine hook (see :meth:`Refiner.apply`): after the landmark stage, ``refiner.recentre(engine, norm,
result)`` then ``refiner.apply(norm, result, region_configs)`` moves each point of the regions it has a model for, in place (two passes, the second
centred on the first pass's point).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.landmarks import REGION_LANDMARKS
from . import decode
from .config import BundleError, RegionModelConfig
from .crop import Box, apply_affine, crop_affine, invert_affine, warp_crop
from .models import VGGUNet
from .results import flag_landmarks

REFINE_JSON = "refine.json"
REFINE_FORMAT_VERSION = 1
REFINE_REGIONS: tuple[str, ...] = ("hip", "knee", "ankle")


@dataclass(frozen=True)
class RefineConfig:
    """One region's refinement model.

    Attributes
    ----------
    region : str
        ``hip``, ``knee`` or ``ankle``.
    landmark_ids : tuple of str
        Output channel ``i`` is landmark ``landmark_ids[i]`` (the region's landmarks).
    input_size_px : int
        Side of the patch fed to the model (multiple of 32).
    patch_fraction : float
        Patch side as a fraction of the ROI crop side (``max(w, h) · (1 + 2·margin)`` of the ROI box).
    mask_radius_px : float
        Radius of the training discs in patch pixels; the centroid is taken within twice this radius.
    depth, base_width : int
        VGG encoder of the U-Net.
    min_peak : float
        A patch whose map peak stays below this keeps its first-stage point.
    flag_factor, flag_peak : float
        A refined point is flagged when its uncertainty exceeds ``flag_factor`` disc radii or its map peak is
        below ``flag_peak``. 2 and 0.5 suit small, crisp landmarks; the femoral head's map is a wide, low blob
        on a round structure (on validation images its peak sits at ~0.4 and its uncertainty at ~2.3 radii
        whatever the error, which is 0.5 mm), so the bundled hip model uses 3 and 0.25.
    """

    region: str
    landmark_ids: tuple[str, ...]
    input_size_px: int = 64
    patch_fraction: float = 0.2
    mask_radius_px: float = 4.0
    depth: int = 11
    base_width: int = 8
    min_peak: float = 0.5
    flag_factor: float = 2.0
    flag_peak: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["landmark_ids"] = list(self.landmark_ids)
        return d

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RefineConfig:
        region = raw.get("region")
        if region not in REFINE_REGIONS:
            raise BundleError(f"refine.json: region {region!r} is not one of {REFINE_REGIONS}")
        ids = tuple(raw.get("landmark_ids", ()))
        if sorted(ids) != sorted(REGION_LANDMARKS[region]):
            raise BundleError(f"refine.json: landmark_ids {list(ids)} do not match the {region} landmarks")
        size = int(raw.get("input_size_px", 64))
        if size % 32 or size < 32:
            raise BundleError(f"refine.json: input_size_px {size} must be a positive multiple of 32")
        return cls(region=region, landmark_ids=ids, input_size_px=size,
                   patch_fraction=float(raw.get("patch_fraction", 0.2)),
                   mask_radius_px=float(raw.get("mask_radius_px", 4.0)),
                   depth=int(raw.get("depth", 11)), base_width=int(raw.get("base_width", 8)),
                   min_peak=float(raw.get("min_peak", 0.5)),
                   flag_factor=float(raw.get("flag_factor", 2.0)),
                   flag_peak=float(raw.get("flag_peak", 0.5)))


def default_refine_config(region: str, **kw: Any) -> RefineConfig:
    """A refinement config with the region's landmark ids (keyword arguments override the defaults)."""
    return replace(RefineConfig(region=region, landmark_ids=REGION_LANDMARKS[region]), **kw)


def build_refine_model(cfg: RefineConfig) -> torch.nn.Module:
    """The (untrained) refinement U-Net: one input channel, one logit map per landmark."""
    return VGGUNet(1, len(cfg.landmark_ids), cfg.depth, cfg.base_width)


def patch_side_px(roi_box: Box, region_cfg: RegionModelConfig, cfg: RefineConfig) -> float:
    """Side of the refinement patch in original pixels for an ROI box (same rule in training and inference)."""
    return cfg.patch_fraction * max(roi_box.width, roi_box.height) * (1.0 + 2.0 * region_cfg.margin)


def patch_affine(center_xy: np.ndarray, side_px: float, size: int, mirror: bool) -> np.ndarray:
    """Original -> patch matrix of a square of ``side_px`` centred on ``center_xy`` (mirrored for left legs)."""
    h = side_px / 2.0
    cx, cy = float(center_xy[0]), float(center_xy[1])
    return crop_affine(Box(cx - h, cy - h, cx + h, cy + h), size, margin=0.0, mirror=mirror)


def save_refiners(folder: str | os.PathLike[str], models: dict[str, tuple[RefineConfig, dict[str, torch.Tensor]]],
                  *, recentre: dict[str, tuple[float, float]] | None = None) -> None:
    """Write ``refine.json`` and ``refine_<region>.safetensors`` into a bundle folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"format_version": REFINE_FORMAT_VERSION, "regions": {},
                           "recentre": {r: [float(v) for v in o] for r, o in (recentre or {}).items()}}
    for region, (cfg, state) in models.items():
        target = folder / f"refine_{region}.safetensors"
        tmp = folder / f".refine_{region}.safetensors.tmp"
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp),
                  metadata={"model": f"refine_{region}"})
        os.replace(tmp, target)
        entry = cfg.to_dict()
        entry["file"] = target.name
        entry["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
        doc["regions"][region] = entry
    tmp_json = folder / f".{REFINE_JSON}.tmp"
    tmp_json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_json, folder / REFINE_JSON)


def refined_uncertainty_px(prob: np.ndarray, centre: np.ndarray, peak: float, radius_px: float, k: float) -> float:
    """Uncertainty of a refined point from its own probability map, in original pixels.

    ``k · (σ + 2 r (1 − peak))``: ``σ`` is the probability-weighted spread of the map around the point
    within 3 disc radii (a crisp disc of radius ``r`` gives ``σ ≈ r / √2``; a smeared or double map gives
    more), and a weak peak adds up to two radii. ``k`` converts patch pixels to original pixels. The first
    stage's uncertainty is not carried over: once the patch model has found its landmark, the regressor's
    disagreement with its own coarse map says nothing about the refined point.
    """
    s = prob.shape[0]
    r3 = 3.0 * max(1.0, radius_px)
    yy, xx = np.mgrid[0:s, 0:prob.shape[1]]
    d2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    w = prob.astype(np.float64) * (d2 <= r3 * r3)
    total = float(w.sum())
    sigma = float(np.sqrt((w * d2).sum() / total)) if total > 0 else r3
    return float(k * (sigma + 2.0 * radius_px * (1.0 - min(max(peak, 0.0), 1.0))))


class Refiner:
    """Refinement models of a bundle, loaded once. Build with :meth:`from_bundle_dir`."""

    def __init__(self, models: dict[str, tuple[RefineConfig, torch.nn.Module]], device: str | torch.device = "cpu",
                 *, recentre: dict[str, tuple[float, float]] | None = None) -> None:
        self.device = torch.device(device)
        self.recentre_offsets = dict(recentre or {})
        self.min_peak: float | None = None  # overrides every region's RefineConfig.min_peak when set
        self.models = {r: (c, m.to(self.device).eval()) for r, (c, m) in models.items()}

    @classmethod
    def from_bundle_dir(cls, folder: str | os.PathLike[str], device: str | torch.device = "cpu") -> Refiner | None:
        """Load ``refine.json`` of a bundle folder; ``None`` when the bundle has no refinement stage.

        Raises
        ------
        BundleError
            Malformed ``refine.json``, missing/corrupt file or weights that do not fit the config.
        """
        from safetensors.torch import load_file

        from .bundle import load_state_dict_checked

        folder = Path(folder)
        path = folder / REFINE_JSON
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(f"{path}: not valid JSON ({exc})") from None
        if doc.get("format_version") != REFINE_FORMAT_VERSION:
            raise BundleError(f"{path}: format_version {doc.get('format_version')!r} is not supported")
        models: dict[str, tuple[RefineConfig, torch.nn.Module]] = {}
        for region, entry in dict(doc.get("regions", {})).items():
            cfg = RefineConfig.from_dict({k: v for k, v in entry.items() if k not in ("file", "sha256")})
            fname = str(entry.get("file", ""))
            fpath = folder / fname
            if Path(fname).name != fname or not fname.endswith(".safetensors") or not fpath.is_file():
                raise BundleError(f"{path}: weight file {fname!r} of refine {region} is missing or not safetensors")
            if entry.get("sha256") and hashlib.sha256(fpath.read_bytes()).hexdigest() != entry["sha256"]:
                raise BundleError(f"{path}: {fname} is corrupt or was changed (SHA-256 mismatch)")
            model = build_refine_model(cfg)
            load_state_dict_checked(model, load_file(str(fpath)), name=f"refine_{region}", where=str(folder))
            models[region] = (cfg, model)
        recentre = {r: tuple(float(v) for v in o) for r, o in dict(doc.get("recentre", {})).items()}
        return cls(models, device, recentre=recentre)

    def recentre(self, engine: Any, norm: np.ndarray, result: Any, *, passes: int = 2) -> int:
        """Re-run the first stage on ROI boxes moved onto its own landmarks (detector boxes are coarse).

        For each region with a recorded offset ``(dx, dy)`` (mean position of the region's landmarks relative
        to the centre of its annotated ROI box, in units of the box's larger side, right-leg frame), the box
        is shifted so that the predicted landmarks sit where they sit in the training boxes, and the region
        model runs again (``passes`` times). Boxes keep their size. Returns the number of region re-runs.

        ``engine`` is the :class:`~llm_viewer.pipeline.engine.InferenceEngine` that produced ``result``.
        """
        from .legs import Detection

        runs = 0
        for _ in range(max(0, passes)):
            for region, (dx, dy) in self.recentre_offsets.items():
                rcfg = engine.config.regions[region]
                items = []
                for roi in result.rois:
                    if roi.region != region or roi.side not in result.legs:
                        continue
                    lms = result.legs[roi.side].landmarks
                    if not rcfg.landmark_ids or any(k not in lms for k in rcfg.landmark_ids):
                        continue
                    c = np.mean([[lms[k].x_px, lms[k].y_px] for k in rcfg.landmark_ids], axis=0)
                    side_px = max(roi.x1 - roi.x0, roi.y1 - roi.y0)
                    sign = -1.0 if roi.side == "left" and rcfg.mirror_left else 1.0
                    sx = c[0] - (0.5 * (roi.x0 + roi.x1) + sign * dx * side_px)
                    sy = c[1] - (0.5 * (roi.y0 + roi.y1) + dy * side_px)
                    box = Box(roi.x0 + sx, roi.y0 + sy, roi.x1 + sx, roi.y1 + sy)
                    items.append((roi.side, Detection(region, box, roi.score)))
                if items:
                    engine._run_region(region, items, norm, result)
                    runs += 1
        return runs

    def apply(self, norm: np.ndarray, result: Any, region_configs: dict[str, RegionModelConfig], *,
              iterations: int = 2) -> int:
        """Refine in place, ``iterations`` passes (each re-centres the patch on the previous pass's point).

        A second pass recovers points whose first-stage error was near the edge of the patch; returns the
        number of point moves. See :meth:`apply_once`.
        """
        moved = sum(self.apply_once(norm, result, region_configs) for _ in range(max(1, iterations)))
        flag_landmarks(result)
        return moved

    def apply_once(self, norm: np.ndarray, result: Any, region_configs: dict[str, RegionModelConfig]) -> int:
        """Refine the landmarks of ``result`` (an ``AnalysisResult``) in place; returns the number moved.

        Parameters
        ----------
        norm : ndarray
            The normalised image the engine analysed (``normalize_intensity`` output).
        result : AnalysisResult
            Its ``rois`` give the ROI box of each (side, region); its landmarks are replaced by refined ones
            (same score; ``uncertainty_px`` and ``flagged`` now describe the refinement map, see
            :func:`refined_uncertainty_px`).
        region_configs : dict
            ``BundleConfig.regions`` (margin and mirroring of the ROI crops).
        """
        moved = 0
        rois = {(r.side, r.region): Box(r.x0, r.y0, r.x1, r.y1) for r in result.rois}
        for region, (cfg, model) in self.models.items():
            rcfg = region_configs[region]
            items = []
            for side, leg in result.legs.items():
                box = rois.get((side, region))
                if box is None:
                    continue
                side_px = patch_side_px(box, rcfg, cfg)
                mirror = side == "left" and rcfg.mirror_left
                for li, lm in enumerate(cfg.landmark_ids):
                    p = leg.landmarks.get(lm)
                    if p is None:
                        continue
                    m = patch_affine(np.array([p.x_px, p.y_px]), side_px, cfg.input_size_px, mirror)
                    items.append((side, lm, li, m))
            if not items:
                continue
            batch = np.stack([warp_crop(norm, m, cfg.input_size_px) for _, _, _, m in items])
            x = torch.from_numpy(batch)[:, None].to(self.device)
            with torch.inference_mode():
                prob = torch.sigmoid(model(x).float()).cpu().numpy()
            for b, (side, lm, li, m) in enumerate(items):
                peak, c = decode.map_peak(prob[b, li], 2.0 * cfg.mask_radius_px)
                if peak < (cfg.min_peak if self.min_peak is None else self.min_peak):
                    continue
                xy = apply_affine(invert_affine(m), c)
                old = result.legs[side].landmarks[lm]
                k = float(np.sqrt(abs(np.linalg.det(invert_affine(m)[:, :2]))))
                unc = decode.resolution_floor(refined_uncertainty_px(prob[b, li], c, peak, cfg.mask_radius_px, k), k)
                result.legs[side].landmarks[lm] = replace(
                    old, x_px=float(xy[0]), y_px=float(xy[1]), uncertainty_px=unc,
                    flagged=bool(peak < cfg.flag_peak or unc > cfg.flag_factor * cfg.mask_radius_px * k))
                moved += 1
        return moved
