"""training/ranking_eval.py: Spearman with ties, AUROC, queue statistics (the numbers docs/ACTIVE_LEARNING.md cites)."""

import math

import pytest

from training.ranking_eval import auroc, evaluate, spearman


def test_spearman_is_one_for_monotone_and_handles_ties_and_constants():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 100]) == pytest.approx(1.0)
    assert spearman([4, 3, 2, 1], [1, 2, 3, 4]) == pytest.approx(-1.0)
    assert 0.0 < spearman([1, 1, 2, 3], [1, 2, 3, 4]) < 1.0
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(spearman([1, 2], [1, 2]))


def test_auroc_counts_pairs_and_ties():
    assert auroc([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert auroc([0, 1, 2, 3], [True, True, False, False]) == 0.0
    assert auroc([1, 1], [True, False]) == 0.5
    assert math.isnan(auroc([1, 2], [True, True]))


def _records(scores_by_strategy, errs, fails):
    from training.ranking_eval import STRATEGY_NAMES

    return [{"image": f"i{i}", "mean_err": e, "fails": f,
             "scores": {n: scores_by_strategy.get(n, [0.0] * len(errs))[i] for n in STRATEGY_NAMES}}
            for i, (e, f) in enumerate(zip(errs, fails))]


def test_evaluate_top_quarter_and_last_failure_position():
    errs = [50, 1, 1, 1, 1, 1, 1, 20]
    fails = [True, False, False, False, False, False, False, True]
    good = [9, 1, 2, 3, 4, 5, 6, 8]  # both failures first
    bad = [0, 1, 2, 3, 4, 5, 6, 7]  # a failure last
    r = evaluate(_records({"tta": good, "combined": bad}, errs, fails), {"queue": [7, 0, 1, 2, 3, 4, 5, 6]})
    assert r["tta"]["fails_in_top_quarter"] == 2 and r["tta"]["top_quarter"] == 2
    assert r["tta"]["all_fails_within_pct"] == pytest.approx(25.0) and r["tta"]["auroc"] == 1.0
    assert r["combined"]["all_fails_within_pct"] == pytest.approx(100.0)
    assert r["queue"]["fails_in_top_quarter"] == 2 and r["queue"]["auroc"] == 1.0
