"""Add the other leg's ROI boxes (clipped to the crop, kept when >= half inside) to single-leg export cases.

The export matrix is axis-aligned scale + shift; it is fitted from the exported leg's nine landmarks
against the source study's (round 8's store was made before synth.export boxed the other leg).
Usage: PYTHONPATH=. .venv/bin/python docs/evaluation/round7/round8/patch_other_leg.py STORE [--apply]
"""
import json, sys
import numpy as np
from llm_viewer.core.store import Store
from llm_viewer.synth.export import other_leg_rois

store = Store.open(sys.argv[1]); apply = "--apply" in sys.argv
entries = {e.id: e for e in store.entries()}
n_cases = n_boxes = 0
from collections import Counter
regions = Counter()
for e in entries.values():
    src_id = e.extra.get("export_of")
    if not src_id or src_id not in entries:
        continue
    path = store.case_path(e)
    d = json.loads(path.read_text())
    sides = list(d["legs"])
    if len(sides) != 1:
        continue
    side = sides[0]
    if any(r["side"] != side for r in d["rois"]):
        continue  # patched already
    src = json.loads(store.case_path(entries[src_id]).read_text())
    a = np.array([src["legs"][side]["landmarks"][k] for k in d["legs"][side]["landmarks"]], float)
    b = np.array([d["legs"][side]["landmarks"][k] for k in d["legs"][side]["landmarks"]], float)
    m = np.zeros((2, 3))
    for ax in range(2):
        A = np.stack([a[:, ax], np.ones(len(a))], 1)
        (s, t), *_ = np.linalg.lstsq(A, b[:, ax], rcond=None)
        m[ax, ax], m[ax, 2] = s, t
    res = np.abs(a @ m[:, :2].T + m[:, 2] - b).max()
    assert res < 0.05, (e.id, res)
    w2, h2 = d["image"].get("width_px"), d["image"].get("height_px")
    if not w2:
        import cv2
        im = cv2.imread(str(store.image_path(e)), cv2.IMREAD_UNCHANGED); h2, w2 = im.shape[:2]
    add = other_leg_rois(src["rois"], m, int(w2), int(h2), exclude_side=side)
    if not add:
        continue
    n_cases += 1; n_boxes += len(add); regions.update(r["region"] for r in add)
    if apply:
        d["rois"] = d["rois"] + add
        path.write_text(json.dumps(d, indent=1))
        store.refresh_case(e.id, by="patch_other_leg")
print(f"{n_cases} export cases get {n_boxes} boxes of the other leg: {dict(regions)}" + ("" if apply else " (dry run)"))
