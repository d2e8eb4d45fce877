"""Tools > Adapt the model to these cases…, end to end with tiny models: worker, progress, cancel, the
question, the switch to the new model (its id in the case provenance and the PDF) and the switch back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import open_and_wait

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny store and a bundle trained one step per model on it; the detector's threshold is lowered so that
    the untrained detector still proposes boxes (and the pipeline places landmarks)."""
    from llm_viewer.cli import main
    from tests.training.conftest import train_tiny

    root = tmp_path_factory.mktemp("adapt_gui")
    store = root / "store"
    assert main(["synth", "--count", "3", "--seed", "5", "--out", str(store), "--height-px", "640",
                 "--one-leg-rate", "0", "--no-progress"]) == 0
    bundle = root / "bundle"
    train_tiny(store, bundle)
    doc = json.loads((bundle / "bundle.json").read_text())
    doc["detector"]["score_threshold"] = 0.0
    (bundle / "bundle.json").write_text(json.dumps(doc, indent=2))
    return store, bundle


def _image(store: Path, tmp_path: Path) -> Path:
    from llm_viewer.core.store import Store

    st = Store.open(store)
    src = st.image_path(st.entries()[0])
    dst = tmp_path / "clinic" / src.name
    dst.parent.mkdir()
    shutil.copy(src, dst)
    return dst


def test_adapt_action_runs_in_a_worker_switches_models_and_back(qtbot, make_window, tiny, tmp_path):
    from pypdf import PdfReader

    from llm_viewer.gui.adapt import bundle_engine_factory
    from llm_viewer.pipeline.bundle import load_bundle

    store, bundle = tiny
    parent_id = load_bundle(bundle).model_id
    win = make_window(loader=None, engine_factory=bundle_engine_factory(bundle))
    win.adapter.current_path = bundle
    adapter = win.adapter
    adapter.options = dict(max_steps=1, batch_size=2, epochs=1, threads=1, evaluate=False)
    asked = []
    adapter.confirm = lambda text: asked.append(text) or True
    progress = []
    win.progress.valueChanged.connect(progress.append)
    out = tmp_path / "adapted"

    # cancel at once: no new bundle, the window is usable again
    w = adapter.start(store, out)
    assert w is not None and adapter.busy and win.cancel_button.isVisible()
    assert adapter.start(store, out) is None  # one adaptation at a time
    win.cancel_button.click()
    qtbot.waitUntil(lambda: not adapter.busy, timeout=120000)
    assert not (out / "bundle.json").exists() and not asked
    assert not win.cancel_button.isVisible()

    original = win.engines
    with qtbot.waitSignal(adapter.switched, timeout=300000):
        adapter.start(store, out)
    new_id = load_bundle(out).model_id
    assert new_id != parent_id
    assert asked and new_id in asked[0] and parent_id in asked[0]
    assert progress and max(progress) == 1000  # the progress bar reached 100 %
    assert win.act_switch_back.isEnabled() and win.engines is not original

    # a case analysed now carries the new model id, in its provenance and in the PDF
    img = _image(store, tmp_path)
    open_and_wait(qtbot, win, img)
    qtbot.waitUntil(lambda: win.analysis_worker is None, timeout=120000)
    case = win.doc.case.to_dict()
    assert case["analysis"]["model_id"] == new_id
    ids = {p.get("model_id") for leg in case["legs"].values() for p in leg.get("provenance", {}).values()}
    assert new_id in ids
    pdf = tmp_path / "report.pdf"
    with qtbot.waitSignal(win.reportWritten, timeout=60000):
        win.export_report(pdf)
    text = "".join(page.extract_text() for page in PdfReader(str(pdf)).pages).replace("\n", "")
    assert new_id in text

    # and back
    assert adapter.switch_back()
    assert win.engines is original and not win.act_switch_back.isEnabled()
    assert win.settings.value("model/path") == str(bundle)

