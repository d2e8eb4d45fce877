"""What to draw over a radiograph for one leg: axes, joint lines, the MAD segment and angle labels.

Pure geometry shared by every renderer (the viewer, the PDF report, screenshots), so they all draw the
same lines. Values in labels come from :mod:`llm_viewer.core.metrics`; nothing is measured here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .landmarks import Point, side_sign
from .metrics import LegMetrics

LINE_KINDS: tuple[str, ...] = (
    "femoral_mechanical_axis",
    "tibial_mechanical_axis",
    "mikulicz_line",
    "anatomical_femoral_axis",
    "femoral_joint_line",
    "tibial_joint_line",
    "malleolar_line",
    "mad_segment",
)

LINE_LABELS: dict[str, str] = {
    "femoral_mechanical_axis": "Femoral mechanical axis",
    "tibial_mechanical_axis": "Tibial mechanical axis",
    "mikulicz_line": "Hip-ankle line (Mikulicz)",
    "anatomical_femoral_axis": "Anatomical femoral axis",
    "femoral_joint_line": "Distal femoral joint line",
    "tibial_joint_line": "Tibial plateau line",
    "malleolar_line": "Malleolar line",
    "mad_segment": "Mechanical axis deviation",
}


@dataclass(frozen=True)
class OverlayLine:
    """A segment in original-image pixels."""

    kind: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class AngleLabel:
    """An angle's text anchored near its vertex (pixels); ``key`` is the metric key."""

    key: str
    x: float
    y: float
    text: str


def _xy(p: Point | None) -> np.ndarray | None:
    return None if p is None else np.array([p.x, p.y], dtype=float)


def leg_lines(landmarks: Mapping[str, Point], pixel_spacing_mm: tuple[float, float] | None = None
              ) -> list[OverlayLine]:
    """The lines of one leg that its available landmarks define (missing points just drop their lines).

    Parameters
    ----------
    landmarks : Mapping[str, Point]
        Possibly incomplete landmarks of one leg.
    pixel_spacing_mm : tuple, optional
        ``[row, col]``; used to drop the MAD perpendicular in mm space, so it looks perpendicular on an
        image displayed with its true aspect ratio.

    Returns
    -------
    list of OverlayLine
    """
    g = {k: _xy(v) for k, v in landmarks.items()}
    H, D, K = g.get("femoral_head"), g.get("diaphysis_center"), g.get("knee_center")
    CL, CM = g.get("femoral_condyle_lateral"), g.get("femoral_condyle_medial")
    PL, PM = g.get("tibial_plateau_lateral"), g.get("tibial_plateau_medial")
    ML, MM = g.get("malleolus_lateral"), g.get("malleolus_medial")
    A = (ML + MM) / 2 if ML is not None and MM is not None else None
    out: list[OverlayLine] = []

    def add(kind: str, a: np.ndarray | None, b: np.ndarray | None) -> None:
        if a is not None and b is not None and float(np.hypot(*(a - b))) > 0:
            out.append(OverlayLine(kind, float(a[0]), float(a[1]), float(b[0]), float(b[1])))

    add("femoral_mechanical_axis", H, K)
    add("tibial_mechanical_axis", K, A)
    add("mikulicz_line", H, A)
    if D is not None and K is not None:
        # extend the anatomical axis above the diaphysis point by half its length, as drawn clinically
        add("anatomical_femoral_axis", D + (D - K) * 0.5, K)
    add("femoral_joint_line", CL, CM)
    add("tibial_joint_line", PL, PM)
    add("malleolar_line", ML, MM)
    if H is not None and A is not None and K is not None:
        row, col = pixel_spacing_mm if pixel_spacing_mm else (1.0, 1.0)
        s = np.array([col, row])
        h, a, k = H * s, A * s, K * s
        u = (a - h) / max(float(np.hypot(*(a - h))), 1e-12)
        foot = h + u * float((k - h) @ u)
        add("mad_segment", K, foot / s)
    return out


def angle_labels(landmarks: Mapping[str, Point], side: str, metrics: LegMetrics,
                 offset_px: float = 120.0) -> list[AngleLabel]:
    """Angle labels at their vertices, pushed to the lateral or medial side so they do not cover bone.

    Only metrics that core computed get a label (a leg missing landmarks gets fewer labels).

    Parameters
    ----------
    landmarks : Mapping[str, Point]
        The landmarks of the leg (possibly incomplete).
    side : str
        ``"right"`` or ``"left"``.
    metrics : LegMetrics
        The leg's metrics from core (the values printed).
    offset_px : float
        Distance of a label from its vertex, in pixels.

    Returns
    -------
    list of AngleLabel
    """
    medial = float(side_sign(side))
    g = {k: _xy(v) for k, v in landmarks.items()}
    K = g.get("knee_center")
    ML, MM = g.get("malleolus_lateral"), g.get("malleolus_medial")
    A = (ML + MM) / 2 if ML is not None and MM is not None else None
    lat = np.array([-medial, 0.0])
    med = np.array([medial, 0.0])
    up = np.array([0.0, -1.0])
    # (key, vertex, offset from it, text prefix, unit format); every angle's landmarks include K (mLDTA: A)
    specs = [
        ("hka_deg", K, med * 1.2, "HKA", "{:.1f}°"),
        ("mldfa_deg", K, lat * 1.5 + up * 0.6, "mLDFA", "{:.1f}°"),
        ("mmpta_deg", K, med * 1.5 - up * 0.9, "mMPTA", "{:.1f}°"),
        ("fva_deg", K, up * 3.0 + lat * 0.3, "FVA", "{:.1f}°"),
        ("mldta_deg", A, lat * 1.5 + up * 0.6, "mLDTA", "{:.1f}°"),
        ("mad_mm", K, med * 1.2 - up * 0.4, "MAD", "{:+.1f} mm"),
    ]
    out: list[AngleLabel] = []
    for key, vertex, offset, name, fmt in specs:
        value = getattr(metrics, key)
        if value is None or vertex is None:
            continue
        p = vertex + offset * offset_px
        out.append(AngleLabel(key, float(p[0]), float(p[1]), f"{name} {fmt.format(value)}"))
    return out
