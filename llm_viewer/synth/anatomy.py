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
from .shapes import outline_solid, smooth_profile

MU_SOFT = 0.0205
MU_FAT = 0.0175
MU_CORTEX = 0.052
MU_TRABECULAR = 0.016
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


def _proximal_outline(g: LegGeometry, fr: FemurFrame) -> np.ndarray:
    """Control points of the proximal femur: neck from the head, greater trochanter, shaft, lesser trochanter."""
    p = g.params
    s = p.bone_scale
    r = p.head_radius_mm
    up, lat = fr.up, fr.lat
    n_hat = g.H - fr.junction
    n_hat = n_hat / float(np.hypot(*n_hat))
    m_hat = perp_towards(n_hat, up)  # superior side of the neck
    hw = fr.shaft_half_width_mm
    u_h = float((g.H - fr.junction) @ up)

    def N(t: float, w: float) -> np.ndarray:
        return g.H - t * n_hat + w * m_hat

    def Pf(u: float, v: float) -> np.ndarray:
        return fr.junction + u * up + v * lat

    lt = min(1.5, max(0.5, 1.0 + p.rotation_deg / 25.0))
    u_gl = min(u_h - 28.0 * s, 2.0 * s)
    return np.array([
        N(0.45 * r, 0.76 * r), N(0.95 * r, 0.68 * r),
        Pf(u_h - 5.0 * s, 7.0 * s), Pf(u_h - 1.5 * s, 14.0 * s), Pf(u_h - 3.5 * s, 20.5 * s),
        Pf(u_h - 9.0 * s, 25.5 * s),
        Pf(u_gl, 28.0 * s), Pf(u_gl - 24.0 * s, 20.0 * s), Pf(-62.0 * s, hw + 0.6), Pf(-95.0 * s, hw - 0.8),
        Pf(-112.0 * s, 0.0),
        Pf(-95.0 * s, -hw + 0.8), Pf(-60.0 * s, -hw - 0.3), Pf(-48.0 * s, -hw - 1.0 - 1.0 * lt),
        Pf(-39.0 * s, -hw - 3.0 - 4.0 * lt), Pf(-30.0 * s, -hw - 3.0 * s), Pf(-15.0 * s, -hw - 4.0 * s),
        N(0.95 * r, -0.68 * r), N(0.45 * r, -0.76 * r),
    ])


def _distal_outline(g: LegGeometry) -> np.ndarray:
    """Control points of the distal femur: metaphysis flaring into two condyles tangent to the CL–CM line
    at CL and CM (lowest points, horizontal tangents) with the intercondylar notch around K."""
    s = g.params.bone_scale
    up = g.e_d
    lat = perp_towards(up, g.lat)
    J0 = g.K - g.notch_height_mm * g.n_c
    xl = float((g.CL - J0) @ g.e_c)
    xm = float((g.CM - J0) @ g.e_c)  # negative
    hw = 14.0 * s

    def A(h: float, w: float) -> np.ndarray:
        return g.K + h * up + w * lat

    def C(x: float, y: float) -> np.ndarray:
        return J0 + x * g.e_c + y * g.n_c

    nh = g.notch_height_mm + 11.0 * s
    return np.array([
        A(120.0 * s, hw - 0.5), A(80.0 * s, hw + 1.5), A(52.0 * s, 22.0 * s), A(32.0 * s, 31.0 * s),
        C(xl + 15.5 * s, 27.0 * s), C(xl + 16.5 * s, 14.0 * s), C(xl + 12.5 * s, 4.5 * s), C(xl + 6.0 * s, 0.9),
        g.CL, C(xl - 6.0 * s, 0.9), C(xl - 11.5 * s, 4.5 * s), C(8.0 * s, 12.0 * s), C(0.0, nh),
        C(-8.0 * s, 12.0 * s), C(xm + 12.0 * s, 4.5 * s), C(xm + 6.0 * s, 0.9), g.CM, C(xm - 6.0 * s, 0.9),
        C(xm - 13.0 * s, 5.0 * s), C(xm - 17.5 * s, 16.0 * s), C(xm - 18.0 * s, 29.0 * s),
        A(44.0 * s, -31.0 * s), A(62.0 * s, -21.0 * s), A(85.0 * s, -hw - 1.0), A(120.0 * s, -hw + 0.5),
        A(130.0 * s, 0.0),
    ])


def render_femur(canvas: Canvas, g: LegGeometry) -> FemurFrame:
    """Femoral head, proximal femur outline, shaft with canal and bow, distal metaphysis and condyles."""
    p = g.params
    s = p.bone_scale
    fr = femur_frame(g)
    up, lat = fr.up, fr.lat
    L = Layer(canvas, bone=True)
    # head: sphere centred exactly on H
    r = p.head_radius_mm
    ellipsoid(L, g.H, [1.0, 0.0], r, r, r, cortex=1.5, mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR * 1.2)
    outline_solid(L, _proximal_outline(g, fr), radius_mm=26.0 * s, depth=1.0, cortex_mm=1.6,
                  mu_cortex=MU_CORTEX, mu_inner=MU_TRABECULAR)
    # shaft: cortical walls, medullary canal opening below the lesser trochanter and closing in the
    # distal metaphysis, lateral bow (0 at the diaphysis landmark)
    hw = fr.shaft_half_width_mm
    t_end = float((fr.axis_point(0.0) - g.K) @ up) - 40.0 * s
    d = fr.d_t_mm
    tk, ck = smooth_profile([0.0, 20.0 * s, 0.3 * d, 0.65 * d, d, t_end - 25.0 * s, t_end],
                           [hw, 6.0 * s, 6.8 * s, 6.8 * s, 5.0 * s, 3.0 * s, hw], 24)
    ak = hw * (1.0 - 0.06 * np.sin(math.pi * np.clip(tk / d, 0.0, 1.0)))  # as the diaphysis mask
    bow_sign = 1.0 if float(perp_towards(-up, lat) @ np.array([-(-up)[1], (-up)[0]])) > 0 else -1.0
    # eccentric canal: the medial cortex is thicker below the lesser trochanter (calcar femorale) and the
    # lateral one along the mid-shaft (the tension side of the bow)
    # (the tube's sideways offsets are along its left normal; ``bow_sign`` is +1 where that points laterally)
    shift = bow_sign * np.interp(tk, [0.0, 25.0 * s, 0.45 * d, 0.8 * d, d], [0.0, 1.6, 0.3, -0.8, 0.0]) * s
    shift *= p.cortex_asymmetry
    tube(L, fr.axis_point(0.0), -up, tk, ak, ck, depth=0.95, mu_cortex=MU_CORTEX, mu_inner=MU_MARROW,
         bow_knots=bow_sign * fr.bow(tk), canal_shift_knots=np.clip(shift, -0.6 * ck, 0.6 * ck))
    canvas.shafts.append((fr.axis_point(30.0 * s), g.K + 110.0 * s * up, hw))
    outline_solid(L, _distal_outline(g), radius_mm=26.0 * s, depth=1.05, cortex_mm=1.0, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    L.commit()
    # fine internal structure: physeal scar, compressive trabeculae of the neck, intertrochanteric crest
    T = Layer(canvas, bone=True)
    J0 = g.K - g.notch_height_mm * g.n_c
    # physeal scar: faint and slightly wavy, not a drawn line
    xs = np.linspace(-30.0 * s, 30.0 * s, 9)
    wave = 0.8 * np.sin(xs / (6.0 * s) + 0.37 * g.params.rotation_deg)
    scar = [J0 + x * g.e_c + (17.0 * s + 0.004 * x * x + w) * g.n_c for x, w in zip(xs, wave)]
    curve(T, scar, 1.4, mu=MU_CORTEX * 0.07, depth=12.0)
    n_hat = (g.H - fr.junction) / float(np.hypot(*(g.H - fr.junction)))
    calcar = fr.junction - 30.0 * s * up - (hw + 1.0) * lat
    curve(T, [g.H + 0.45 * r * up - 0.2 * r * lat, g.H - 0.2 * r * n_hat - 0.5 * r * up, calcar], 7.0 * s,
          mu=MU_TRABECULAR * 0.35, depth=2.0)
    # principal tensile trabeculae: from the lateral cortex below the greater trochanter, arching over the
    # neck into the inferior head (with the compressive group they frame Ward's triangle)
    m_hat = perp_towards(n_hat, up)
    gt = fr.junction - 8.0 * s * up + (hw - 1.0) * lat
    curve(T, [gt, fr.junction + 0.45 * fr.neck_length_mm * n_hat + 9.0 * s * m_hat,
              g.H - 0.1 * r * n_hat + 0.15 * r * m_hat, g.H - 0.55 * r * m_hat + 0.3 * r * n_hat], 3.5 * s,
          mu=MU_TRABECULAR * 0.3, depth=2.5)
    u_h = float((g.H - fr.junction) @ up)
    curve(T, [fr.junction + (u_h - 4.0 * s) * up + 17.0 * s * lat, fr.junction + 2.0 * s * up + 9.0 * s * lat,
              fr.junction - 22.0 * s * up - 2.0 * s * lat, fr.junction - 36.0 * s * up - (hw + 1.0) * lat],
          2.5 * s, mu=MU_CORTEX * 0.1, depth=4.0)
    T.commit()
    return fr


def render_patella(canvas: Canvas, g: LegGeometry) -> None:
    """Patella over the distal femur, shifted with limb rotation; its lower pole above the notch."""
    p = g.params
    s = p.bone_scale
    L = Layer(canvas, bone=True)
    c = g.K + 28.0 * s * g.n_c + (3.0 + 0.25 * p.rotation_deg) * g.e_c
    pts = [c + (x * g.e_c + y * g.n_c) * s for x, y in ((-17.0, 19.0), (0.0, 23.5), (17.0, 19.0), (22.0, 4.0),
                                                          (15.0, -13.0), (3.0, -23.0), (-8.0, -18.0),
                                                          (-20.0, -4.0))]
    outline_solid(L, pts, radius_mm=19.0 * s, depth=0.55, cortex_mm=1.4, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    L.commit()


def render_soft_tissue(L: Layer, g: LegGeometry, crotch_y_mm: float) -> None:
    """Thigh, knee, calf, ankle and foot envelope with a subcutaneous fat layer, girth from the parameters."""
    p = g.params
    k = p.soft_tissue_scale
    top = np.array([g.H[0] + 18.0 * g.lat[0], crotch_y_mm - 120.0])
    ax = g.K - top
    ln = float(np.hypot(*ax))
    fat = 8.0 + 14.0 * (k - 0.7)
    # the thigh tapers away inside the calf's envelope below the knee (no step in the skin line)
    knots = [0.0, 60.0, 0.3 * ln, 0.75 * ln, ln, ln + 30.0, ln + 60.0]
    tk, ak = smooth_profile(knots, [40.0 * k, 90.0 * k, 86.0 * k, 64.0 * k, 50.0 + 6.0 * (k - 1.0),
                                    44.0 + 5.0 * (k - 1.0), 20.0], 48)
    _, ck = smooth_profile(knots, [fat * 0.5, fat, fat, fat * 0.8, 6.0, 6.0, 6.0], 48)
    tube(L, top, ax, tk, ak, ck, depth=0.93, mu_cortex=MU_FAT, mu_inner=MU_SOFT)
    ax2 = g.A - g.K
    l2 = float(np.hypot(*ax2))
    knots = [-70.0, -20.0, 0.22 * l2, 0.55 * l2, 0.82 * l2, l2, l2 + 30.0]
    tk, ak = smooth_profile(knots, [30.0, 50.0 + 6.0 * (k - 1.0), 57.0 * k, 50.0 * k, 35.0 + 4.0 * (k - 1.0), 33.0,
                                    33.0], 40)
    _, ck = smooth_profile(knots, [4.0, 6.0, 8.0 * k, 7.0 * k, 4.0, 3.0, 3.0], 40)
    tube(L, g.K, ax2, tk, ak, ck, depth=0.92, mu_cortex=MU_FAT, mu_inner=MU_SOFT)
    _, n_up = _plafond(g)
    # the foot in a standing AP view points at the tube: seen end-on and foreshortened, it widens below the
    # ankle to the forefoot and ends at the sole about 75 mm below the ankle centre
    tk, ak = smooth_profile([-35.0, -5.0, 20.0, 45.0, 62.0, 74.0, 82.0], [8.0, 30.0, 38.0, 45.0, 48.0, 40.0, 0.0],
                            40)
    tube(L, g.A, -n_up, tk, ak, np.full_like(tk, 4.0), depth=1.6, mu_cortex=MU_FAT, mu_inner=MU_SOFT)


def render_fat_planes(canvas: Canvas, g: LegGeometry, crotch_y_mm: float, rng: np.random.Generator) -> None:
    """Faint lucent intermuscular fat planes running along the thigh and the calf.

    Muscle compartments are separated by thin sheets of fat; seen edge-on they project as faint dark
    lines along the limb (between the vasti, the adductors and the hamstrings in the thigh; between the
    calf muscles). Positions and courses are drawn per leg.
    """
    L = Layer(canvas)
    k = g.params.soft_tissue_scale
    top = np.array([g.H[0] + 18.0 * g.lat[0], crotch_y_mm - 60.0])
    for a, b, count, half_w in ((top, g.K + 70.0 * g.e_d, int(rng.integers(2, 4)), 60.0 * k),
                                (g.K + 90.0 * g.d_t, g.A - 110.0 * g.d_t, int(rng.integers(1, 3)), 38.0 * k)):
        ax = b - a
        ln = float(np.hypot(*ax))
        u = ax / ln
        nrm = np.array([-u[1], u[0]])
        for _ in range(count):
            off0 = rng.uniform(-0.75, 0.75) * half_w
            t = np.linspace(0.0, 1.0, 7)
            t0, t1 = rng.uniform(0.0, 0.25), rng.uniform(0.7, 1.0)
            tt = t0 + (t1 - t0) * t
            off = off0 * (1.0 - 0.35 * tt) + rng.normal(0.0, 3.0) * np.sin(np.pi * tt)
            pts = [a + ti * ln * u + oi * nrm for ti, oi in zip(tt, off)]
            curve(L, pts, float(rng.uniform(2.5, 4.5)), mu=(MU_SOFT - MU_FAT) * float(rng.uniform(0.5, 0.8)),
                  depth=float(rng.uniform(4.0, 7.0)))
    L.commit(weight=-1.0)


def _plafond(g: LegGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Centre of the tibial plafond and the malleolar line's proximal normal."""
    s = g.params.bone_scale
    n_up = perp_towards(g.e_m, -g.d_t)
    return g.A + 8.0 * s * n_up, n_up


def render_leg(canvas: Canvas, body: Layer, g: LegGeometry, crotch_y_mm: float, rng: np.random.Generator
               ) -> FemurFrame:
    """Every structure of one leg (soft tissue into the shared ``body`` layer); returns the femur frame.

    ``rng`` draws the details that the landmarks do not fix (fat planes, tarsal and toe outlines).
    """
    render_soft_tissue(body, g, crotch_y_mm)
    render_fat_planes(canvas, g, crotch_y_mm, rng)
    fr = render_femur(canvas, g)
    render_patella(canvas, g)
    from .lower_leg import render_fibula, render_foot, render_tibia

    render_tibia(canvas, g)
    render_fibula(canvas, g)
    render_foot(canvas, g, rng)
    return fr
