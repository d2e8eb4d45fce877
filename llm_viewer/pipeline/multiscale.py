"""Detection at more than one scale, for views that show only part of a leg.

The detector is trained on whole films letterboxed into its canvas (plus partial views cut from them and
letterboxed again; the narrow one-leg bands that zoom in about twice are rare among them). A knee-only or
ankle-only film of one leg letterboxed into the same canvas is zoomed in about twice against a whole film
(one leg's width fills the canvas's width): the detector then draws boxes of the size it knows, around half
a knee, or none at all (the views table of #17: knee only 83 % of landmarks "found" with a 32 mm mean error, ankle
only 22 %).

So when the first pass does not find a complete leg (all four regions), the image is also run *zoomed out*:
letterboxed at 1 / :data:`DEFAULT_ZOOM_OUT_FACTORS` of the scale that fills the canvas
(:func:`llm_viewer.pipeline.crop.letterbox` with ``zoom_out``), as if it were padded right and bottom with
zeros to that many times its width and height, without making that padded copy (360 MB at 2× for a
full-size film). Its boxes, in original pixels, are clipped to the image. The pass kept is the
one whose mean best score per region is highest, an alternative only when it beats the first pass by more than
:data:`SWITCH_MARGIN`. On 119 generated knee-only and 119 ankle-only views (versions 6, 4, 2; the detector's
own boxes): knee boxes spanning the whole knee 80 → 104, ankles found 28 → 107, boxes of other regions 31 → 4
and 34 → 11 (``docs/dev/partial_view_check.py``).

A film showing a whole leg finds all four regions in the first pass and costs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..core.landmarks import REGIONS
from .crop import Box, ContentBox
from .legs import Detection

DEFAULT_ZOOM_OUT_FACTORS: tuple[float, ...] = (1.5, 2.0)
SWITCH_MARGIN = 0.05
_MIN_INSIDE_FRAC = 0.5  # a box from a padded pass must lie at least this much inside the image


@dataclass(frozen=True)
class ScaleChoice:
    """Which detection pass was kept.

    Attributes
    ----------
    zoom_out : float
        1.0 for the first pass, else the padding factor of the pass kept.
    tried : tuple of float
        Every factor run (1.0 first).
    mean_top_score : dict
        Factor -> mean over regions of the best box score (0 without boxes).
    """

    zoom_out: float
    tried: tuple[float, ...]
    mean_top_score: dict[float, float]


def complete_leg(detections: Sequence[Detection]) -> bool:
    """Whether the boxes include every region (hip, diaphysis, knee, ankle): a whole leg is in view."""
    return {d.region for d in detections} >= set(REGIONS)


def mean_top_score(detections: Sequence[Detection]) -> float:
    """Mean over the regions found of the best box score of each; 0 without boxes."""
    best: dict[str, float] = {}
    for d in detections:
        best[d.region] = max(best.get(d.region, 0.0), d.score)
    return float(np.mean(list(best.values()))) if best else 0.0


def clip_to_image(detections: Sequence[Detection], width_px: int, height_px: int) -> list[Detection]:
    """Boxes of a padded pass clipped to the image; those mostly in the padding are dropped."""
    out: list[Detection] = []
    for d in detections:
        b = d.box
        x0, y0 = max(b.x0, -0.5), max(b.y0, -0.5)
        x1, y1 = min(b.x1, width_px - 0.5), min(b.y1, height_px - 0.5)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        if (x1 - x0) * (y1 - y0) < _MIN_INSIDE_FRAC * b.width * b.height:
            continue
        out.append(replace(d, box=Box(float(x0), float(y0), float(x1), float(y1))))
    return out


def detect_multiscale(image_norm: np.ndarray, run: Callable[[float], list[Detection]],
                      first: list[Detection], factors: Sequence[float] = DEFAULT_ZOOM_OUT_FACTORS
                      ) -> tuple[list[Detection], ScaleChoice]:
    """The first pass, or a zoomed-out one when the first finds no complete leg (see the module docstring).

    Parameters
    ----------
    image_norm : numpy.ndarray
        Intensity-normalised image (original pixels).
    run : callable
        ``run(zoom_out)`` runs the detector on ``image_norm`` letterboxed at 1 / ``zoom_out`` of the scale that
        fills its canvas; boxes in ``image_norm``'s pixels, not clipped to it.
    first : list of Detection
        The first pass (on ``image_norm`` itself).
    factors : sequence of float
        Zoom-out factors to try (each > 1); empty: the first pass only.

    Returns
    -------
    (detections, ScaleChoice)
    """
    scores = {1.0: mean_top_score(first)}
    if not factors or complete_leg(first):
        return list(first), ScaleChoice(1.0, (1.0,), scores)
    h, w = image_norm.shape[:2]
    best_f, best, best_score = 1.0, list(first), scores[1.0]
    for f in factors:
        if not f > 1.0:
            raise ValueError(f"zoom-out factor must be > 1, got {f}")
        dets = clip_to_image(run(float(f)), w, h)
        scores[float(f)] = s = mean_top_score(dets)
        if s > best_score + SWITCH_MARGIN:
            best_f, best, best_score = float(f), dets, s
    return best, ScaleChoice(best_f, tuple(scores), scores)


@dataclass(frozen=True)
class DetectionView:
    """The detections kept and what the detector ran on to get them.

    Attributes
    ----------
    detections : list of Detection
        Boxes in the whole image's pixels.
    content : ContentBox or None
        The part inside padding bars the kept pass ran on (:func:`llm_viewer.pipeline.crop.detection_crop`),
        ``None`` for the whole image.
    zoom_out : float
        The zoom-out factor of the kept pass (1.0: none).
    """

    detections: list[Detection]
    content: ContentBox | None
    zoom_out: float


def detect_in_content(image_norm: np.ndarray, content: ContentBox | None,
                      detect: Callable[[np.ndarray], tuple[list[Detection], float]], *,
                      content_first: bool = True,
                      detect_content: Callable[[np.ndarray], tuple[list[Detection], float]] | None = None
                      ) -> DetectionView:
    """Detect on the content inside padding bars and on the whole image, the second only when needed.

    The content crop enlarges a one-leg export's anatomy to a whole film's scale in the detector's canvas.
    A partial view inside bars (an ankle alone on a collimated film) it enlarges further than the zoom-out
    passes make up for. So the first reading (the content's with ``content_first``, else the whole
    image's) is kept when it finds a complete leg; otherwise the other is run too (each with its own
    zoom-out passes) and kept when it finds a complete leg and the first does not. Reading the content
    first, the whole image is also kept when its mean best-box score is higher by :data:`SWITCH_MARGIN`
    (a partial view). Reading the whole image first, the content only ever replaces it with a complete
    leg: on knee-only and ankle-only views, whose film margins can look like bars, a higher-scoring
    reading of the enlarged content added phantoms (docs/EVALUATION.md, round 7).

    Parameters
    ----------
    image_norm : numpy.ndarray
        Intensity-normalised image.
    content : ContentBox or None
        Where the content is; ``None`` runs the whole image only.
    detect : callable
        ``detect(view) -> (detections in view's pixels, zoom_out kept)``: one multiscale detection.
    content_first : bool
        Read the content first (a detector trained on content crops: ``DetectorConfig.content_crop`` =
        ``"first"``), or the whole image first (``"fallback"``, a detector trained on whole exports).
    detect_content : callable, optional
        Detection for the content crop (the bundle's content detector, trained on content crops); ``None``
        uses ``detect`` for both. Its reading is kept only when it finds a complete leg: otherwise the
        whole image's reading (``detect``) is, whatever the scores.

    Returns
    -------
    DetectionView
    """
    if content is None:
        dets, zoom = detect(image_norm)
        return DetectionView(list(dets), None, zoom)

    def inner() -> DetectionView:
        view = image_norm[content.y0:content.y1, content.x0:content.x1]
        dets, zoom = (detect if detect_content is None else detect_content)(view)
        shifted = [replace(d, box=Box(d.box.x0 + content.x0, d.box.y0 + content.y0, d.box.x1 + content.x0,
                                      d.box.y1 + content.y0)) for d in dets]
        return DetectionView(shifted, content, zoom)

    def whole() -> DetectionView:
        dets, zoom = detect(image_norm)
        return DetectionView(list(dets), None, zoom)

    first_run, second_run = (inner, whole) if content_first else (whole, inner)
    first = first_run()
    if complete_leg(first.detections):
        return first
    second = second_run()
    if complete_leg(second.detections) or (content_first and detect_content is not None):
        # a separate content detector's reading is kept only with a complete leg: on a partial view (a knee
        # alone on a film with a margin) it also boxes the other leg's half-cut knee (docs/EVALUATION.md)
        return second
    if content_first and mean_top_score(second.detections) > mean_top_score(first.detections) + SWITCH_MARGIN:
        return second  # the whole image: a partial view the crop enlarged too far (RG3's ankle)
    return first
