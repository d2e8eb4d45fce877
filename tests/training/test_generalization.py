"""The generalization harness: version lookup in git history, clinical exports of a store, the table's numbers."""

import subprocess

import numpy as np
import pytest

from llm_viewer.core.store import Store
from training.generalization import LegResult, export_store, summarize, version_commits


def test_summary_counts_what_the_issue_asks_for():
    rows = [LegResult("a", "right", True, 0.4, {"knee_center": 1.0, "femoral_head": 3.0}),
            LegResult("a", "left", True, 4.0, {"knee_center": 2.0}),
            LegResult("b", "right", False, None, missing=["knee_center"] * 8, other_side=True),
            LegResult("c", "left", True, None, {"knee_center": 5.0}, missing=["femoral_head"])]
    s = summarize(rows)
    assert s["legs"] == 4
    assert s["measured_pct"] == pytest.approx(50.0)
    assert s["hka_mae_deg"] == pytest.approx(2.2)
    assert s["hka_over_3deg"] == 1
    assert s["mean_error_mm"] == pytest.approx(np.mean([1, 3, 2, 5]))
    assert s["missing_landmarks"] == 9
    assert s["side_accuracy_pct"] == pytest.approx(75.0)  # 3 found under their side, 1 under the other


def test_every_generator_version_is_found_in_history():
    try:
        shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], capture_output=True, text=True,
                                 check=True).stdout.strip() == "true"
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    if shallow:
        pytest.skip("shallow clone: earlier generator versions are not in this history")
    from llm_viewer.synth.generator import GENERATOR_VERSION

    commits = version_commits()
    assert set(range(1, GENERATOR_VERSION + 1)) <= set(commits)
    assert commits[GENERATOR_VERSION] == "HEAD"
    for v in range(1, GENERATOR_VERSION):
        src = subprocess.run(["git", "show", f"{commits[v]}:llm_viewer/synth/generator.py"], capture_output=True,
                             text=True, check=True).stdout
        assert f"GENERATOR_VERSION = {v}\n" in src


def test_exports_of_a_store_keep_the_legs_on_their_pixels(tmp_path):
    from llm_viewer.cli import main

    src, dst = tmp_path / "native", tmp_path / "single"
    assert main(["synth", "--count", "2", "--seed", "8", "--size", "small", "--one-leg-rate", "0",
                 "--out", str(src), "--no-progress"]) == 0
    export_store(src, dst, "single_leg", seed=1)
    store = Store.open(dst)
    entries = list(store.entries())
    assert 2 <= len(entries) <= 4  # one per leg that fits its crop
    for e in entries:
        case = store.load_case(e)
        assert len(case.sides) == 1 and len(case.landmarks(case.sides[0])) == 9
        assert store.image_path(e).suffix in (".png", ".jpg")


def test_versions_accept_ranges_and_reject_nonsense_with_a_message():
    import argparse

    import pytest

    from training.generalization import get_args_parser, parse_versions

    assert parse_versions("1-3,6") == [1, 2, 3, 6]
    assert get_args_parser().parse_args(["--models", "m", "--out", "o", "--versions", "2-4"]).versions == [2, 3, 4]
    with pytest.raises(argparse.ArgumentTypeError, match="1-6"):
        parse_versions("one")
