"""Tibia, fibula and foot of one leg, with anatomical outlines placed on the exact landmarks.

The tibial plateau outline passes through PL and PM (its lateral and medial ends) and flares smoothly
into the shaft; the medial malleolus is a tapered tongue whose lowest point is MM and the lateral
malleolus (fibula) one whose lowest point is ML, both with horizontal tangents along the malleolar line.
The talus dome sits under the plafond with a joint space; calcaneus, navicular, cuboid, cuneiforms and
metatarsals are irregular, jittered outlines with thin cortices, foreshortened and overlapping as in a
standing AP view.

Frames (image mm): ``P(x, y) = Pc + x·e_p + y·n_p`` at the plateau (x medial, y distal);
``M(x, y) = A + x·e_m + y·n_up`` at the ankle (x lateral, y proximal); ``T``/``Td`` along the tibial
shaft from the plateau centre and from the plafond.
"""

from __future__ import annotations

import math

import numpy as np

from .anatomy import MU_CORTEX, MU_MARROW, MU_SUBCHONDRAL, MU_TRABECULAR, _plafond, perp_towards
from .geometry import LegGeometry
from .primitives import Canvas, Layer, curve, ellipsoid, polygon, smooth_open, tube
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

    def tip_shift(self, tip: np.ndarray) -> float:
        """How far (mm, along ``e_m``) a malleolus landmark lies from its nominal ±35 mm (× bone scale)."""
        x = float((tip - self.g.A) @ self.g.e_m)
        return x - math.copysign(35.0 * self.s, x)


def render_tibia(canvas: Canvas, g: LegGeometry) -> None:
    """Tibia: plateau through PL and PM with spines, shaft with canal, plafond, medial malleolus to MM."""
    f = _Frames(g)
    s, P, T, Td, M, hf = f.s, f.P, f.T, f.Td, f.M, f.half
    L = Layer(canvas, bone=True)
    # plateau surfaces: the lateral one slightly convex, the medial one slightly concave (both end at PL and
    # PM on the plateau line); the intercondylar eminence rises between them with its two tubercles, unless
    # a knee replacement has resected it (flat cut under the tray)
    spines = ([P(-11.0 * s, -0.8 * s), P(-6.0 * s, -6.5 * s), P(-2.5 * s, -4.2 * s), P(1.5 * s, -8.5 * s),
               P(6.0 * s, -3.0 * s), P(10.5 * s, 0.3 * s)] if not g.params.knee_implant else [P(0.0, -0.8)])
    lat_top = [P(-hf + 3.0 * s, -0.6 * s), P(-0.62 * hf, -1.0 * s), P(-0.36 * hf, -0.7 * s)]
    med_top = [P(0.36 * hf, 1.0 * s), P(0.62 * hf, 1.3 * s), P(hf - 3.0 * s, 0.5 * s)]
    if g.params.knee_implant:
        lat_top = [P(-hf + 4.0 * s, -0.5), P(-17.0 * s, -1.0)]
        med_top = [P(18.0 * s, -1.0), P(hf - 4.0 * s, -0.5)]
    # sides: a small overhanging lip under each plateau end, then the metaphysis narrows like a bell into
    # the shaft (concave outward), not a straight taper
    proximal = [g.PL, *lat_top, *spines, *med_top, g.PM, P(hf + 0.8, 4.0 * s), P(hf + 0.2, 11.0 * s),
                P(hf - 1.8 * s, 21.0 * s), T(35.0 * s, 0.8 * hf), T(50.0 * s, 0.62 * hf), T(70.0 * s, 18.0 * s),
                T(95.0 * s, 14.5 * s), T(112.0 * s, 0.0), T(95.0 * s, -14.5 * s), T(70.0 * s, -17.5 * s),
                T(50.0 * s, -0.64 * hf), T(35.0 * s, -0.82 * hf), P(-hf + 1.8 * s, 21.0 * s),
                P(-hf - 0.2, 11.0 * s), P(-hf - 0.8, 4.0 * s)]
    outline_solid(L, proximal, radius_mm=30.0 * s, depth=0.82, cortex_mm=0.9, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    ln = f.ln
    tk, ak = smooth_profile([35.0 * s, 0.4 * ln, 0.7 * ln, ln - 60.0 * s, ln - 30.0 * s],
                            [16.0 * s, 14.0 * s, 12.5 * s, 13.5 * s, 15.0 * s], 24)
    _, ck = smooth_profile([35.0 * s, 70.0 * s, 0.4 * ln, 0.7 * ln, ln - 60.0 * s, ln - 30.0 * s],
                           [16.0 * s, 4.5 * s, 5.5 * s, 5.0 * s, 3.0 * s, 15.0 * s], 24)
    tube(L, f.Pc, f.a_hat, tk, ak, ck, depth=0.88, mu_cortex=MU_CORTEX, mu_inner=MU_MARROW)
    canvas.shafts.append((f.Pc + 110.0 * s * f.a_hat, f.Fc - 90.0 * s * f.a_hat, 14.0 * s))
    # distal metaphysis: flares gradually from the shaft to the plafond (not a block on a stick). The medial
    # malleolus is built around MM: its tip moves with the landmark (the per-leg malleolar width), fading
    # to the fixed metaphysis above, so MM is the middle of the rounded tip the image shows
    dm = f.tip_shift(g.MM)
    distal = [Td(110.0 * s, -12.0 * s), Td(70.0 * s, -14.0 * s), M(15.0 * s, 50.0 * s), M(19.5 * s, 30.0 * s),
              M(21.5 * s, 16.0 * s),
              M(20.0 * s, 9.5 * s), M(10.0 * s, 8.3 * s), M(0.0, 8.0 * s), M(-10.0 * s, 8.1 * s),
              M(-18.0 * s, 8.6 * s), M(-22.0 * s, 6.0 * s), M(-25.5 * s + dm, 2.5 * s),
              M(-31.0 * s + dm, 0.5), g.MM, M(-39.0 * s + dm, 0.5), M(-42.5 * s + dm, 5.0 * s),
              M(-43.5 * s + 0.7 * dm, 15.0 * s), M(-38.5 * s + 0.3 * dm, 32.0 * s),
              M(-30.0 * s, 50.0 * s), Td(70.0 * s, 16.0 * s), Td(110.0 * s, 13.0 * s), Td(125.0 * s, 0.0)]
    outline_solid(L, distal, radius_mm=24.0 * s, depth=0.9, cortex_mm=1.0, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    L.commit()
    # subchondral plates, physeal scars
    S = Layer(canvas, bone=True)
    # subchondral plates under each compartment, each with a fainter second line a few mm below: the
    # posterior rim of the sloped plateau projects under the anterior one
    for top, rim in ((lat_top, 3.5 * s), (med_top, 4.5 * s)):
        line = smooth_open(np.array(top) + 1.6 * g.n_p, 4)
        curve(S, line, 1.2, mu=MU_SUBCHONDRAL * 0.4, depth=10.0)
        bend = np.sin(np.linspace(0.15, 0.85, len(line)) * np.pi)[:, None]  # meets the anterior rim at the ends
        curve(S, line + rim * bend * g.n_p, 0.8, mu=MU_SUBCHONDRAL * 0.14, depth=9.0)
    # subchondral sclerosis of the loaded compartment (medial in varus, lateral in valgus knees)
    if not g.params.knee_implant:
        load = 180.0 - g.params.hka_deg
        for sign, amount in ((1.0, load), (-1.0, -load)):
            dens = min(0.16, max(0.0, 0.012 * (amount + 2.0)))
            if dens > 0.01:
                x0, x1 = (0.25 * hf, hf - 2.0 * s) if sign > 0 else (-hf + 2.0 * s, -0.25 * hf)
                depth_mm = (3.0 + 0.6 * max(0.0, amount)) * s
                band = [P(x0, 1.5 * s), P(x1, 1.2 * s), P(x1 - sign * 2.0 * s, depth_mm), P(x0, depth_mm * 0.8)]
                polygon(S, band, value=dens, soften_mm=1.5, mode="add")
    curve(S, [P(-hf + 6.0 * s, 20.0 * s), P(-0.5 * hf, 17.6 * s), P(-0.15 * hf, 17.8 * s), P(0.2 * hf, 16.6 * s),
              P(0.55 * hf, 18.4 * s), P(hf - 6.0 * s, 20.0 * s)], 1.4, mu=MU_CORTEX * 0.07, depth=12.0)
    # the plafond's subchondral plate, just inside the bone (the plafond surface is at 8.0–8.6 mm)
    curve(S, [M(19.0 * s, 9.5 * s + 1.0), M(0.0, 8.0 * s + 1.0), M(-18.0 * s, 8.6 * s + 1.0)], 1.0,
          mu=MU_SUBCHONDRAL * 0.35,
          depth=12.0)
    curve(S, [M(18.0 * s, 24.0 * s), M(8.0 * s, 22.4 * s), M(-5.0 * s, 22.8 * s), M(-17.0 * s, 21.7 * s),
              M(-30.0 * s, 24.0 * s)], 1.4, mu=MU_CORTEX * 0.07,
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
    canvas.shafts.append((top + 45.0 * s * ax / ln, low - 35.0 * s * ax / ln, 6.5 * s))
    # the lateral malleolus is built around ML in the same way (its tip follows the landmark)
    dl = f.tip_shift(g.ML)
    mall = [M(21.0 * s, 72.0 * s), M(21.5 * s, 40.0 * s), M(22.5 * s + 0.4 * dl, 18.0 * s),
            M(23.0 * s + 0.85 * dl, 7.0 * s), M(26.0 * s + dl, 2.0 * s), M(31.0 * s + dl, 0.5), g.ML,
            M(39.0 * s + dl, 0.5), M(42.0 * s + dl, 8.0 * s), M(41.5 * s + 0.6 * dl, 24.0 * s),
            M(37.0 * s + 0.25 * dl, 48.0 * s), M(35.0 * s, 72.0 * s), M(28.0 * s, 80.0 * s)]
    outline_solid(L, mall, radius_mm=10.0 * s, depth=1.1, cortex_mm=1.3, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    L.commit()


def render_foot(canvas: Canvas, g: LegGeometry, rng: np.random.Generator) -> None:
    """Talus dome under the plafond, calcaneus, navicular, cuboid, cuneiforms and metatarsals.

    In a standing AP view the foot points at the tube: the tarsal bones project foreshortened and
    overlapping below the talus, with thin cortices, so they read as a jumble of irregular densities, not
    as separate rimmed shapes. Outlines are jittered per leg (about 1.5 mm) so no two feet are alike.
    """
    f = _Frames(g)
    s, M = f.s, f.M

    def jit(points: list, sd: float = 1.5) -> list:
        return [p + rng.normal(0.0, sd * s, 2) for p in points]

    def bone(points: list, radius: float, depth: float, mu_c: float = MU_CORTEX * 0.8,
             mu_i: float = MU_TRABECULAR, cortex: float = 0.9) -> None:
        L = Layer(canvas, bone=True)
        outline_solid(L, points, radius_mm=radius * s, depth=depth, cortex_mm=cortex, mu_cortex=mu_c,
                      mu_inner=mu_i)
        L.commit()

    # calcaneus first (deepest, behind the talus): a broad, faint mass below and lateral to the talus
    bone(jit([M(-12.0 * s, -14.0 * s), M(4.0 * s, -12.0 * s), M(20.0 * s, -15.0 * s), M(29.0 * s, -24.0 * s),
              M(31.0 * s, -37.0 * s), M(24.0 * s, -49.0 * s), M(8.0 * s, -53.0 * s), M(-6.0 * s, -47.0 * s),
              M(-10.0 * s, -36.0 * s), M(-19.0 * s, -30.0 * s), M(-17.0 * s, -22.0 * s)], 2.0),
         13.0, 1.1, MU_CORTEX * 0.6, MU_TRABECULAR * 0.9, 0.8)
    # talus: dome under the plafond, lateral process, neck and head running down and medially
    bone(jit([M(-16.0 * s, 4.0 * s), M(-8.0 * s, 5.2 * s), M(0.0, 5.5 * s), M(8.0 * s, 5.3 * s),
              M(17.0 * s, 4.0 * s), M(20.5 * s, -2.0 * s), M(21.0 * s, -11.0 * s), M(14.0 * s, -17.0 * s),
              M(4.0 * s, -20.0 * s), M(-6.0 * s, -27.0 * s), M(-16.0 * s, -33.0 * s), M(-25.0 * s, -30.0 * s),
              M(-24.0 * s, -20.0 * s), M(-18.0 * s, -8.0 * s), M(-18.5 * s, 1.5 * s)], 0.8), 15.0, 1.3,
         MU_CORTEX, MU_TRABECULAR, 1.1)
    # navicular: a curved bar over the talar head
    bone(jit([M(-33.0 * s, -31.0 * s), M(-24.0 * s, -34.0 * s), M(-13.0 * s, -35.0 * s), M(-6.0 * s, -39.0 * s),
              M(-10.0 * s, -44.0 * s), M(-22.0 * s, -43.0 * s), M(-32.0 * s, -40.0 * s), M(-36.0 * s, -35.0 * s)]),
         6.0, 1.8)
    # cuboid: lateral, trapezoidal
    bone(jit([M(7.0 * s, -46.0 * s), M(19.0 * s, -44.0 * s), M(27.0 * s, -49.0 * s), M(25.0 * s, -60.0 * s),
              M(16.0 * s, -64.0 * s), M(6.0 * s, -61.0 * s), M(4.0 * s, -53.0 * s)]), 8.0, 1.6)
    # cuneiforms: three wedges, overlapping each other where the arch is foreshortened
    for x0, x1 in ((-33.0, -20.0), (-21.0, -9.5), (-11.0, 1.5)):
        y0 = -43.0 - 0.15 * x0
        bone(jit([M(x0 * s, y0 * s), M(0.5 * (x0 + x1) * s, (y0 + 1.0) * s), M(x1 * s, (y0 - 0.5) * s),
                  M((x1 + 1.0) * s, (y0 - 7.0) * s), M((x1 - 1.0) * s, (y0 - 13.0) * s),
                  M((x0 + 1.0) * s, (y0 - 14.0) * s), M((x0 - 1.0) * s, (y0 - 7.0) * s)], 1.0), 5.0, 2.0)
    # metatarsals and toes point at the tube: short foreshortened shafts whose heads, and the proximal
    # phalanges seen end-on over them, project as small dense rings along the forefoot
    L = Layer(canvas, bone=True)
    for k in range(5):
        x = (-28.0 + 13.0 * k + rng.normal(0.0, 1.0)) * s
        base = M(x, (-57.0 - 2.0 * abs(k - 1.5) - (3.0 if k == 4 else 0.0)) * s)
        direction = -f.n_up + (0.12 * (k - 2) + rng.normal(0.0, 0.04)) * g.e_m
        length = (14.0 - 1.5 * abs(k - 1) + rng.normal(0.0, 1.5)) * s
        tk, ak = smooth_profile([0.0, 2.0, 0.5 * length, length - 3.0 * s, length],
                                [3.0 * s, 5.0 * s, 3.6 * s, 4.8 * s, 0.5 * s], 12)
        tube(L, base, direction, tk, ak, np.full_like(tk, 1.2), depth=2.2, mu_cortex=MU_CORTEX,
             mu_inner=MU_TRABECULAR)
    L.commit()
    P = Layer(canvas, bone=True)
    for k in range(5):
        x = (-30.0 + 14.0 * k + rng.normal(0.0, 1.5)) * s
        c = M(x, (-70.0 - 1.5 * abs(k - 1.5) + rng.normal(0.0, 1.5)) * s)
        r = (5.5 if k == 0 else 4.0 - 0.3 * (k - 1)) * s
        # a phalanx seen end-on is a short tube along the beam: its cortex projects as a solid, only slightly
        # brighter rim (not a thin ring); the middle phalanx overlaps it a little further along the toe
        ellipsoid(P, c, f.n_up, r * 1.1, r, 2.2 * r, cortex=0.45 * r, mu_cortex=MU_CORTEX * 0.75,
                  mu_inner=MU_TRABECULAR * 1.8)
        if k > 0:
            ellipsoid(P, c - 4.5 * s * f.n_up + rng.normal(0.0, 0.8, 2) * s, f.n_up, 0.8 * r, 0.75 * r, 1.4 * r,
                      cortex=0.4 * r, mu_cortex=MU_CORTEX * 0.7, mu_inner=MU_TRABECULAR * 1.8)
    P.commit()
