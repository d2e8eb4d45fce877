"""The panel and the PDF show the 90 % interval ("HKA 183.9° ± 0.4°") of a calibrated analysis (issue 20)."""

from __future__ import annotations

from types import SimpleNamespace

from llm_viewer.core.uncertainty import metric_intervals

from .conftest import FakeEngine, fallback_loader, open_and_wait, small_landmarks


class CalibratedEngine(FakeEngine):
    """The fake engine plus what a calibrated bundle adds: a radius per landmark and the image report."""

    def analyze(self, image, *, progress=None, cancel=None):
        res = super().analyze(image, progress=progress, cancel=cancel)
        for leg in res.legs.values():
            for p in leg.landmarks.values():
                p.radius90_px = 3.0
        res.uncertainty = SimpleNamespace(
            calibrated=True, coverage=0.9, metric_factors={"hka_deg": 0.5},
            as_dict=lambda: {"calibrated": True, "coverage": 0.9, "message": "90 % radius calibrated",
                             "ood": {"flagged": False, "score": 0.3, "reasons": [], "message": None}})
        return res


def test_panel_summary_and_tooltip_show_the_interval(qtbot, make_window, case_image, tmp_path):
    win = make_window(CalibratedEngine(small_landmarks()), loader=fallback_loader())
    open_and_wait(qtbot, win, case_image)
    pts = {lm: (p.x, p.y) for lm, p in win.doc.points("right").items()}
    want = metric_intervals(pts, {lm: 3.0 for lm in pts}, "right", win.doc.pixel_spacing_mm,
                            factors={"hka_deg": 0.5})["hka_deg"]
    assert f"HKA {want.text()}" in win.panel.summary.text()
    row = win.panel._items[("hka_deg", 1)]
    assert "90 % interval" in row.toolTip() and "±" in row.toolTip()
    assert win.panel.text("right", "hka_deg") == f"{want.value:.1f}"  # the cell itself is unchanged

    ring = win.canvas.overlays["right"].rings["knee_center"]
    assert not ring.isVisible()  # at fit zoom the 3 px radius is smaller than the marker: not drawn (issue 18)
    win.canvas.zoom_to("right", "knee")
    assert ring.isVisible() and ring.rect().width() == 6.0 and ring.brush().style().name == "NoBrush"  # the 90 % radius, outline only

    # A point moved by hand is taken as exact: its radius drops to 0 and the interval narrows.
    win.doc.move_landmark("right", "knee_center", (pts["knee_center"][0] + 1.0, pts["knee_center"][1]))
    iv = win.doc.measurement.legs["right"].intervals["hka_deg"]
    assert 0 < iv.half_width < want.half_width
    assert win.doc.radius90_px("right", "knee_center") == 0.0 and not ring.isVisible()

    from llm_viewer.report.model import build_case_report

    win.doc.autosave()
    report = build_case_report(win.doc.case_path, check_image=False)
    assert report.legs["right"].intervals["hka_deg"].half_width == iv.half_width
    assert set(report.legs["right"].borderline) == {"alignment", "cpak_type"}

    from pypdf import PdfReader

    from llm_viewer.report.pdf import render_case_pdf

    render_case_pdf(report, tmp_path / "r.pdf")
    text = "".join(page.extract_text() for page in PdfReader(str(tmp_path / "r.pdf")).pages)
    assert iv.text() in text and "90 % interval" in text
