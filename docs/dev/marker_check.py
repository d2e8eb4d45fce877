"""Side-marker reader check (docs/PIPELINE.md): every generated film of the stores and its mirror image;
prints per store how many read the right letter and orientation, and how many read wrong.

Usage: python docs/dev/marker_check.py STORE [STORE ...]   (e.g. /work/gen/v1-native ... /work/gen/v6-native)
"""
import sys, glob, json, os, numpy as np
from llm_viewer.core.imageio import load_image
from llm_viewer.pipeline.crop import normalize_intensity
from llm_viewer.pipeline.config import IntensityConfig
from llm_viewer.pipeline.marker import read_side_markers
cfg = IntensityConfig()
for store in sys.argv[1:]:
    stats = {"n": 0, "read_right": 0, "read_wrong": 0, "mirror_right": 0, "mirror_wrong": 0}
    for cf in sorted(glob.glob(store + "/cases/*.json"))[:20]:
        c = json.load(open(cf)); letter = c["synthetic"]["parameters"].get("marker")
        ims = glob.glob(store + "/images/" + os.path.basename(cf).replace(".case.json", "") + ".*")
        n = normalize_intensity(load_image(ims[0]).pixels, cfg)
        stats["n"] += 1
        for img, mir in ((n, False), (n[:, ::-1], True)):
            r = read_side_markers(np.ascontiguousarray(img))
            key = "mirror_" if mir else "read_"
            if r:
                ok = r[0].letter == letter and r[0].mirrored == mir
                stats[key + ("right" if ok else "wrong")] += 1
    print(os.path.basename(store), stats)
