"""The plan page of the PDF report: one page per osteotomy plan stored in the case.

The page shows the leg with its pre- and post-operative mechanical axes, the knee region with the hinge, the
osteotomy line and the wedge, and the table of pre/post metrics, correction angle and wedge height. Every
number comes from :func:`llm_viewer.core.planning.simulate`, run again on the case's current landmarks; when
that differs from the result stored with the plan (the landmarks moved since), the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.metrics import METRIC_LABELS, metric_text, normal_range_text, out_of_range
from ..core.planning import METHOD_LABELS, OsteotomyPlan, PlanError, PlanResult, is_opening, parse_plans, simulate
from .model import CaseReport

PRE_AXIS = (0.95, 0.6, 0.1)
POST_AXIS = (0.15, 0.85, 0.3)
CUT_COLOUR = (1.0, 0.25, 0.25)
HINGE_COLOUR = (1.0, 0.9, 0.2)
WEDGE_COLOUR = (0.3, 0.75, 1.0)
TABLE_KEYS = ("hka_deg", "wbl_ratio_pct", "mad_mm", "mmpta_deg", "mldfa_deg", "jlo_deg", "jlca_deg", "mldta_deg",
              "ahka_deg", "cpak_type", "alignment", "leg_length_mm", "tibia_length_mm", "femur_length_mm")
STALE_TOLERANCE_DEG = 0.01


@dataclass(frozen=True)
class PlanPage:
    """One plan as the page shows it: the result on today's landmarks, the stored one, and any problem."""

    plan: OsteotomyPlan
    result: PlanResult | None
    problem: str | None = None
    stale: bool = False
    landmarks_px: dict | None = None
    """The landmarks the plan was simulated on (``id -> (x, y)``)."""


def plan_pages(report: CaseReport) -> list[PlanPage]:
    """The plans of the report's case, each simulated again on the current landmarks (right leg first).

    A case whose ``plans`` cannot be read gives no page; the report's warnings say why.
    """
    try:
        plans = parse_plans(report.case.to_dict())
    except PlanError as exc:
        report.warnings.append(f"osteotomy plans not shown: {exc}")
        return []
    pages = []
    for plan in sorted(plans, key=lambda p: p.side != "right"):
        leg = report.legs.get(plan.side)
        try:
            if leg is None:
                raise PlanError(f"the case has no {plan.side} leg")
            res = simulate(plan, leg.landmarks, plan.side, report.pixel_spacing_mm)
            pre = {k: (p.x, p.y) for k, p in leg.landmarks.items()}
        except (PlanError, ValueError) as exc:
            pages.append(PlanPage(plan, plan.result, f"cannot be simulated on the current landmarks: {exc}"))
            continue
        stored = plan.result
        stale = stored is not None and abs(stored.correction_deg - res.correction_deg) > STALE_TOLERANCE_DEG
        pages.append(PlanPage(plan, res, None, stale, pre))
    return pages


def _crop_box(points: list[tuple[float, float]], shape: tuple[int, int], pad_px: float,
              square: bool) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs) - pad_px, max(xs) + pad_px, min(ys) - pad_px, max(ys) + pad_px
    if square:
        half = max(x1 - x0, y1 - y0) / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x0, x1, y0, y1 = cx - half, cx + half, cy - half, cy + half
    h, w = shape
    x0, y0 = max(x0, 0.0), max(y0, 0.0)
    x1, y1 = min(x1, w - 1.0), min(y1, h - 1.0)
    return x0, y0, max(x1 - x0, 1.0), max(y1 - y0, 1.0)


def _draw_region(c, gray: np.ndarray, box, rect_w: float, rect_h: float, left: float, top: float, dpi: float,
                 page: PlanPage, title: str, line_w: float):
    from .pdf import _Frame, _png, _resample

    x0, y0, w, h = box
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    crop = gray[iy0: iy0 + int(np.ceil(h)) + 1, ix0: ix0 + int(np.ceil(w)) + 1]
    ch, cw = crop.shape
    scale = min(rect_w / cw, rect_h / ch)
    dw, dh = cw * scale, ch * scale
    bottom = top - dh
    px = max(int(dw / 72 * dpi), 8)
    c.drawImage(_png(_resample(crop, px, max(int(px * ch / cw), 8))), left, bottom, dw, dh)
    fr = _Frame((ix0 - 0.5, iy0 - 0.5, float(cw), float(ch)), (left, bottom, dw, dh))
    c.saveState()
    path = c.beginPath()
    path.rect(left, bottom, dw, dh)
    c.clipPath(path, stroke=0, fill=0)
    _draw_plan(c, fr, page, line_w)
    c.restoreState()
    c.setFillColorRGB(0, 0, 0)
    c.setFont("Helvetica-Bold", 8)
    c.drawString(left, top + 3, title)
    return dw, dh


def _ankle(points: dict) -> tuple[float, float]:
    (ax, ay), (bx, by) = points["malleolus_lateral"], points["malleolus_medial"]
    return ((ax + bx) / 2, (ay + by) / 2)


def _draw_plan(c, fr, page: PlanPage, line_w: float) -> None:
    plan, res = page.plan, page.result
    if res is None or not res.post_landmarks_px:
        return
    post = res.post_landmarks_px
    head = post["femoral_head"]
    pre_ankle = _ankle(page.landmarks_px or post)
    c.setLineWidth(line_w)
    c.setStrokeColorRGB(*PRE_AXIS)
    c.setDash(4, 3)
    c.line(*fr.pt(*head), *fr.pt(*pre_ankle))
    c.setDash()
    c.setStrokeColorRGB(*POST_AXIS)
    c.line(*fr.pt(*head), *fr.pt(*_ankle(post)))
    pre = page.landmarks_px or {}
    for a, b in (("tibial_plateau_lateral", "tibial_plateau_medial"),
                 ("femoral_condyle_lateral", "femoral_condyle_medial")):
        if a in pre and b in pre:  # the joint lines as on the image (pre-op)
            c.setStrokeColorRGB(0.2, 0.8, 1.0)
            c.setLineWidth(line_w * 0.8)
            c.line(*fr.pt(*pre[a]), *fr.pt(*pre[b]))
    if res.wedge_px:
        c.saveState()
        c.setFillColorRGB(*WEDGE_COLOUR)
        c.setFillAlpha(0.45)
        c.setStrokeColorRGB(*WEDGE_COLOUR)
        path = c.beginPath()
        path.moveTo(*fr.pt(*res.wedge_px[0]))
        for p in res.wedge_px[1:]:
            path.lineTo(*fr.pt(*p))
        path.close()
        c.drawPath(path, stroke=1, fill=1)
        c.restoreState()
    c.setStrokeColorRGB(*CUT_COLOUR)
    c.setLineWidth(line_w * 1.3)
    c.line(*fr.pt(*plan.cut_start_px), *fr.pt(*plan.hinge_px))
    hx, hy = fr.pt(*plan.hinge_px)
    c.setFillColorRGB(*HINGE_COLOUR)
    c.setStrokeColorRGB(0, 0, 0)
    c.setLineWidth(0.5)
    c.circle(hx, hy, 2.8, stroke=1, fill=1)


def draw_plan_page(c, report: CaseReport, page: PlanPage, gray: np.ndarray | None, x: float, top: float,
                   page_w: float, bottom: float, dpi: float = 150.0) -> None:
    """Draw one plan page's body between ``top`` and ``bottom`` (the caller draws header and footer)."""
    from .pdf import _wrapped

    plan, res = page.plan, page.result
    c.setFillColorRGB(0, 0, 0)
    c.setFont("Helvetica-Bold", 12)
    y = top - 8
    c.drawString(x, y, f"Osteotomy plan: {plan.side} leg, {METHOD_LABELS[plan.method]} (Miniaci method)")
    y -= 13
    c.setFont("Helvetica", 8)
    c.drawString(x, y, f"Target {plan.target.text()}   plan {plan.id}   created by {plan.created_by or 'unknown'} "
                       f"at {plan.created_at or '?'}, updated by {plan.updated_by or 'unknown'} at {plan.updated_at or '?'}")
    y -= 8
    if page.problem or page.stale:
        y -= 6
        c.setFillColorRGB(0.8, 0, 0)
        c.setFont("Helvetica-Bold", 8.5)
        msg = (f"Plan {page.problem}; the result stored with the plan is shown." if page.problem else
               f"The landmarks changed since the plan was saved (stored correction {page.plan.result.correction_deg:.1f}°); "
               "the values below are recomputed on the current landmarks.")
        y = _wrapped(c, x, y, msg, page_w - 2 * x, font="Helvetica-Bold", size=8.5) - 4
        c.setFillColorRGB(0, 0, 0)
    region_h = 330.0
    img_top = y - 14
    if gray is not None and res is not None and res.post_landmarks_px:
        spacing = report.pixel_spacing_mm
        mm_px = 1.0 / spacing[1] if spacing else 1.0 / 0.15
        post = res.post_landmarks_px
        pts = [*post.values(), *(page.landmarks_px or {}).values(), plan.hinge_px, plan.cut_start_px]
        leg_box = _crop_box(pts, gray.shape, 40 * mm_px, square=False)
        dw, _ = _draw_region(c, gray, leg_box, 150.0, region_h, x, img_top, dpi, page, "Whole leg", 0.7)
        knee_pts = [plan.hinge_px, plan.cut_start_px, *res.wedge_px] + [
            post[k] for k in ("tibial_plateau_lateral", "tibial_plateau_medial", "knee_center") if k in post]
        knee_box = _crop_box(knee_pts, gray.shape, 30 * mm_px, square=True)
        kx = x + dw + 16
        _draw_region(c, gray, knee_box, min(page_w - x - kx, region_h), region_h, kx, img_top, dpi, page,
                     "Knee: hinge, osteotomy line and wedge", 1.1)
        y = img_top - region_h - 14
        c.setFont("Helvetica", 7)
        legend = [(PRE_AXIS, "pre-op mechanical axis (dashed)"), (POST_AXIS, "planned mechanical axis"),
                  (CUT_COLOUR, "osteotomy line"), (WEDGE_COLOUR, "opened wedge" if is_opening(plan.method)
                                                   else "wedge removed"), (HINGE_COLOUR, "hinge")]
        lx = x
        for colour, text in legend:
            c.setFillColorRGB(*colour)
            c.rect(lx, y, 8, 5, stroke=0, fill=1)
            c.setFillColorRGB(0, 0, 0)
            c.drawString(lx + 11, y, text)
            lx += 22 + c.stringWidth(text, "Helvetica", 7)
        y -= 16
    elif gray is None:
        c.setFillColorRGB(0.7, 0, 0)
        c.setFont("Helvetica-Bold", 9)
        c.drawString(x, y - 6, "Image not shown: " + (report.image_problem or "the image could not be read"))
        c.setFillColorRGB(0, 0, 0)
        y -= 22
    if res is None:
        c.setFont("Helvetica-Oblique", 9)
        c.drawString(x, y, "No result: the plan has never been simulated on these landmarks.")
        return
    _plan_table(c, res, plan, x, y, page_w, bottom)


def _plan_table(c, res: PlanResult, plan: OsteotomyPlan, x: float, y: float, page_w: float, bottom: float) -> None:
    from .pdf import _wrapped

    c.setFont("Helvetica-Bold", 10)
    c.drawString(x, y, "Correction")
    y -= 13
    side = "medial" if plan.method in ("hto_open_medial", "dfo_close_medial") else "lateral"
    wedge = "opening" if is_opening(plan.method) else "closing"
    rows = [("Correction angle", f"{res.correction_deg:.1f}°"),
            (f"Wedge height ({wedge}, {side} cortex)",
             f"{res.wedge_height_mm:.1f} mm" if res.wedge_height_mm is not None else "refused: no calibration"),
            ("Osteotomy length (cut start to hinge)",
             f"{res.osteotomy_length_mm:.1f} mm" if res.osteotomy_length_mm is not None else "refused: no calibration"),
            ("Leg length change", f"{res.leg_length_change_mm:+.1f} mm" if res.leg_length_change_mm is not None
             else "n/a (no calibration)"),
            ("Hinge / cut start (image px)", f"[{plan.hinge_px[0]:.0f}, {plan.hinge_px[1]:.0f}] / "
                                             f"[{plan.cut_start_px[0]:.0f}, {plan.cut_start_px[1]:.0f}]")]
    for label, value in rows:
        c.setFont("Helvetica", 8.5)
        c.drawString(x, y, label)
        c.setFont("Helvetica-Bold", 8.5)
        c.drawString(x + 190, y, value)
        y -= 11
    y -= 6
    cols = [x, x + 130, x + 210, x + 290]
    c.setFont("Helvetica-Bold", 8)
    for text, cx in zip(("Metric", "Pre-op", "Planned", "Normal"), cols):
        c.drawString(cx, y, text)
    y -= 4
    c.setLineWidth(0.4)
    c.setStrokeColorRGB(0, 0, 0)
    c.line(x, y, x + 360, y)
    y -= 10
    for key in TABLE_KEYS:
        c.setFont("Helvetica", 8)
        c.setFillColorRGB(0, 0, 0)
        c.drawString(cols[0], y, METRIC_LABELS[key])
        for cx, value in ((cols[1], res.pre.get(key)), (cols[2], res.post.get(key))):
            flag = out_of_range(key, round(value, 1) if isinstance(value, float) else None)  # as printed
            c.setFillColorRGB(*((0.8, 0, 0) if flag else (0, 0, 0)))
            c.drawString(cx, y, metric_text(key, value) + (" *" if flag else ""))
        c.setFillColorRGB(0, 0, 0)
        c.drawString(cols[3], y, normal_range_text(key))
        y -= 10.5
        if y < bottom + 40:
            break
    c.setFont("Helvetica-Oblique", 7)
    y -= 4
    for note in res.notes:
        y = _wrapped(c, x, y, f"Note: {note}", page_w - 2 * x, font="Helvetica-Oblique", size=7) - 9
    _wrapped(c, x, max(y, bottom + 12), "Planning simulation: the distal fragment is turned rigidly about the hinge "
             "in the image plane (Miniaci). Soft tissue, joint laxity (JLCA), tibial slope, rotation and saw kerf "
             "are not modelled; * outside the typical normal range. Verify before surgery.",
             page_w - 2 * x, font="Helvetica-Oblique", size=7)
