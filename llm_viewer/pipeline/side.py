"""Which leg a chain of boxes is, from anatomy: the femoral neck and the pelvis here, the fibula and the model
mirror test through ``side_cues`` (:mod:`.sidecue`), combined by :func:`decide_side` (rule 6 of :mod:`.legs`).

A chain is ``region -> detection`` (anything with a ``box``: :class:`llm_viewer.pipeline.crop.Box`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .crop import apply_affine_box
from .sidecue import SideEvidence, combine_votes

Chain = Mapping[str, Any]
SideCues = Callable[[Chain], dict[str, tuple[float, str]]]
"""Extra side cues of a chain (the engine's fibula and model-mirror tests): cue -> (vote, detail)."""

# The pelvis cue was right for 16 of 26 legs of generated version-6 pairs (the fibula for 27 of 28, the
# femoral neck 13 of 15, the model mirror test 19 of 25): it votes at most 0.5 (it was 2 before the fibula).
_PELVIS_MAX_VOTE = 0.5
_NECK_MIN_OFFSET = 0.05  # femoral-neck cue: the hip box centre at least this × its width off the shaft's line


def anatomy_votes(chain: Chain, image_norm: np.ndarray | None = None,
                  matrix: np.ndarray | None = None) -> dict[str, tuple[float, str]]:
    """The femoral-neck and pelvis cues of a chain: cue -> (vote, detail); > 0 means oriented as a right leg.

    Both vote even where the image's side edge cuts the hip or the shaft box (one-leg 128-px exports): making
    them abstain there named 4 more of 48 such legs wrongly than it fixed (the pelvis strip beyond a one-leg
    crop's cut side still sees the midline).
    """
    out: dict[str, tuple[float, str]] = {}
    hip = chain.get("hip")
    if hip is None:
        return out
    dia = chain.get("diaphysis")
    knee = chain.get("knee")
    if dia is not None and knee is not None and knee.box.cy - dia.box.cy > 0.5 * dia.box.height:
        # the femoral shaft's line (diaphysis centre -> knee centre) carried up to the hip: the head lies medial
        # of it (neck-shaft angle ~130 deg), whatever the tilt of the leg in the film
        slope = (dia.box.cx - knee.box.cx) / (dia.box.cy - knee.box.cy)
        d = hip.box.cx - (dia.box.cx + slope * (hip.box.cy - dia.box.cy))
        if abs(d) > _NECK_MIN_OFFSET * hip.box.width:
            out["femoral_neck"] = (float(np.sign(d)), f"hip box centre {abs(d):.0f} px {'+x' if d > 0 else '-x'} "
                                   "of the femoral shaft's line (diaphysis to knee) carried up to it: the neck "
                                   "points medially")
        else:
            out["femoral_neck"] = (0.0, "hip box on the femoral shaft's line (offset < 5 % of the hip width)")
    elif dia is not None:
        d = hip.box.cx - dia.box.cx
        if abs(d) > _NECK_MIN_OFFSET * hip.box.width:
            out["femoral_neck"] = (float(np.sign(d)), f"hip box centre {abs(d):.0f} px {'+x' if d > 0 else '-x'} "
                                   "of the diaphysis box centre (the neck points medially)")
        else:
            out["femoral_neck"] = (0.0, "hip box above the diaphysis box (offset < 5 % of the hip width)")
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
        vote = (float(np.sign(contrast)) * min(_PELVIS_MAX_VOTE, abs(contrast) / 0.2)
                if abs(contrast) > 0.03 else 0.0)
        out["pelvis"] = (vote, f"strip {'+x' if contrast > 0 else '-x'} of the hip box brighter by {abs(contrast):.3f}")
    return out


def decide_side(votes: dict[str, tuple[float, str]], chain: Chain,
                image_width_px: float | None = None) -> tuple[SideEvidence, list[str]]:
    """Side of a single leg from its cues' votes (see :func:`infer_single_leg_side`); evidence and warnings."""
    v = {k: float(t[0]) for k, t in votes.items()}
    details = {k: t[1] for k, t in votes.items()}
    side, agree, disagree = combine_votes(v)
    warnings: list[str] = []
    if disagree:
        pro = sorted(k for k, x in v.items() if x > 0)
        con = sorted(k for k, x in v.items() if x < 0)
        warnings.append(f"single leg: side cues disagree ({', '.join(pro)}: right; {', '.join(con)}: left)"
                        + (f"; {side} leg taken from the stronger ({', '.join(agree)})" if side else ""))
    if side is not None:
        return SideEvidence(side, "anatomy", agree, v, details, disagree), warnings
    if image_width_px and chain:
        cx = float(np.mean([d.box.cx for d in chain.values()]))
        if cx < 0.45 * image_width_px:
            warnings.append("single leg: side not decidable from anatomy; right leg assumed from its position")
            return SideEvidence("right", "position_fallback", [], v, details, disagree), warnings
        if cx > 0.55 * image_width_px:
            warnings.append("single leg: side not decidable from anatomy; left leg assumed from its position")
            return SideEvidence("left", "position_fallback", [], v, details, disagree), warnings
    warnings.append("single leg: side could not be decided from anatomy; right leg assumed")
    return SideEvidence("right", "assumed", [], v, details, disagree), warnings


def infer_single_leg_side(chain: Chain, image_norm: np.ndarray | None = None,
                          matrix: np.ndarray | None = None, image_width_px: float | None = None,
                          side_cues: SideCues | None = None) -> tuple[str, str | None]:
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
    side_cues : callable, optional
        More cues (the engine's fibula and model-mirror tests, :mod:`.sidecue`).

    Returns
    -------
    (side, warning)
        ``warning`` is ``None`` when anatomy decided without disagreement (see :func:`decide_side` for the
        evidence itself).
    """
    votes = anatomy_votes(chain, image_norm, matrix)
    if side_cues is not None:
        votes.update(side_cues(chain))
    ev, warns = decide_side(votes, chain, image_width_px)
    return ev.side, ("; ".join(warns) if warns else None)
