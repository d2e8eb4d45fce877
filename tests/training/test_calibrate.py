"""training.calibrate: conformal fit and coverage check on fabricated records; clean errors of the command."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from training import calibrate


def _records(n: int, seed: int, lms: dict, spacing, sigma_px: float = 2.0, low_res: bool = False) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        pred = {lm: {"xy": [x + rng.normal() * sigma_px, y + rng.normal() * sigma_px], "radius90_px": None,
                     "ood": False} for lm, (x, y) in lms.items()}
        feats = {"hist": [1 / 32] * 32, "region_hist": {}, "det_scores": [0.95], "n_legs": 1, "flagged_frac": 0.0,
                 "texture": -4.0 + 0.01 * rng.normal(),
                 "landmarks": {f"right/{lm}": {"uncertainty_px": 2.0, "shift_px": 0.0, "tta_spread_px": 0.0,
                                               "score": 0.9, "flagged": False, "low_res": low_res}
                               for lm in lms}}
        out.append({"id": f"case-{i}", "store": "fake", "gt": {"right": {k: list(v) for k, v in lms.items()}},
                    "pred": {"right": pred}, "features": feats, "gt_spacing_mm": list(spacing),
                    "image_spacing_mm": list(spacing), "uncertainty": None, "metric_factors": {}})
    return out


def test_fit_then_check_holds_ninety_percent(alignment_examples):
    from llm_viewer.pipeline.calibration import Calibration, ImageFeatures

    case = alignment_examples[0]
    lms, spacing = case["legs"]["right"]["landmarks"], case["pixel_spacing_mm"]
    cal = calibrate.fit(_records(60, 0, lms, spacing), "fake-model")
    # Rayleigh errors with sigma 2 px: the 90 % radius is 2 * 2.146 px, the raw score sqrt(2^2 + 0.5^2).
    q = cal.modes["plain"].factors["knee_center"]
    assert q * math.sqrt(4.25) == pytest.approx(2 * 2.146, rel=0.2)
    assert set(cal.modes["plain"].metric_factors) >= {"hka_deg", "mldfa_deg", "mmpta_deg"}
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))).to_dict() == cal.to_dict()

    test = _records(80, 1, lms, spacing)
    m = cal.modes["plain"]
    for rec in test:
        f = ImageFeatures.from_json(rec["features"])
        radii = calibrate._radii(cal, m, f, "right", rec["pred"]["right"], False)
        for lm, p in rec["pred"]["right"].items():
            p["radius90_px"] = radii[lm]
        rec["metric_factors"] = m.metric_factors
        rec["uncertainty"] = {"ood": {"flagged": cal.image_ood(f)[0] > 1}}
    res = calibrate.check_records(test)
    assert 84 <= res["all_inside_pct"] <= 96
    for key in ("hka_deg", "mldfa_deg", "mmpta_deg"):
        assert 75 <= res["metrics"][key]["inside_pct"] <= 100
    assert res["ood_images_pct"] <= 5
    table = calibrate.format_table({"fake": res})
    assert "| fake | 80 |" in table and "HKA in ±" in table


def test_low_resolution_points_get_their_own_factor_and_hold_ninety_percent(alignment_examples):
    from llm_viewer.pipeline.calibration import ImageFeatures

    case = alignment_examples[0]
    lms, spacing = case["legs"]["right"]["landmarks"], case["pixel_spacing_mm"]
    # the same raw uncertainty, but low-resolution crops err three times as much (the pixel is coarser); the
    # common factors pool every point (conservative), the low-resolution class has its own
    recs = _records(60, 0, lms, spacing) + _records(40, 2, lms, spacing, sigma_px=6.0, low_res=True)
    cal = calibrate.fit(recs, "fake-model")
    m = cal.modes["plain"]
    assert m.factor("knee_center", True) > 1.1 * m.factor("knee_center", False)
    assert m.low_res_n["knee_center"] == 40 and m.n["knee_center"] == 100
    inside = []
    for rec in _records(80, 3, lms, spacing, sigma_px=6.0, low_res=True):
        f = ImageFeatures.from_json(rec["features"])
        assert all(lf.low_res for lf in f.landmarks.values())
        radii = calibrate._radii(cal, m, f, "right", rec["pred"]["right"], False)
        inside += [math.dist(p["xy"], lms[lm]) <= radii[lm] for lm, p in rec["pred"]["right"].items()]
    assert 0.84 <= np.mean(inside) <= 0.96
    # too few low-resolution points: one common class, as before
    m1 = calibrate.fit(_records(60, 0, lms, spacing) + _records(1, 2, lms, spacing, 6.0, True), "m").modes["plain"]
    assert m1.low_res_factors == {} and m1.factor("knee_center", True) == m1.factor("knee_center", False)


def test_radii_only_records_widen_the_radii_but_not_the_ood_references(alignment_examples):
    case = alignment_examples[0]
    lms, spacing = case["legs"]["right"]["landmarks"], case["pixel_spacing_mm"]
    base = _records(60, 0, lms, spacing)
    extra = _records(60, 5, lms, spacing, sigma_px=6.0)  # another domain: larger errors, weaker detections
    for r in extra:
        r["features"]["det_scores"] = [0.94]
    pooled = calibrate.fit(base + extra, "m")
    for r in extra:
        r["ood_reference"] = False
    radii_only = calibrate.fit(base + extra, "m")
    alone = calibrate.fit(base, "m")
    # the radii see every record either way; the OOD references only the reference stores
    assert radii_only.modes["plain"].factors == pooled.modes["plain"].factors
    for lm in lms:
        assert radii_only.modes["plain"].factors[lm] > 1.2 * alone.modes["plain"].factors[lm]
    assert pooled.best_detector_max == pytest.approx(0.06)
    assert radii_only.best_detector_max == pytest.approx(alone.best_detector_max) == pytest.approx(0.05)


def test_fit_refuses_records_without_legs(alignment_examples):
    case = alignment_examples[0]
    recs = _records(3, 0, case["legs"]["right"]["landmarks"], case["pixel_spacing_mm"])
    for r in recs:
        r["features"]["n_legs"] = 0
    with pytest.raises(ValueError, match="no leg"):
        calibrate.fit(recs, "m")


def test_command_errors_are_one_line(tiny_bundle, tiny_store, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    args = calibrate.get_args_parser().parse_args(["--models", str(bundle), "--check", str(tiny_store)])
    assert calibrate.main(args) == 2
    assert "no usable calibration.json" in capsys.readouterr().err
    (bundle / "calibration.json").write_text('{"format": "llm-viewer-calibration", "format_version": 7}')
    assert calibrate.main(args) == 2
    err = capsys.readouterr().err
    assert "format_version 7" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

    from llm_viewer.cli import main

    png = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(png), (np.random.default_rng(0).uniform(0, 255, (256, 96))).astype(np.uint8))
    assert main(["analyze", str(png), "--models", str(bundle), "--device", "cpu"]) != 0
    err = capsys.readouterr().err
    assert "calibration.json" in err and "Traceback" not in err

    (bundle / "calibration.json").unlink()
    assert main(["analyze", str(png), "--models", str(bundle), "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["uncertainty"]["calibrated"] is False and "uncalibrated" in doc["uncertainty"]["message"]
