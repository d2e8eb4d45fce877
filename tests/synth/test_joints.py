"""Joint details of generator version 5: acetabulum (sourcil, walls, teardrop), tibial plateau surfaces,
subchondral sclerosis, and where the trabecular grain shows."""

import dataclasses

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from llm_viewer.synth import imaging, pelvis
from llm_viewer.synth.geometry import build_study
from llm_viewer.synth.lower_leg import render_tibia
from llm_viewer.synth.params import SynthConfig, sample_study
from llm_viewer.synth.primitives import Canvas, Layer

CFG = SynthConfig.with_height(4050)  # 0.28 mm pixels, coarse grid 1.12 mm


def _geo(seed):
    study = sample_study(np.random.default_rng(seed), CFG)
    return build_study(study, CFG.pixel_spacing_mm)


def _canvas():
    return Canvas(CFG.width_px, CFG.height_px, CFG.pixel_spacing_mm, CFG.render_scale)


def _sample(canvas, arr, pts_mm):
    """Bilinear samples of a coarse array at mm points."""
    px = canvas.to_px(np.asarray(pts_mm, dtype=np.float64))
    return map_coordinates(arr, [px[:, 1], px[:, 0]], order=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sourcil_is_a_dense_crescent_a_joint_space_above_the_head(seed):
    """Straight above each femoral head, the pelvis is fainter over the joint space than in the sourcil just
    above it, and stays dense 2.5 mm higher (a crescent merging into the ilium, not a floating line)."""
    geo = _geo(seed)
    canvas = _canvas()
    pelvis.render_pelvis(canvas, Layer(canvas, denser_core=True), geo, np.random.default_rng(0))
    ex = geo.pelvis_axis
    up = np.array([ex[1], -ex[0]])
    for side, g in geo.legs.items():
        r = g.params.head_radius_mm
        if canvas.to_px(g.H)[0] < 8 or canvas.to_px(g.H)[0] > canvas.wc - 8:
            continue
        prof = _sample(canvas, canvas.bone, [g.H + (r + d) * up for d in np.arange(0.0, 14.0, 0.25)])
        d = np.arange(0.0, 14.0, 0.25)
        joint = prof[(d >= 0.5) & (d <= 2.0)].mean()
        roof = prof[(d >= 4.0) & (d <= 6.5)]
        assert roof.max() > joint + 0.3, (side, joint, roof.max())  # the crescent alone adds 0.36
        assert roof.min() > joint + 0.15, (side, joint, roof)


def test_acetabular_walls_and_teardrop_are_drawn_over_and_beside_the_head():
    """Across the lower half of the head the pelvis contributes two thin lines (the walls); medial to the
    head, below its centre, a dense 'U' (the teardrop) whose interior is fainter than its limbs."""
    geo = _geo(0)
    canvas = _canvas()
    pelvis.render_pelvis(canvas, Layer(canvas, denser_core=True), geo, np.random.default_rng(0))
    ex = geo.pelvis_axis
    up = np.array([ex[1], -ex[0]])
    g = geo.legs["right"]
    lat = -ex  # the right hip's lateral direction
    r = g.params.head_radius_mm
    xs = np.linspace(-0.9 * r, 0.9 * r, 160)
    prof = _sample(canvas, canvas.bone, [g.H - 0.3 * r * up + x * lat for x in xs])
    base = np.convolve(prof, np.ones(41) / 41, mode="same")  # ≈ 11 mm: the background under a 2 mm line
    peaks = [i for i in range(20, len(prof) - 20) if prof[i] == prof[i - 5:i + 6].max() and prof[i] > base[i] + 0.02]
    assert len(peaks) >= 2, peaks
    k = float(np.hypot(*(geo.legs["left"].H - g.H))) / 2.0 / 91.0
    c = g.H - (r + 7.0 * k) * lat - 0.8 * r * up + 8.0 * k * up
    across = _sample(canvas, canvas.bone, [c + x * k * lat for x in np.linspace(-8.0, 8.0, 65)])
    mid = across[28:37].min()
    assert across[:28].max() > mid + 0.1 and across[37:].max() > mid + 0.1


def _plateau_profile(g, canvas):
    e_p, n_p = g.e_p, g.n_p
    Pc = (g.PL + g.PM) / 2.0
    hf = float(np.hypot(*(g.PM - g.PL))) / 2.0
    out = {}
    for name, x in (("lateral", -0.62 * hf), ("medial", 0.62 * hf), ("eminence", 1.5)):
        ys = np.arange(-12.0, 6.0, 0.1)
        v = _sample(canvas, canvas.bone, [Pc + x * e_p + y * n_p for y in ys])
        out[name] = float(ys[np.argmax(v > 0.5 * v.max())])  # proximal edge of the bone along n_p
    return out


def test_plateau_lateral_convex_medial_concave_eminence_rises_between():
    """Measured from the PL–PM line (proximal negative): the lateral plateau bulges above it, the medial one
    dips below it, and the medial tubercle of the eminence stands at least 5 mm above it."""
    geo = _geo(3)
    for g in geo.legs.values():
        if g.params.knee_implant:
            continue
        canvas = _canvas()
        render_tibia(canvas, g)
        prof = _plateau_profile(g, canvas)
        assert prof["lateral"] < -0.3, prof
        assert prof["medial"] > 0.3, prof
        assert prof["eminence"] < -5.0, prof


def _medial_density(g):
    canvas = _canvas()
    render_tibia(canvas, g)
    Pc = (g.PL + g.PM) / 2.0
    hf = float(np.hypot(*(g.PM - g.PL))) / 2.0
    pts = [Pc + x * g.e_p + y * g.n_p for x in np.linspace(0.45 * hf, 0.8 * hf, 8) for y in (3.0, 4.0, 5.0)]
    return float(_sample(canvas, canvas.bone, pts).mean())


def test_loaded_compartment_is_sclerotic():
    """The medial plateau's subchondral bone is denser in a varus knee than in the same knee made valgus."""
    geo = _geo(0)
    g = geo.legs["right"]
    varus = dataclasses.replace(g, params=dataclasses.replace(g.params, mmpta_deg=g.params.mldfa_deg - 8.0,
                                                               jlca_deg=0.0, knee_implant=False))
    valgus = dataclasses.replace(g, params=dataclasses.replace(g.params, mmpta_deg=g.params.mldfa_deg + 6.0,
                                                                jlca_deg=0.0, knee_implant=False))
    assert varus.params.hka_deg < 173.0 < 185.0 < valgus.params.hka_deg
    assert _medial_density(varus) > _medial_density(valgus) + 0.03


def test_trabecular_grain_fades_over_the_diaphyses_and_varies_elsewhere():
    canvas = _canvas()
    geo = _geo(0)
    g = geo.legs["right"]
    canvas.shafts.append((g.H + 0.3 * (g.K - g.H), g.H + 0.7 * (g.K - g.H), 14.0))
    gain = imaging.grain_gain(canvas, np.random.default_rng(5))
    assert gain.shape == canvas.att.shape
    mid = canvas.to_px(g.H + 0.5 * (g.K - g.H))
    over_shaft = gain[int(mid[1]) - 20:int(mid[1]) + 20, int(mid[0]) - 3:int(mid[0]) + 4]
    assert over_shaft.max() <= imaging.SHAFT_GRAIN * 1.7 + 1e-6
    away = gain[: canvas.hc // 5]
    assert away.std() > 0.2 and away.min() >= 0.25 - 1e-6 and away.max() <= 1.7 + 1e-6
    # the same random generator state gives the same field (deterministic images)
    assert np.array_equal(gain, imaging.grain_gain(canvas, np.random.default_rng(5)))


def _tip_centre(canvas, g, tip, above_mm):
    """Midpoint (mm along the malleolar line, from ``tip``) of the bone's chord ``above_mm`` above the tip."""
    n_up = np.array([-g.e_m[1], g.e_m[0]])
    if float(n_up @ (g.K - g.A)) < 0:
        n_up = -n_up
    xs = np.arange(-12.0, 12.0, 0.05)
    v = _sample(canvas, canvas.bone, [tip + above_mm * n_up + x * g.e_m for x in xs])
    inside = xs[v > 0.5 * v.max()]
    return 0.5 * (inside.min() + inside.max())


def test_malleolar_tips_sit_the_same_way_on_their_landmarks_whatever_the_width():
    """Each malleolus's rounded tip is built around its landmark (its lowest point), so the tip looks the
    same relative to the landmark in every leg, whatever the leg's malleolar width: the middle of the
    tip's chord 1 and 2 mm above the landmark lies at the same offset from it (spread < 0.6 mm). Versions
    2–4 kept the tip's neighbouring outline points at fixed positions while the landmark moved with the
    per-leg width, so the landmark slid up to ≈ 3 mm sideways within the tip the image shows: label noise
    across the leg that no model can learn."""
    cfg = SynthConfig()  # full size: coarse grid 0.56 mm
    from llm_viewer.synth.lower_leg import render_fibula

    centres = {(name, above): [] for name in ("medial", "lateral") for above in (1.0, 2.0)}
    offsets = []
    for seed in range(8):
        geo = build_study(sample_study(np.random.default_rng(seed), cfg), cfg.pixel_spacing_mm)
        for g in geo.legs.values():
            offsets.append(float((g.MM - g.A) @ g.e_m) / g.params.bone_scale + 35.0)
            for name, render, tip in (("medial", render_tibia, g.MM), ("lateral", render_fibula, g.ML)):
                canvas = Canvas(cfg.width_px, cfg.height_px, cfg.pixel_spacing_mm, cfg.render_scale)
                render(canvas, g)
                for above in (1.0, 2.0):
                    centres[(name, above)].append(_tip_centre(canvas, g, tip, above))
    assert np.ptp(offsets) > 4.0  # the widths do move the landmarks (mm, per unit bone scale)
    for key, cs in centres.items():
        assert np.ptp(cs) < 0.6, (key, np.round(cs, 2))
