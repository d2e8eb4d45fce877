"""Own images: importing case files into a store (ROI boxes derived from landmarks) and fine-tuning a bundle."""

from __future__ import annotations

import json
import shutil

import numpy as np
import torch

from llm_viewer.core.casefile import load_case, save_case
from llm_viewer.core.store import Store
from training.data import read_store
from training.import_cases import derive_rois, import_folder

from .conftest import train_tiny


def test_derived_rois_contain_their_landmarks_and_match_the_generator(tiny_store):
    case = read_store(tiny_store)[0]
    for side, lms in case.landmarks.items():
        boxes = {b["region"]: b["box_px"] for b in derive_rois(lms, side, case.spacing_mm, 10**5, 10**5)}
        inside = {"hip": ["femoral_head"], "knee": ["knee_center", "femoral_condyle_lateral", "tibial_plateau_medial"],
                  "ankle": ["malleolus_lateral", "malleolus_medial"], "diaphysis": ["diaphysis_center"]}
        for region, ids in inside.items():
            x0, y0, x1, y1 = boxes[region]
            for lm in ids:
                assert x0 < lms[lm][0] < x1 and y0 < lms[lm][1] < y1, (region, lm)
        for region in ("knee", "ankle"):  # same rule as the generator's annotator boxes
            g = case.rois[(side, region)]
            assert np.allclose(boxes[region], [g.x0, g.y0, g.x1, g.y1], atol=2.0)


def test_import_folder_builds_a_trainable_store(tiny_store, tmp_path):
    src = tmp_path / "dicoms"
    src.mkdir()
    for e in Store.open(tiny_store).entries():
        img = Store.open(tiny_store).image_path(e)
        shutil.copy(img, src / img.name)
        case = load_case(Store.open(tiny_store).case_path(e))
        case.set_rois([])  # a clinician's case file has no boxes
        case.set_image(src / img.name, src / f"{e.id}.case.json")
        save_case(case, src / f"{e.id}.case.json")
    (src / "broken.case.json").write_text("{not json")
    out = tmp_path / "store"
    assert import_folder(src, out, log=lambda m: None) == 3
    cases = read_store(out)
    assert len(cases) == 3 and all(len(c.rois) == 4 * len(c.landmarks) for c in cases)
    assert import_folder(src, out, log=lambda m: None) == 0  # already there


def test_a_store_case_without_boxes_gets_them_from_its_landmarks(tiny_store, tmp_path):
    out = tmp_path / "store"
    shutil.copytree(tiny_store, out)
    store = Store.open(out)
    e = store.entries()[0]
    with_boxes = {c.case_id: c for c in read_store(out)}[e.id]
    case = load_case(store.case_path(e))
    case.set_rois([])  # annotated in the viewer without a model run: no boxes
    store.add_case(e.id, case, image_path=store.image_path(e), split=e.split, replace=True)
    derived = {c.case_id: c for c in read_store(out)}[e.id]
    assert set(derived.rois) == set(with_boxes.rois) and len(derived.rois) == 4 * len(derived.landmarks)
    for key in ("knee", "ankle"):  # the generator's annotator rule
        g, d = with_boxes.rois[("right", key)], derived.rois[("right", key)]
        assert np.allclose([g.x0, g.y0, g.x1, g.y1], [d.x0, d.y0, d.x1, d.y1], atol=2.0)


def test_fine_tuning_keeps_parts_without_data(tiny_store, tiny_bundle, tmp_path):
    base = tiny_bundle
    tuned = tmp_path / "tuned"
    train_tiny(tiny_store, tuned, "--init-from", str(base), "--parts", "knee")
    from safetensors.torch import load_file

    doc = json.loads((tuned / "bundle.json").read_text())
    base_doc = json.loads((base / "bundle.json").read_text())

    def same(name):
        a, b = load_file(str(tuned / f"{name}.safetensors")), load_file(str(base / f"{name}.safetensors"))
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    assert same("hip") and same("detector")  # untouched parts kept
    assert not same("knee")  # the trained part changed
    assert doc["regions"] == base_doc["regions"]
    assert (tuned / "refine.json").is_file()  # the base's refinement stage is kept
