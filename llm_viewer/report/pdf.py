"""The surgeon's PDF: radiograph with vector overlays, hip/knee/ankle insets, metrics, provenance.

Drawn with reportlab: the image is embedded as a raster, every line, point and label is a vector over
it, and all text is real (selectable, searchable) text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.labels import LabelRequest, marker_rect, place_labels
from ..core.landmarks import LANDMARK_LABELS
from ..core.metrics import METRIC_KEYS, METRIC_LABELS, metric_text, normal_range_text, out_of_range
from ..core.overlay import angle_labels, leg_lines
from .model import SPACING_MEANING, CaseReport, ordered_sides
from .pdf_annotations import annotation_table as _annotation_table
from .pdf_annotations import draw_annotations as _draw_annotations

DISCLAIMER = (
    "Research use only. Not a medical device. Landmarks were placed by a machine-learning model and/or "
    "corrected by the named user; all values must be verified by a qualified clinician before any "
    "clinical decision."
)

LINE_COLOURS = {
    "femoral_mechanical_axis": (0.95, 0.75, 0.1),
    "tibial_mechanical_axis": (0.95, 0.75, 0.1),
    "mikulicz_line": (0.2, 0.85, 0.3),
    "anatomical_femoral_axis": (0.6, 0.6, 1.0),
    "femoral_joint_line": (0.2, 0.8, 1.0),
    "tibial_joint_line": (0.2, 0.8, 1.0),
    "malleolar_line": (0.2, 0.8, 1.0),
    "mad_segment": (1.0, 0.3, 0.3),
}
SIDE_COLOUR = {"right": (1.0, 0.35, 0.35), "left": (0.35, 0.65, 1.0)}
MANUAL_COLOUR = (1.0, 0.55, 0.0)
RING_COLOUR = (1.0, 0.9, 0.2)
DOUBTFUL_COLOUR = (1.0, 0.1, 0.1)
LABEL_FONT, LABEL_SIZE = "Helvetica-Bold", 6.5
LABEL_H = 9.0
LABEL_RINGS_PT = (0.0, 4.0, 8.0, 13.0, 19.0, 26.0, 34.0, 44.0, 56.0)
"""Distances (points) at which an inset's angle label looks for a free place (:func:`core.labels.place_labels`)."""
ANGLE_PRIORITY = {"hka_deg": 1, "mad_mm": 2, "mldfa_deg": 3, "mmpta_deg": 4, "mldta_deg": 5, "fva_deg": 6}


@dataclass(frozen=True)
class ReportOptions:
    """Page and header settings."""

    paper: str = "a4"  # "a4" | "letter"
    institution: str = ""
    logo_path: str | None = None
    image_dpi: float = 150.0


class ReportError(RuntimeError):
    """The report cannot be written (unwritable output, unreadable logo, ...)."""


def _display_u8(report: CaseReport) -> tuple[np.ndarray | None, dict]:
    """The radiograph windowed to 8 bit for print, and the study metadata read from it."""
    if report.image_problem or report.image_path is None:
        return None, {}
    from ..core.imageio import ImageLoadError, load_image

    try:
        img = load_image(report.image_path)
    except ImageLoadError as exc:
        report.warnings.append(str(exc))
        return None, {}
    lo = img.window.center - img.window.width / 2
    hi = img.window.center + img.window.width / 2
    u8 = np.clip((img.pixels - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    return u8, img.metadata.as_dict()


def _png(gray: np.ndarray):
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG", optimize=True)
    buf.seek(0)
    return ImageReader(buf)


def _resample(gray: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    import cv2

    interp = cv2.INTER_AREA if out_w < gray.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(gray, (max(out_w, 1), max(out_h, 1)), interpolation=interp)


class _Frame:
    """Maps image pixels (crop x0, y0, w, h) onto a page rectangle (left, bottom, width, height)."""

    def __init__(self, crop: tuple[float, float, float, float], rect: tuple[float, float, float, float]):
        self.cx, self.cy, self.cw, self.ch = crop
        self.left, self.bottom, self.w, self.h = rect
        self.s = self.w / self.cw

    def pt(self, x: float, y: float) -> tuple[float, float]:
        # pixel centres: pixel i spans [i - 0.5, i + 0.5]
        return (self.left + (x + 0.5 - self.cx) * self.s, self.bottom + self.h - (y + 0.5 - self.cy) * self.s)


def _draw_overlays(c, frame: _Frame, report: CaseReport, *, labels: bool, point_radius: float,
                   line_width: float) -> None:
    for side in ordered_sides(report):
        leg = report.legs[side]
        for line in leg_lines(leg.landmarks, report.pixel_spacing_mm):
            c.setStrokeColorRGB(*LINE_COLOURS[line.kind])
            c.setLineWidth(line_width * (1.4 if line.kind == "mad_segment" else 1.0))
            if line.kind == "anatomical_femoral_axis":
                c.setDash(3, 2)
            c.line(*frame.pt(line.x0, line.y0), *frame.pt(line.x1, line.y1))
            c.setDash()
        for lm, p in leg.landmarks.items():
            x, y = frame.pt(p.x, p.y)
            manual = lm in leg.manual
            c.setStrokeColorRGB(*SIDE_COLOUR[side])
            c.setFillColorRGB(*(MANUAL_COLOUR if manual else SIDE_COLOUR[side]))
            c.setLineWidth(line_width)
            c.circle(x, y, point_radius, stroke=1, fill=1)
            unc = leg.uncertainty_px.get(lm)
            if lm in leg.flagged:
                c.setStrokeColorRGB(*DOUBTFUL_COLOUR)
                c.circle(x, y, max((unc or 0) * frame.s, point_radius * 2.5), stroke=1, fill=0)
            elif unc is not None and unc * frame.s > point_radius * 1.5:
                c.setStrokeColorRGB(*RING_COLOUR)
                c.circle(x, y, unc * frame.s, stroke=1, fill=0)
    if labels:
        _draw_labels(c, frame, report, point_radius)


def _draw_labels(c, frame: _Frame, report: CaseReport, point_radius: float) -> None:
    """Angle labels of an inset, placed together so that none covers another label or a landmark, all inside
    the inset (none clipped at its edge); a label moved from its place gets a thin leader line to its vertex.
    Only the angles core computed get a label."""
    inside = (frame.left + 1.0, frame.bottom + 1.0, frame.left + frame.w - 1.0, frame.bottom + frame.h - 1.0)

    def visible(x: float, y: float) -> bool:
        return inside[0] <= x <= inside[2] and inside[1] <= y <= inside[3]

    requests, texts, obstacles = [], {}, []
    for side in ordered_sides(report):
        leg = report.legs[side]
        for p in leg.landmarks.values():
            x, y = frame.pt(p.x, p.y)
            if visible(x, y):
                obstacles.append(marker_rect(x, y, point_radius + 1.2))
        if leg.metrics is None:
            continue
        lms = leg.landmarks
        ankle = None
        if "malleolus_lateral" in lms and "malleolus_medial" in lms:
            a, b = lms["malleolus_lateral"], lms["malleolus_medial"]
            ankle = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)
        knee = (lms["knee_center"].x, lms["knee_center"].y) if "knee_center" in lms else None
        for lab in angle_labels(lms, side, leg.metrics, offset_px=22 / frame.s):
            vertex = ankle if lab.key == "mldta_deg" else knee
            if vertex is None:
                continue
            anchor = frame.pt(*vertex)
            if not visible(*anchor):
                continue
            x, y = frame.pt(lab.x, lab.y)
            w = c.stringWidth(lab.text, LABEL_FONT, LABEL_SIZE) + 3.0
            requests.append(LabelRequest((side, lab.key), anchor, (x, y + 2.0), (w, LABEL_H),
                                         ANGLE_PRIORITY.get(lab.key, 9), optional=False))
            texts[(side, lab.key)] = lab.text
    placed = place_labels(requests, obstacles, inside, rings=LABEL_RINGS_PT, leader_min=6.0, gap=1.0)
    c.setFont(LABEL_FONT, LABEL_SIZE)
    for key, pl in placed.items():
        if not pl.visible:
            continue
        if pl.leader is not None:
            c.setStrokeColorRGB(1, 1, 1)
            c.setLineWidth(0.4)
            c.setDash(1, 1)
            c.line(*pl.leader)
            c.setDash()
        x0, y0, x1, y1 = pl.rect
        c.setFillColorRGB(0, 0, 0)
        c.rect(x0, y0, x1 - x0, y1 - y0, stroke=0, fill=1)
        c.setFillColorRGB(1, 1, 1)
        c.drawCentredString((x0 + x1) / 2.0, y0 + 2.5, texts[key])


LEGEND_ITEMS: tuple[tuple[str, tuple[float, float, float], str], ...] = (
    ("line", LINE_COLOURS["femoral_mechanical_axis"], "Femoral and tibial mechanical axes"),
    ("line", LINE_COLOURS["mikulicz_line"], "Hip-ankle (Mikulicz) load line"),
    ("dash", LINE_COLOURS["anatomical_femoral_axis"], "Anatomical femoral axis"),
    ("line", LINE_COLOURS["femoral_joint_line"], "Joint lines (femoral, tibial, malleolar)"),
    ("thick", LINE_COLOURS["mad_segment"], "Mechanical axis deviation (MAD)"),
    ("dot", SIDE_COLOUR["right"], "Landmark, right leg"),
    ("dot", SIDE_COLOUR["left"], "Landmark, left leg"),
    ("dot", MANUAL_COLOUR, "Landmark corrected by hand"),
    ("ring", RING_COLOUR, "Model uncertainty ring"),
    ("ring", DOUBTFUL_COLOUR, "Flagged as doubtful by the model"),
)
"""The colour legend of page 1: what every line, dot and ring means."""


def _legend(c, x: float, y: float, width: float) -> float:
    """Draw the colour legend (two columns) with its top at ``y``; returns the y below it."""
    c.setFillColorRGB(0, 0, 0)
    c.setFont("Helvetica-Bold", 8)
    c.drawString(x, y - 8, "Legend")
    y -= 14
    col_w = width / 2.0
    rows = (len(LEGEND_ITEMS) + 1) // 2
    c.setFont("Helvetica", 6.8)
    for i, (kind, rgb, text) in enumerate(LEGEND_ITEMS):
        cx = x + (i // rows) * col_w
        cy = y - (i % rows) * 10.0
        c.setStrokeColorRGB(*rgb)
        c.setFillColorRGB(*rgb)
        c.setLineWidth(1.6 if kind == "thick" else 0.9)
        if kind == "dash":
            c.setDash(3, 2)
        if kind in ("line", "dash", "thick"):
            c.line(cx, cy + 2.5, cx + 16, cy + 2.5)
        elif kind == "dot":
            c.circle(cx + 8, cy + 2.5, 2.0, stroke=0, fill=1)
        else:
            c.circle(cx + 8, cy + 2.5, 3.6, stroke=1, fill=0)
        c.setDash()
        c.setFillColorRGB(0, 0, 0)
        c.drawString(cx + 21, cy, text)
    return y - rows * 10.0


def _inset_crops(report: CaseReport, shape: tuple[int, int]) -> list[tuple[str, str, tuple[float, float, float, float]]]:
    """Square crops (x0, y0, w, h) around hip, knee and ankle of each leg, about 110 mm wide."""
    H, W = shape
    if report.pixel_spacing_mm:
        size = 110.0 / report.pixel_spacing_mm[1]
    else:
        size = 0.09 * H
    out = []
    for side in ordered_sides(report):
        lms = report.legs[side].landmarks
        centres = {
            "hip": lms.get("femoral_head"),
            "knee": lms.get("knee_center"),
            "ankle": None,
        }
        if "malleolus_lateral" in lms and "malleolus_medial" in lms:
            a, b = lms["malleolus_lateral"], lms["malleolus_medial"]
            centres["ankle"] = type(a)((a.x + b.x) / 2, (a.y + b.y) / 2)
        for region, p in centres.items():
            if p is None:
                continue
            x0 = min(max(p.x - size / 2, 0), max(W - size, 0))
            y0 = min(max(p.y - size / 2, 0), max(H - size, 0))
            out.append((side, region, (x0, y0, min(size, W), min(size, H))))
    return out


def render_case_pdf(report: CaseReport, out_path: str | Path, options: ReportOptions | None = None) -> None:
    """Write the PDF report of one case: two pages, plus one plan page per osteotomy plan.

    Parameters
    ----------
    report : CaseReport
        From :func:`llm_viewer.report.model.build_case_report`.
    out_path : path-like
        Target PDF; written atomically.
    options : ReportOptions, optional

    Raises
    ------
    ReportError
        When the logo cannot be read or the PDF cannot be written.
    """
    from reportlab.lib.pagesizes import A4, LETTER
    from reportlab.pdfgen import canvas

    from ..core.atomic import atomic_write_bytes

    opts = options or ReportOptions()
    page_w, page_h = LETTER if opts.paper.lower() == "letter" else A4
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(page_w, page_h), pageCompression=1)
    c.setTitle(f"Alignment report {report.case_id}")
    c.setAuthor("llm-viewer")
    c.setSubject("Lower-limb alignment")
    gray, meta = _display_u8(report)
    margin = 36.0
    from .pdf_plan import draw_plan_page, plan_pages

    plans = plan_pages(report)  # one page per osteotomy plan of the case
    total = 2 + len(plans)
    top = _header(c, report, meta, opts, page_w, page_h, margin)

    # ---- page 1: full-length image (left) and insets (right)
    avail_h = top - margin - 14
    if gray is not None:
        H, W = gray.shape
        img_h = avail_h
        img_w = img_h * W / H
        max_w = (page_w - 2 * margin) * 0.42
        if img_w > max_w:
            img_w, img_h = max_w, max_w * H / W
        px_w = int(img_w / 72 * opts.image_dpi)
        px_h = int(img_h / 72 * opts.image_dpi)
        left, bottom = margin, top - img_h
        c.drawImage(_png(_resample(gray, px_w, px_h)), left, bottom, img_w, img_h)
        frame = _Frame((-0.5, -0.5, float(W), float(H)), (left, bottom, img_w, img_h))
        _draw_overlays(c, frame, report, labels=False, point_radius=1.6, line_width=0.6)
        _draw_annotations(c, frame, report)
        c.setFont("Helvetica-Bold", 12)
        c.setFillColorRGB(1, 1, 1)
        c.drawString(left + 4, top - 14, "R")
        c.drawRightString(left + img_w - 4, top - 14, "L")
        c.setFont("Helvetica", 7)
        c.setFillColorRGB(0, 0, 0)
        c.drawString(left, bottom - 10, "Full-length radiograph, AP (patient's right on image left)")
        # insets: 3 rows (hip, knee, ankle) x 2 columns (right, left)
        crops = _inset_crops(report, gray.shape)
        col_x = {"right": left + img_w + 14, "left": None}
        cell_w = (page_w - margin - col_x["right"] - 10) / 2
        col_x["left"] = col_x["right"] + cell_w + 10
        cell_h = min(cell_w, (avail_h - 3 * 14) / 3)
        rows = {"hip": 0, "knee": 1, "ankle": 2}
        for side, region, (x0, y0, w, h) in crops:
            cx, cy = col_x[side], top - (rows[region] + 1) * (cell_h + 14) + 14
            ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
            crop = gray[iy0: iy0 + int(np.ceil(h)) + 1, ix0: ix0 + int(np.ceil(w)) + 1]
            if crop.size == 0:
                continue
            ch, cw_ = crop.shape
            scale = min(cell_w / cw_, cell_h / ch)
            dw, dh = cw_ * scale, ch * scale
            px = int(dw / 72 * opts.image_dpi * 1.5)
            c.drawImage(_png(_resample(crop, px, int(px * ch / cw_))), cx, cy, dw, dh)
            fr = _Frame((ix0 - 0.5, iy0 - 0.5, float(cw_), float(ch)), (cx, cy, dw, dh))
            c.saveState()
            path = c.beginPath()
            path.rect(cx, cy, dw, dh)
            c.clipPath(path, stroke=0, fill=0)
            _draw_overlays(c, fr, report, labels=True, point_radius=2.2, line_width=0.9)
            c.restoreState()
            c.setFillColorRGB(0, 0, 0)
            c.setFont("Helvetica-Bold", 8)
            c.drawString(cx, cy + dh + 3, f"{side.capitalize()} {region}")
        legend_top = top - 3 * (cell_h + 14) - 4
        _legend(c, col_x["right"], legend_top, page_w - margin - col_x["right"])
    else:
        c.setFont("Helvetica-Bold", 11)
        c.setFillColorRGB(0.7, 0, 0)
        c.drawString(margin, top - 20, "Image not shown: " + (report.image_problem or "the image could not be read"))
    _footer(c, report, page_w, margin, 1, total)
    c.showPage()

    # ---- page 2: tables and provenance
    top = _header(c, report, meta, opts, page_w, page_h, margin)
    y = _metrics_table(c, report, margin, top - 6, page_w)
    y = _provenance(c, report, margin, y - 10, page_w)
    y = _landmark_table(c, report, margin, y - 14, page_w)
    y = _annotation_table(c, report, margin, y - 14, page_w, bottom=margin + 6)
    _footer(c, report, page_w, margin, 2, total)
    c.showPage()
    for number, plan_page in enumerate(plans, start=3):
        top = _header(c, report, meta, opts, page_w, page_h, margin)
        draw_plan_page(c, report, plan_page, gray, margin, top, page_w, margin + 6, opts.image_dpi)
        _footer(c, report, page_w, margin, number, total)
        c.showPage()
    c.save()
    try:
        atomic_write_bytes(out_path, buf.getvalue())
    except OSError as exc:
        raise ReportError(f"cannot write {out_path}: {exc.strerror or exc}") from None


def _header(c, report: CaseReport, meta: dict, opts: ReportOptions, page_w: float, page_h: float,
            margin: float) -> float:
    y = page_h - margin
    x_text = margin
    if opts.logo_path:
        from reportlab.lib.utils import ImageReader

        try:
            logo = ImageReader(str(opts.logo_path))
            lw, lh = logo.getSize()
            h = 30.0
            c.drawImage(logo, margin, y - h, h * lw / lh, h, mask="auto")
            x_text = margin + h * lw / lh + 8
        except Exception as exc:  # noqa: BLE001 - reportlab raises several types for bad images
            raise ReportError(f"cannot read the logo {opts.logo_path}: {exc}") from None
    c.setFillColorRGB(0, 0, 0)
    c.setFont("Helvetica-Bold", 13)
    c.drawString(x_text, y - 12, "Lower-limb alignment report")
    c.setFont("Helvetica", 9)
    if opts.institution:
        c.drawString(x_text, y - 25, opts.institution)
    # identity block (right)
    right = page_w - margin
    c.setFont("Helvetica", 8)
    name = meta.get("patient_name")
    if report.synthetic:
        c.setFillColorRGB(0.75, 0.0, 0.0)
        c.setFont("Helvetica-Bold", 10)
        c.drawRightString(right, y - 10, "SYNTHETIC IMAGE - not a patient")
        c.setFont("Helvetica", 8)
        c.setFillColorRGB(0, 0, 0)
        c.drawRightString(right, y - 21, f"Case {report.case_id}")
    elif not name and not meta.get("patient_id"):
        c.setFillColorRGB(0.3, 0.3, 0.3)
        c.setFont("Helvetica-Bold", 10)
        c.drawRightString(right, y - 10, "DE-IDENTIFIED")
        c.setFont("Helvetica", 8)
        c.setFillColorRGB(0, 0, 0)
        c.drawRightString(right, y - 21, f"Case {report.case_id}")
    else:
        c.drawRightString(right, y - 8, f"Patient: {str(name or '').replace('^', ' ')}   ID: {meta.get('patient_id') or '-'}")
        c.drawRightString(right, y - 18, f"Born: {meta.get('patient_birth_date') or '-'}   Sex: {meta.get('patient_sex') or '-'}")
        c.drawRightString(right, y - 28, f"Study: {meta.get('study_date') or '-'}  {meta.get('study_description') or ''}"
                          f"  Acc: {meta.get('accession_number') or '-'}")
    c.setStrokeColorRGB(0.6, 0.6, 0.6)
    c.setLineWidth(0.5)
    c.line(margin, y - 36, page_w - margin, y - 36)
    headline = report.approval.headline
    if headline:  # a stale or unverifiable approval is never shown as valid
        stale = report.approval.state == "stale"
        c.setFillColorRGB(*((0.8, 0.0, 0.0) if stale else (0.75, 0.4, 0.0)))
        c.setFont("Helvetica-Bold", 10 if stale else 9)
        c.drawString(margin, y - 48, headline)
        c.setFillColorRGB(0, 0, 0)
        return y - 62
    return y - 44


def _footer(c, report: CaseReport, page_w: float, margin: float, page: int, total: int = 2) -> None:
    from reportlab.lib.utils import simpleSplit

    c.setFont("Helvetica", 6.5)
    c.setFillColorRGB(0.35, 0.35, 0.35)
    lines = simpleSplit(DISCLAIMER, "Helvetica", 6.5, page_w - 2 * margin - 40)
    for i, line in enumerate(lines):
        c.drawString(margin, margin - 12 - 8 * i, line)
    c.drawRightString(page_w - margin, margin - 12, f"page {page}/{total}")


def _metrics_table(c, report: CaseReport, x: float, y: float, page_w: float) -> float:
    sides = ordered_sides(report)
    cols = [x, x + 150, x + 250] + [x + 340 + 95 * i for i in range(len(sides))]
    c.setFont("Helvetica-Bold", 10)
    c.setFillColorRGB(0, 0, 0)
    c.drawString(x, y, "Measurements")
    y -= 16
    c.setFont("Helvetica-Bold", 8)
    for text, cx in zip(["Metric", "Key", "Normal"] + [f"{s.capitalize()} leg" for s in sides], cols):
        c.drawString(cx, y, text)
    y -= 4
    c.setLineWidth(0.4)
    c.line(x, y, page_w - x, y)
    y -= 10
    col_w = 90.0
    notes: dict[str, str] = {}  # reason -> marker, for reasons too long for their cell

    def reason_cell(reason: str, width: float = col_w) -> str:
        if c.stringWidth(reason, "Helvetica-Oblique", 7) <= width:
            return reason
        return "not computed " + notes.setdefault(reason, f"[{len(notes) + 1}]")

    for key in METRIC_KEYS:
        c.setFont("Helvetica", 8)
        c.setFillColorRGB(0, 0, 0)
        c.drawString(cols[0], y, METRIC_LABELS[key])
        c.drawString(cols[1], y, key)
        c.drawString(cols[2], y, normal_range_text(key))
        for i, side in enumerate(sides):
            leg = report.legs[side]
            unmeasured = False
            if leg.metrics is None:
                text, flag = "not measured", False
            else:
                value = leg.metrics.as_dict()[key]
                reason = leg.metrics.reason(key)
                if value is None and key.endswith("_mm") and not leg.metrics.spacing_known:
                    text = "no calibration"
                elif reason is not None:
                    text, unmeasured = reason_cell(reason), True  # core's reason, e.g. "needs diaphysis_center"
                else:
                    text = metric_text(key, value)
                    iv = leg.intervals.get(key)
                    if iv is not None and isinstance(value, float):
                        text = iv.text()  # "183.9° ± 0.4°" (90 %, calibrated landmark radii)
                    if key in ("alignment", "cpak_type") and leg.borderline.get(key):
                        text += " (borderline)"
                flag = out_of_range(key, value if isinstance(value, float) else None)
            if flag:
                c.setFillColorRGB(0.8, 0.0, 0.0)
                c.setFont("Helvetica-Bold", 8)
                text += " *"
            elif unmeasured:
                c.setFillColorRGB(0.4, 0.4, 0.4)
                c.setFont("Helvetica-Oblique", 7)
            else:
                c.setFillColorRGB(0, 0, 0)
                c.setFont("Helvetica", 8)
            c.drawString(cols[3 + i], y, text)
        y -= 11
    c.setFillColorRGB(0, 0, 0)
    c.setFont("Helvetica", 8)
    lld = report.lld_mm
    c.drawString(cols[0], y, "Leg-length discrepancy (R - L)")
    c.drawString(cols[1], y, "lld_mm")
    if lld is not None:
        c.drawString(cols[3], y, f"{lld:+.1f} mm")
    else:
        lld_reason = report.study.reason()
        if lld_reason is not None and report.pixel_spacing_mm is not None:
            c.setFont("Helvetica-Oblique", 7)
            c.setFillColorRGB(0.4, 0.4, 0.4)
            c.drawString(cols[3], y, reason_cell(lld_reason, page_w - x - cols[3]))  # spans the leg columns
        else:
            c.drawString(cols[3], y, "n/a")
    c.setFillColorRGB(0, 0, 0)
    y -= 13
    c.setFont("Helvetica-Oblique", 7)
    c.drawString(x, y, "* outside the typical normal range. HKA < 180° varus, > 180° valgus; MAD > 0: load line "
                       "medial to the knee.")
    if any(report.legs[s].intervals for s in sides):
        y -= 9
        c.drawString(x, y, "± : 90 % interval from the model's calibrated landmark radii (hand-placed points taken as "
                           "exact); borderline: the interval crosses a class boundary.")
    for reason, marker in notes.items():
        y -= 9
        c.drawString(x, y, f"{marker} not computed: {reason}")
    for side in sides:
        if report.legs[side].error:
            y -= 10
            c.setFillColorRGB(0.8, 0, 0)
            c.drawString(x, y, f"{side.capitalize()} leg not measured: {report.legs[side].error}")
    c.setFillColorRGB(0, 0, 0)
    y -= 18
    c.setFont("Helvetica-Bold", 10)
    c.drawString(x, y, "Calibration")
    y -= 12
    c.setFont("Helvetica", 8)
    sp = report.pixel_spacing_mm
    y = _wrapped(c, x, y, f"Source: {report.spacing_source}; pixel spacing: "
                 + (f"{sp[0]:.4f} x {sp[1]:.4f} mm (row x column)" if sp else "unknown"), page_w - 2 * x)
    y -= 11
    return _wrapped(c, x, y, SPACING_MEANING.get(report.spacing_source, ""), page_w - 2 * x)


def _wrapped(c, x: float, y: float, text: str, width: float, font: str = "Helvetica", size: float = 8,
             leading: float = 10.0) -> float:
    """Draw ``text`` from baseline ``y`` wrapped to ``width``; returns the baseline of its last line."""
    from reportlab.lib.utils import simpleSplit

    lines = simpleSplit(text, font, size, width) or [""]
    c.setFont(font, size)
    for i, line in enumerate(lines):
        if i:
            y -= leading
        c.drawString(x, y, line)
    return y


def _provenance(c, report: CaseReport, x: float, y: float, page_w: float) -> float:
    c.setFont("Helvetica-Bold", 10)
    c.setFillColorRGB(0, 0, 0)
    y -= 8
    c.drawString(x, y, "Provenance and review")
    y -= 12
    c.setFont("Helvetica", 8)
    c.drawString(x, y, "Model: " + (", ".join(report.model_ids) if report.model_ids else "none (landmarks not "
                                    "from a model)"))
    y -= 11
    rv = report.review
    status = rv.get("status", "new")
    who = f" by {rv['by']}" if rv.get("by") else ""
    when = f" at {rv['at']}" if rv.get("at") else ""
    verdict = {"stale": " - NOT VALID: changed after the approval", "unverifiable": " - not verifiable",
               "valid": " - verified (landmarks and calibration unchanged since)"}.get(report.approval.state, "")
    if report.approval.problem:
        c.setFillColorRGB(0.8, 0, 0)
        c.setFont("Helvetica-Bold", 8)
    c.drawString(x, y, f"Review status: {status}{who}{when}{verdict}")
    c.setFillColorRGB(0, 0, 0)
    c.setFont("Helvetica", 8)
    y -= 11
    if report.corrections:
        c.drawString(x, y, f"Landmarks corrected by hand ({len(report.corrections)}):")
        for mv in report.corrections:
            y -= 10
            dist = mv.get("moved_px")
            mm = ""
            if dist is not None and report.pixel_spacing_mm:
                mm = f" ({dist * report.pixel_spacing_mm[1]:.1f} mm)"
            moved = f"moved {dist:.1f} px{mm}" if dist is not None else "placed by hand"
            c.drawString(x + 10, y, f"{mv['side']} {LANDMARK_LABELS[mv['landmark']]}: {moved}"
                                    + (f" by {mv['by']}" if mv.get("by") else ""))
    else:
        c.drawString(x, y, "Landmarks corrected by hand: none")
    for w in report.warnings:
        y -= 11
        c.setFillColorRGB(0.8, 0, 0)
        y = _wrapped(c, x, y, "Warning: " + w, page_w - 2 * x)
    c.setFillColorRGB(0, 0, 0)
    return y


def _landmark_table(c, report: CaseReport, x: float, y: float, page_w: float) -> float:
    """Landmark positions with their source and the model's uncertainty, for audit."""
    from ..core.landmarks import LANDMARK_IDS

    sides = ordered_sides(report)
    c.setFont("Helvetica-Bold", 10)
    c.setFillColorRGB(0, 0, 0)
    y -= 8
    c.drawString(x, y, "Landmarks (pixels; uncertainty from the model)")
    y -= 14
    cols = [x] + [x + 120 + 200 * i for i in range(len(sides))]
    c.setFont("Helvetica-Bold", 8)
    c.drawString(cols[0], y, "Landmark")
    for i, side in enumerate(sides):
        c.drawString(cols[1 + i], y, f"{side.capitalize()} leg: x, y / source / uncertainty")
    y -= 11
    c.setFont("Helvetica", 7.5)
    for lm in LANDMARK_IDS:
        c.drawString(cols[0], y, LANDMARK_LABELS[lm])
        for i, side in enumerate(sides):
            leg = report.legs[side]
            p = leg.landmarks.get(lm)
            if p is None:
                c.setFillColorRGB(0.8, 0, 0)
                c.drawString(cols[1 + i], y, "missing")
                c.setFillColorRGB(0, 0, 0)
                continue
            src = report.case.provenance(side, lm).get("source", "?")
            unc = leg.uncertainty_px.get(lm)
            text = f"{p.x:.1f}, {p.y:.1f} / {src}" + (f" / {unc:.1f} px" if unc is not None else "")
            if lm in leg.flagged:
                c.setFillColorRGB(0.8, 0, 0)
                text += " / DOUBTFUL"
            c.drawString(cols[1 + i], y, text)
            c.setFillColorRGB(0, 0, 0)
        y -= 10
    return y

