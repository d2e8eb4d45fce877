"""The engine's detection: the detector passes, the content inside padding bars and the second look.

:class:`DetectionMixin` is a part of :class:`llm_viewer.pipeline.engine.InferenceEngine` (it uses the engine's
``config``, ``detector``, ``content_detector``, ``_device`` and ``_autocast``); kept here so that the engine file
holds the pipeline's stages. The rules themselves are in :mod:`.multiscale` (zoom-out passes, padding bars) and
:mod:`.second_look`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..core.landmarks import REGIONS
from .crop import Box, ContentBox, Letterbox, apply_affine, detection_crop, invert_affine, letterbox
from .legs import Detection
from .multiscale import detect_in_content, detect_multiscale
from .second_look import SecondLook, second_look


@dataclass(frozen=True)
class RegionReading:
    """What :meth:`DetectionMixin._find_regions` found.

    Attributes
    ----------
    detections : list of Detection
        Every box, original pixels (the second look's included).
    content : ContentBox or None
        The part inside padding bars the kept reading ran on; ``None`` for the whole image.
    second_look : SecondLook or None
        The second look's result (``None`` when it did not run: boxes given, or ``second_look`` off).
    """

    detections: list[Detection]
    content: ContentBox | None
    second_look: SecondLook | None


class DetectionMixin:
    """Detector passes of :class:`~llm_viewer.pipeline.engine.InferenceEngine`."""

    def _find_regions(self, norm: np.ndarray, detections: list[Detection] | None, timings: dict[str, float]
                      ) -> RegionReading:
        """The region boxes of one image: given ones, or the detector's (padding bars, zoom-out passes, second
        look); sets ``self.last_zoom_out``, and ``timings["second_look"]`` when a leg's half was read again."""
        dcfg = self.config.detector
        # padding bars (a one-leg export on a tall canvas) would shrink the anatomy in the detector's canvas:
        # it runs on the content inside them (crop.detection_crop, multiscale.detect_in_content)
        content = (detection_crop(norm, dcfg.input_width_px, dcfg.input_height_px)
                   if dcfg.content_crop != "off" else None)
        if detections is not None:
            self.last_zoom_out = 1.0
            return RegionReading(list(detections), content, None)
        kept = detect_in_content(norm, content, self._detect_view, content_first=dcfg.content_crop == "first",
                                 detect_content=(self._detect_content_view
                                                 if self.content_detector is not None else None))
        self.last_zoom_out = kept.zoom_out
        if not dcfg.second_look:
            return RegionReading(kept.detections, kept.content, None)
        t1 = time.perf_counter()  # a leg of a two-leg film missing a region in view
        readers = ([self._detect_content_view] if self.content_detector is not None else []) + [self._detect_view]
        looked = second_look(kept.detections, norm, readers, duplicate_iou=dcfg.nms_threshold)
        self.last_zoom_out = kept.zoom_out
        if looked.looked:  # a half was read again: what that cost (the check alone is a millisecond)
            timings["second_look"] = time.perf_counter() - t1
        return RegionReading(looked.detections, kept.content, looked)

    def detect(self, image_norm: np.ndarray, lb: Letterbox | None = None, *,
               detector: torch.nn.Module | None = None) -> list[Detection]:
        """Run the detector on a normalised image; boxes in original pixels, score-thresholded.

        A view without a complete leg is also run zoomed out (:mod:`.multiscale`); ``self.last_zoom_out``
        says which pass was kept. ``detector`` replaces the main detector (the content detector).
        """
        first = self._detect_once(image_norm, lb, detector=detector)
        dets, choice = detect_multiscale(image_norm,
                                         lambda f: self._detect_once(image_norm, zoom_out=f, detector=detector),
                                         first, self.config.detector.zoom_out_factors)
        self.last_zoom_out = choice.zoom_out
        return dets

    def _detect_view(self, view_norm: np.ndarray) -> tuple[list[Detection], float]:
        """:meth:`detect` on ``view_norm``, with the zoom-out factor it kept."""
        self.last_zoom_out = 1.0
        dets = self.detect(view_norm)
        return dets, self.last_zoom_out

    def _detect_content_view(self, view_norm: np.ndarray) -> tuple[list[Detection], float]:
        """:meth:`_detect_view` with the content detector."""
        self.last_zoom_out = 1.0
        dets = self.detect(view_norm, detector=self.content_detector)
        return dets, self.last_zoom_out

    def _detect_once(self, image_norm: np.ndarray, lb: Letterbox | None = None, zoom_out: float = 1.0, *,
                     detector: torch.nn.Module | None = None) -> list[Detection]:
        """One detector pass; with ``zoom_out`` > 1 on the image shrunk that much in the canvas, its boxes not
        clipped to the image (:func:`.multiscale.detect_multiscale` clips them)."""
        dcfg = self.config.detector
        if lb is None:
            lb = letterbox(image_norm, dcfg.input_width_px, dcfg.input_height_px, zoom_out)
        x = torch.from_numpy(lb.pixels).to(self._device)[None].expand(3, -1, -1)
        with torch.inference_mode(), self._autocast():
            out = (self.detector if detector is None else detector)([x])[0]
        boxes = out["boxes"].float().cpu().numpy()
        labels = out["labels"].cpu().numpy()
        scores = out["scores"].float().cpu().numpy()
        inv = invert_affine(lb.matrix)
        h, w = image_norm.shape
        dets: list[Detection] = []
        for b, lab, s in zip(boxes, labels, scores):
            if s < dcfg.score_threshold or not 1 <= int(lab) <= len(REGIONS):
                continue
            # torchvision boxes have the canvas extent [0, W]; our pixel-centre convention has [-0.5, W-0.5].
            p = apply_affine(inv, np.array([[b[0] - 0.5, b[1] - 0.5], [b[2] - 0.5, b[3] - 0.5]]))
            x0, x1 = p[:, 0] if zoom_out > 1.0 else np.clip(p[:, 0], -0.5, w - 0.5)
            y0, y1 = p[:, 1] if zoom_out > 1.0 else np.clip(p[:, 1], -0.5, h - 0.5)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            dets.append(Detection(REGIONS[int(lab) - 1], Box(float(x0), float(y0), float(x1), float(y1)), float(s)))
        return dets

