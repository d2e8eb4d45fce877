"""The engine's side cues that need its models: the model-mirror test and the fibula votes on one chain.

:class:`SideCueMixin` is a part of :class:`llm_viewer.pipeline.engine.InferenceEngine` (it uses the engine's
``config``, ``region_models`` and ``_forward``); kept here so that the engine file holds the pipeline's stages.
The image-only cues themselves are in :mod:`.sidecue`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from . import decode
from .crop import Box, crop_affine, from_normalized, warp_crop
from .legs import Detection
from .sidecue import fibula_vote, knee_fibula_vote, mirror_vote_from_scores

MIRROR_REGIONS = ("knee", "ankle")  # the hip (a round head) and the diaphysis (a tube) look alike mirrored


def forward_key(region: str, box: Box, mirror: bool) -> tuple:
    """Key of one region model pass on the crop of ``box`` (:meth:`SideCueMixin.mirror_scores`)."""
    return region, box.x0, box.y0, box.x1, box.y1, bool(mirror)


class SideCueMixin:
    """Model-mirror test and side cues of :class:`~llm_viewer.pipeline.engine.InferenceEngine`."""

    def mirror_scores(self, region: str, det: Detection, norm: np.ndarray, cache: dict | None = None
                      ) -> tuple[float, float] | None:
        """Mean landmark score of ``region``'s model on the plain crop of ``det`` and on its mirror image.

        The plain crop is what a right leg is given (medial = +x as in the image), the mirrored one what a
        left leg is given. Score per landmark: ``peak · exp(-d / r)`` (map peak, distance between the
        regressed point and the map's own estimate in crop px, disc radius): a model that recognises the
        orientation it was trained on has crisp maps and agreeing heads. ``None`` for a model without maps.

        ``cache`` (one analysis's dict) keeps both forward passes by ``(region, box, mirror)``: the landmark stage
        then reuses the one of the leg's own orientation instead of running the model again
        (:meth:`_run_region`), which halves the side cue's cost (in the paper configuration it had cost more than
        all landmark models: benchmarks/README.md).
        """
        rcfg = self.config.regions[region]
        if rcfg.method not in ("sgr", "segmentation") or not rcfg.landmark_ids:
            return None
        size = rcfg.input_size_px
        mats = [crop_affine(det.box, size, margin=rcfg.margin, mirror=m) for m in (False, True)]
        batch = np.stack([warp_crop(norm, m, size) for m in mats])
        seg, coords = self._forward(region, batch, rcfg.in_channels)
        if seg is None:
            return None
        if cache is not None:
            for j, m in enumerate((False, True)):
                cache[forward_key(region, det.box, m)] = (seg[j], None if coords is None else coords[j])
        out = []
        for j in range(2):
            scores = []
            for li in range(len(rcfg.landmark_ids)):
                peak, c = decode.map_peak(seg[j, li], 2 * rcfg.mask_radius_px)
                d = float(np.hypot(*(from_normalized(coords[j, li], size) - c))) if coords is not None else 0.0
                scores.append(peak * math.exp(-d / max(rcfg.mask_radius_px, 1e-6)))
            out.append(float(np.mean(scores)))
        return out[0], out[1]

    def _low_res_capped(self, cue: tuple[float, str], det: Detection, region: str) -> tuple[float, str]:
        """The fibula's vote capped at ±1 when its box is narrower than the region model's input (the bones are a
        few pixels wide there: on 146 legs of one-leg 128-px exports the cap named 7 more legs right, and none
        fewer in any generator version); at full resolution it keeps its weight of up to 2."""
        rcfg = self.config.regions.get(region)
        vote, detail = cue
        if rcfg is None or abs(vote) <= 1.0 or det.box.width >= rcfg.input_size_px:
            return cue
        return float(np.sign(vote)), f"{detail} (box {det.box.width:.0f} px wide: low resolution, vote capped at 1)"

    def side_cues(self, norm: np.ndarray, cache: dict | None = None, seconds: list[float] | None = None
                  ) -> Callable[[dict[str, Detection]], dict[str, tuple[float, str]]]:
        """The fibula and model-mirror cues of a chain on the normalised image (``assign_legs(side_cues=)``);
        ``cache``: see :meth:`mirror_scores`; ``seconds`` receives the time of each model-mirror test."""

        def cues(chain: dict[str, Detection]) -> dict[str, tuple[float, str]]:
            out: dict[str, tuple[float, str]] = {}
            if "ankle" in chain:
                out["fibula"] = self._low_res_capped(fibula_vote(norm, chain), chain["ankle"], "ankle")
            if "knee" in chain and (out.get("fibula") or (0.0,))[0] == 0.0:  # no ankle in view, or no fibula there
                out["fibula"] = self._low_res_capped(knee_fibula_vote(norm, chain), chain["knee"], "knee")
            diffs, notes = [], []
            t0 = time.perf_counter()
            for region in MIRROR_REGIONS:
                if region in chain and region in self.region_models:
                    sc = self.mirror_scores(region, chain[region], norm, cache)
                    if sc is not None:
                        diffs.append(sc)
                        notes.append(f"{region} {sc[0]:.3f} as right vs {sc[1]:.3f} mirrored")
            if seconds is not None:
                seconds.append(time.perf_counter() - t0)
            if diffs:
                plain, mirrored = np.mean(diffs, axis=0)
                out["model_mirror"] = (mirror_vote_from_scores(float(plain), float(mirrored)),
                                       "mean landmark score " + "; ".join(notes))
            return out

        return cues
