"""Anatomy details of generator version 3: the iliac wing is a plate, fat planes are faint lucent lines."""

import numpy as np
import pytest

from llm_viewer.synth import pelvis
from llm_viewer.synth.anatomy import render_fat_planes
from llm_viewer.synth.geometry import build_study
from llm_viewer.synth.params import SynthConfig, sample_study
from llm_viewer.synth.primitives import Canvas, Layer

CFG = SynthConfig.with_height(2025)


def _studies(n=4):
    out = []
    for seed in range(n):
        study = sample_study(np.random.default_rng(seed), CFG)
        out.append(build_study(study, CFG.pixel_spacing_mm))
    return out


def _canvas():
    return Canvas(CFG.width_px, CFG.height_px, CFG.pixel_spacing_mm, CFG.render_scale)


@pytest.mark.parametrize("geo", _studies(), ids=lambda g: "study")
def test_iliac_wing_is_a_plate_not_a_hollow_rim(geo):
    """In the middle of each wing the projected bone is at least 0.4 of the densest point on a line across
    the wing (crest, sciatic buttress). Version 2 drew the wing as a rim around a near-empty interior: 0.29–0.36."""
    canvas = _canvas()
    pelvis.render_pelvis(canvas, Layer(canvas, denser_core=True), geo, np.random.default_rng(0))
    origin, ex = geo.pelvis_origin, geo.pelvis_axis
    ey = np.array([-ex[1], ex[0]])
    h = float(np.hypot(*(geo.legs["left"].H - geo.legs["right"].H))) / 2.0
    k = h / 91.0
    checked = 0
    for sg in (1, -1):
        line = [canvas.to_px(origin - sg * q * ex - 100 * k * ey) for q in np.linspace(h - 70 * k, h + 80 * k, 300)]
        vals = [canvas.bone[int(round(y)), int(round(x))] for x, y in line
                if 0 <= round(x) < canvas.wc and 0 <= round(y) < canvas.hc]
        cx, cy = (int(round(v)) for v in canvas.to_px(origin - sg * h * ex - 100 * k * ey))
        if not (3 <= cx < canvas.wc - 4 and 3 <= cy < canvas.hc - 4):
            continue  # this wing is outside the field of view
        centre = float(canvas.bone[cy - 3:cy + 4, cx - 3:cx + 4].mean())
        assert centre >= 0.4 * max(vals), (sg, centre, max(vals))
        checked += 1
    assert checked >= 1


def test_fat_planes_are_faint_lucent_lines_inside_the_limb():
    geo = _studies(1)[0]
    g = geo.legs["right"]
    canvas = _canvas()
    render_fat_planes(canvas, g, float(g.H[1]) + 80.0, np.random.default_rng(1))
    att = canvas.att
    assert att.max() == 0.0  # fat only replaces muscle: it never adds attenuation
    assert att.min() < -0.02  # visible
    assert att.min() > -0.2  # but faint (a cortex is ~1 in these units)
    lucent = np.argwhere(att < -0.01)
    ys_mm = canvas.ys[lucent[:, 0]]
    # along the thigh and the calf, between the hip and the ankle
    assert ys_mm.min() > g.H[1] - 10.0 and ys_mm.max() < g.A[1]
    assert (ys_mm < g.K[1]).any() and (ys_mm > g.K[1]).any()
    assert not canvas.bone.any()  # soft tissue, no bone texture
