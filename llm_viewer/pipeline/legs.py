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
6. **Side of a single leg** (:func:`.side.infer_single_leg_side`, :func:`.side.decide_side`): the femoral neck points
   medially, so the hip box centre lies medial to the diaphysis box centre; and the pelvis lies medial to the
   hip, so the strip beside the hip box on the medial side is brighter (bone) than the lateral one (soft
   tissue/air). The engine adds, through ``side_cues``, the fibula (lateral in the lower leg) and the model
   mirror test (:mod:`.sidecue`). The cues vote (each weighted by its confidence); the evidence (cue -> vote,
   which cues decided) is kept in ``LegAssignment.side_evidence`` and cues that disagree give a warning.
   Without any vote, a chain in the left or right 45 % of the image is taken as the right or left leg of a
   two-leg film; otherwise ``"right"`` is assumed with a warning.
7. **Two legs** keep their sides by position; the same cues check it per leg. A bilateral film stored mirrored
   as a whole cannot be told from anatomy: flipped, each leg still has its lateral side outwards (only a side
   marker tells; not read here). Medial and lateral stay right either way, since crops and metrics follow the
   orientation. When the anatomy of both legs contradicts their positions (lateral sides towards the midline:
   panels mirrored one by one, or the cues failed) a warning says so; one leg against: a warning too.
8. **Absent regions** (:func:`absent_reasons`): a missing region that would lie beyond the top or bottom of
   the image (predicted from the leg's nearest detected region) is "not in the image", otherwise "not
   detected"; both are listed in ``missing``, the reason in ``absent``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..core.landmarks import REGIONS, SIDES
from .crop import Box
from .side import SideCues, anatomy_votes, decide_side
from .sidecue import SideEvidence, combine_votes

NOT_IN_IMAGE = "not in the image"
NOT_DETECTED = "not detected"
# Typical centre-to-centre offsets between the regions of one leg, in units of the larger side of the
# reference region's box (means over 8 legs of generated studies, generator version 6; the smallest seen is 0.87 of its mean).
REGION_OFFSETS = {
    ("hip", "diaphysis"): 1.91, ("hip", "knee"): 4.40, ("hip", "ankle"): 7.85,
    ("diaphysis", "hip"): -0.84, ("diaphysis", "knee"): 1.10, ("diaphysis", "ankle"): 2.63,
    ("knee", "hip"): -4.28, ("knee", "diaphysis"): -2.42, ("knee", "ankle"): 3.35,
    ("ankle", "hip"): -7.79, ("ankle", "diaphysis"): -5.90, ("ankle", "knee"): -3.42,
}
_MIN_OFFSET_FRAC = 0.35
"""Two regions of one chain must lie at least this share of their typical offset apart (the smallest seen on
generated legs is 0.87): a box closer than that is not that region (hip to knee films put an "ankle" on the
proximal tibia at the edge)."""
_MIN_SKIP_OFFSET_FRAC = 0.6
"""The same for two boxes with a region missing between them (hip and knee, diaphysis and ankle): in hip-to-knee
films the knee at the bottom edge is often also boxed as an "ankle", right where the knee belongs: 0.38 of the
typical diaphysis-ankle offset below the diaphysis (the knee's own offset is 0.42 of it)."""
_OFFSET_SAFETY = 0.85  # outside the image only if 0.85 of the typical offset is beyond the edge (smallest seen: 0.87)

_ALIAS_MAX_OFFSET = 1.5
"""An "ankle" box whose centre lies at most this × the diaphysis box's larger side below the diaphysis centre is
in the knee's place (typical offsets: knee 1.10, ankle 2.63; :func:`knee_aliases`)."""
_ALIAS_SCORE = 0.9  # a knee alias scores this share of the ankle box's score: a box detected as knee wins
_ALIAS_MAX_BELOW = 1.5
"""...and the image ends less than this × the box's height below it (a film cut below the knee: 0.66–0.74 on
generated hip-to-knee views; a whole film's ankle box has its foot below it, 2.8–5.9 box heights on generated
films and one-leg exports, where an over-long diaphysis box otherwise made the true ankle a "knee")."""
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
    relabelled_from: str = ""
    """The class the detector gave a box that is used as another region (:func:`knee_aliases`): its landmarks
    are flagged."""
    second_look: bool = False
    """Found on a second look at the leg's half of the film (:mod:`.second_look`): its landmarks are flagged."""


@dataclass
class LegAssignment:
    """Boxes per leg and what could not be found."""

    legs: dict[str, dict[str, Detection]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    absent: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per leg, each missing region -> ``NOT_IN_IMAGE`` (it would lie beyond the image edge) or ``NOT_DETECTED``."""
    side_evidence: dict[str, SideEvidence] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    single_leg: bool = False
    mirrored: bool = False
    """Two legs whose anatomy (femoral neck, fibula, ...) both contradict their positions (lateral sides towards
    the midline). A bilateral film mirrored as a whole does *not* do this: flipping it keeps each leg's lateral
    side outwards, so only a side marker can tell; this catches panels mirrored one by one or failed cues."""


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 for empty ones)."""
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
        if all(k.region != det.region or box_iou(k.box, det.box) <= iou_threshold for k in kept):
            kept.append(det)
    return kept


def knee_aliases(dets: list[Detection], image_height_px: float | None) -> list[Detection]:
    """Knee candidates for "ankle" boxes that sit in the knee's place below a femoral diaphysis box.

    A film cut below the knee (hip to knee) ends on the proximal tibia, and a detector trained mostly on
    whole legs, where the content's bottom edge is the ankle, often boxes the knee there as an ankle. Such a
    box cannot be the ankle: it lies at most ``_ALIAS_MAX_OFFSET`` × the diaphysis box's larger side below
    the diaphysis centre (the knee's typical offset is 1.10, the ankle's 2.63), under it, and the image ends
    less than ``_ALIAS_MAX_BELOW`` box heights below it (no foot below: without the image height, no alias). Each is offered
    once more, as a knee scored ``_ALIAS_SCORE`` × its score with ``relabelled_from="ankle"``, unless a knee box
    already covers it (IoU > 0.3); the chain search then picks whichever reading is consistent.

    Parameters
    ----------
    dets : list of Detection
    image_height_px : float or None
        Height of the image the boxes are in.

    Returns
    -------
    list of Detection
        ``dets`` followed by the aliases.
    """
    out = list(dets)
    if image_height_px is None:
        return out
    for a in dets:
        if a.region != "ankle" or image_height_px - a.box.y1 >= _ALIAS_MAX_BELOW * a.box.height:
            continue
        for d in dets:
            if d.region != "diaphysis":
                continue
            size = max(d.box.width, d.box.height)
            dy = a.box.cy - d.box.cy
            if not (0.0 < dy <= _ALIAS_MAX_OFFSET * size and abs(a.box.cx - d.box.cx) < max(a.box.width, d.box.width)):
                continue
            if any(k.region == "knee" and box_iou(k.box, a.box) > 0.3 for k in dets):
                break
            out.append(Detection("knee", a.box, a.score * _ALIAS_SCORE, a.split, relabelled_from="ankle"))
            break
    return out


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
        typical = REGION_OFFSETS.get((a.region, b.region))
        frac = _MIN_OFFSET_FRAC if REGIONS.index(b.region) - REGIONS.index(a.region) == 1 else _MIN_SKIP_OFFSET_FRAC
        if typical is not None and b.box.cy - a.box.cy < frac * typical * max(a.box.width, a.box.height):
            return False  # e.g. an "ankle" just below the knee: the tibia's shaft cut by the image edge
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


def nearest_offset(chain: dict[str, Detection], region: str) -> tuple[Detection, float]:
    """The region of ``chain`` nearest to ``region`` in the leg's order (the better-scoring one of two equally near)
    and ``region``'s typical centre offset from it, px (:data:`REGION_OFFSETS` × that box's larger side)."""
    ri = REGIONS.index(region)
    ref = min(chain.values(), key=lambda d: (abs(REGIONS.index(d.region) - ri), -d.score))
    return ref, REGION_OFFSETS[(ref.region, region)] * max(ref.box.width, ref.box.height)


def absent_reasons(chain: dict[str, Detection], missing: list[str], image_height_px: float | None
                   ) -> dict[str, str]:
    """Why each missing region of a leg is missing: ``NOT_IN_IMAGE`` or ``NOT_DETECTED``.

    A region is outside the image when, predicted from the nearest detected region of the leg with
    ``_OFFSET_SAFETY`` (0.85) × its typical offset (``REGION_OFFSETS``, in units of that box's larger side), its
    centre would lie beyond the top or bottom edge; a region between detected ones, or whose predicted place
    is inside the image, was not detected. Without an image height every missing region is "not detected".
    """
    out: dict[str, str] = {}
    for r in missing:
        out[r] = NOT_DETECTED
        if not chain or image_height_px is None:
            continue
        ri = REGIONS.index(r)
        above = [d for d in chain.values() if REGIONS.index(d.region) < ri]
        below = [d for d in chain.values() if REGIONS.index(d.region) > ri]
        if above and below:
            continue  # between two detected regions: it is in the image
        ref, off = nearest_offset(chain, r)
        y = ref.box.cy + off * _OFFSET_SAFETY
        if y < -0.5 or y > image_height_px - 0.5:
            out[r] = NOT_IN_IMAGE
    return out


def assign_legs(detections: list[Detection], *, image_norm: np.ndarray | None = None,
                matrix: np.ndarray | None = None, image_width_px: float | None = None,
                duplicate_iou: float = 0.5, image_height_px: float | None = None,
                side_cues: SideCues | None = None) -> LegAssignment:
    """Assign boxes to legs (see the module docstring for the rule).

    Parameters
    ----------
    detections : list of Detection
        Boxes in original pixels (already score-thresholded).
    image_norm, matrix, image_width_px
        Optional image evidence for the side of a single leg (see :func:`.side.infer_single_leg_side`).
    duplicate_iou : float
        Boxes of one class overlapping a better one by more than this are duplicates (the detector's NMS
        threshold: in a narrow stance the true boxes of the two ankles overlap by IoU 0.5–0.7).
    image_height_px : float, optional
        Height of the original image: a missing region that would lie beyond its top or bottom edge is
        reported as ``NOT_IN_IMAGE`` (:func:`absent_reasons`).
    side_cues : callable, optional
        More side cues (the engine's fibula and model-mirror tests); with two legs they only check the
        positions (a contradiction of both legs: the image may be mirrored).

    Returns
    -------
    LegAssignment
    """
    out = LegAssignment()
    dets = knee_aliases(dedupe(detections, duplicate_iou), image_height_px)
    if not dets:
        out.warnings.append("no hip, diaphysis, knee or ankle region was detected: is this a full-leg radiograph?")
        return out
    mid = _midline(dets)
    if mid is None:
        chain = best_chain(dets)
        votes = anatomy_votes(chain, image_norm, matrix)
        if side_cues is not None:
            votes.update(side_cues(chain))
        ev, warns = decide_side(votes, chain, image_width_px)
        side = ev.side
        out.warnings.extend(warns)
        out.side_evidence[side] = ev
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
        lone = _lone_box_beside_a_leg(out.legs, image_norm, matrix, side_cues, image_width_px)
        if lone is not None:
            side, ev, warns, dropped = lone
            out.legs = {side: out.legs[[s for s in out.legs if len(out.legs[s]) > 1][0]]}
            out.side_evidence[side] = ev
            out.single_leg = True
            out.warnings.extend(warns)
            out.warnings.append(
                f"a lone {dropped.region} box (x {dropped.box.x0:.0f}-{dropped.box.x1:.0f}, score {dropped.score:.2f}) "
                f"beside a leg whose anatomy says it is the {side} leg was not taken for the other leg: one leg in "
                "view")
            groups = {side: dets}
        else:
            _check_positions(out, image_norm, matrix, side_cues)
    used = {id(d.box) for chain in out.legs.values() for d in chain.values()}  # by box: an alias shares its box
    for side, chain in out.legs.items():
        for region, d in chain.items():
            if d.relabelled_from:
                out.warnings.append(
                    f"{side} leg: the box detected as {d.relabelled_from} (y {d.box.y0:.0f}-{d.box.y1:.0f}) lies "
                    f"right below the femoral diaphysis, where the {region} belongs: it was taken for the "
                    f"{region}, whose landmarks are flagged for review")
        missing = [r for r in REGIONS if r not in chain]
        out.missing[side] = missing
        out.absent[side] = absent_reasons(chain, missing, image_height_px)
        unused = [d for d in groups[side] if d.region in missing and id(d.box) not in used]
        for r in missing:
            if any(d.region == r for d in unused):
                out.warnings.append(f"{side} leg: {r} box(es) discarded as out of anatomical order")
            if out.absent[side][r] == NOT_IN_IMAGE:
                out.warnings.append(f"{side} leg: {r} region is not in the image (it would lie beyond the "
                                    "image edge); its landmarks are not reported")
            else:
                out.warnings.append(f"{side} leg: {r} region not found; its landmarks are missing")
    return out


_LONE_MAX_SCORE = 0.9
_LONE_MIN_VOTE = 1.0


def _lone_box_beside_a_leg(legs: dict[str, dict[str, Detection]], image_norm: np.ndarray | None,
                           matrix: np.ndarray | None, side_cues: SideCues | None, image_width_px: float | None):
    """A one-leg film with one stray box: ``(side, evidence, warnings, dropped box)`` or ``None``.

    Two "legs", one a chain of three or more regions, the other a single box scored under ``_LONE_MAX_SCORE``
    (a ruler, the edge of the other leg cut at the midline, soft tissue), and the full chain's anatomy votes
    (at least ``_LONE_MIN_VOTE`` in total) for the side its position does not give it: the stray box made a
    midline that does not exist. The full chain is then the film's one leg, its side from anatomy.
    """
    if len(legs) != 2:
        return None
    full = [s for s, c in legs.items() if len(c) >= 3]
    lone = [s for s, c in legs.items() if len(c) == 1]
    if len(full) != 1 or len(lone) != 1:
        return None
    stray = next(iter(legs[lone[0]].values()))
    if stray.score >= _LONE_MAX_SCORE:
        return None
    chain = legs[full[0]]
    votes = anatomy_votes(chain, image_norm, matrix)
    if side_cues is not None:
        votes.update(side_cues(chain))
    total = sum(float(v[0]) for v in votes.values())
    anat = "right" if total > 0 else "left"
    if abs(total) < _LONE_MIN_VOTE or anat == full[0]:
        return None
    ev, warns = decide_side(votes, chain, image_width_px)
    return ev.side, ev, warns, stray


def _check_positions(out: LegAssignment, image_norm: np.ndarray | None, matrix: np.ndarray | None,
                     side_cues: SideCues | None) -> None:
    """Two legs: sides come from position; the anatomical cues check it (mirrored image, disagreement)."""
    against: list[str] = []
    agree = 0
    for side, chain in out.legs.items():
        votes = anatomy_votes(chain, image_norm, matrix)
        if side_cues is not None:
            votes.update(side_cues(chain))
        v = {k: float(t[0]) for k, t in votes.items()}
        ev = SideEvidence(side, "position", [], v, {k: t[1] for k, t in votes.items()})
        anat, cues, disagree = combine_votes(v)
        expected = 1.0 if side == "right" else -1.0
        ev.cues = [k for k, x in v.items() if x * expected > 0]
        ev.disagree = any(x * expected < 0 for x in v.values())
        if anat is not None and anat != side:
            against.append(side)
        elif anat == side:
            agree += 1
        out.side_evidence[side] = ev
    if against and not agree and len(against) == len(out.legs) and len(out.legs) == 2:
        out.mirrored = True
        for ev in out.side_evidence.values():
            ev.mirrored = True
        out.warnings.append(
            "the anatomy of both legs (" + ", ".join(sorted({k for s in against for k, x in
                                                             out.side_evidence[s].votes.items() if x}))
            + ") puts their lateral sides towards the midline, contradicting their positions: the panels may be "
              "mirrored one by one, or the cues failed on this image; legs are labelled by position "
              "(right = image left): check the side marker")
    else:
        for side in against:
            out.warnings.append(f"{side} leg: side cues disagree with its position (anatomy suggests the "
                                f"{'left' if side == 'right' else 'right'} leg); labelled by position")
