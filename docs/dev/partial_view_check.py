"""Knee-only and ankle-only views: the detector's first pass against multi-scale detection, and the fibula cue
at the knee on the boxes the detector itself draws.

Usage (from the repository root)::

    .venv/bin/python docs/dev/partial_view_check.py [--models DIR] [--count 20] STORE [STORE ...]

Views are cut from held-out generated studies exactly as ``training.views_eval`` cuts them (one leg's half of
the film; knee centre ± 110 mm, malleoli 90 mm above to 60 mm below). Per view kind: views with no box of
the region, boxes spanning the region (≥ 90 % of the span of its medial/lateral landmarks in x), boxes of
other regions (phantoms), for the first pass alone and for :func:`llm_viewer.pipeline.multiscale
.detect_multiscale`; for the knee views, the vote of :func:`llm_viewer.pipeline.sidecue.knee_fibula_vote`
(right / wrong / none) on the best knee box of the multi-scale pass. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SPAN = {"knee": ("femoral_condyle_lateral", "femoral_condyle_medial", "tibial_plateau_lateral",
                 "tibial_plateau_medial"),
        "ankle": ("malleolus_lateral", "malleolus_medial")}
KINDS = {"knee only": "knee", "ankle only": "ankle"}


def _score(dets, region: str, gt: dict) -> tuple[bool, bool, int]:
    own = [d for d in dets if d.region == region]
    extra = sum(d.region != region for d in dets)
    if not own:
        return False, False, extra
    d = max(own, key=lambda d: d.score)
    xs = [gt[k][0] for k in SPAN[region] if k in gt]
    lo, hi = min(xs), max(xs)
    cover = max(0.0, min(hi, d.box.x1) - max(lo, d.box.x0)) / max(1.0, hi - lo)
    return True, cover >= 0.9, extra


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stores", nargs="+")
    p.add_argument("--models", default=None)
    p.add_argument("--count", type=int, default=20)
    args = p.parse_args(argv)

    import torch

    from llm_viewer.pipeline.crop import normalize_intensity
    from llm_viewer.pipeline.engine import InferenceEngine
    from llm_viewer.pipeline.sidecue import knee_fibula_vote
    from training.views_eval import iter_views

    torch.set_num_threads(2)
    eng = InferenceEngine.from_bundle(args.models, device="cpu")
    stats = {k: {"views": 0, "first": [0, 0, 0], "multi": [0, 0, 0]} for k in KINDS}
    votes = [0, 0, 0]  # right, wrong, none
    for view in iter_views(args.stores, args.count):
        if view.kind not in KINDS:
            continue
        region = KINDS[view.kind]
        vgt = view.gt.get(view.sides[0], {})
        if not any(k in vgt for k in SPAN[region]):
            continue
        norm = normalize_intensity(view.pixels, eng.config.intensity)
        first = eng._detect_once(norm)
        multi = eng.detect(norm)
        st = stats[view.kind]
        st["views"] += 1
        for key, dets in (("first", first), ("multi", multi)):
            found, spans, extra = _score(dets, region, vgt)
            st[key][0] += found
            st[key][1] += spans
            st[key][2] += extra
        if region == "knee":
            knees = [d for d in multi if d.region == "knee"]
            if knees:
                v, _ = knee_fibula_vote(norm, {"knee": max(knees, key=lambda d: d.score)})
                truth = 1.0 if view.sides[0] == "right" else -1.0
                votes[0 if v * truth > 0 else (1 if v * truth < 0 else 2)] += 1
    print(f"Model `{eng.model_id}`; stores: {', '.join(Path(s).name for s in args.stores)} (first {args.count} each).\n")
    print("| view | views | pass | region found | box spans the region | boxes of other regions |")
    print("|---|---|---|---|---|---|")
    for kind, st in stats.items():
        for key, name in (("first", "first pass"), ("multi", "multi-scale")):
            f, s, x = st[key]
            print(f"| {kind} | {st['views']} | {name} | {f} | {s} | {x} |")
    print(f"\nFibula cue at the knee on the multi-scale knee box: right {votes[0]}, wrong {votes[1]}, "
          f"no vote {votes[2]}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
