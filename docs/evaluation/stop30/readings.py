"""Per image of the single-leg stores: main-whole (W), content-detector-content (C), main-content (M) readings,
and the leg results the pipeline gives with each kept (docs/evaluation/stop30/readings.md).

Usage: python readings.py BUNDLE FORMAT VERSION... (stores /work/gen/v<VERSION>-<FORMAT>); writes readings.json.
The BUNDLE must have a content detector. readings.json was made before the second look existed (stop 30).
"""
import json, math, sys, dataclasses
from dataclasses import replace
import numpy as np, torch
torch.set_num_threads(2)
from llm_viewer.core.imageio import load_image
from llm_viewer.core.store import Store
from llm_viewer.pipeline.crop import Box
from llm_viewer.pipeline import engine as E
from llm_viewer.pipeline.crop import detection_crop, normalize_intensity
from llm_viewer.pipeline.multiscale import DetectionView, complete_leg, mean_top_score
from training.generalization import SGR8, _hka

eng = E.InferenceEngine.from_bundle(sys.argv[1], device="cpu")
out = {}
for v in sys.argv[3:]:
    store = Store.open(f"/work/gen/v{v}-{sys.argv[2]}")
    rows = []
    for e in store.entries():
        case = store.load_case(e)
        px = np.asarray(load_image(store.image_path(e)).pixels, dtype=np.float32)
        norm = normalize_intensity(px, eng.config.intensity)
        dc = eng.config.detector
        content = detection_crop(norm, dc.input_width_px, dc.input_height_px)
        readings = {}
        d, z = eng._detect_view(norm); readings["W"] = DetectionView(d, None, z)
        if content is not None:
            view = norm[content.y0:content.y1, content.x0:content.x1]
            for key, fn in (("C", eng._detect_content_view), ("M", eng._detect_view)):
                d, z = fn(view)
                d = [replace(x, box=Box(x.box.x0 + content.x0, x.box.y0 + content.y0, x.box.x1 + content.x0, x.box.y1 + content.y0)) for x in d]
                readings[key] = DetectionView(d, content, z)
        row = {"id": e.id, "content": content is not None, "readings": {}}
        sp = [float(s) for s in case.pixel_spacing_mm]
        for key, rd in readings.items():
            E.detect_in_content = lambda *a, _rd=rd, **k: _rd
            res = eng.analyze(px)
            legs = []
            for side in case.sides:
                gt = {k: (float(p.x), float(p.y)) for k, p in case.landmarks(side).items()}
                if len(gt) != 9: continue
                leg = res.legs.get(side)
                r = {"side": side, "found": leg is not None, "hka_err": None, "missing": 8, "err_mm": None}
                if leg is not None:
                    pred = {k: (p.x_px, p.y_px) for k, p in leg.landmarks.items()}
                    errs = [math.hypot((pred[k][0]-gt[k][0])*sp[0], (pred[k][1]-gt[k][1])*sp[1]) for k in SGR8 if k in pred]
                    r["missing"] = sum(1 for k in SGR8 if k not in pred)
                    r["err_mm"] = float(np.mean(errs)) if errs else None
                    hp, ht = _hka(pred, side, sp), _hka(gt, side, sp)
                    if hp is not None and ht is not None: r["hka_err"] = abs(hp-ht)
                legs.append(r)
            row["readings"][key] = {"complete": complete_leg(rd.detections), "score": mean_top_score(rd.detections),
                                    "regions": sorted({x.region for x in rd.detections}), "n": len(rd.detections),
                                    "zoom": rd.zoom_out, "nlegs": len(res.legs), "legs": legs}
        rows.append(row)
    out[v] = rows
    print(v, len(rows), flush=True)
json.dump(out, open("readings.json", "w"))  # in the current folder
