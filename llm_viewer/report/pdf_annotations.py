"""Free measurements in the PDF report: their lines on the overview image and the "Other measurements" table.

Values come from :mod:`llm_viewer.core.annotations` (via :class:`~llm_viewer.report.model.CaseReport`).
"""

from __future__ import annotations

from .model import CaseReport

ANNOTATION_COLOUR = (0.77, 0.55, 1.0)  # the viewer's violet: not a line of the metrics


def annotation_rows(report: CaseReport):
    """``(number, annotation, value text, line segments, label anchor)`` per free measurement."""
    for i, (ann, text) in enumerate(report.annotations, start=1):
        pts = ann.points_px
        segments = [(pts[0], pts[1]), (pts[2], pts[3])] if ann.kind == "line_angle" else list(zip(pts, pts[1:]))
        anchor = pts[1] if ann.kind == "angle" else pts[0]
        yield i, ann, text, segments, anchor


def draw_annotations(c, frame, report: CaseReport) -> None:
    """Free measurements on the overview: their lines and their number in the "Other measurements" table."""
    if not report.annotations:
        return
    c.saveState()
    c.setStrokeColorRGB(*ANNOTATION_COLOUR)
    c.setLineWidth(0.7)
    for i, _ann, _text, segments, anchor in annotation_rows(report):
        for a, b in segments:
            c.line(*frame.pt(*a), *frame.pt(*b))
        ax, ay = frame.pt(*anchor)
        c.setFillColorRGB(0, 0, 0)
        c.rect(ax + 2, ay + 1, 8, 8, stroke=0, fill=1)
        c.setFillColorRGB(*ANNOTATION_COLOUR)
        c.setFont("Helvetica-Bold", 6.5)
        c.drawCentredString(ax + 6, ay + 2.8, str(i))
    c.restoreState()


def annotation_table(c, report: CaseReport, x: float, y: float, page_w: float, *, bottom: float) -> float:
    """The "Other measurements" table: free ruler and angle measurements with who made them and when."""
    from ..core.annotations import ANNOTATION_LABELS

    if not report.annotations:
        return y
    c.setFont("Helvetica-Bold", 10)
    c.setFillColorRGB(0, 0, 0)
    y -= 8
    c.drawString(x, y, "Other measurements (free ruler and angles; not part of the approval)")
    y -= 14
    cols = [x, x + 22, x + 150, x + 250]
    c.setFont("Helvetica-Bold", 8)
    for text, cx in zip(("#", "Measurement", "Value", "Made by, at"), cols):
        c.drawString(cx, y, text)
    y -= 11
    c.setFont("Helvetica", 7.5)
    rows = list(annotation_rows(report))
    for n, (i, ann, text, _seg, _anchor) in enumerate(rows):
        if y < bottom + 10 and n < len(rows) - 1:
            c.setFont("Helvetica-Oblique", 7)
            c.drawString(cols[1], y, f"... and {len(rows) - n} more (listed in the case file)")
            return y
        c.drawString(cols[0], y, str(i))
        c.drawString(cols[1], y, ANNOTATION_LABELS[ann.kind])
        c.drawString(cols[2], y, text)
        c.drawString(cols[3], y, f"{ann.created_by or 'unknown'}, {ann.created_at or '?'}")
        y -= 10
    return y
