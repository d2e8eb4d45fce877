"""training.al_domain_gap: orders, nested rounds from the same start, the table and the label target."""

from __future__ import annotations

import json

from training import al_domain_gap as gap


def test_orders_are_nested_reproducible_and_follow_the_scores():
    cands = [f"c{i}" for i in range(10)]
    scores = {c: {"tta": float(i), "combined": float(-i)} for i, c in enumerate(cands)}
    assert gap.order("tta", cands, scores, 0)[:3] == ["c9", "c8", "c7"]
    assert gap.order("combined", cands, scores, 0)[:2] == ["c0", "c1"]
    r0, r1 = gap.order("random", cands, scores, 0), gap.order("random", cands, scores, 1)
    assert r0 == gap.order("random", cands, scores, 0) and r0 != r1 and sorted(r0) == cands
    a, b = gap.draw_candidates(cands, 5, 0), gap.draw_candidates(cands, 5, 1)
    assert len(a) == 5 and a == gap.draw_candidates(cands, 5, 0) and a != b


def test_summary_and_labels_to_target():
    def run(st, seed, n, hka, missed):
        return {"strategy": st, "seed": seed, "n_labels": n, "mean_error_mm": 1.0, "hka_mae_deg": hka,
                "legs_missed_pct": missed, "train_cpu_min": 1.0, "eval_cpu_min": 0.5}

    doc = {"baseline": {"model_id": "m", "hka_mae_deg": 3.0, "legs_missed_pct": 80.0, "n_legs": 10},
           "runs": {"a": run("random", 0, 5, 2.0, 50.0), "b": run("random", 1, 5, 1.0, 30.0),
                    "c": run("random", 0, 10, 0.8, 1.0), "d": run("random", 1, 10, 0.9, 3.5),
                    "e": run("tta", 0, 5, 0.5, 1.0), "f": run("tta", 1, 5, 0.7, 0.0)}}
    summ = gap.summarize(doc)
    m, sd, n = summ["strategies"]["random"][5]["hka_mae_deg"]
    assert (m, n) == (1.5, 2) and abs(sd - 0.7071) < 1e-3
    assert gap.labels_to_target(summ["strategies"]["random"]) is None  # 10 labels: HKA 0.85° but missed 2.25 %
    summ["strategies"]["random"][10]["legs_missed_pct"] = (1.5, 0.5, 2)
    assert gap.labels_to_target(summ["strategies"]["random"]) == 10
    assert gap.labels_to_target(summ["strategies"]["tta"]) == 5
    md = gap.render_markdown(doc, gap.summarize(doc))
    assert "| random | 5 | 1.00 ± 0.00 | 1.50 ± 0.71 | 40.0 ± 14.1 |" in md


def test_a_tiny_simulation_runs_end_to_end_and_resumes(tiny_store, tiny_bundle, tmp_path):
    out = tmp_path / "sim"
    argv = ["--bundle", str(tiny_bundle), "--pool", str(tiny_store), "--test", str(tiny_store), "--out", str(out),
            "--strategies", "random,tta", "--seeds", "0", "--rounds", "1,2", "--candidates", "3", "--parts", "knee",
            "--steps", "1", "--batch-size", "2", "--threads", "1"]
    assert gap.main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    assert sorted(doc["runs"]) == ["random/seed0/n1", "random/seed0/n2", "tta/seed0/n1", "tta/seed0/n2"]
    r1, r2 = doc["runs"]["tta/seed0/n1"], doc["runs"]["tta/seed0/n2"]
    assert r2["labelled"][:1] == r1["labelled"]  # nested rounds
    assert r1["train_cpu_min"] >= 0 and r1["n_labels"] == 1
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())  # round bundles deleted
    assert (out / "label_efficiency.png").read_bytes()[:4] == b"\x89PNG"
    assert "| tta | 2 |" in (out / "label_efficiency.md").read_text()
    before = (out / "results.json").read_text()
    assert gap.main(argv) == 0  # nothing left to run
    assert json.loads((out / "results.json").read_text())["runs"] == json.loads(before)["runs"]
