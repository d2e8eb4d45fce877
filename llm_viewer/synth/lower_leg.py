"""Tibia, fibula and foot of one leg, with anatomical outlines placed on the exact landmarks.

The tibial plateau outline passes through PL and PM (its lateral and medial ends) and flares smoothly
into the shaft; the medial malleolus is a tapered tongue whose lowest point is MM and the lateral
malleolus (fibula) one whose lowest point is ML, both with horizontal tangents along the malleolar line.
The talus dome sits under the plafond with a joint space; calcaneus, navicular, cuboid, cuneiforms and
metatarsals are rounded outlines, foreshortened as in a standing AP view.

Frames (image mm): ``P(x, y) = Pc + x·e_p + y·n_p`` at the plateau (x medial, y distal);
``M(x, y) = A + x·e_m + y·n_up`` at the ankle (x lateral, y proximal); ``T``/``Td`` along the tibial
shaft from the plateau centre and from the plafond.
"""

from __future__ import annotations

import numpy as np

from .anatomy import MU_CORTEX, MU_MARROW, MU_SUBCHONDRAL, MU_TRABECULAR, _plafond, perp_towards
from .geometry import LegGeometry
from .primitives import Canvas, Layer, curve, tube
from .shapes import outline_solid, smooth_profile


class _Frames:
    """The plateau, shaft and ankle frames of one leg."""

    def __init__(self, g: LegGeometry) -> None:
        s = g.params.bone_scale
        self.s = s
        self.g = g
        self.Pc = (g.PL + g.PM) / 2.0
        self.half = float(np.hypot(*(g.PM - g.PL))) / 2.0
        self.F, self.n_up = _plafond(g)
        self.Fc = self.F - 4.0 * s * g.e_m
        ax = self.Fc - self.Pc
        self.ln = float(np.hypot(*ax))
        self.a_hat = ax / self.ln
        self.med_t = perp_towards(self.a_hat, g.e_p)

    def P(self, x: float, y: float) -> np.ndarray:
        return self.Pc + x * self.g.e_p + y * self.g.n_p

    def T(self, h: float, w: float) -> np.ndarray:
        return self.Pc + h * self.a_hat + w * self.med_t

    def Td(self, h: float, w: float) -> np.ndarray:
        return self.Fc - h * self.a_hat + w * self.med_t

    def M(self, x: float, y: float) -> np.ndarray:
        return self.g.A + x * self.g.e_m + y * self.n_up


def render_tibia(canvas: Canvas, g: LegGeometry) -> None:
    """Tibia: plateau through PL and PM with spines, shaft with canal, plafond, medial malleolus to MM."""
    f = _Frames(g)
    s, P, T, Td, M, hf = f.s, f.P, f.T, f.Td, f.M, f.half
    L = Layer(canvas, bone=True)
    proximal = [g.PL, P(-hf + 4.0 * s, -0.5), P(-17.0 * s, -1.0), P(-8.5 * s, -2.0 * s), P(-4.5 * s, -6.0 * s),
                P(-0.5 * s, -4.0 * s), P(3.0 * s, -6.5 * s), P(7.5 * s, -2.0 * s), P(18.0 * s, -1.0),
                P(hf - 4.0 * s, -0.5), g.PM, P(hf + 0.8, 4.5 * s), P(hf - 1.5 * s, 15.0 * s), T(40.0 * s, 20.5 * s),
                T(62.0 * s, 16.0 * s), T(95.0 * s, 14.5 * s), T(112.0 * s, 0.0), T(95.0 * s, -14.5 * s),
                T(62.0 * s, -16.5 * s), T(40.0 * s, -22.0 * s), P(-hf + 1.0 * s, 15.0 * s), P(-hf - 0.8, 4.5 * s)]
    outline_solid(L, proximal, radius_mm=30.0 * s, depth=0.82, cortex_mm=0.9, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    ln = f.ln
    tk, ak = smooth_profile([35.0 * s, 0.4 * ln, 0.7 * ln, ln - 60.0 * s, ln - 30.0 * s],
                            [16.0 * s, 14.0 * s, 12.5 * s, 13.5 * s, 15.0 * s], 24)
    _, ck = smooth_profile([35.0 * s, 70.0 * s, 0.4 * ln, 0.7 * ln, ln - 60.0 * s, ln - 30.0 * s],
                           [16.0 * s, 4.5 * s, 5.5 * s, 5.0 * s, 3.0 * s, 15.0 * s], 24)
    tube(L, f.Pc, f.a_hat, tk, ak, ck, depth=0.88, mu_cortex=MU_CORTEX, mu_inner=MU_MARROW)
    distal = [Td(110.0 * s, -12.0 * s), Td(70.0 * s, -14.0 * s), M(20.0 * s, 30.0 * s), M(21.5 * s, 16.0 * s),
              M(20.0 * s, 9.5 * s), M(10.0 * s, 8.3 * s), M(0.0, 8.0 * s), M(-10.0 * s, 8.1 * s),
              M(-18.0 * s, 8.6 * s), M(-22.0 * s, 6.0 * s), M(-25.5 * s, 2.5 * s), M(-31.0 * s, 0.5), g.MM,
              M(-39.0 * s, 0.5), M(-42.5 * s, 5.0 * s), M(-43.5 * s, 15.0 * s), M(-40.0 * s, 30.0 * s),
              Td(70.0 * s, 16.0 * s), Td(110.0 * s, 13.0 * s), Td(125.0 * s, 0.0)]
    outline_solid(L, distal, radius_mm=24.0 * s, depth=0.9, cortex_mm=1.0, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    L.commit()
    # subchondral plates, physeal scars
    S = Layer(canvas, bone=True)
    curve(S, [P(-hf + 3.0 * s, 1.6), P(-9.0 * s, 1.4), P(9.0 * s, 1.4), P(hf - 3.0 * s, 1.6)], 1.1,
          mu=MU_SUBCHONDRAL * 0.35, depth=10.0)
    curve(S, [P(-hf + 6.0 * s, 20.0 * s), P(0.0, 17.0 * s), P(hf - 6.0 * s, 20.0 * s)], 1.2,
          mu=MU_CORTEX * 0.1, depth=12.0)
    curve(S, [M(19.0 * s, 7.4 * s), M(0.0, 7.0 * s), M(-18.0 * s, 7.6 * s)], 1.0, mu=MU_SUBCHONDRAL * 0.35,
          depth=12.0)
    curve(S, [M(18.0 * s, 24.0 * s), M(-5.0 * s, 22.0 * s), M(-30.0 * s, 24.0 * s)], 1.2, mu=MU_CORTEX * 0.1,
          depth=12.0)
    S.commit()


def render_fibula(canvas: Canvas, g: LegGeometry) -> None:
    """Fibular head under the lateral plateau (overlapping the tibia), shaft, lateral malleolus to ML."""
    f = _Frames(g)
    s, M = f.s, f.M
    shift = 0.3 * g.params.rotation_deg  # external rotation moves the fibula behind the tibia: more overlap
    hc = g.PL + (4.0 * s - shift) * (-g.e_p) + 20.0 * s * g.n_p

    def Hf(x: float, y: float) -> np.ndarray:
        return hc + x * g.e_p + y * g.n_p

    L = Layer(canvas, bone=True)
    head = [Hf(-7.0 * s, -14.0 * s), Hf(1.0 * s, -10.5 * s), Hf(9.5 * s, -5.0 * s), Hf(12.0 * s, 4.0 * s),
            Hf(8.0 * s, 14.0 * s), Hf(6.0 * s, 28.0 * s), Hf(-5.0 * s, 28.0 * s), Hf(-9.0 * s, 15.0 * s),
            Hf(-13.0 * s, 3.0 * s), Hf(-12.0 * s, -7.0 * s)]
    outline_solid(L, head, radius_mm=12.0 * s, depth=1.0, cortex_mm=1.2, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    top = Hf(0.5 * s, 22.0 * s)
    low = M(28.0 * s, 58.0 * s)
    ax = low - top
    ln = float(np.hypot(*ax))
    tk, ak = smooth_profile([0.0, 30.0 * s, 0.5 * ln, ln - 30.0 * s, ln], [6.5 * s, 6.0 * s, 6.5 * s, 6.5 * s,
                                                                             7.5 * s], 20)
    _, ck = smooth_profile([0.0, 30.0 * s, 0.5 * ln, ln - 30.0 * s, ln], [6.5 * s, 2.5, 2.8, 2.2, 7.5 * s], 20)
    tube(L, top, ax, tk, ak, ck, depth=1.0, mu_cortex=MU_CORTEX, mu_inner=MU_MARROW)
    mall = [M(21.0 * s, 72.0 * s), M(21.5 * s, 40.0 * s), M(22.5 * s, 18.0 * s), M(23.0 * s, 7.0 * s),
            M(26.0 * s, 2.0 * s), M(31.0 * s, 0.5), g.ML, M(39.0 * s, 0.5), M(42.0 * s, 8.0 * s),
            M(41.5 * s, 24.0 * s), M(37.0 * s, 48.0 * s), M(35.0 * s, 72.0 * s), M(28.0 * s, 80.0 * s)]
    outline_solid(L, mall, radius_mm=10.0 * s, depth=1.1, cortex_mm=1.3, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    L.commit()


def render_foot(canvas: Canvas, g: LegGeometry) -> None:
    """Talus dome under the plafond, calcaneus, navicular, cuboid, cuneiforms and metatarsals."""
    f = _Frames(g)
    s, M = f.s, f.M

    def bone(points: list, radius: float, depth: float, mu_c: float = MU_CORTEX, mu_i: float = MU_TRABECULAR,
             cortex: float = 1.2) -> None:
        L = Layer(canvas, bone=True)
        outline_solid(L, points, radius_mm=radius * s, depth=depth, cortex_mm=cortex, mu_cortex=mu_c,
                      mu_inner=mu_i)
        L.commit()

    # calcaneus first (deepest), then the talus over it
    bone([M(-14.0 * s, -16.0 * s), M(2.0 * s, -13.0 * s), M(17.0 * s, -16.0 * s), M(26.0 * s, -27.0 * s),
          M(27.0 * s, -44.0 * s), M(18.0 * s, -57.0 * s), M(2.0 * s, -60.0 * s), M(-10.0 * s, -52.0 * s),
          M(-17.0 * s, -33.0 * s)], 20.0, 1.4, MU_CORTEX * 0.85, MU_TRABECULAR * 0.8)
    bone([M(-16.0 * s, 4.0 * s), M(-8.0 * s, 5.2 * s), M(0.0, 5.5 * s), M(8.0 * s, 5.3 * s), M(17.0 * s, 4.0 * s),
          M(20.5 * s, -2.0 * s), M(19.0 * s, -13.0 * s), M(10.0 * s, -21.0 * s), M(-5.0 * s, -24.0 * s),
          M(-20.0 * s, -20.0 * s), M(-23.0 * s, -12.0 * s), M(-18.0 * s, -4.0 * s), M(-18.5 * s, 1.5 * s)],
         17.0, 1.3)
    bone([M(-32.0 * s, -28.0 * s), M(-20.0 * s, -26.0 * s), M(-11.0 * s, -33.0 * s), M(-14.0 * s, -42.0 * s),
          M(-27.0 * s, -44.0 * s), M(-35.0 * s, -37.0 * s)], 8.0, 1.6)
    bone([M(6.0 * s, -55.0 * s), M(20.0 * s, -53.0 * s), M(27.0 * s, -60.0 * s), M(22.0 * s, -70.0 * s),
          M(8.0 * s, -70.0 * s), M(3.0 * s, -63.0 * s)], 8.0, 1.6)
    for x0, x1 in ((-33.0, -21.0), (-20.0, -9.0), (-8.0, 3.0)):
        bone([M(x0 * s, -47.0 * s), M(x1 * s, -46.0 * s), M((x1 + 0.5) * s, -57.0 * s),
              M(x0 * s, -58.0 * s)], 5.0, 2.2)
    L = Layer(canvas, bone=True)
    for k in range(5):
        base = M((-27.0 + 12.5 * k) * s, (-60.0 - 3.0 * abs(k - 1.5) - (5.0 if k == 4 else 0.0)) * s)
        direction = -f.n_up + 0.1 * (k - 2) * g.e_m
        length = (40.0 - 3.0 * abs(k - 1)) * s
        tk, ak = smooth_profile([0.0, 3.0, 9.0 * s, 0.5 * length, length - 6.0 * s, length],
                                [2.0 * s, 5.5 * s, 4.2 * s, 3.3 * s, 4.5 * s, 0.5 * s], 16)
        tube(L, base, direction, tk, ak, np.full_like(tk, 1.4), depth=1.4, mu_cortex=MU_CORTEX,
             mu_inner=MU_TRABECULAR)
    L.commit()
