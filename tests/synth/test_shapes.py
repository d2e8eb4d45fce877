"""Outline-based bone solids: edges where the outline is, elliptical falloff, bright cortex, smooth profiles."""

import numpy as np

from llm_viewer.synth.primitives import Canvas, Layer
from llm_viewer.synth.shapes import outline_solid, smooth_profile


def _disc_canvas(radius_mm=20.0, cortex_mm=0.0, mu_inner=0.05):
    canvas = Canvas(400, 400, 0.25, 2)  # 100 x 100 mm, coarse step 0.5 mm
    ang = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    pts = np.stack([50 + radius_mm * np.cos(ang), 50 + radius_mm * np.sin(ang)], axis=1)
    L = Layer(canvas, bone=True)
    outline_solid(L, pts, radius_mm=radius_mm, depth=1.0, cortex_mm=cortex_mm, mu_cortex=0.05, mu_inner=mu_inner)
    L.commit()
    return canvas


def test_thickness_of_a_long_tube_cross_section_follows_the_ellipse_chord():
    canvas = Canvas(400, 800, 0.25, 2)
    pts = [[30.0, 20.0], [70.0, 20.0], [70.0, 180.0], [30.0, 180.0]]
    L = Layer(canvas)
    outline_solid(L, pts, radius_mm=20.0, depth=1.0, cortex_mm=0.0, mu_cortex=1.0, mu_inner=1.0, smooth=False)
    L.commit()
    i = int(np.argmin(np.abs(canvas.ys - 100.0)))
    s = canvas.xs - 50.0
    want = 2 * 20.0 * np.sqrt(np.clip(1 - (s / 20.0) ** 2, 0, None))
    got = canvas.att[i]
    assert np.max(np.abs(got - want)) < 0.08 * 40.0
    assert got[np.abs(s) > 20.6].max() == 0.0  # nothing outside the outline


def test_cortex_is_brighter_than_the_canal():
    canvas = _disc_canvas(cortex_mm=4.0, mu_inner=0.0)
    row = canvas.att[int(np.argmin(np.abs(canvas.ys - 50.0)))]
    s = canvas.xs - 50.0
    centre = row[np.abs(s) < 2].mean()
    rim = row[(np.abs(s) > 16) & (np.abs(s) < 18)].mean()
    assert rim > 1.2 * centre


def test_smooth_profile_passes_through_knots_and_stays_monotone():
    tk, vk = [0.0, 10.0, 30.0, 60.0], [5.0, 8.0, 20.0, 21.0]
    t, v = smooth_profile(tk, vk, 61)
    assert t[0] == 0.0 and t[-1] == 60.0
    for a, b in zip(tk, vk):
        assert abs(np.interp(a, t, v) - b) < 1e-9
    assert np.all(np.diff(v) >= -1e-12)


def test_eccentric_canal_makes_one_cortex_thicker():
    """``canal_shift_knots`` moves the canal sideways: the cortex on one side widens, the other narrows."""
    from llm_viewer.synth.primitives import tube

    def profile(shift):
        canvas = Canvas(400, 800, 0.25, 2)
        L = Layer(canvas)
        tube(L, [50.0, 20.0], [0.0, 1.0], [0.0, 160.0], [14.0, 14.0], [5.0, 5.0], depth=1.0, mu_cortex=0.05,
             mu_inner=0.0, canal_shift_knots=None if shift is None else [shift, shift])
        L.commit()
        return canvas.xs, canvas.att[int(np.argmin(np.abs(canvas.ys - 100.0)))]

    xs, centred = profile(None)
    _, shifted = profile(2.0)
    # the left normal of the axis (0, 1) is (-1, 0): a positive shift moves the canal to smaller x
    canal = lambda row: xs[np.argmin(np.where(np.abs(xs - 50.0) < 8.0, row, np.inf))]  # noqa: E731
    assert abs(canal(centred) - 50.0) <= 0.5
    assert canal(shifted) < 49.0
    # outer outline unchanged, so the bone's width and outer edge do not move
    assert np.array_equal(centred > 0, shifted > 0)


def test_layer_buffers_are_reused_clean():
    """Committed layers give their buffers back zeroed: a later layer starts from nothing."""
    canvas = Canvas(200, 200, 0.5, 1)
    a = Layer(canvas)
    outline_solid(a, [[20.0, 20.0], [60.0, 20.0], [60.0, 60.0], [20.0, 60.0]], radius_mm=10.0, depth=1.0,
                  cortex_mm=1.0, mu_cortex=0.05, mu_inner=0.02)
    a.commit()
    first = canvas.att.copy()
    b = Layer(canvas)
    assert not b.outer.any() and not b.inner.any()
    outline_solid(b, [[70.0, 70.0], [90.0, 70.0], [90.0, 90.0], [70.0, 90.0]], radius_mm=5.0, depth=1.0,
                  cortex_mm=1.0, mu_cortex=0.05, mu_inner=0.02)
    b.commit()
    # the first square is not added a second time
    np.testing.assert_array_equal(canvas.att[:55, :55], first[:55, :55])


def test_smooth_open_passes_through_every_point_without_corners():
    from llm_viewer.synth.primitives import smooth_open

    pts = np.array([[0.0, 0.0], [10.0, 0.0], [15.0, 8.0], [15.0, 20.0]])
    curve_pts = smooth_open(pts, per_segment=8)
    assert curve_pts.shape == (3 * 8 + 1, 2)
    for p in pts:  # interpolating: every control point lies on the curve
        assert np.min(np.hypot(*(curve_pts - p).T)) < 1e-9
    # no corner at the interior control points: the turn between successive steps stays small
    d = np.diff(curve_pts, axis=0)
    ang = np.degrees(np.abs(np.diff(np.unwrap(np.arctan2(d[:, 1], d[:, 0])))))
    assert ang.max() < 20.0
