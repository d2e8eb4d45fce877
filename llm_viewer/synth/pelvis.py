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
        # the wing's body, without a cortical outline of its own: its lower part merges into the
        # supra-acetabular body, so only the crest, the lateral margin and the sacroiliac joint show as lines
        W = Layer(canvas, bone=True)
        outline_solid(W, wing, radius_mm=9.0 * k, depth=0.45, cortex_mm=1.6, mu_cortex=MU_TRABECULAR * 0.6,
                      mu_inner=MU_TRABECULAR * 0.6)
        W.commit()
        # the wing is a broad plate of bone, not a rim: thin in the iliac fossa, thicker towards the
        # sacroiliac joint and the acetabulum (greater sciatic notch, posterior column)
        Pl = Layer(canvas, bone=True)
        polygon(Pl, smooth_closed(wing), value=0.22, soften_mm=5.0 * k, mode="add")
        polygon(Pl, smooth_closed([P(sg, h - 48 * k, -125 * k), P(sg, h - 20 * k, -105 * k),
                                   P(sg, h + 25 * k, -50 * k), P(sg, h + 20 * k, -25 * k),
                                   P(sg, h - 30 * k, -22 * k), P(sg, h - 52 * k, -60 * k)]),
                value=0.14, soften_mm=12.0 * k, mode="add")
        # supra-acetabular body: thick bone from the lower wing down to the acetabular roof, blending into
        # the wing (no outline of its own)
        Hs = geo.legs["right" if sg == 1 else "left"].H
        top = [P(sg, h + 32 * k, -48 * k), P(sg, h - 10 * k, -80 * k), P(sg, h - 46 * k, -62 * k)]
        arc = _hip_arc(Hs, sg, ex, np.linspace(-62.0, 78.0, 9), np.full(9, hr + 3.6))
        if np.hypot(*(arc[0] - top[-1])) > np.hypot(*(arc[-1] - top[-1])):
            arc = arc[::-1]
        supra = smooth_closed([*top, *arc])
        polygon(Pl, supra, value=0.12, soften_mm=1.5, mode="add")  # meets the sourcil without a gap
        polygon(Pl, supra, value=0.1, soften_mm=8.0 * k, mode="add")
        Pl.commit()
        crest = smooth_closed(wing)[8:40]
        curve(B, crest, 2.5 * k, mu=MU_CORTEX * 0.8, depth=1.6)
        # lateral margin below the crest: anterior superior spine, a notch, the inferior spine, then the
        # lateral lip of the acetabular roof
        margin = [crest[0], P(sg, h + 40 * k, -44 * k), P(sg, h + 37 * k, -36 * k), P(sg, h + 39 * k, -29 * k),
                  _hip_arc(Hs, sg, ex, [80.0], [hr + 4.0])[0]]
        curve(B, smooth_open(margin), 1.6 * k, mu=MU_CORTEX * 0.7, depth=1.8)
        # sacroiliac joint margins
        curve(B, [P(sg, h - 50 * k, -120 * k), P(sg, h - 55 * k, -85 * k), P(sg, h - 50 * k, -58 * k)], 2.5 * k,
              mu=MU_CORTEX, depth=2.0)
        # pelvic brim (arcuate / iliopectineal line) down to the pubis
        brim = [P(sg, h - 50 * k, -60 * k), P(sg, h - 52 * k, -30 * k), P(sg, h - 47 * k, -2 * k),
                P(sg, h - 56 * k, 16 * k), P(sg, 20 * k, 30 * k)]
        curve(B, smooth_open(brim), 2.2 * k, mu=MU_CORTEX * 0.8, depth=2.2)
        # acetabulum: sourcil, the two walls projected over the head, the fossa's overlap, the teardrop
        render_acetabulum(B, Hs, hr, sg, ex, k)
        # pubis and ischium: a plate with the obturator foramen as a hole, cortical rims around it
        # the foramen: a rounded triangle, long axis oblique, framed by the superior ramus (above), the
        # ischium (lateral and below, thickest) and the inferior ramus (medial, thinnest)
        fc_q, fc_v = h - 35 * k, 48 * k
        shape = [(0, -25), (14, -17), (17, 0), (8, 22), (-6, 26), (-15, 10), (-13, -12)]
        hole = smooth_closed([P(sg, fc_q + dq * k, fc_v + dv * k) for dq, dv in shape], 8)
        frame = smooth_closed([P(sg, h - 5 * k, 2 * k), P(sg, h - 30 * k, 12 * k), P(sg, 20 * k, 24 * k),
                               P(sg, 2 * k, 32 * k), P(sg, 2 * k, 58 * k), P(sg, 20 * k, 66 * k),
                               P(sg, h - 40 * k, 82 * k), P(sg, h - 5 * k, 92 * k), P(sg, h + 2 * k, 70 * k),
                               P(sg, h - 2 * k, 35 * k)])
        polygon(B, frame, value=0.32, soften_mm=2.0, holes=[hole])
        rim = np.interp(np.arange(len(hole)) / 8.0, np.arange(8), [2.6, 2.6, 3.0, 3.3, 2.4, 1.7, 2.0, 2.6])
        for i in range(len(hole)):
            curve(B, [hole[i], hole[(i + 1) % len(hole)]], float(rim[i]) * k, mu=MU_CORTEX, depth=2.5)
        curve(B, smooth_open([P(sg, h - 47 * k, -2 * k), P(sg, h - 56 * k, 16 * k), P(sg, 20 * k, 28 * k)]),
              2.3 * k, mu=MU_CORTEX * 0.8, depth=2.5)
        ellipsoid(B, P(sg, h - 15 * k, 80 * k), ey, 17 * k, 13 * k, 18 * k, cortex=1.2, mu_cortex=MU_CORTEX * 0.7,
                  mu_inner=MU_TRABECULAR * 1.4)
        # pubic body beside the symphysis (the gap between the two is the symphysis)
        ellipsoid(B, P(sg, 11 * k, 45 * k), ey, 16 * k, 8.5 * k, 12 * k, cortex=1.8, mu_cortex=MU_CORTEX,
                  mu_inner=MU_TRABECULAR)
    B.commit()
    return crotch_y


def _hip_arc(H: np.ndarray, sg: int, ex: np.ndarray, phi_deg: np.ndarray, r_mm: np.ndarray) -> np.ndarray:
    """Points around a femoral head centre: ``phi`` from straight up (0) towards lateral (+90) or medial (-90)."""
    lat = -sg * np.asarray(ex, dtype=np.float64)
    up = np.array([ex[1], -ex[0]])  # -ey
    ph = np.radians(np.asarray(phi_deg, dtype=np.float64))
    r = np.asarray(r_mm, dtype=np.float64)
    return H + (r * np.sin(ph))[:, None] * lat + (r * np.cos(ph))[:, None] * up


def render_acetabulum(B: Layer, H: np.ndarray, hr: float, sg: int, ex: np.ndarray, k: float) -> None:
    """The acetabulum of one hip as an AP radiograph shows it, around the femoral head centre ``H``.

    - the sourcil: a dense crescent of subchondral bone over the weight-bearing dome, thickest above the
      head and thinning towards both ends, whose sharp lower margin lies a joint space (≈ 3.5 mm) above
      the head;
    - the posterior wall, a faint cortical line that leaves the lateral end of the roof and crosses the
      head's inferolateral quadrant, and the anterior wall, fainter, crossing its medial half towards the
      superior pubic ramus;
    - the acetabular fossa's bone projected over the head's upper medial part (the head looks denser
      where the acetabulum covers it);
    - the teardrop: a "U" inferomedial to the head whose medial limb runs on as the ilioischial line.

    Parameters
    ----------
    B : Layer
        The pelvis's bone layer (the sourcil and teardrop join its union; the walls and the fossa's overlap
        get a layer of their own, so they add over the rest of the pelvis).
    H : numpy.ndarray
        Femoral head centre (image mm); ``hr`` its radius (mm).
    sg : int
        ``1`` for the right hip, ``-1`` for the left; ``ex`` the pelvic axis (right head to left head).
    k : float
        Pelvic size relative to an average adult.
    """
    lat = -sg * np.asarray(ex, dtype=np.float64)
    up = np.array([ex[1], -ex[0]])
    phi = np.linspace(-62.0, 78.0, 25)
    u = (phi - phi[0]) / (phi[-1] - phi[0])
    inner = hr + 3.5
    thick = 1.2 + 4.5 * np.sin(np.pi * u) ** 1.5
    crescent = np.vstack([_hip_arc(H, sg, ex, phi, np.full_like(phi, inner)),
                          _hip_arc(H, sg, ex, phi[::-1], (inner + thick)[::-1])])
    polygon(B, crescent, value=0.36, soften_mm=0.9, mode="max")
    halo = np.vstack([_hip_arc(H, sg, ex, phi, np.full_like(phi, inner + 0.5)),
                      _hip_arc(H, sg, ex, phi[::-1], (inner + 2.4 * thick + 2.0)[::-1])])
    polygon(B, halo, value=0.17, soften_mm=3.0, mode="max")
    curve(B, _hip_arc(H, sg, ex, phi, np.full_like(phi, inner + 0.6)), 0.9, mu=MU_CORTEX, depth=4.0)
    # the fossa's bone over the head, and the walls: projections of other parts of the acetabulum, so they
    # add over the rest of the pelvis (their own layer, not a union with it)
    Wl = Layer(B.canvas, bone=True)
    cover = np.vstack([_hip_arc(H, sg, ex, np.linspace(-150.0, 40.0, 20), np.full(20, hr + 3.0)),
                       _hip_arc(H, sg, ex, [10.0, -40.0, -95.0, -140.0], [0.55 * hr, 0.45 * hr, 0.6 * hr, 0.9 * hr])])
    polygon(Wl, cover, value=0.07, soften_mm=4.0, mode="max")
    # walls: faint cortical lines over the head
    posterior = _hip_arc(H, sg, ex, [74.0, 108.0, 148.0, 175.0, 184.0], [inner + 0.5, 0.62 * hr, 0.38 * hr,
                                                                            0.75 * hr, 1.45 * hr])
    curve(Wl, smooth_open(posterior), 1.1, mu=MU_CORTEX * 0.75, depth=2.2)
    anterior = _hip_arc(H, sg, ex, [-32.0, -66.0, -108.0, -146.0, -162.0], [inner + 0.5, 0.85 * hr, 0.75 * hr,
                                                                               1.0 * hr, 1.5 * hr])
    curve(Wl, smooth_open(anterior), 0.9, mu=MU_CORTEX * 0.55, depth=2.0)
    Wl.commit()
    # teardrop: a "U" medial and inferior to the head; its medial limb is the ilioischial line
    c = H - (hr + 7.0 * k) * lat - 0.8 * hr * up

    def Td(x: float, y: float) -> np.ndarray:
        return c + x * k * lat + y * k * up

    curve(B, smooth_open([Td(6.5, 19.0), Td(5.0, 9.0), Td(2.6, 2.0), Td(0.0, 0.0), Td(-2.6, 2.0), Td(-4.2, 9.0),
                          Td(-4.6, 18.0)]), 1.5, mu=MU_CORTEX, depth=2.8)
    curve(B, smooth_open([Td(-4.6, 18.0), Td(-5.0, 32.0), Td(-6.5, 48.0)]), 1.1, mu=MU_CORTEX * 0.7, depth=2.4)
