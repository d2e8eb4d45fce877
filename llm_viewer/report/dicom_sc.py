"""The alignment overlay burned into the radiograph, as an RGB DICOM Secondary Capture image.

The radiograph is windowed as in the PDF report (its default display window) at its full resolution, so a
pixel of the capture is the pixel of the source; the overlay is what every renderer draws
(:mod:`llm_viewer.core.overlay`: axes, joint lines, MAD, angle labels from core's metrics) in the PDF's
colours, plus the landmarks (orange: corrected by hand) and the R / L side marks. The object copies the
source's Patient and General Study modules, starts a new series, and names the source image in
SourceImageSequence (and its series in ReferencedSeriesSequence); BurnedInAnnotation is YES.
"""

from __future__ import annotations

import math

import numpy as np
from pydicom.dataset import Dataset

from ..core.labels import RING_STEPS_PX, LabelRequest, marker_rect, place_labels
from ..core.overlay import angle_labels, leg_lines
from .dicom_source import (
    MANUFACTURER,
    DicomResultsError,
    SourceImage,
    code_item,
    copy_patient_study,
    new_uid,
    referenced_image,
    referenced_series,
    set_equipment,
)
from .model import CaseReport, ordered_sides
from .pdf import ANGLE_PRIORITY, LINE_COLOURS, MANUAL_COLOUR, SIDE_COLOUR

SC_SERIES_NUMBER = 9903
MAX_PIXELS = 60_000_000
"""Largest radiograph (rows x columns) burned in at full resolution (180 MB of RGB); larger ones are refused."""


def _bgr(rgb: tuple[float, float, float]) -> tuple[int, int, int]:
    return int(rgb[2] * 255), int(rgb[1] * 255), int(rgb[0] * 255)


def display_rgb(report: CaseReport) -> np.ndarray:
    """The radiograph windowed to 8 bit (default window, bone bright) as an ``(H, W, 3)`` uint8 array.

    Raises
    ------
    DicomResultsError
        When the image cannot be loaded or is too large.
    """
    from ..core.imageio import ImageLoadError, load_image

    if report.image_path is None or report.image_problem:
        raise DicomResultsError(f"{report.case_path}: no overlay image: {report.image_problem or 'no image'}")
    try:
        img = load_image(report.image_path)
    except ImageLoadError as exc:
        raise DicomResultsError(f"{report.case_path}: no overlay image: {exc} (the SR and the PDF can still be "
                                "written without it: --only sr,pdf)") from None
    if img.height_px * img.width_px > MAX_PIXELS:
        raise DicomResultsError(f"{report.image_path}: {img.width_px} x {img.height_px} pixels is too large for "
                                f"the overlay capture (at most {MAX_PIXELS} pixels)")
    lo = img.window.center - img.window.width / 2
    hi = img.window.center + img.window.width / 2
    u8 = np.clip((img.pixels - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)
    return np.repeat(u8[:, :, None], 3, axis=2)


def _label_requests(report: CaseReport, unit: float, font_scale: float, thick: int
                    ) -> tuple[list[LabelRequest], dict, list]:
    """Angle labels of every leg as placement requests (image pixels), their texts and the marker boxes."""
    import cv2

    requests: list[LabelRequest] = []
    texts: dict = {}
    obstacles = []
    for side in ordered_sides(report):
        leg = report.legs[side]
        lms = leg.landmarks
        obstacles.extend(marker_rect(p.x, p.y, 5 * unit) for p in lms.values())
        if leg.metrics is None:
            continue
        knee = (lms["knee_center"].x, lms["knee_center"].y) if "knee_center" in lms else None
        ankle = None
        if "malleolus_lateral" in lms and "malleolus_medial" in lms:
            a, b = lms["malleolus_lateral"], lms["malleolus_medial"]
            ankle = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0)
        for lab in angle_labels(lms, side, leg.metrics, offset_px=40 * unit):
            vertex = ankle if lab.key == "mldta_deg" else knee
            if vertex is None:
                continue
            text = lab.text.replace("°", " deg")  # Hershey fonts are ASCII only
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
            requests.append(LabelRequest((side, lab.key), vertex, (lab.x, lab.y), (tw + 4 * unit, th + base + 4 * unit),
                                         ANGLE_PRIORITY.get(lab.key, 9), optional=False))
            texts[(side, lab.key)] = (text, th, base)
    return requests, texts, obstacles


def draw_overlay(report: CaseReport, bgr: np.ndarray) -> np.ndarray:
    """Draw the overlay of every leg on a BGR uint8 image in place (and return it).

    Lines first, then the angle labels (placed so that none covers another or a landmark,
    :func:`llm_viewer.core.labels.place_labels`, with a leader line when moved), then the landmarks.
    """
    import cv2

    h, w = bgr.shape[:2]
    unit = max(1.0, max(h, w) / 1200.0)  # line width and text size follow the image size
    thick = max(1, int(round(1.5 * unit)))
    shift = 4  # sub-pixel drawing: coordinates in 1/16 pixel
    scale = 1 << shift

    def fx(x: float, y: float) -> tuple[int, int]:
        return int(round(x * scale)), int(round(y * scale))

    for side in ordered_sides(report):
        leg = report.legs[side]
        for line in leg_lines(leg.landmarks, report.pixel_spacing_mm):
            width = thick * 2 if line.kind == "mad_segment" else thick
            cv2.line(bgr, fx(line.x0, line.y0), fx(line.x1, line.y1), _bgr(LINE_COLOURS[line.kind]), width,
                     cv2.LINE_AA, shift)
    font_scale = 0.4 * unit
    requests, texts, obstacles = _label_requests(report, unit, font_scale, thick)
    placed = place_labels(requests, obstacles, (0.0, 0.0, float(w), float(h)),
                          rings=tuple(r * 2.5 * unit for r in RING_STEPS_PX), leader_min=12 * unit, gap=2 * unit)
    for key, pl in placed.items():
        if not pl.visible:
            continue
        text, th, base = texts[key]
        if pl.leader is not None:
            x0, y0, x1, y1 = pl.leader
            cv2.line(bgr, fx(x0, y0), fx(x1, y1), (255, 255, 255), max(1, thick // 2), cv2.LINE_AA, shift)
        rx0, ry0, rx1, ry1 = (int(round(v)) for v in pl.rect)
        cv2.rectangle(bgr, (rx0, ry0), (rx1, ry1), (0, 0, 0), -1)
        cv2.putText(bgr, text, (rx0 + int(2 * unit), ry1 - base - int(2 * unit)), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (255, 255, 255), thick, cv2.LINE_AA)
    for side in ordered_sides(report):  # landmarks last: no label covers one
        leg = report.legs[side]
        for lm, p in leg.landmarks.items():
            colour = _bgr(MANUAL_COLOUR if lm in leg.manual else SIDE_COLOUR[side])
            cv2.circle(bgr, fx(p.x, p.y), int(round(3 * unit * scale)), colour, -1, cv2.LINE_AA, shift)
    mark_scale = 0.9 * unit
    (mw, mh), _ = cv2.getTextSize("L", cv2.FONT_HERSHEY_SIMPLEX, mark_scale, thick + 1)
    cv2.putText(bgr, "R", (int(6 * unit), int(6 * unit) + mh), cv2.FONT_HERSHEY_SIMPLEX, mark_scale,
                (255, 255, 255), thick + 1, cv2.LINE_AA)
    cv2.putText(bgr, "L", (w - mw - int(6 * unit), int(6 * unit) + mh), cv2.FONT_HERSHEY_SIMPLEX, mark_scale,
                (255, 255, 255), thick + 1, cv2.LINE_AA)
    note = "llm-viewer overlay - research use only"
    ns = 0.35 * unit
    (nw, nh), nb = cv2.getTextSize(note, cv2.FONT_HERSHEY_SIMPLEX, ns, 1)
    if nw < w - 4:
        cv2.putText(bgr, note, (max(2, (w - nw) // 2), h - nb - 2), cv2.FONT_HERSHEY_SIMPLEX, ns,
                    (255, 255, 255), max(1, int(math.floor(unit))), cv2.LINE_AA)
    return bgr


def render_overlay_rgb(report: CaseReport) -> np.ndarray:
    """The radiograph with the overlay burned in, ``(H, W, 3)`` uint8 RGB at the source's resolution."""
    rgb = display_rgb(report)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    draw_overlay(report, bgr)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _orientation_ok(value: str) -> bool:
    import highdicom as hd

    try:
        hd.enum.PatientOrientationValuesBiped(value)
    except ValueError:
        return False
    return True


def build_secondary_capture(rgb: np.ndarray, source: SourceImage, sides: tuple[str, ...] = ("right", "left")
                            ) -> Dataset:
    """A Secondary Capture Image (RGB, burned-in overlay) in the source's study, in a new series.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(H, W, 3)`` uint8 RGB pixels.
    source : SourceImage
        The case's source radiograph.
    sides : tuple of str
        The legs the overlay shows (sets the series Laterality).

    Returns
    -------
    highdicom.sc.SCImage
        With file meta information, ready to save.
    """
    import highdicom as hd

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise DicomResultsError(f"the overlay must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    src = source.dataset
    orientation = [str(v) for v in src.get("PatientOrientation") or []]
    if len(orientation) != 2 or not all(_orientation_ok(v) for v in orientation):
        orientation = ["L", "F"]  # AP full-leg: patient's right on the image left, feet down
    sc = hd.sc.SCImage(
        pixel_array=rgb,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=source.study_instance_uid,
        series_instance_uid=new_uid(),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=new_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_orientation=tuple(orientation),
        series_description="llm-viewer alignment overlay",
    )
    copy_patient_study(source, sc)
    set_equipment(sc)
    sc.BurnedInAnnotation = "YES"
    # General Series Laterality (type 2C, the leg is a paired body part): R or L for a one-leg case, empty
    # (unknown to the IOD: it has no value for "both") when both legs are shown
    sc.Laterality = {("right",): "R", ("left",): "L"}.get(tuple(sides), "")
    sc.DerivationDescription = "Alignment overlay (axes, joint lines, landmarks, angles) burned into the radiograph"
    ref = referenced_image(source)
    ref.PurposeOfReferenceCodeSequence = [code_item("121322", "DCM", "Source image for image processing operation")]
    sc.SourceImageSequence = [ref]
    sc.ReferencedSeriesSequence = [referenced_series(source)]
    sc.LossyImageCompression = "00"
    return sc
