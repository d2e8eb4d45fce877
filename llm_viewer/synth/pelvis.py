"""Pelvis and trunk soft tissue: iliac wings, acetabula, pubic rami, obturator foramina, symphysis, sacrum.

Built in a pelvic frame anchored on the two femoral head centres: ``ex`` runs from the right head to the
left one, ``ey`` is its downward normal, and ``q`` is the distance from the midline towards one side, so
pelvic obliquity from a leg-length discrepancy tilts the whole pelvis with the heads.
"""

from __future__ import annotations

import numpy as np

from .anatomy import MU_CORTEX, MU_FAT, MU_SOFT, MU_TRABECULAR
from .geometry import StudyGeometry
from .primitives import Canvas, Layer, curve, ellipse_points, ellipsoid, polygon, smooth_closed, smooth_open, tube
from .shapes import outline_solid


def render_pelvis(canvas: Canvas, body: Layer, geo: StudyGeometry, rng: np.random.Generator) -> float:
    """Draw the pelvis, and the trunk's soft tissue into ``body``; return the crotch row (mm).

    ``body`` is the soft-tissue layer shared with the legs (a union: thighs and trunk do not add).
    """
    O = geo.pelvis_origin  # noqa: E741 - the pelvic origin
    ex = geo.pelvis_axis
    ey = np.array([-ex[1], ex[0]])
    h = float(np.hypot(*(geo.legs["left"].H - geo.legs["right"].H))) / 2.0
    k = h / 91.0  # pelvic size relative to an average adult
    r_head = {side: g.params.head_radius_mm for side, g in geo.legs.items()}
    soft = np.mean([g.params.soft_tissue_scale for g in geo.legs.values()])

    def P(side_sign: int, q: float, v: float) -> np.ndarray:
        """Pelvic point: ``q`` mm from the midline towards ``side`` (right: -ex), ``v`` mm below the heads."""
        return O - side_sign * q * ex + v * ey

    crotch_y = float(O[1] + 75.0 * k)
    # trunk soft tissue: a wide elliptical cylinder down to the crotch
    T = body
    half = h + 100.0 * soft
    top = O - 400.0 * ey
    tube(T, top, ey, [0.0, 200.0, 330.0, 400.0 + 60.0 * k, 400.0 + 120.0 * k],
         [half * 0.95, half, half, half * 0.8, 0.0], [22.0 * soft] * 5, depth=0.6, mu_cortex=MU_FAT,
         mu_inner=MU_SOFT)
    # bowel gas: a few lucent blobs over the upper pelvis
    G = Layer(canvas)
    for _ in range(int(rng.integers(3, 9))):
        c = O + rng.uniform(-0.8, 0.8) * h * ex - rng.uniform(40.0, 180.0) * k * ey
        n = 7
        ang = np.linspace(0.0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 1)
        rad = rng.uniform(6.0, 22.0) * rng.uniform(0.6, 1.3, size=n)
        blob = c + np.stack([np.cos(ang) * rad * rng.uniform(1.0, 1.8), np.sin(ang) * rad], axis=1)
        polygon(G, smooth_closed(blob), value=float(rng.uniform(0.15, 0.45)), soften_mm=float(rng.uniform(2.5, 5.0)),
                mode="add")
    G.commit(weight=-1.0)

    B = Layer(canvas, bone=True)
    # sacrum, faint, with foramina
    sac = [P(1, 52 * k, -150 * k), P(-1, 52 * k, -150 * k), P(-1, 30 * k, -70 * k), P(-1, 12 * k, -15 * k),
           P(1, 12 * k, -15 * k), P(1, 30 * k, -70 * k)]
    holes = []
    for i in range(4):
        for sg in (1, -1):
            c = P(sg, 20 * k - 2.5 * i * k, (-125 + 26 * i) * k)
            holes.append(ellipse_points(c, ex, 5.0 * k, 4.0 * k, n=12))
    polygon(B, sac, value=0.22, soften_mm=3.0, holes=holes)
    for sg in (1, -1):
        hr = r_head["right" if sg == 1 else "left"]
        # iliac wing: a plate with a dense crest and the arcuate line
        wing = [P(sg, h - 30 * k, -22 * k), P(sg, h + 30 * k, -22 * k), P(sg, h + 48 * k, -55 * k),
                P(sg, h + 62 * k, -100 * k), P(sg, h + 48 * k, -135 * k), P(sg, h + 5 * k, -150 * k),
                P(sg, h - 40 * k, -138 * k), P(sg, h - 52 * k, -110 * k), P(sg, h - 50 * k, -60 * k)]
        W = Layer(canvas, bone=True)
        outline_solid(W, wing, radius_mm=9.0 * k, depth=0.45, cortex_mm=1.6, mu_cortex=MU_CORTEX,
                      mu_inner=MU_TRABECULAR * 0.6)
        # supra-acetabular body: thick bone from the lower wing into the acetabular roof
        Hs = geo.legs["right" if sg == 1 else "left"].H
        a0, a1 = (195.0, 330.0) if sg == 1 else (210.0, 345.0)
        arc = Hs + (hr + 5.5) * np.stack([np.cos(np.radians(np.linspace(a0, a1, 7))),
                                          np.sin(np.radians(np.linspace(a0, a1, 7)))], axis=1)
        top = [P(sg, h + 32 * k, -48 * k), P(sg, h - 10 * k, -80 * k), P(sg, h - 46 * k, -62 * k)]
        if np.hypot(*(arc[0] - top[-1])) > np.hypot(*(arc[-1] - top[-1])):
            arc = arc[::-1]
        outline_solid(W, [*top, *arc],
                      radius_mm=22.0 * k, depth=0.7, cortex_mm=0.8, mu_cortex=MU_TRABECULAR * 2.2,
                      mu_inner=MU_TRABECULAR * 1.6)
        W.commit()
        # the wing is a broad plate of bone, not a rim: thin in the iliac fossa, thicker towards the
        # sacroiliac joint and the acetabulum (greater sciatic notch, posterior column)
        Pl = Layer(canvas, bone=True)
        polygon(Pl, smooth_closed(wing), value=0.16, soften_mm=5.0 * k, mode="add")
        polygon(Pl, smooth_closed([P(sg, h - 48 * k, -125 * k), P(sg, h - 20 * k, -105 * k),
                                   P(sg, h + 25 * k, -50 * k), P(sg, h + 20 * k, -25 * k),
                                   P(sg, h - 30 * k, -22 * k), P(sg, h - 52 * k, -60 * k)]),
                value=0.14, soften_mm=12.0 * k, mode="add")
        Pl.commit()
        crest = smooth_closed(wing)[8:40]
        curve(B, crest, 2.5 * k, mu=MU_CORTEX * 0.8, depth=1.6)
        # sacroiliac joint margins
        curve(B, [P(sg, h - 50 * k, -120 * k), P(sg, h - 55 * k, -85 * k), P(sg, h - 50 * k, -58 * k)], 2.5 * k,
              mu=MU_CORTEX, depth=2.0)
        # pelvic brim (arcuate / iliopectineal line) down to the pubis
        brim = [P(sg, h - 50 * k, -60 * k), P(sg, h - 52 * k, -30 * k), P(sg, h - 47 * k, -2 * k),
                P(sg, h - 56 * k, 16 * k), P(sg, 20 * k, 30 * k)]
        curve(B, smooth_open(brim), 2.2 * k, mu=MU_CORTEX * 0.8, depth=2.2)
        # acetabulum: roof (sourcil) arc, posterior wall, teardrop
        Hs = geo.legs["right" if sg == 1 else "left"].H
        ang = np.radians(np.linspace(195.0, 330.0, 16)) if sg == 1 else np.radians(np.linspace(210.0, 345.0, 16))
        roof = Hs + (hr + 4.5) * np.stack([np.cos(ang), np.sin(ang)], axis=1)
        curve(B, roof, 2.4, mu=MU_CORTEX, depth=3.5)
        cup = [Hs + (hr + 6) * np.array([np.cos(a), np.sin(a)]) for a in np.radians(np.linspace(180, 360, 9))]
        polygon(B, [Hs + np.array([-(hr + 14), -2.0]), *cup, Hs + np.array([hr + 14, -2.0])], value=0.12,
                soften_mm=4.0)
        ellipsoid(B, P(sg, h - hr - 8 * k, 2 * k), ey, 14 * k, 5 * k, 10 * k, cortex=1.5, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
        # pubis and ischium: a plate with the obturator foramen as a hole, cortical rims around it
        fc = P(sg, h - 35 * k, 48 * k)
        hole = ellipse_points(fc, ey, 27 * k, 18 * k, n=40)
        frame = smooth_closed([P(sg, h - 5 * k, 2 * k), P(sg, h - 30 * k, 12 * k), P(sg, 20 * k, 24 * k),
                               P(sg, 2 * k, 32 * k), P(sg, 2 * k, 58 * k), P(sg, 20 * k, 66 * k),
                               P(sg, h - 40 * k, 82 * k), P(sg, h - 5 * k, 92 * k), P(sg, h + 2 * k, 70 * k),
                               P(sg, h - 2 * k, 35 * k)])
        polygon(B, frame, value=0.32, soften_mm=2.0, holes=[hole])
        curve(B, hole, 2.2 * k, mu=MU_CORTEX, depth=2.5, closed=True)
        curve(B, smooth_open([P(sg, h - 47 * k, -2 * k), P(sg, h - 56 * k, 16 * k), P(sg, 20 * k, 28 * k)]),
              2.3 * k, mu=MU_CORTEX * 0.8, depth=2.5)
        ellipsoid(B, P(sg, h - 15 * k, 80 * k), ey, 17 * k, 13 * k, 18 * k, cortex=1.2, mu_cortex=MU_CORTEX * 0.7,
                  mu_inner=MU_TRABECULAR * 1.4)
        # pubic body beside the symphysis (the gap between the two is the symphysis)
        ellipsoid(B, P(sg, 11 * k, 45 * k), ey, 16 * k, 8.5 * k, 12 * k, cortex=1.8, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    B.commit()
    return crotch_y
