"""Constructions for placing landmarks by hand (pure geometry, no metric): the centre of a circle through
three points on the femoral head's rim, and which end of a two-click joint line is lateral and which medial."""

from __future__ import annotations

import math

from .landmarks import side_sign

XY = tuple[float, float]

JOINT_LINES: dict[str, tuple[str, str]] = {
    "femoral": ("femoral_condyle_lateral", "femoral_condyle_medial"),
    "tibial": ("tibial_plateau_lateral", "tibial_plateau_medial"),
    "malleolar": ("malleolus_lateral", "malleolus_medial"),
}
"""Joint line -> its (lateral, medial) landmarks."""


def circle_through(a: XY, b: XY, c: XY) -> tuple[float, float, float]:
    """Centre ``(x, y)`` and radius of the circle through three points (the femoral head from its rim).

    Raises
    ------
    ValueError
        When the points are (nearly) on one line: they define no circle.
    """
    (ax, ay), (bx, by), (cx, cy) = a, b, c
    d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    scale = max(math.dist(a, b), math.dist(b, c), math.dist(a, c), 1e-12)
    if abs(d) < 1e-6 * scale * scale:
        raise ValueError("the three points are on one line: click three points spread around the head's rim")
    a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
    ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d
    uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d
    return ux, uy, math.dist((ux, uy), a)


def lateral_medial(p: XY, q: XY, side: str) -> tuple[XY, XY]:
    """The two clicked ends of a joint line as ``(lateral, medial)``: in the standard AP display the right
    leg's medial side is towards larger x (the midline), the left leg's towards smaller x."""
    medial = float(side_sign(side))
    return (p, q) if p[0] * medial <= q[0] * medial else (q, p)
