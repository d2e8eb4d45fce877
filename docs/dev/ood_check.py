"""OOD check of a bundle (docs/CALIBRATION.md): noise, smooth noise, a chest CR and CT_small from pydicom-data (a dev
 dependency: pip install pydicom-data), and the flag rate on clean held-out stores.

Usage: python docs/dev/ood_check.py BUNDLE [CLEAN_STORE ...]
"""
import sys

import cv2
import numpy as np

from llm_viewer.core.imageio import load_image
from llm_viewer.core.store import Store
from llm_viewer.pipeline.engine import InferenceEngine

B = sys.argv[1]
eng = InferenceEngine.from_bundle(B, device="cpu")
def smooth(shape, seed=1):
    raw = np.random.default_rng(seed).uniform(0, 1000, size=shape).astype(np.float32)
    return cv2.GaussianBlur(raw, (0, 0), 6)
rows = []
tests = {"uniform noise 512x1536": np.random.default_rng(0).uniform(0, 4095, size=(1536, 512)).astype(np.float32),
         "smooth noise 512x1536": smooth((1536, 512)), "smooth noise 1400x4050": smooth((4050, 1400)),
         "smooth noise sigma 20 512x1536": cv2.GaussianBlur(np.random.default_rng(5).uniform(0, 1000, (1536, 512)).astype(np.float32), (0, 0), 20)}
import os

import data_store

d = os.path.join(os.path.dirname(data_store.__file__), "data")
for name in ("RG1_UNCR.dcm",):
    tests["chest CR " + name] = load_image(os.path.join(d, name)).pixels
import pydicom.data

tests["CT_small.dcm"] = load_image(pydicom.data.get_testdata_file("CT_small.dcm")).pixels
for name, img in tests.items():
    r = eng.analyze(img)
    n_lm = sum(len(l.landmarks) for l in r.legs.values())
    all_ood = all(p.ood for l in r.legs.values() for p in l.landmarks.values())
    u = r.uncertainty
    rows.append(f"| {name} | {len(r.legs)} | {n_lm} | {u.ood_score:.1f} | {'yes' if u.ood_flagged else 'no'} | {'yes' if all_ood else 'no'} | {'; '.join(u.ood_reasons)[:90]} |")
for store in sys.argv[2:]:
    st = Store.open(store); flags = 0; n = 0
    for e in st.entries():
        r = eng.analyze(load_image(st.image_path(e)).pixels); n += 1; flags += bool(r.uncertainty.ood_flagged)
    rows.append(f"| clean {os.path.basename(store)} ({n}) | | | | {flags}/{n} flagged | | |")
print("| image | legs | landmarks | image OOD score | image flagged | every landmark OOD | reasons |\n|---|---|---|---|---|---|---|")
print("\n".join(rows))
