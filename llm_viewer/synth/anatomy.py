"""The bones and soft tissue of one leg, built around its exact landmarks.

Shapes are placed from the :class:`~llm_viewer.synth.geometry.LegGeometry` so that the image agrees with
the ground truth: the femoral head is a sphere centred on H, the condyles are ellipsoids tangent to the
CL–CM line at CL and CM with the intercondylar notch around K, the tibia is cut flat along PL–PM, the
malleoli reach ML and MM, and the femoral shaft is centred on the anatomical axis through D.

Attenuation coefficients of bone are *excess* over soft tissue (bone replaces soft tissue inside the
limb envelope), in 1/mm at an effective energy of about 60 keV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .geometry import LegGeometry
from .primitives import Canvas, Layer, curve, ellipsoid, tube

MU_SOFT = 0.0205
MU_FAT = 0.0175
MU_CORTEX = 0.052
MU_TRABECULAR = 0.013
MU_MARROW = -0.0005
MU_SUBCHONDRAL = 0.055


def perp_towards(v: np.ndarray, toward: np.ndarray) -> np.ndarray:
    """Unit vector perpendicular to ``v`` on the side of ``toward``."""
    p = np.array([-v[1], v[0]], dtype=np.float64)
    p /= float(np.hypot(*p))
    return p if float(p @ toward) >= 0 else -p


@dataclass(frozen=True)
class FemurFrame:
    """Where the proximal femur and the shaft are, derived from the landmarks (mm, image frame)."""

    junction: np.ndarray
    """Neck–shaft junction on the anatomical axis."""
    up: np.ndarray
    """Anatomical axis, distal to proximal (``e_d``)."""
    lat: np.ndarray
    """Perpendicular to the axis, towards lateral."""
    shaft_start_t: float
    """Shaft piece: ``p(t) = junction − (shaft_start_t + t)·up``."""
    shaft_half_width_mm: float
    bow_mm: float
    d_t_mm: float
    """Distance from the shaft piece's origin to D along the axis."""
    neck_length_mm: float

    def axis_point(self, t: float) -> np.ndarray:
        return self.junction - (self.shaft_start_t + t) * self.up

    def bow(self, t: np.ndarray | float) -> np.ndarray:
        """Lateral offset of the shaft centre line: a half sine between the shaft start and D (0 at D)."""
        tt = np.clip(np.asarray(t, dtype=np.float64) / self.d_t_mm, 0.0, 1.0)
        return self.bow_mm * np.sin(math.pi * tt)


def femur_frame(g: LegGeometry) -> FemurFrame:
    """The proximal femur frame of a leg (shared by rendering and the diaphysis mask)."""
    p = g.params
    s = p.bone_scale
    up = g.e_d
    lat = perp_towards(up, g.lat)
    F = g.K + float((g.H - g.K) @ up) * up
    offset = float(np.hypot(*(g.H - F)))
    nsa = min(150.0, max(112.0, p.neck_shaft_angle_deg + 0.35 * p.rotation_deg))
    along = offset / math.tan(math.radians(180.0 - nsa))
    junction = F - along * up
    start = 40.0 * s
    d_t = float((junction - start * up - g.D) @ up)
    bow = 3.0 * s
    return FemurFrame(junction=junction, up=up, lat=lat, shaft_start_t=start, shaft_half_width_mm=14.0 * s,
                      bow_mm=bow, d_t_mm=d_t, neck_length_mm=offset / math.sin(math.radians(180.0 - nsa)))


def render_femur(canvas: Canvas, g: LegGeometry) -> FemurFrame:
    """Femoral head, neck, trochanters, shaft with canal and bow, metaphyseal flare and both condyles."""
    p = g.params
    s = p.bone_scale
    fr = femur_frame(g)
    up, lat = fr.up, fr.lat
    med = -lat
    L = Layer(canvas, bone=True)
    # head: sphere centred exactly on H
    r = p.head_radius_mm
    ellipsoid(L, g.H, [1.0, 0.0], r, r, r, cortex=1.3, mu_cortex=MU_CORTEX * 0.8, mu_inner=MU_TRABECULAR * 1.6)
    # neck: from the head centre to the junction, waisted
    neck_dir = fr.junction - g.H
    nl = float(np.hypot(*neck_dir))
    tube(L, g.H, neck_dir, [0.0, 0.55 * r, 0.9 * r, nl * 0.85, nl + 8.0], [0.8 * r, 0.7 * r, 0.66 * r, 0.8 * r,
                                                                              1.02 * r],
         [2.0, 2.2, 2.5, 3.0, 3.0], depth=0.85, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    # greater and lesser trochanters
    ellipsoid(L, fr.junction + 16.0 * s * up + 15.0 * s * lat, up, 27.0 * s, 15.5 * s, 19.0 * s, cortex=1.4,
              mu_cortex=MU_CORTEX * 0.9, mu_inner=MU_TRABECULAR)
    lt_scale = min(1.5, max(0.5, 1.0 + p.rotation_deg / 25.0))
    ellipsoid(L, fr.junction - 40.0 * s * up + (12.0 * s + 4.0 * lt_scale) * med, up, 11.0 * s,
              5.5 * s * lt_scale, 8.0 * s, cortex=1.5, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    # intertrochanteric block
    tube(L, fr.junction + 32.0 * s * up, -up, [0.0, 8.0 * s, 32.0 * s, 70.0 * s, 105.0 * s],
         [12.0 * s, 21.0 * s, 24.0 * s, 19.0 * s, 14.5 * s], [1.5, 2.0, 2.5, 4.0, 5.0], depth=0.8,
         mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    # shaft: cortical walls, medullary canal, lateral bow (0 at the diaphysis landmark)
    t_end = fr.d_t_mm + 60.0 * s
    tk = np.linspace(0.0, t_end, 12)
    hw = fr.shaft_half_width_mm
    ak = hw * (1.0 - 0.06 * np.sin(math.pi * np.clip(tk / fr.d_t_mm, 0, 1)))
    ck = np.interp(tk, [0.0, 0.25 * fr.d_t_mm, 0.6 * fr.d_t_mm, fr.d_t_mm, t_end],
                   [4.0 * s, 6.5 * s, 6.8 * s, 4.5 * s, 2.5 * s])
    bow_sign = 1.0 if float(perp_towards(-up, lat) @ np.array([-(-up)[1], (-up)[0]])) > 0 else -1.0
    tube(L, fr.axis_point(0.0), -up, tk, ak, ck, depth=0.95, mu_cortex=MU_CORTEX, mu_inner=MU_MARROW,
         bow_knots=bow_sign * fr.bow(tk))
    # distal metaphysis: flare from the shaft to the condyles, ending at the notch roof
    roof = 11.0 * s
    start = g.D + 25.0 * s * up
    t_roof = float((start - g.K) @ up) - roof
    tk = [0.0, 25.0 * s, t_roof - 75.0 * s, t_roof - 45.0 * s, t_roof - 22.0 * s, t_roof - 8.0 * s, t_roof,
          t_roof + 3.0 * s]
    ak = [hw, hw, 18.0 * s, 26.0 * s, 33.0 * s, 37.0 * s, 37.5 * s, 0.0]
    ck = [4.5 * s, 4.0 * s, 2.2 * s, 1.6, 1.3, 1.2, 1.2, 1.2]
    tube(L, start, -up, tk, ak, ck, depth=0.8, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    # condyles: ellipsoids tangent to the CL-CM line at CL and CM
    a_n = 24.0 * s
    ellipsoid(L, g.CL + a_n * g.n_c, g.e_c, 15.5 * s, a_n, 24.0 * s, cortex=1.6, mu_cortex=MU_CORTEX,
              mu_inner=MU_TRABECULAR)
    ellipsoid(L, g.CM + a_n * g.n_c, g.e_c, 16.0 * s, a_n, 25.0 * s, cortex=1.6, mu_cortex=MU_CORTEX,
              mu_inner=MU_TRABECULAR)
    L.commit()
    return fr


def render_patella(canvas: Canvas, g: LegGeometry) -> None:
    """Patella over the distal femur, shifted with limb rotation; its lower pole above the notch."""
    p = g.params
    s = p.bone_scale
    L = Layer(canvas, bone=True)
    c = g.K + 28.0 * s * g.n_c + (3.0 + 0.25 * p.rotation_deg) * g.e_c
    ellipsoid(L, c, g.e_c, 22.0 * s, 24.0 * s, 11.0 * s, cortex=1.6, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    L.commit()


def _plafond(g: LegGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Centre of the tibial plafond and the malleolar line's proximal normal."""
    s = g.params.bone_scale
    n_up = perp_towards(g.e_m, -g.d_t)
    return g.A + 8.0 * s * n_up, n_up


def render_tibia(canvas: Canvas, g: LegGeometry) -> None:
    """Tibia: plateau cut along PL–PM with spines and subchondral line, shaft, plafond, medial malleolus."""
    s = g.params.bone_scale
    L = Layer(canvas, bone=True)
    Pc = (g.PL + g.PM) / 2.0
    half = float(np.hypot(*(g.PM - g.PL))) / 2.0
    tk = [-10.0, 0.0, 6.0 * s, 14.0 * s, 24.0 * s, 34.0 * s, 46.0 * s, 62.0 * s, 85.0 * s, 115.0 * s]
    ak = [half, half, half - 0.3 * s, half - 1.5 * s, half - 5.0 * s, 0.5 * half + 10.0 * s, 22.0 * s, 18.0 * s,
          15.5 * s, 14.5 * s]
    ck = [1.2, 1.2, 1.2, 1.3, 1.5, 1.8, 2.5, 3.2, 4.2, 5.0]
    tube(L, Pc, g.d_t, tk, ak, ck, depth=0.78, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR, clip=(Pc, g.n_p))
    curve(L, [g.PL + 2.0 * g.e_p + 1.6 * g.n_p, g.PM - 2.0 * g.e_p + 1.6 * g.n_p], 1.3, mu=MU_SUBCHONDRAL,
          depth=12.0)
    for k in (-1.0, 1.0):
        ellipsoid(L, Pc + k * 5.5 * s * g.e_p - 3.0 * s * g.n_p, g.n_p, 7.0 * s, 3.6 * s, 8.0 * s, cortex=1.0,
                  mu_cortex=MU_CORTEX * 0.8, mu_inner=MU_TRABECULAR)
    F, n_up = _plafond(g)
    Fc = F - 4.0 * s * g.e_m  # distal tibia centred a little medially (the fibula is lateral)
    top = Pc + 60.0 * s * g.d_t
    ax = Fc - top
    ln = float(np.hypot(*ax))
    tk = [0.0, 0.45 * ln, 0.7 * ln, ln - 32.0 * s, ln - 6.0, ln + 10.0]
    ak = [16.0 * s, 13.0 * s, 13.5 * s, 19.0 * s, 23.0 * s, 23.5 * s]
    ck = [4.5 * s, 5.5 * s, 5.0 * s, 2.2 * s, 1.3, 1.3]
    tube(L, top, ax, tk, ak, ck, depth=0.85, mu_cortex=MU_CORTEX, mu_inner=MU_MARROW, clip=(F, n_up))
    # trabecular distal metaphysis over the canal
    tube(L, top, ax, [ln - 60.0 * s, ln - 32.0 * s, ln - 6.0, ln + 10.0], [12.0 * s, 19.0 * s, 23.0 * s, 23.5 * s],
         [2.5, 2.0, 1.3, 1.3], depth=0.85, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR, clip=(F, n_up))
    curve(L, [F - 19.0 * s * g.e_m - 0.8 * n_up, F + 17.0 * s * g.e_m - 0.8 * n_up], 1.2, mu=MU_SUBCHONDRAL,
          depth=14.0)
    # medial malleolus: outer edge through MM
    ellipsoid(L, g.MM + 7.0 * s * g.e_m + 2.0 * s * n_up, n_up, 14.0 * s, 7.0 * s, 11.0 * s, cortex=1.5,
              mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    L.commit()


def render_fibula(canvas: Canvas, g: LegGeometry) -> None:
    """Fibular head under the lateral plateau, thin shaft, lateral malleolus reaching ML."""
    p = g.params
    s = p.bone_scale
    L = Layer(canvas, bone=True)
    shift = 0.3 * p.rotation_deg  # external rotation moves the fibula behind the tibia: more overlap
    lat_p = -g.e_p
    head = g.PL + (4.0 * s - shift) * lat_p + 20.0 * s * g.n_p
    ellipsoid(L, head, g.n_p, 13.0 * s, 12.0 * s, 12.0 * s, cortex=1.5, mu_cortex=MU_CORTEX,
              mu_inner=MU_TRABECULAR)
    F, n_up = _plafond(g)
    lm = g.ML - 10.0 * s * g.e_m + 4.0 * s * n_up - 0.15 * shift * g.e_m
    ax = lm - head
    ln = float(np.hypot(*ax))
    tk = [0.0, 20.0 * s, 0.3 * ln, 0.7 * ln, ln - 40.0 * s, ln, ln + 8.0 * s, ln + 14.0 * s, ln + 18.0 * s]
    ak = [8.5 * s, 7.0 * s, 7.0 * s, 6.5 * s, 8.0 * s, 10.0 * s, 9.0 * s, 6.0 * s, 0.0]
    ck = [1.5, 2.5, 2.8, 2.8, 2.0, 1.4, 1.4, 1.4, 1.4]
    tube(L, head, ax, tk, ak, ck, depth=1.0, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR * 0.3)
    L.commit()


def render_foot(canvas: Canvas, g: LegGeometry) -> None:
    """Talus in the mortise, calcaneus, navicular, cuboid and the metatarsal bases, foreshortened."""
    s = g.params.bone_scale
    F, n_up = _plafond(g)
    L = Layer(canvas, bone=True)
    ellipsoid(L, F - 20.0 * s * n_up + 1.0 * s * g.e_m, g.e_m, 17.5 * s, 16.0 * s, 22.0 * s, cortex=1.4,
              mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    L.commit()
    L = Layer(canvas, bone=True)
    ellipsoid(L, g.A - 40.0 * s * n_up + 4.0 * s * g.e_m, g.e_m, 23.0 * s, 17.0 * s, 28.0 * s, cortex=1.5,
              mu_cortex=MU_CORTEX * 0.9, mu_inner=MU_TRABECULAR * 0.8)
    L.commit()
    L = Layer(canvas, bone=True)
    ellipsoid(L, g.A - 36.0 * s * n_up - 14.0 * s * g.e_m, g.e_m, 13.0 * s, 9.0 * s, 14.0 * s, cortex=1.2,
              mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    ellipsoid(L, g.A - 52.0 * s * n_up + 16.0 * s * g.e_m, g.e_m, 12.0 * s, 10.0 * s, 14.0 * s, cortex=1.2,
              mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    L.commit()
    L = Layer(canvas, bone=True)
    for k in range(5):
        base = g.A - (58.0 + 3.0 * abs(k - 2)) * s * n_up + (-22.0 + 11.0 * k) * s * g.e_m
        direction = -n_up + 0.12 * (k - 2) * g.e_m
        tube(L, base, direction, [0.0, 4.0, 18.0 * s, 30.0 * s], [0.0, 5.5 * s, 4.0 * s, 4.2 * s],
             [1.0, 1.5, 1.8, 1.8], depth=1.6, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    L.commit()


def render_soft_tissue(L: Layer, g: LegGeometry, crotch_y_mm: float) -> None:
    """Thigh, knee, calf, ankle and foot envelope with a subcutaneous fat layer, girth from the parameters."""
    p = g.params
    k = p.soft_tissue_scale
    top = np.array([g.H[0] + 18.0 * g.lat[0], crotch_y_mm - 120.0])
    ax = g.K - top
    ln = float(np.hypot(*ax))
    tk = [0.0, 60.0, 0.3 * ln, 0.75 * ln, ln, ln + 40.0]
    ak = [40.0 * k, 90.0 * k, 86.0 * k, 64.0 * k, 50.0 + 6.0 * (k - 1.0), 50.0 + 6.0 * (k - 1.0)]
    fat = 8.0 + 14.0 * (k - 0.7)
    tube(L, top, ax, tk, ak, [fat * 0.5, fat, fat, fat * 0.8, 6.0, 6.0], depth=0.93, mu_cortex=MU_FAT,
         mu_inner=MU_SOFT)
    ax2 = g.A - g.K
    l2 = float(np.hypot(*ax2))
    tk = [-20.0, 0.22 * l2, 0.55 * l2, 0.82 * l2, l2, l2 + 30.0]
    ak = [50.0 + 6.0 * (k - 1.0), 57.0 * k, 50.0 * k, 35.0 + 4.0 * (k - 1.0), 33.0, 33.0]
    tube(L, g.K, ax2, tk, ak, [6.0, 8.0 * k, 7.0 * k, 4.0, 3.0, 3.0], depth=0.92, mu_cortex=MU_FAT,
         mu_inner=MU_SOFT)
    _, n_up = _plafond(g)
    # the foot, foreshortened in AP: widens below the ankle, rounded toes end
    tube(L, g.A, -n_up, [-10.0, 20.0, 50.0, 75.0, 95.0, 105.0], [33.0, 38.0, 44.0, 46.0, 36.0, 0.0],
         [4.0] * 6, depth=1.6, mu_cortex=MU_FAT, mu_inner=MU_SOFT)


def render_leg(canvas: Canvas, body: Layer, g: LegGeometry, crotch_y_mm: float) -> FemurFrame:
    """Every structure of one leg (soft tissue into the shared ``body`` layer); returns the femur frame."""
    render_soft_tissue(body, g, crotch_y_mm)
    fr = render_femur(canvas, g)
    render_patella(canvas, g)
    render_tibia(canvas, g)
    render_fibula(canvas, g)
    render_foot(canvas, g)
    return fr
