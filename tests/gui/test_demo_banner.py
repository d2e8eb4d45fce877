"""Demo (issue 18): while the model runs, the window says that the numbers shown are the ground truth, and then
that they are the model's."""

from __future__ import annotations

import threading

from llm_viewer.core.casefile import Case, save_case

from .conftest import SPACING_MM, FakeEngine, small_landmarks, synthetic_pixels, write_png16


class GatedEngine(FakeEngine):
    """Waits until the test lets it finish (the model 'runs' as long as the test looks)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.gate = threading.Event()

    def analyze(self, image, *, progress=None, cancel=None):
        self.gate.wait(20)
        return super().analyze(image, progress=progress, cancel=cancel)


def _demo_case(tmp_path):
    """A demo-like image whose case file holds the ground truth of every landmark; returns the image path."""
    png = write_png16(tmp_path / "demo.png", synthetic_pixels())
    case = Case.new(pixel_spacing_mm=SPACING_MM, spacing_source="synthetic")
    case_path = tmp_path / "demo.case.json"
    case.set_image(png, case_path, width_px=320, height_px=900)
    for side, leg in small_landmarks().items():
        for lm, xy in leg.items():
            case.set_ground_truth(side, lm, xy)
    save_case(case, case_path)
    return png


def test_while_the_demo_model_runs_the_banner_says_the_numbers_are_the_ground_truth(qtbot, make_window, tmp_path):
    png = _demo_case(tmp_path)
    engine = GatedEngine({s: {lm: (x + 2.0, y) for lm, (x, y) in leg.items()} for s, leg in small_landmarks().items()})
    win = make_window(engine)
    win.open_path(png, analyze=True, accept_model=True)  # what Try the demo / gui --demo do
    try:
        qtbot.waitUntil(lambda: win.analysis_worker is not None, timeout=20000)
        qtbot.wait(50)
        text = win.banner.text
        assert "model is running" in text and "ground truth" in text and "replace" in text
        assert "the values shown are the ground truth" in win.status_label.text()
    finally:
        with qtbot.waitSignal(win.ready, timeout=20000):
            engine.gate.set()
    assert "Now showing the model's landmarks and numbers" in win.banner.text


def test_the_running_note_does_not_outlive_the_run_when_nothing_changes(qtbot, make_window, tmp_path):
    """The model returns exactly the case's points (no proposal, no warning): the banner must not keep saying
    that the model is running once it has finished."""
    png = _demo_case(tmp_path)
    engine = GatedEngine(small_landmarks())
    win = make_window(engine)
    win.open_path(png, analyze=True, accept_model=True)
    try:
        qtbot.waitUntil(lambda: win.analysis_worker is not None, timeout=20000)
        qtbot.wait(50)
        assert "model is running" in win.banner.text
    finally:
        with qtbot.waitSignal(win.ready, timeout=20000):
            engine.gate.set()
    assert "model is running" not in win.banner.text
