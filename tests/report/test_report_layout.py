"""PDF layout (issue 18): no text runs off the page (the calibration sentence used to), page 1 has a colour
legend, and the inset labels stay inside their inset (the FVA label was clipped) without covering each other
or a landmark."""

from __future__ import annotations

import pytest
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas as rl_canvas

from llm_viewer.cli import main
from llm_viewer.core.casefile import load_case, save_case

from .test_report import case_on_disk  # noqa: F401 - the fixture

MARGIN = 36.0


@pytest.fixture
def recorded(monkeypatch):
    """Every string, filled rectangle, circle and image drawn, per page."""
    log: dict[str, list] = {"pages": [[]]}
    orig = {name: getattr(rl_canvas.Canvas, name) for name in
            ("drawString", "drawRightString", "drawCentredString", "rect", "circle", "drawImage", "showPage")}

    def wrap(name):
        def f(self, *a, **k):
            page = log["pages"][-1]
            if name == "showPage":
                log["pages"].append([])
            elif name in ("drawString", "drawRightString", "drawCentredString"):
                x, y, text = a[0], a[1], a[2]
                w = stringWidth(str(text), self._fontname, self._fontsize)
                x0 = {"drawString": x, "drawRightString": x - w, "drawCentredString": x - w / 2}[name]
                page.append(("text", x0, y, x0 + w, str(text), self._pagesize))
            elif name == "rect" and (k.get("fill") or (len(a) > 5 and a[5])):
                x, y, w, h = a[:4]
                page.append(("box", x, y, x + w, y + h))
            elif name == "circle":
                page.append(("circle", a[0], a[1], a[2]))
            elif name == "drawImage":
                page.append(("image", a[1], a[2], a[1] + a[3], a[2] + a[4]))
            return orig[name](self, *a, **k)
        return f

    for name in orig:
        monkeypatch.setattr(rl_canvas.Canvas, name, wrap(name))
    return log


def test_no_text_runs_off_the_page_and_page_one_has_a_legend(case_on_disk, tmp_path, recorded):  # noqa: F811
    case = load_case(case_on_disk)  # the calibration whose explanation is the longest sentence
    case.set_spacing(case.pixel_spacing_mm, "ImagerPixelSpacing", by="test")
    case.approve("Dr Test")  # a calibration after the approval makes it stale (the command would exit 1)
    save_case(case, case_on_disk)
    out = tmp_path / "r.pdf"
    assert main(["report", str(case_on_disk), "--out", str(out)]) == 0
    pages = [p for p in recorded["pages"] if p]
    assert len(pages) == 2
    for n, page in enumerate(pages, 1):
        for _kind, x0, _y, x1, text, size in (e for e in page if e[0] == "text"):
            assert x0 >= MARGIN - 0.5 and x1 <= size[0] - MARGIN + 0.5, f"page {n}: {text!r} runs off the page"
    text = PdfReader(str(out)).pages[0].extract_text()
    assert "Legend" in text and "Hip-ankle (Mikulicz) load line" in text and "corrected by hand" in text
    assert "Mechanical axis deviation (MAD)" in text


def test_inset_labels_inside_their_inset_and_clear_of_each_other_and_the_landmarks(case_on_disk, tmp_path,  # noqa: F811
                                                                                   recorded):
    out = tmp_path / "r.pdf"
    assert main(["report", str(case_on_disk), "--out", str(out)]) == 0
    page1 = recorded["pages"][0]
    images = [e[1:] for e in page1 if e[0] == "image"]
    insets = images[1:]  # the first is the full-length radiograph
    assert len(insets) == 6
    dots: dict[tuple, list] = {}  # inset -> the landmark dots drawn in it (what its clip lets through)
    current = None
    for e in page1:
        if e[0] == "image":
            current = e[1:] if e[1:] in insets else None
        elif e[0] == "circle" and current is not None and e[3] <= 3.0:
            if current[0] <= e[1] <= current[2] and current[1] <= e[2] <= current[3]:
                dots.setdefault(current, []).append(e[1:3])
    labels = []
    for _kind, x0, y0, _x1, text, _s in (e for e in page1 if e[0] == "text"):
        if any(text.startswith(k) for k in ("HKA", "mLDFA", "mMPTA", "mLDTA", "FVA", "MAD")):
            labels.append((text, x0, y0))
    boxes = [e[1:] for e in page1 if e[0] == "box"]
    assert labels
    label_boxes = []
    for text, x0, y0 in labels:
        box = next(b for b in boxes if b[0] <= x0 + 0.01 and b[1] <= y0 + 0.01 and b[2] >= x0 and b[3] >= y0)
        inset = next((r for r in insets if r[0] <= x0 <= r[2] and r[1] <= y0 <= r[3]), None)
        assert inset is not None, text
        assert inset[0] - 0.01 <= box[0] and box[2] <= inset[2] + 0.01 and inset[1] - 0.01 <= box[1] and (
            box[3] <= inset[3] + 0.01), f"{text!r} is clipped by its inset"
        label_boxes.append((text, box, inset))
    for i, (a, ra, ia) in enumerate(label_boxes):
        for b, rb, ib in label_boxes[i + 1:]:
            if ia != ib:
                continue
            assert not (ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]), (a, b)
        for cx, cy in dots.get(ia, []):
            assert not (ra[0] < cx < ra[2] and ra[1] < cy < ra[3]), f"{a!r} covers a landmark"
