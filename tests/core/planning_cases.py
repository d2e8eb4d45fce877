"""Synthetic legs for the planning tests: a straight leg bent at the knee into varus or valgus."""

from __future__ import annotations

import math

import numpy as np


def synthetic_leg(side: str, knee_angle_deg: float, spacing_mm=(0.14, 0.14), *, femur_mm: float = 450.0,
                  tibia_mm: float = 380.0, plateau_tilt_deg: float = 3.0) -> dict[str, tuple[float, float]]:
    """Landmarks (original-image pixels) of one leg.

    ``knee_angle_deg`` > 0 bends the tibia into varus (the ankle medial to the femoral axis' extension), < 0
    into valgus. ``spacing_mm`` ``None`` lays the leg out at 1 px = 1 mm. The plateau is tilted by
    ``plateau_tilt_deg`` (medial side lower, so mMPTA is about 87° in a straight leg).
    """
    sigma = 1.0 if side == "right" else -1.0
    m = np.array([sigma, 0.0])  # medial unit vector in image axes (mm)
    d = np.array([0.0, 1.0])  # distal
    origin = np.array([300.0 if side == "right" else 700.0, 150.0])
    H = origin
    K = H + femur_mm * d + 12.0 * m
    fem = (K - H) / np.linalg.norm(K - H)
    a = math.radians(knee_angle_deg)
    tib = math.cos(a) * fem + math.sin(a) * m  # varus: the tibia turns medially
    tib = tib / np.linalg.norm(tib)
    A = K + tibia_mm * tib
    tib_perp = np.array([tib[1], -tib[0]]) * (1 if np.dot([tib[1], -tib[0]], m) > 0 else -1)  # medial, ⟂ tibia
    fem_perp = np.array([fem[1], -fem[0]]) * (1 if np.dot([fem[1], -fem[0]], m) > 0 else -1)
    t = math.radians(plateau_tilt_deg)
    plat = math.cos(t) * tib_perp + math.sin(t) * tib
    pts = {
        "femoral_head": H,
        "diaphysis_center": K - 200.0 * fem - 15.0 * m,
        "femoral_condyle_lateral": K + 22.0 * fem - 40.0 * fem_perp,
        "femoral_condyle_medial": K + 25.0 * fem + 40.0 * fem_perp,
        "knee_center": K,
        "tibial_plateau_lateral": K + 30.0 * tib - 38.0 * plat,
        "tibial_plateau_medial": K + 30.0 * tib + 38.0 * plat,
        "malleolus_lateral": A - 30.0 * tib_perp,
        "malleolus_medial": A + 30.0 * tib_perp,
    }
    row, col = spacing_mm if spacing_mm is not None else (1.0, 1.0)
    return {k: (float(v[0] / col), float(v[1] / row)) for k, v in pts.items()}
