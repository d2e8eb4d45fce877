"""Side and orientation of a leg from anatomy, without a hip: the fibula and the region models themselves.

Every cue returns a *vote*: positive when the leg is oriented like a right leg in a standard AP display
(medial towards +x, i.e. the fibula and the lateral malleolus towards -x), negative like a left leg, 0 when the
cue saw nothing. The magnitude is the cue's confidence (about 1 for a clear cue, at most 2).

* :func:`fibula_vote` (image): across the lower leg a thin second bone, the fibula, lies lateral to the tibia.
  A band of rows across the distal shaft (from half an ankle-box height above the ankle box to 30 % into it)
  is averaged into a column profile; its most prominent peak is the tibia, a thin peak beside it, separated
  by a valley, the fibula. Its side of the tibia is lateral. (Higher up the shaft the two ridges often merge
  in the profile at the resolutions of full-leg films, so the band stays distal.)
* :func:`mirror_vote` (model): the region models are trained on right-leg crops (left legs mirrored, medial
  = +x). The knee and ankle models run on the crop and on its mirror image; the orientation whose maps are
  more confident and whose two SGR heads agree better (mean landmark score ``peak·exp(-d/r)``) is the one the
  model recognises. The vote is the difference of the two mean scores over ``_MIRROR_SCALE``, kept only when
  above ``_MIRROR_MIN``, at most ``_MIRROR_MAX_VOTE`` (1).

What the cues decide is the leg's *orientation* as displayed (which side is medial), which is what the crops,
medial/lateral landmarks and metrics need. Its name follows the standard AP display (a leg whose fibula is on
the image left is a right leg); a film stored mirrored swaps the name, not the orientation, and only a side
marker can reveal it.

:func:`combine_votes` adds the votes (the femoral neck and the pelvis cues of :mod:`.legs` included), names
the cues that agree with the decision and warns when cues disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .crop import Box

CUE_NAMES = ("femoral_neck", "pelvis", "fibula", "model_mirror")
_FIBULA_MAX_WIDTH_RATIO = 0.7
_FIBULA_MIN_STRENGTH = 0.05  # fibula peak prominence / tibia peak prominence
_MIRROR_MIN = 0.02  # mean score difference below which the model has no preference
_MIRROR_SCALE = 0.1
_MIRROR_MAX_VOTE = 1.0  # right for 19 of 25 legs of generated pairs with the current bundle: less than the fibula
_MIN_VOTE = 0.05
FIBULA_BAND_SHIFTS = (0.0, 0.5, 1.0)
"""Bands tried for the fibula, in ankle-box heights above the default one; the first that shows a fibula votes."""


@dataclass
class SideEvidence:
    """How a leg's side (orientation) was decided.

    Attributes
    ----------
    side : str
        ``"right"`` or ``"left"``.
    decided_by : str
        ``"position"`` (two legs: the image-left leg is the right one), ``"anatomy"`` (the cues of ``cues``),
        ``"position_fallback"`` (one leg, no cue: from its place in the film) or ``"assumed"``.
    cues : list of str
        The cues that voted for ``side``, strongest first (with ``decided_by == "anatomy"`` these decided).
    votes : dict
        Cue -> vote (> 0: oriented as a right leg, < 0: as a left leg; 0: the cue saw nothing).
    details : dict
        Cue -> short text of what it measured.
    disagree : bool
        Some cue voted against ``side``.
    mirrored : bool
        Two-leg film whose anatomy contradicts both legs' positions (lateral sides towards the midline: panels
        mirrored one by one, or failed cues). A film mirrored as a whole keeps the lateral sides outwards and
        cannot be told from anatomy; a single leg's ``side`` is its orientation as displayed.
    """

    side: str
    decided_by: str
    cues: list[str] = field(default_factory=list)
    votes: dict[str, float] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    disagree: bool = False
    mirrored: bool = False

    def as_dict(self) -> dict:
        return {"side": self.side, "decided_by": self.decided_by, "cues": list(self.cues),
                "votes": {k: round(float(v), 4) for k, v in self.votes.items()},
                "details": dict(self.details), "disagree": self.disagree, "mirrored": self.mirrored}


def combine_votes(votes: Mapping[str, float]) -> tuple[str | None, list[str], bool]:
    """Sum the votes: (side or ``None`` when they cancel or are empty, the agreeing cues, whether any disagrees)."""
    total = float(sum(votes.values()))
    if abs(total) < _MIN_VOTE:
        nonzero = [k for k, v in votes.items() if abs(v) >= _MIN_VOTE]
        return None, [], len({np.sign(votes[k]) for k in nonzero}) > 1
    side = "right" if total > 0 else "left"
    sign = 1.0 if total > 0 else -1.0
    agree = sorted((k for k, v in votes.items() if v * sign >= _MIN_VOTE), key=lambda k: -abs(votes[k]))
    disagree = any(v * sign <= -_MIN_VOTE for v in votes.values())
    return side, agree, disagree


# ---------------------------------------------------------------------------------------------- fibula
def fibula_band(chain: Mapping[str, object], image_shape: tuple[int, int], shift: float = 0.0
                ) -> tuple[int, int, int, int] | None:
    """Rows and columns ``(y0, y1, x0, x1)`` of original pixels across the distal lower-leg shaft, or ``None``.

    From half an ankle-box height above the ankle box to 30 % into it (the distal tibia and fibula above the
    plafond), the box's columns +25 % of its width each side; clipped to the image. Without an ankle box:
    ``None`` (at the knee the fibular head beside the plateau is too short a cue). ``shift`` moves the band up
    by that many ankle-box heights (a box drawn low, around the talus, puts the default band where tibia and
    fibula merge at the malleoli).
    """
    h, w = image_shape
    ankle = chain.get("ankle")
    if ankle is None:
        return None
    ab: Box = ankle.box  # type: ignore[attr-defined]
    y0 = ab.y0 - (0.5 + shift) * ab.height
    y1 = ab.y0 + (0.3 - shift) * ab.height
    x0 = ab.x0 - 0.25 * ab.width
    x1 = ab.x1 + 0.25 * ab.width
    iy0, iy1 = max(0, int(np.floor(y0))), min(h, int(np.ceil(y1)))
    ix0, ix1 = max(0, int(np.floor(x0))), min(w, int(np.ceil(x1)))
    if iy1 - iy0 < 2 or ix1 - ix0 < 16:
        return None
    return iy0, iy1, ix0, ix1


def gaussian_smooth_1d(p: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(p, sigma, mode="nearest")`` (truncate 4) in numpy: importing scipy's
    signal and ndimage packages cost 1.7–2.3 s of every process's first analysis (benchmarks/README.md)."""
    radius = int(4.0 * float(sigma) + 0.5)
    if radius < 1:
        return np.asarray(p, dtype=np.float64).copy()
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / float(sigma)) ** 2)
    k /= k.sum()
    padded = np.pad(np.asarray(p, dtype=np.float64), radius, mode="edge")
    return np.convolve(padded, k[::-1], mode="valid")


def find_peaks_1d(x: np.ndarray, min_prominence: float, min_width: float = 1.0, rel_height: float = 0.5
                  ) -> list[tuple[int, float, float]]:
    """Local maxima with their prominence and width at ``rel_height`` of it, as ``scipy.signal.find_peaks(x,
    prominence=min_prominence, width=min_width, rel_height=rel_height)`` computes them (plateaus: their middle;
    no window). ``[(index, prominence, width)]`` in index order."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    peaks = []
    i = 1
    while i < n - 1:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < n - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    out = []
    for pk in peaks:
        j, left_min, left_base = pk, x[pk], pk
        while j >= 0 and x[j] <= x[pk]:
            if x[j] < left_min:
                left_min, left_base = x[j], j
            j -= 1
        j, right_min, right_base = pk, x[pk], pk
        while j < n and x[j] <= x[pk]:
            if x[j] < right_min:
                right_min, right_base = x[j], j
            j += 1
        prom = x[pk] - max(left_min, right_min)
        if prom < min_prominence:
            continue
        height = x[pk] - prom * rel_height
        j = pk
        while left_base < j and height < x[j]:
            j -= 1
        left_ip = float(j)
        if x[j] < height:
            left_ip += (height - x[j]) / (x[j + 1] - x[j])
        j = pk
        while j < right_base and height < x[j]:
            j += 1
        right_ip = float(j)
        if x[j] < height:
            right_ip -= (height - x[j]) / (x[j - 1] - x[j])
        width = right_ip - left_ip
        if width >= min_width:
            out.append((pk, float(prom), float(width)))
    return out


def bone_peaks(profile: np.ndarray, smooth_px: float) -> list[tuple[float, float, float]]:
    """Local maxima of a column profile: ``[(x, prominence, width at half prominence)]``, most prominent first."""
    p = np.asarray(profile, dtype=np.float64)
    if p.size < 8:
        return []
    p = gaussian_smooth_1d(p, max(0.5, float(smooth_px)))
    span = float(p.max() - p.min())
    if not span > 1e-6:
        return []
    out = [(float(i), pr, w) for i, pr, w in find_peaks_1d(p, 0.01 * span, 1.0, 0.5)]
    return sorted(out, key=lambda t: -t[1])


def fibula_vote(norm: np.ndarray, chain: Mapping[str, object]) -> tuple[float, str]:
    """The fibula cue on an intensity-normalised image in original pixels (see the module docstring).

    The column profile of the band (:func:`fibula_band`) is smoothed (σ = 1 % of its width); its most
    prominent peak is the tibia (with the soft tissue around it); the fibula is the most prominent other peak
    with at least ``_FIBULA_MIN_STRENGTH`` of the tibia's prominence, narrower than ``_FIBULA_MAX_WIDTH_RATIO``
    of the tibia's width and within 0.6 box widths of it: a thin ridge separated from the tibia by a valley.

    Returns
    -------
    (vote, detail)
        ``vote`` > 0: the fibula lies at -x of the tibia (a right leg in a standard display); 0 when no
        tibia/fibula pair was seen. ``|vote|`` from 1 (a faint fibula) to 2 (relative prominence 0.3 or
        more): the cue was right for 27 of 28 legs of generated pairs, so even a faint fibula outweighs the
        model mirror test (at most 1).
    """
    detail = "no lower-leg band in the image"
    for shift in FIBULA_BAND_SHIFTS:
        band = fibula_band(chain, norm.shape, shift)
        if band is None:
            continue
        vote, detail = _fibula_in_band(norm, chain, band)
        if vote != 0.0:
            if shift:
                detail += f" (band {shift:g} ankle-box heights higher)"
            return vote, detail
    return 0.0, detail


def _thin_ridges(peaks: list[tuple[float, float, float]]):
    """Fibula candidates beside the tibia (``peaks[0]``, the most prominent): the other peaks, strongest first,
    with at least ``_FIBULA_MIN_STRENGTH`` of its prominence and at most ``_FIBULA_MAX_WIDTH_RATIO`` of its width."""
    _, tprom, tw = peaks[0]
    for fx, fprom, fw in peaks[1:]:
        if fprom < _FIBULA_MIN_STRENGTH * tprom:
            return
        if fw <= _FIBULA_MAX_WIDTH_RATIO * tw:
            yield fx, fprom, fw


def _ridge_vote(fx: float, fprom: float, tx: float, tprom: float) -> float:
    """A fibula's vote: +1 (faint) to +2 (relative prominence 0.3 or more) at -x of the tibia, negative at +x."""
    sign = 1.0 if fx < tx else -1.0
    return sign * (1.0 + min(1.0, (fprom / tprom - _FIBULA_MIN_STRENGTH) / 0.25))


_BAND_EDGE_FRAC = 0.08
_TIBIA_MIN_WIDTH_FRAC = 0.25
"""Above the ankle the tibia's peak in the band's profile is 0.46–0.91 of the ankle box wide on 47 of 52 legs (generated
studies, versions 3–6; the other five: 0.09–0.31). A most prominent peak narrower than this share is a line, not the bone: one cortex of a tibia
whose interior is darker than its cortices (as on real films), and its "fibula" may be the other cortex. Such
a vote is capped at ``_NARROW_TIBIA_MAX_VOTE``: on 59 ankle-only views the cue was wrong on 3 of the 5 legs
with so narrow a "tibia", the model-mirror vote right on all 5."""
_NARROW_TIBIA_MAX_VOTE = 0.5


def _at_band_edge(x: float, width_px: int) -> bool:
    """A ridge this close to the end of the band (within 8 % of its width) may be a bone cut off there: the other
    leg at the edge of a one-leg crop (seen on the 128-px exports), not a fibula. (Below a knee the same rule
    named two more of 45 knee-only views wrongly than without it: it is not used there.)"""
    margin = max(2.0, _BAND_EDGE_FRAC * width_px)
    return x < margin or x > width_px - 1 - margin


def _fibula_in_band(norm: np.ndarray, chain: Mapping[str, object], band: tuple[int, int, int, int]
                    ) -> tuple[float, str]:
    y0, y1, x0, x1 = band
    sub = np.nan_to_num(np.asarray(norm[y0:y1, x0:x1], dtype=np.float32), nan=0.0)
    ref = chain.get("ankle")
    box_w = float(ref.box.width)  # type: ignore[union-attr]
    peaks = bone_peaks(sub.mean(axis=0), sub.shape[1] / 100.0)
    if len(peaks) < 2:
        return 0.0, "one bone ridge only in the lower-leg profile"
    tx, tprom, tw = peaks[0]
    for fx, fprom, fw in _thin_ridges(peaks):
        if abs(fx - tx) > 0.6 * box_w or _at_band_edge(fx, sub.shape[1]):
            continue
        sign = 1.0 if fx < tx else -1.0
        vote = _ridge_vote(fx, fprom, tx, tprom)
        where = "-x (image left)" if sign > 0 else "+x (image right)"
        detail = (f"fibula {where} of the tibia: ridge {fw:.0f} px wide at x {x0 + fx:.0f}, "
                  f"tibia {tw:.0f} px at x {x0 + tx:.0f}, relative prominence {fprom / tprom:.2f}")
        if tw < _TIBIA_MIN_WIDTH_FRAC * box_w:
            vote = sign * min(abs(vote), _NARROW_TIBIA_MAX_VOTE)
            detail += " (the 'tibia' is a narrow ridge, perhaps one cortex of a hollow-looking bone: weak vote)"
        return float(vote), detail
    return 0.0, "no thin ridge beside the tibia in the lower-leg profile"


# ------------------------------------------------------------------------------------ fibula at the knee
KNEE_FIBULA_BANDS = ((0.6, 1.0), (0.8, 1.2))
"""Rows across the proximal tibia and fibula, from / to this many knee-box widths below the box's top edge."""
_KNEE_UPPER_BAND = (-0.4, 0.05)  # the distal femur above the condyles: a fibula does not reach up there
_KNEE_FIBULA_MAX_GAP = 1.5  # fibula peak at most this many tibia widths from the tibia peak (a flat-topped tibia: its peak may sit near an edge)


def knee_fibula_vote(norm: np.ndarray, chain: Mapping[str, object]) -> tuple[float, str]:
    """The fibula cue below a knee box, for a leg without an ankle in view (a knee alone, hip to knee).

    In each band of :data:`KNEE_FIBULA_BANDS` the most prominent peak of the column profile (the box's columns
    ±10 % of its width) is the tibia; the fibula is the most prominent other peak that is thin (as in
    :func:`fibula_vote`), lies beside the tibia (0.25-1.5 tibia widths from its peak) and does **not** go on
    up past the joint: a peak at the same place above the condyles is a ruler, a cassette edge or the other
    leg. The bands' votes add up, at most 2 either way.

    Returns
    -------
    (vote, detail)
        As :func:`fibula_vote`; 0 when no band showed a fibula.
    """
    knee = chain.get("knee")
    if knee is None:
        return 0.0, "no knee box"
    b: Box = knee.box  # type: ignore[attr-defined]
    h, w = norm.shape
    bw = float(b.width)
    cx0, cx1 = max(0, int(b.x0 - 0.1 * bw)), min(w, int(np.ceil(b.x1 + 0.1 * bw)))
    if cx1 - cx0 < 16:
        return 0.0, "knee box too narrow for the fibula cue"

    def profile(r0: float, r1: float) -> list[tuple[float, float, float]] | None:
        y0, y1 = max(0, int(b.y0 + r0 * bw)), min(h, int(np.ceil(b.y0 + r1 * bw)))
        if y1 - y0 < 2:
            return None
        sub = np.nan_to_num(np.asarray(norm[y0:y1, cx0:cx1], dtype=np.float32), nan=0.0)
        return bone_peaks(sub.mean(axis=0), (cx1 - cx0) / 100.0)

    upper = profile(*_KNEE_UPPER_BAND) or []
    total, notes = 0.0, []
    for r0, r1 in KNEE_FIBULA_BANDS:
        peaks = profile(r0, r1)
        if not peaks or len(peaks) < 2:
            continue
        tx, tprom, tw = peaks[0]
        for fx, fprom, fw in _thin_ridges(peaks):
            if not 0.25 * tw <= abs(fx - tx) <= _KNEE_FIBULA_MAX_GAP * tw:
                continue
            if any(abs(ux - fx) <= max(fw, 0.03 * bw) and up >= 0.5 * fprom and uw < 3 * fw for ux, up, uw in upper):
                continue  # goes on up past the joint: not a fibula
            sign = 1.0 if fx < tx else -1.0
            total += _ridge_vote(fx, fprom, tx, tprom)
            notes.append(f"x {cx0 + fx:.0f} ({'-x' if sign > 0 else '+x'} of the tibia at x {cx0 + tx:.0f})")
            break
    if not notes:
        return 0.0, "no fibula beside the proximal tibia"
    vote = float(np.clip(total, -2.0, 2.0))
    return vote, "fibula below the knee at " + "; ".join(notes)


# ---------------------------------------------------------------------------------------------- mirror
def mirror_vote_from_scores(score_plain: float, score_mirrored: float) -> float:
    """Vote of the model mirror test from the mean landmark score on the plain and the mirrored crop.

    The plain crop is how a right leg is fed (medial = +x as in the image); the mirrored one is how a left
    leg is fed. > 0: the model recognises the plain crop better (right-leg orientation).
    """
    diff = float(score_plain) - float(score_mirrored)
    if abs(diff) < _MIRROR_MIN:
        return 0.0
    return float(np.clip(diff / _MIRROR_SCALE, -_MIRROR_MAX_VOTE, _MIRROR_MAX_VOTE))
