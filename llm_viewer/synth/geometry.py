"""Exact placement of the nine landmarks of each leg from the alignment targets.

The construction is analytic, so the spec's metrics computed from the landmarks equal the targets up to
floating-point rounding (and, for FVA, a sub-0.01 degree snap of the diaphysis landmark onto the pixel
lattice so that it is exactly the midpoint of the mask's most distal row).

Frames: image millimetres ``X = x * spacing``, ``Y = y * spacing`` (square pixels, pixel centres at
integer multiples). Each leg is first built in a "medial frame" ``(m, y)`` with ``m = σ·(X − X_H)``
(medial positive for both legs), so one construction serves both sides. Rotations ``rot(v, θ)`` act in
that frame: ``(m cos θ − y sin θ, m sin θ + y cos θ)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.landmarks import LANDMARK_IDS, side_sign
from .params import LegParameters, StudyParameters


class GeometryBuildError(ValueError):
    """The sampled parameters cannot be realised (e.g. a landmark outside the image)."""


def rot(v: np.ndarray, deg: float) -> np.ndarray:
    """Rotate a 2-vector of the medial frame by ``deg`` degrees (see module docstring)."""
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([v[0] * c - v[1] * s, v[0] * s + v[1] * c], dtype=np.float64)


def unit(v: np.ndarray) -> np.ndarray:
    return v / float(np.hypot(v[0], v[1]))


@dataclass(frozen=True)
class LegGeometry:
    """Landmarks and anatomical frame of one leg, in image millimetres (``[X, Y]``).

    Unit vectors: ``d_f`` hip→knee, ``d_t`` knee→ankle, ``e_c`` along the condylar line towards lateral,
    ``n_c`` its proximal normal, ``e_p`` along the plateau towards medial, ``n_p`` its distal normal,
    ``e_m`` along the malleolar line towards lateral, ``e_d`` the anatomical femoral axis upwards
    (knee → diaphysis). ``lat`` is the lateral image direction ``[-σ, 0]``.
    """

    side: str
    sigma: int
    params: LegParameters
    H: np.ndarray
    D: np.ndarray
    CL: np.ndarray
    CM: np.ndarray
    K: np.ndarray
    PL: np.ndarray
    PM: np.ndarray
    ML: np.ndarray
    MM: np.ndarray
    d_f: np.ndarray
    d_t: np.ndarray
    e_c: np.ndarray
    n_c: np.ndarray
    e_p: np.ndarray
    n_p: np.ndarray
    e_m: np.ndarray
    e_d: np.ndarray
    notch_height_mm: float
    """Distance of K above the condylar tangent line."""
    D_px: np.ndarray
    """The diaphysis landmark in pixels, exactly on the lattice (integer row, half-integer column)."""

    @property
    def A(self) -> np.ndarray:
        return (self.ML + self.MM) / 2.0

    @property
    def lat(self) -> np.ndarray:
        return np.array([-float(self.sigma), 0.0])

    def landmarks_mm(self) -> dict[str, np.ndarray]:
        return {"femoral_head": self.H, "diaphysis_center": self.D, "femoral_condyle_lateral": self.CL,
                "femoral_condyle_medial": self.CM, "knee_center": self.K, "tibial_plateau_lateral": self.PL,
                "tibial_plateau_medial": self.PM, "malleolus_lateral": self.ML, "malleolus_medial": self.MM}

    def landmarks_px(self, spacing_mm: float) -> dict[str, list[float]]:
        """The nine landmarks as ``[x, y]`` pixels, in schema order."""
        lm = self.landmarks_mm()
        out = {k: [float(lm[k][0] / spacing_mm), float(lm[k][1] / spacing_mm)] for k in LANDMARK_IDS}
        out["diaphysis_center"] = [float(self.D_px[0]), float(self.D_px[1])]
        return out


def _snap_diaphysis(K_px: np.ndarray, dir_px: np.ndarray, dist_px: float) -> tuple[np.ndarray, float]:
    """The diaphysis landmark on the ray ``K + s·dir`` at an integer row, and a sub-pixel column shift.

    The diaphysis landmark is the midpoint of the mask's most distal row: its row is an integer and its
    column the mean of two integers (a multiple of 0.5). The row nearest ``dist_px`` along the ray is
    taken; the whole leg is then shifted sideways by ``shift_px`` (|shift| <= 0.25 px) so that the ray
    crosses that row on the half-pixel lattice. A translation changes no metric, so FVA stays exact.

    Returns
    -------
    (D_px, shift_px)
        ``D_px`` already includes the shift.
    """
    row = float(round(K_px[1] + dist_px * dir_px[1]))
    x = K_px[0] + (row - K_px[1]) * dir_px[0] / dir_px[1]
    snapped = round(x * 2.0) / 2.0
    return np.array([snapped, row], dtype=np.float64), snapped - x


def build_leg(params: LegParameters, H_x_mm: float, A_x_mm: float, A_y_mm: float, spacing_mm: float
              ) -> LegGeometry:
    """Place the nine landmarks of one leg so that its metrics equal ``params``' targets.

    Parameters
    ----------
    params : LegParameters
        Targets and shape of the leg.
    H_x_mm, A_x_mm, A_y_mm : float
        Image position of the femoral head centre (column) and of the ankle centre (column, row), in mm.
    spacing_mm : float
        Pixel spacing; used to snap the diaphysis landmark onto the pixel lattice.

    Returns
    -------
    LegGeometry
    """
    sig = side_sign(params.side)
    Lf, Lt = params.femur_length_mm, params.tibia_length_mm
    delta = 180.0 - params.hka_deg  # > 0 varus: the tibia turns medially at the knee
    d_f0 = np.array([0.0, 1.0])
    K0 = Lf * d_f0
    d_t0 = np.array([math.sin(math.radians(delta)), math.cos(math.radians(delta))])
    A0 = K0 + Lt * d_t0
    L = float(np.hypot(*A0))
    m_ha = sig * (A_x_mm - H_x_mm)
    if abs(m_ha) >= 0.5 * L:
        raise GeometryBuildError(f"{params.side} leg: stance too wide for the leg length")
    want = np.array([m_ha, math.sqrt(L * L - m_ha * m_ha)])
    theta = math.degrees(math.atan2(want[1], want[0]) - math.atan2(A0[1], A0[0]))
    d_f, d_t = rot(d_f0, theta), rot(d_t0, theta)
    K, A = rot(K0, theta), rot(A0, theta)
    up_f = -d_f
    e_c = rot(up_f, -params.mldfa_deg)
    n_c = rot(e_c, 90.0)
    e_p = rot(d_t, -params.mmpta_deg)
    n_p = rot(e_p, 90.0)
    e_m = rot(-d_t, -params.mldta_deg)
    e_d = rot(up_f, -params.fva_deg)

    s = params.bone_scale
    notch_h = 9.0 * s
    J = K - notch_h * n_c  # point of the condylar tangent line below the notch
    # condyle tangent points (centres of the distal condyles)
    w_cl, w_cm = 24.0 * s * params.condyle_spread, 25.0 * s * params.condyle_spread
    CL = J + w_cl * e_c
    CM = J - w_cm * e_c
    # Plateau: below the condylar line by the joint space; keep >= 1.5 mm everywhere despite JLCA.
    w_pl, w_pm = 36.0 * s * params.plateau_spread, 38.0 * s * params.plateau_spread
    gap = (10.0 if params.knee_implant else 4.5) * s
    P0 = J + gap * n_p
    PL = P0 - w_pl * e_p
    PM = P0 + w_pm * e_p
    # distance of each plateau end below the condylar line (along -n_c); JLCA narrows one side
    g_min = min(float(np.dot(J - PL, n_c)), float(np.dot(J - PM, n_c)))
    if g_min < 1.5 * s:
        P0 = P0 + (1.5 * s - g_min) / float(np.dot(-n_c, n_p)) * n_p
        PL, PM = P0 - w_pl * e_p, P0 + w_pm * e_p
    hw = 35.0 * s * params.malleolar_spread
    ML = A + hw * e_m
    MM = A - hw * e_m

    # to image mm: X = H_x + σ m, Y = H_y + y with H_y chosen so the ankle centre lands on A_y.
    H_y = A_y_mm - A[1]

    def img(v: np.ndarray) -> np.ndarray:
        return np.array([H_x_mm + sig * v[0], H_y + v[1]], dtype=np.float64)

    def vec(v: np.ndarray) -> np.ndarray:
        return np.array([sig * v[0], v[1]], dtype=np.float64)

    e_di = vec(e_d)
    D_px, shift_px = _snap_diaphysis(img(K) / spacing_mm, e_di, params.diaphysis_fraction * Lf / spacing_mm)
    H_x_mm = H_x_mm + shift_px * spacing_mm  # sub-pixel sideways shift of the whole leg (see above)
    Hi, Ki = img(np.zeros(2)), img(K)
    return LegGeometry(
        side=params.side, sigma=sig, params=params, H=Hi, D=D_px * spacing_mm,
        CL=img(CL), CM=img(CM), K=Ki, PL=img(PL), PM=img(PM), ML=img(ML), MM=img(MM),
        d_f=vec(d_f), d_t=vec(d_t), e_c=vec(e_c), n_c=vec(n_c), e_p=vec(e_p), n_p=vec(n_p),
        e_m=vec(e_m), e_d=e_di, notch_height_mm=notch_h, D_px=D_px,
    )


@dataclass(frozen=True)
class StudyGeometry:
    """Both legs' geometry (both are modelled even when one is collimated out)."""

    legs: dict[str, LegGeometry]
    spacing_mm: float

    @property
    def pelvis_origin(self) -> np.ndarray:
        return (self.legs["right"].H + self.legs["left"].H) / 2.0

    @property
    def pelvis_axis(self) -> np.ndarray:
        """Unit vector from the right femoral head to the left one."""
        return unit(self.legs["left"].H - self.legs["right"].H)


def build_study(study: StudyParameters, spacing_mm: float) -> StudyGeometry:
    """Place both legs: hips ``hip_distance_mm`` apart about the midline, ankles on the floor row.

    Leg-length discrepancy therefore shows as pelvic obliquity, as on a standing radiograph.
    """
    legs = {}
    for side, p in study.legs.items():
        sig = side_sign(side)
        H_x = study.midline_x_mm - sig * study.hip_distance_mm / 2.0
        A_x = study.midline_x_mm - sig * p.stance_width_mm
        legs[side] = build_leg(p, H_x, A_x, study.ankle_y_mm, spacing_mm)
    return StudyGeometry(legs=legs, spacing_mm=spacing_mm)
