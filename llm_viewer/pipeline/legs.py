"""Assign detected ROI boxes to legs using anatomy, not detection order.

The authors' code took the first two boxes of each class and failed when one was missing. Here:

1. **Duplicates**: within a class, boxes overlapping an already kept, higher-scoring box (IoU above the
   detector's NMS threshold, 0.5 by default) are dropped.
2. **How many legs, and the midline**: a region with two boxes side by side (horizontal overlap below 30 %
   of the narrower box) is evidence of two legs; the body midline is the median of the midpoints between
   the best such pair of each region. Without any pair, the box centres are split at their largest
   horizontal gap if that gap exceeds the median box width (two legs, partial detections); otherwise the
   image holds one leg.
3. **Side**: with two legs, a box well left of the midline can only belong to the right leg (standard AP
   display) and one well right of it only to the left leg. Boxes whose centre lies within a quarter of their
   width of the midline are candidates for both legs: in a narrow stance or with varus knees the ankles
   (or knees) nearly touch, the true boxes of the two legs overlap and one of them may even lie across the
   midline.
4. **Chains, jointly**: one box per region and leg is chosen to maximise the summed score of both legs
   subject to anatomy: per leg hip, diaphysis, knee, ankle centres strictly top to bottom and consecutive
   boxes horizontally continuous (centres closer than 1.5 × the wider box); between the legs no box used
   twice and, region by region, the right leg's box left of the left leg's. A box centred on the midline
   (within a tenth of its width, typically one box over both ankles) is used only when the other leg has
   its own box in that region, so that the two can be told apart; otherwise it is dropped with a warning
   rather than giving one leg landmarks that may belong to the other, unless rule 5 applies. Regions left
   without a box are reported missing.
5. **One box over both legs**: when neither leg has a box of a region and the best unused box of that
   region is centred on the midline (feet together: the detector saw both ankles as one), it is split into
   two hypotheses of the same size, shifted by ``_SPLIT_SHIFT`` (0.2) of its width towards each leg (two
   ankles side by side are 0.35–0.45 box widths apart), if each keeps its chain in anatomical order.
   Their ``split`` flag makes the engine flag every landmark found in them for review; a warning says so.
6. **Side of a single leg** (:func:`infer_single_leg_side`): the femoral neck points medially, so the hip
   box centre lies medial to the diaphysis box centre; and the pelvis lies medial to the hip, so the strip
   beside the hip box on the medial side is brighter (bone) than the lateral one (soft tissue/air). The two
   cues vote (pelvis weighted by its contrast). Without a hip box, a chain in the left or right 45 % of the
   image is taken as the right or left leg of a two-leg film; otherwise ``"right"`` is assumed with a warning.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..core.landmarks import REGIONS, SIDES
from .crop import Box, apply_affine_box

_MAX_CANDIDATES = 3
_AMBIGUOUS_BAND = 0.25  # |cx - midline| below this × width: either leg
_MIDLINE_BAND = 0.1  # below this × width: only with a partner box in the other leg
_SPLIT_SHIFT = 0.2  # a box over both legs becomes two, each shifted by this × width towards its leg


@dataclass(frozen=True)
class Detection:
    """One detector box in original pixels."""

    region: str
    box: Box
    score: float
    split: bool = False  # one of the two halves of a box over both legs (rule 5): its landmarks are flagged


@dataclass
class LegAssignment:
    """Boxes per leg and what could not be found."""

    legs: dict[str, dict[str, Detection]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    single_leg: bool = False


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def _x_overlap_frac(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    return ix / max(1e-9, min(a.width, b.width))


def dedupe(detections: list[Detection], iou_threshold: float = 0.5) -> list[Detection]:
    """Greedy per-class suppression of overlapping boxes (keeps the higher score)."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: -d.score):
        if det.region not in REGIONS or not (det.box.width > 0 and det.box.height > 0):
            continue
        if all(k.region != det.region or _iou(k.box, det.box) <= iou_threshold for k in kept):
            kept.append(det)
    return kept


def _midline(dets: list[Detection]) -> float | None:
    mids: list[float] = []
    for region in REGIONS:
        cands = [d for d in dets if d.region == region][: _MAX_CANDIDATES + 1]
        best: tuple[float, float] | None = None
        for a, b in itertools.combinations(cands, 2):
            if _x_overlap_frac(a.box, b.box) < 0.3:
                s = a.score + b.score
                if best is None or s > best[0]:
                    best = (s, 0.5 * (a.box.cx + b.box.cx))
        if best is not None:
            mids.append(best[1])
    if mids:
        return float(np.median(mids))
    if len(dets) < 2:
        return None
    xs = np.sort([d.box.cx for d in dets])
    gaps = np.diff(xs)
    i = int(np.argmax(gaps))
    if gaps[i] > float(np.median([d.box.width for d in dets])):
        return float(0.5 * (xs[i] + xs[i + 1]))
    return None


def _consistent(chain: list[Detection]) -> bool:
    for a, b in zip(chain, chain[1:]):
        if not b.box.cy > a.box.cy:
            return False
        if abs(b.box.cx - a.box.cx) > 1.5 * max(a.box.width, b.box.width):
            return False
    return True


def best_chain(dets: list[Detection]) -> dict[str, Detection]:
    """Pick at most one box per region maximising the summed score under the anatomical order."""
    chains = _chains(dets)
    return chains[0][1] if chains else {}


def _on_midline(d: Detection, mid: float) -> bool:
    return abs(d.box.cx - mid) < _MIDLINE_BAND * d.box.width and d.box.x0 < mid < d.box.x1


def _side_possible(d: Detection, mid: float, side: str) -> bool:
    band = _AMBIGUOUS_BAND * d.box.width
    return d.box.cx < mid + band if side == "right" else d.box.cx > mid - band


def _chains(dets: list[Detection]) -> list[tuple[float, dict[str, Detection]]]:
    """Every anatomically consistent chain (top candidates per region), best summed score first."""
    options = []
    for region in REGIONS:
        cands = sorted((d for d in dets if d.region == region), key=lambda d: -d.score)[:_MAX_CANDIDATES]
        options.append([None, *cands])
    out = []
    for combo in itertools.product(*options):
        chain = [d for d in combo if d is not None]
        if _consistent(chain):
            out.append((sum(d.score for d in chain), {d.region: d for d in chain}))
    out.sort(key=lambda t: -t[0])
    return out


def _compatible(right: dict[str, Detection], left: dict[str, Detection], mid: float) -> bool:
    for region, r in right.items():
        lb = left.get(region)
        if lb is not None and (lb is r or not r.box.cx < lb.box.cx):
            return False
        if lb is None and _on_midline(r, mid):
            return False
    for region, lb in left.items():
        if region not in right and _on_midline(lb, mid):
            return False
    return True


def _split_midline_box(region: str, dets: list[Detection], chains: dict[str, dict[str, Detection]],
                       used: set[int], mid: float) -> tuple[Box, tuple[Detection, Detection]] | None:
    """Rule 5: the best unused midline box of ``region`` and its two halves (right, left), or ``None``."""
    if any(region in chains.get(side, {}) for side in SIDES):
        return None
    cands = sorted((d for d in dets if d.region == region and id(d) not in used and _on_midline(d, mid)),
                   key=lambda d: -d.score)
    if not cands:
        return None
    d = cands[0]
    shift = _SPLIT_SHIFT * d.box.width
    halves = tuple(Detection(region, Box(d.box.x0 + dx, d.box.y0, d.box.x1 + dx, d.box.y1), d.score, split=True)
                   for dx in (-shift, shift))
    for side, half in zip(SIDES, halves):
        chain = [*chains.get(side, {}).values(), half]
        if not _consistent(sorted(chain, key=lambda c: REGIONS.index(c.region))):
            return None
    return d.box, halves  # type: ignore[return-value]


def joint_chains(right: list[Detection], left: list[Detection], mid: float) -> dict[str, dict[str, Detection]]:
    """Choose the chains of both legs together (rule 4 of the module docstring).

    Parameters
    ----------
    right, left : list of Detection
        Candidate boxes of each leg (a box near the midline may be in both lists).
    mid : float
        Body midline, x in original pixels.

    Returns
    -------
    dict
        ``{"right": chain, "left": chain}``; a chain maps region -> detection and may be empty.
    """
    rc, lc = _chains(right), _chains(left)
    best: tuple[float, dict[str, Detection], dict[str, Detection]] = (-1.0, {}, {})
    for rs, r in rc:
        if rs + (lc[0][0] if lc else 0.0) <= best[0]:
            break
        for ls, lch in lc:
            if rs + ls <= best[0]:
                break
            if _compatible(r, lch, mid):
                best = (rs + ls, r, lch)
                break
    return {"right": best[1], "left": best[2]}


def infer_single_leg_side(chain: dict[str, Detection], image_norm: np.ndarray | None = None,
                          matrix: np.ndarray | None = None, image_width_px: float | None = None
                          ) -> tuple[str, str | None]:
    """Decide which leg a single chain is (see the module docstring).

    Parameters
    ----------
    chain : dict
        Region -> detection of the leg.
    image_norm : ndarray, optional
        Intensity-normalised image (any resolution) for the pelvis cue.
    matrix : ndarray, optional
        2×3 map from original pixels to ``image_norm`` pixels.
    image_width_px : float, optional
        Width of the original image, for the fallback.

    Returns
    -------
    (side, warning)
        ``warning`` is ``None`` when anatomy decided.
    """
    vote = 0.0  # > 0: medial is +x (right leg)
    hip = chain.get("hip")
    if hip is not None:
        dia = chain.get("diaphysis")
        if dia is not None:
            d = hip.box.cx - dia.box.cx
            if abs(d) > 0.05 * hip.box.width:
                vote += float(np.sign(d))
        if image_norm is not None and matrix is not None:
            b = apply_affine_box(matrix, hip.box)
            h, w = image_norm.shape
            y0, y1 = max(0, int(b.y0)), min(h, int(np.ceil(b.y1)))
            bw = max(1, int(round(b.width)))
            lx0, lx1 = max(0, int(b.x0) - bw), max(0, int(b.x0))
            rx0, rx1 = min(w, int(np.ceil(b.x1))), min(w, int(np.ceil(b.x1)) + bw)
            left = float(image_norm[y0:y1, lx0:lx1].mean()) if (lx1 > lx0 and y1 > y0) else 0.0
            right = float(image_norm[y0:y1, rx0:rx1].mean()) if (rx1 > rx0 and y1 > y0) else 0.0
            contrast = right - left
            if abs(contrast) > 0.03:
                vote += float(np.sign(contrast)) * min(2.0, abs(contrast) / 0.1)
    if vote > 0:
        return "right", None
    if vote < 0:
        return "left", None
    if image_width_px:
        cx = float(np.mean([d.box.cx for d in chain.values()]))
        if cx < 0.45 * image_width_px:
            return "right", "single leg: side not decidable from anatomy; right leg assumed from its position"
        if cx > 0.55 * image_width_px:
            return "left", "single leg: side not decidable from anatomy; left leg assumed from its position"
    return "right", "single leg: side could not be decided from anatomy; right leg assumed"


def assign_legs(detections: list[Detection], *, image_norm: np.ndarray | None = None,
                matrix: np.ndarray | None = None, image_width_px: float | None = None,
                duplicate_iou: float = 0.5) -> LegAssignment:
    """Assign boxes to legs (see the module docstring for the rule).

    Parameters
    ----------
    detections : list of Detection
        Boxes in original pixels (already score-thresholded).
    image_norm, matrix, image_width_px
        Optional image evidence for the side of a single leg (see :func:`infer_single_leg_side`).
    duplicate_iou : float
        Boxes of one class overlapping a better one by more than this are duplicates (the detector's NMS
        threshold: in a narrow stance the true boxes of the two ankles overlap by IoU 0.5–0.7).

    Returns
    -------
    LegAssignment
    """
    out = LegAssignment()
    dets = dedupe(detections, duplicate_iou)
    if not dets:
        out.warnings.append("no hip, diaphysis, knee or ankle region was detected: is this a full-leg radiograph?")
        return out
    mid = _midline(dets)
    if mid is None:
        chain = best_chain(dets)
        side, warn = infer_single_leg_side(chain, image_norm, matrix, image_width_px)
        if warn:
            out.warnings.append(warn)
        out.single_leg = True
        out.legs[side] = chain
        groups = {side: dets}
    else:
        groups = {side: [d for d in dets if _side_possible(d, mid, side)] for side in SIDES}
        chains = joint_chains(groups["right"], groups["left"], mid)
        used = {id(d) for chain in chains.values() for d in chain.values()}
        for d in dets:
            if id(d) not in used and _on_midline(d, mid):
                out.warnings.append(
                    f"a {d.region} box spans the midline (x {d.box.x0:.0f}-{d.box.x1:.0f}) and could not be "
                    "assigned to either leg"
                )
        for region in REGIONS:
            split = _split_midline_box(region, dets, chains, used, mid)
            if split is not None:
                box, (chains["right"][region], chains["left"][region]) = split
                out.warnings = [w for w in out.warnings if not (w.startswith(f"a {region} box spans the midline"))]
                out.warnings.append(
                    f"one {region} box covers both legs (x {box.x0:.0f}-{box.x1:.0f}); it was split into one box "
                    f"per leg and the {region} landmarks of both legs are flagged for review")
        for side in SIDES:
            if chains.get(side):
                out.legs[side] = chains[side]
        if not out.legs:
            out.warnings.append("no region could be assigned to a leg")
    used = {id(d) for chain in out.legs.values() for d in chain.values()}
    for side, chain in out.legs.items():
        missing = [r for r in REGIONS if r not in chain]
        out.missing[side] = missing
        unused = [d for d in groups[side] if d.region in missing and id(d) not in used]
        for r in missing:
            if any(d.region == r for d in unused):
                out.warnings.append(f"{side} leg: {r} box(es) discarded as out of anatomical order")
            out.warnings.append(f"{side} leg: {r} region not found; its landmarks are missing")
    return out
