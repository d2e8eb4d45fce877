"""Metric intervals from landmark radii (core.uncertainty): propagation and borderline classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llm_viewer.core.metrics import compute_leg_metrics
from llm_viewer.core.uncertainty import (
    Interval,
    borderline_classes,
    metric_intervals,
    sigma_from_radius,
    z_two_sided,
)


@pytest.fixture()
def leg(alignment_examples):
    case = alignment_examples[0]
    return case["legs"]["right"]["landmarks"], tuple(case["pixel_spacing_mm"])


def test_sigma_and_z():
    # 90 % of an isotropic 2-D Gaussian lies within 2.146 sigma; 90 % two-sided normal is 1.645 sigma.
    assert sigma_from_radius(2.146) == pytest.approx(1.0, abs=1e-3)
    assert z_two_sided(0.9) == pytest.approx(1.6449, abs=1e-4)


def test_one_landmark_interval_equals_a_finite_difference(leg):
    lms, spacing = leg
    r_px = 3.0
    for lm in ("knee_center", "femoral_head", "malleolus_medial"):
        radii = {k: (r_px if k == lm else 0.0) for k in lms}
        iv = metric_intervals(lms, radii, "right", spacing)
        sigma_mm = sigma_from_radius(r_px * math.sqrt(spacing[0] * spacing[1]))
        base = compute_leg_metrics(lms, "right", spacing).as_dict()
        for key in ("hka_deg", "mmpta_deg"):
            # Largest change for a move of sigma in the worst direction, by finite differences.
            h = 1e-3
            d = []
            for dx, dy in ((h, 0.0), (0.0, h)):
                moved = dict(lms, **{lm: [lms[lm][0] + dx / spacing[1], lms[lm][1] + dy / spacing[0]]})
                d.append((compute_leg_metrics(moved, "right", spacing).as_dict()[key] - base[key]) / h)
            expected = z_two_sided(0.9) * sigma_mm * math.hypot(*d)
            assert iv[key].half_width == pytest.approx(expected, rel=1e-3, abs=1e-9)
            assert iv[key].value == pytest.approx(base[key])


def test_quadrature_matches_monte_carlo(leg):
    lms, spacing = leg
    radii = {k: 4.0 for k in lms}
    iv = metric_intervals(lms, radii, "right", spacing)
    rng = np.random.default_rng(0)
    sigma_px = sigma_from_radius(4.0)  # square pixels here: mm radius / mm per px
    assert spacing[0] == spacing[1]
    draws = {k: [] for k in ("hka_deg", "mldfa_deg", "mmpta_deg")}
    for _ in range(3000):
        moved = {k: [v[0] + rng.normal() * sigma_px, v[1] + rng.normal() * sigma_px] for k, v in lms.items()}
        m = compute_leg_metrics(moved, "right", spacing).as_dict()
        for k in draws:
            draws[k].append(m[k])
    for k, vals in draws.items():
        assert iv[k].half_width / z_two_sided(0.9) == pytest.approx(float(np.std(vals)), rel=0.06)


def test_factor_scales_and_missing_radius_drops_the_interval(leg):
    lms, spacing = leg
    radii = {k: 2.0 for k in lms}
    base = metric_intervals(lms, radii, "right", spacing)
    scaled = metric_intervals(lms, radii, "right", spacing, factors={"hka_deg": 0.5})
    assert scaled["hka_deg"].half_width == pytest.approx(0.5 * base["hka_deg"].half_width)
    no_dia = metric_intervals(lms, dict(radii, diaphysis_center=None), "right", spacing)
    assert "fva_deg" not in no_dia and "hka_deg" in no_dia  # HKA does not move with the diaphysis point
    partial = metric_intervals({k: v for k, v in lms.items() if k != "diaphysis_center"}, radii, "right", spacing)
    assert "fva_deg" not in partial and partial["hka_deg"].half_width == pytest.approx(base["hka_deg"].half_width)
    no_spacing = metric_intervals(lms, radii, "right", None)
    assert no_spacing["hka_deg"].value == pytest.approx(base["hka_deg"].value)


def test_borderline_at_a_class_boundary():
    def iv(v, h):
        return Interval(v, h)

    # Alignment boundaries of core.metrics.alignment_class: 177 and 183.
    assert borderline_classes({"alignment": "neutral"}, {"hka_deg": iv(177.3, 0.4)})["alignment"] is True
    assert borderline_classes({"alignment": "varus"}, {"hka_deg": iv(176.7, 0.4)})["alignment"] is True
    assert borderline_classes({"alignment": "neutral"}, {"hka_deg": iv(180.0, 0.4)})["alignment"] is False
    assert borderline_classes({"alignment": "valgus"}, {"hka_deg": iv(185.0, 1.9)})["alignment"] is False
    # CPAK: aHKA boundaries ±2, JLO 177 / 183.
    m = {"cpak_type": 5}
    assert borderline_classes(m, {"ahka_deg": iv(1.8, 0.3), "jlo_deg": iv(180, 0.3)})["cpak_type"] is True
    assert borderline_classes(m, {"ahka_deg": iv(0.0, 0.3), "jlo_deg": iv(180, 0.3)})["cpak_type"] is False
    assert borderline_classes(m, {"ahka_deg": iv(0.0, 0.3), "jlo_deg": iv(182.9, 0.3)})["cpak_type"] is True
    assert borderline_classes({"alignment": None, "cpak_type": None}, {}) == {"alignment": None, "cpak_type": None}


def test_borderline_from_real_landmarks(leg):
    lms, spacing = leg
    m = compute_leg_metrics(lms, "right", spacing).as_dict()
    radii = {k: 1.0 for k in lms}
    iv = metric_intervals(lms, radii, "right", spacing)
    hka = iv["hka_deg"]
    dist = min(abs(hka.value - 177.0), abs(hka.value - 183.0))
    assert borderline_classes(m, iv)["alignment"] is (dist < hka.half_width)
    big = metric_intervals(lms, {k: 500.0 for k in lms}, "right", spacing)
    assert borderline_classes(m, big) == {"alignment": True, "cpak_type": True}
