"""Protocol C of the active-learning simulation (knee refinement model) runs end to end on a tiny store."""

from __future__ import annotations

import json

import numpy as np

from training import al_refine_simulation as sim


def test_refine_simulation_rounds_scores_and_report(tiny_store, tmp_path):
    out = tmp_path / "sim"
    assert sim.main(["--pool", str(tiny_store), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
                     "--strategies", "random,tta,peak", "--seeds", "0", "--eval", "1", "--candidates", "2",
                     "--init", "1", "--step", "1", "--rounds", "1", "--init-steps", "2", "--finetune-steps", "1",
                     "--threads", "1"]) == 0
    doc = json.loads((out / "simulation.json").read_text())
    assert set(doc["curves"]) == {"random", "tta", "peak"}
    for curve in doc["curves"].values():
        assert [p["n_labelled"] for p in curve["0"]] == [1, 2]
        assert all(np.isfinite(p["error_mm"]) and p["error_mm"] > 0 for p in curve["0"])
    assert "labels to reach random's final" in (out / "simulation.md").read_text()
    assert (out / "learning_curves.png").stat().st_size > 1000


def test_tta_score_is_the_spread_of_shifted_patches_in_mm(tiny_store, tmp_path):
    import torch

    from llm_viewer.pipeline.refine import build_refine_model, default_refine_config

    cfg = default_refine_config("knee", input_size_px=64, patch_fraction=0.35, mask_radius_px=6.0)
    pool = sim.load_patch_pool(str(tiny_store), tmp_path / "cache", cfg, log=lambda m: None)
    assert pool.mm_per_cache_px.min() > 0 and len(pool.images) == 3
    torch.manual_seed(0)
    model = build_refine_model(cfg)
    tta = sim.image_scores(model, pool, cfg, pool.images, "tta", seed=1)
    peak = sim.image_scores(model, pool, cfg, pool.images, "peak", seed=1)
    rnd = sim.image_scores(model, pool, cfg, pool.images, "random", seed=1)
    assert set(tta) == set(peak) == set(rnd) == set(pool.images)
    assert all(v >= 0 for v in tta.values()) and all(0 <= v <= 1 for v in peak.values())
    # a model that always answers the patch centre follows every shift: its spread is the shifts' own RMS
    class Centre(torch.nn.Module):
        def forward(self, x):
            s = x.shape[-1]
            yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
            d2 = (xx - (s - 1) / 2) ** 2 + (yy - (s - 1) / 2) ** 2
            return (10.0 - d2.float()).expand(x.shape[0], 5, s, s)

    shifts = np.array(sim.TTA_SHIFTS) * cfg.input_size_px
    expected_cache_px = float(np.sqrt(((shifts - shifts.mean(0)) ** 2).sum(1).mean()))
    follow = sim.image_scores(Centre(), pool, cfg, pool.images, "tta", seed=1)
    for cid, v in follow.items():
        mm = pool.mm_per_cache_px[pool.rows[cid]].mean()
        assert abs(v - expected_cache_px * mm) < 0.1 * expected_cache_px * mm
