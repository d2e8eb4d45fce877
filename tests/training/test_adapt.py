"""training.adapt: one command fine-tunes a bundle on a store; refuses its parent; records provenance; resumes."""

from __future__ import annotations

import json

import pytest

from llm_viewer.pipeline.bundle import load_bundle
from training import adapt, train
from training.data import read_store, store_fingerprint
from training.presets import finetune_defaults


def _opts(bundle, store, out, **kw):
    base = dict(max_steps=1, batch_size=2, epochs=2, threads=1, evaluate=False)
    base.update(kw)
    return adapt.AdaptOptions(str(bundle), str(store), str(out), **base)


def test_adapt_refuses_to_write_into_its_parent(tiny_store, tiny_bundle, tmp_path):
    for out in (tiny_bundle, tiny_bundle / "sub", tiny_bundle.parent):
        with pytest.raises(adapt.AdaptError, match="overwrite the bundle it starts from"):
            adapt.run_adapt(_opts(tiny_bundle, tiny_store, out), log=lambda m: None)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("mine")
    with pytest.raises(adapt.AdaptError, match="not empty"):
        adapt.run_adapt(_opts(tiny_bundle, tiny_store, busy), log=lambda m: None)
    assert adapt.main(["--bundle", str(tiny_bundle), "--store", str(tiny_store), "--out", str(tiny_bundle)]) == 2


def test_adapt_makes_a_new_bundle_that_records_its_parent_and_resumes(tiny_store, tiny_bundle, tmp_path):
    out = tmp_path / "adapted"
    seen = []
    stop = {"now": True}
    # cancelled at its first step: nothing finished, an exception the caller can catch
    with pytest.raises(train.TrainingCancelled):
        adapt.run_adapt(_opts(tiny_bundle, tiny_store, out), log=lambda m: None, progress=seen.append,
                        should_stop=lambda: stop["now"])
    assert seen and seen[0].done_steps == 1 and not (out / "bundle.json").exists()
    stop["now"] = False
    seen.clear()
    res = adapt.run_adapt(_opts(tiny_bundle, tiny_store, out), log=lambda m: None, progress=seen.append,
                          should_stop=lambda: stop["now"])
    parent = load_bundle(tiny_bundle)
    new = load_bundle(out)
    assert res.model_id == new.model_id != parent.model_id
    assert res.parent_model_id == parent.model_id
    fp = store_fingerprint(read_store(tiny_store))
    assert new.config.training_data_fingerprint == fp == res.store_fingerprint
    assert parent.model_id in new.config.notes and fp[:16] in new.config.notes
    doc = json.loads((out / adapt.ADAPT_JSON).read_text())
    assert doc["parent_model_id"] == parent.model_id and doc["model_id"] == new.model_id
    assert doc["store_fingerprint"] == fp and doc["status"] == "done"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert {r["part"] for r in log} >= {"detector", "knee", "refine_knee"}
    assert all(r["epoch"] == 0 or r["lr"] < finetune_defaults().lr for r in log)
    assert all(r["lr"] <= finetune_defaults().lr * (1 + 1e-9) for r in log)
    assert seen[-1].done_steps == seen[-1].total_steps and seen[-1].fraction == 1.0
    assert seen[-1].eta_s is not None and "left" in seen[-1].line()
    # the parent is untouched and the same call again resumes: nothing left to train
    assert load_bundle(tiny_bundle).fingerprint == parent.fingerprint
    n = len(log)
    adapt.run_adapt(_opts(tiny_bundle, tiny_store, out), log=lambda m: None)
    assert len((out / "log.jsonl").read_text().splitlines()) == n
