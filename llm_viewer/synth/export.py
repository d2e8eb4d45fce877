"""Clinical export formats of a synthetic study: what a department's PACS or a paper's data set hands over.

Real long-leg radiographs rarely arrive as the 16-bit DICOM the generator writes. They come as 8-bit JPEG
or PNG exports, windowed by the console into a narrow grey band (1st / 50th / 99th percentiles about
23 / 67 / 93 of 255), at 250–3000 px for both legs, or as single-leg crops about 128 × 1024 px with black
bars above and below (``shared/tools/realism.py`` describes how such crops are made), with no pixel
spacing. :func:`export_case` turns a :class:`~llm_viewer.synth.generator.SyntheticCase` into one such
export with its ground truth mapped exactly (pixel-centre convention: ``x' = (x + 0.5)·s − 0.5``);
:func:`sample_export_spec` draws the format at random, so a training or test store covers all of them.

Pure numpy + OpenCV; a pure function of ``(case, spec)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from ..core.landmarks import SIDES

EXPORT_KINDS = ("bilateral", "single_leg")


class ExportError(ValueError):
    """The requested export cannot be made from this case (e.g. the leg is not in the image)."""


@dataclass(frozen=True)
class ExportSpec:
    """One clinical export format.

    Attributes
    ----------
    kind : str
        ``"bilateral"`` (the whole film, resized) or ``"single_leg"`` (one leg's half of the film on a
        fixed canvas with black bars, as in published long-leg data sets).
    width_px : int
        Output width of a bilateral export; for a single leg the width of the *whole film* before its
        half is cut out (the reference crops use 256, so each leg is 128 px wide).
    canvas_px : tuple of int or None
        ``(width, height)`` of a single-leg canvas (``(128, 1024)``); ``None`` for bilateral exports.
    side : str or None
        The leg of a single-leg export (``"right"`` = the film's left half, as the patient faces the tube).
    fmt : str
        ``"png"`` or ``"jpeg"``.
    jpeg_quality : int
    grey_lo, grey_hi : float
        Where the VOI window's ends land on the 0–255 scale (a console's narrow band: e.g. 20 and 110).
    gamma : float
        Look-up-table exponent applied on the window (1 = linear).
    log_lut : bool
        A logarithmic look-up table instead of a power law.
    unsharp_sigma_frac, unsharp_amount : float
        Console edge enhancement: unsharp mask with sigma as a fraction of the output width.
    clahe_clip : float
        CLAHE clip limit applied after resizing (0 = none; the reference crops use 1.0 on 8 × 8 tiles).
    invert : bool
        Exported with bone dark (a wrong photometric interpretation somewhere on the way).
    spacing_known : bool
        Whether the export keeps a pixel spacing (most do not).
    noise_sd : float
        Grey levels (of 255) of noise added at the output resolution before quantisation: detector noise
        that survives the console's downscaling, which real low-resolution exports show.
    resize : str
        ``"area"`` (anti-aliased), ``"linear"`` or ``"nearest"`` (what many export tools use: aliased).
    moire_amplitude, moire_period_mm, moire_vertical : float, float, bool
        The anti-scatter grid's lines beating against the detector's and the export's pixel grids: a line
        pattern of this many grey levels with a period of about 3–4 mm on the patient (two pixels of a
        256-px-wide film, the size published long-leg crops are made at). Real low-resolution exports carry it (their Laplacian
        energy relative to their gradients, ``hf_ratio`` in ``shared/tools/realism.py``, is 1.4–3.3, where
        a smooth image gives 0.2–0.4 and white noise at most 0.83), without steeper gradients or spectra.
    crop_shift_frac : float
        A single-leg crop is centred on its leg (the half of the film around the leg's landmarks), shifted
        sideways by this fraction of the crop width (a crop made by halving the film is off centre).
    """

    kind: str = "bilateral"
    width_px: int = 500
    canvas_px: tuple[int, int] | None = None
    side: str | None = None
    fmt: str = "png"
    jpeg_quality: int = 90
    grey_lo: float = 20.0
    grey_hi: float = 110.0
    gamma: float = 1.0
    log_lut: bool = False
    unsharp_sigma_frac: float = 0.0
    unsharp_amount: float = 0.0
    clahe_clip: float = 0.0
    invert: bool = False
    spacing_known: bool = False
    crop_shift_frac: float = 0.0
    noise_sd: float = 0.0
    resize: str = "area"
    moire_amplitude: float = 0.0
    moire_period_mm: float = 3.4
    moire_vertical: bool = True

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["canvas_px"] = list(self.canvas_px) if self.canvas_px else None
        return d


@dataclass
class ExportedCase:
    """An exported study and its ground truth in the export's pixels.

    Attributes
    ----------
    pixels : numpy.ndarray
        ``(height, width)`` uint8, bone bright unless ``spec.invert``.
    encoded : bytes
        The file as it would be exported (PNG or JPEG); decoding it gives ``pixels`` for PNG, a lossy
        version of it for JPEG.
    suffix : str
        ``".png"`` or ``".jpg"``.
    landmarks : dict
        ``{side: {landmark_id: [x, y]}}`` for the legs in the export.
    rois : list of dict
        ROI boxes mapped into the export (``side``, ``region``, ``box_px``).
    pixel_spacing_mm : float or None
        The export's spacing when ``spec.spacing_known``; ``true_spacing_mm`` always.
    true_spacing_mm : float
    spec : ExportSpec
    matrix : numpy.ndarray
        2×3 affine, original pixels -> export pixels.
    """

    pixels: np.ndarray
    encoded: bytes
    suffix: str
    landmarks: dict[str, dict[str, list[float]]]
    rois: list[dict[str, Any]]
    pixel_spacing_mm: float | None
    true_spacing_mm: float
    spec: ExportSpec
    matrix: np.ndarray


def sample_export_spec(rng: np.random.Generator, sides: tuple[str, ...] = SIDES, *,
                       single_leg_rate: float = 0.45) -> ExportSpec:
    """Draw a clinical export format.

    Parameters
    ----------
    rng : numpy.random.Generator
    sides : tuple of str
        The legs in the study (a single-leg export picks one of them).
    single_leg_rate : float
        Probability of a single-leg crop on a 128 × 1024 canvas.

    Returns
    -------
    ExportSpec
    """
    single = rng.random() < single_leg_rate and len(sides) > 0
    lo = float(rng.uniform(5.0, 45.0))
    hi = float(min(255.0, lo + math.exp(rng.uniform(math.log(50.0), math.log(240.0)))))
    common = dict(fmt="jpeg" if rng.random() < 0.5 else "png", jpeg_quality=int(rng.integers(55, 96)),
                  grey_lo=lo, grey_hi=hi, gamma=float(math.exp(rng.uniform(-0.45, 0.45))),
                  log_lut=bool(rng.random() < 0.2),
                  unsharp_sigma_frac=float(rng.uniform(0.004, 0.03)) if rng.random() < 0.5 else 0.0,
                  unsharp_amount=float(rng.uniform(0.3, 1.5)), invert=bool(rng.random() < 0.04),
                  spacing_known=bool(rng.random() < 0.2),
                  noise_sd=float(np.exp(rng.uniform(np.log(0.5), np.log(6.0)))) if rng.random() < 0.8 else 0.0,
                  resize=str(rng.choice(["area", "linear", "nearest"], p=[0.5, 0.3, 0.2])),
                  moire_amplitude=float(rng.uniform(1.5, 9.0)) if rng.random() < 0.7 else 0.0,
                  moire_period_mm=float(rng.uniform(2.0, 2.5)) * 392.0 / 256.0,
                  moire_vertical=bool(rng.random() < 0.7))
    if single:
        side = str(sides[int(rng.integers(0, len(sides)))])
        film_w = int(round(256 * math.exp(rng.uniform(-0.25, 0.25))))
        clahe = 1.0 if rng.random() < 0.6 else (float(rng.uniform(0.5, 3.0)) if rng.random() < 0.5 else 0.0)
        return ExportSpec(kind="single_leg", width_px=film_w, canvas_px=(128, 1024), side=side,
                          clahe_clip=clahe, crop_shift_frac=float(rng.uniform(-0.12, 0.12)), **common)
    width = int(round(math.exp(rng.uniform(math.log(250.0), math.log(3000.0)))))
    clahe = float(rng.uniform(0.5, 3.0)) if rng.random() < 0.3 else 0.0
    return ExportSpec(kind="bilateral", width_px=width, clahe_clip=clahe, **common)


def display_image(case: Any) -> tuple[np.ndarray, tuple[float, float]]:
    """The case's pixels as float32 with bone bright, and its VOI window in those values."""
    px = np.asarray(case.pixels, dtype=np.float32)
    center, width = case.window
    if case.photometric == "MONOCHROME1":
        px = np.float32(65535.0) - px
        center = 65535.0 - center
    return px, (float(center), float(width))


def _lut(img: np.ndarray, window: tuple[float, float], spec: ExportSpec) -> np.ndarray:
    """VOI window -> [0, 1] -> the console's curve -> the narrow grey band, float32 on 0–255."""
    c, w = window
    v = np.clip((img - np.float32(c - w / 2.0)) * np.float32(1.0 / max(w, 1e-6)), 0.0, 1.0)
    if spec.log_lut:
        v = np.log1p(np.float32(9.0) * v) * np.float32(1.0 / math.log(10.0))
    if spec.gamma != 1.0:
        v = v ** np.float32(spec.gamma)
    out = np.float32(spec.grey_lo) + v * np.float32(spec.grey_hi - spec.grey_lo)
    return out.astype(np.float32)


_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def _resize_area(img: np.ndarray, out_w: int, out_h: int, method: str = "area") -> np.ndarray:
    interp = _INTERP[method] if out_w < img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, (out_w, out_h), interpolation=interp)


def _map_point(m: np.ndarray, xy: Any) -> list[float]:
    x, y = float(xy[0]), float(xy[1])
    return [float(m[0, 0] * x + m[0, 1] * y + m[0, 2]), float(m[1, 0] * x + m[1, 1] * y + m[1, 2])]


#: A region of the other leg inside a one-leg crop is boxed when at least this share of its box is inside.
OTHER_LEG_MIN_INSIDE = 0.5


def _map_box(m: np.ndarray, box_px: Any, width_px: int, height_px: int) -> tuple[list[float], float]:
    """A box's edges mapped with the axis-aligned ``m`` and clipped to the export; also its unclipped area."""
    x0b, y0b, x1b, y1b = (float(v) for v in box_px)
    a, b = _map_point(m, (x0b, y0b)), _map_point(m, (x1b, y1b))
    full = max(0.0, b[0] - a[0]) * max(0.0, b[1] - a[1])
    return [max(-0.5, a[0]), max(-0.5, a[1]), min(width_px - 0.5, b[0]), min(height_px - 0.5, b[1])], full


def other_leg_rois(rois: Any, matrix: np.ndarray, width_px: int, height_px: int, *, exclude_side: str
                   ) -> list[dict[str, Any]]:
    """ROI boxes of the legs other than ``exclude_side`` that a one-leg crop still shows, clipped to it.

    A one-leg crop of a film with the legs close together shows part of the other leg, often its knee and
    ankle beside the exported leg's. Left unboxed, those regions would teach the detector that a knee or an
    ankle beside another one is background, and it then misses ankles on whole films. A region is boxed
    when at least :data:`OTHER_LEG_MIN_INSIDE` of its box is inside the crop; its landmarks are not exported
    (the crop's ground truth is the exported leg's).

    Parameters
    ----------
    rois : sequence of dict
        The source study's ROI records (``side``, ``region``, ``box_px``).
    matrix : numpy.ndarray
        2×3 source -> export pixel matrix (axis-aligned).
    width_px, height_px : int
        The export's size.
    exclude_side : str
        The exported leg.

    Returns
    -------
    list of dict
        ROI records in export pixels.
    """
    out = []
    for r in rois:
        if r["side"] == exclude_side:
            continue
        box, full = _map_box(matrix, r["box_px"], width_px, height_px)
        inside = max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
        if full > 0 and inside >= OTHER_LEG_MIN_INSIDE * full:
            out.append({**{k: v for k, v in r.items() if k != "box_px"}, "box_px": box})
    return out


def export_case(case: Any, spec: ExportSpec) -> ExportedCase:
    """Export a synthetic study in a clinical format, with its landmarks and ROI boxes mapped exactly.

    Parameters
    ----------
    case : SyntheticCase
        Needs ``pixels``, ``photometric``, ``window``, ``landmarks``, ``rois``, ``pixel_spacing_mm``.
    spec : ExportSpec

    Returns
    -------
    ExportedCase

    Raises
    ------
    ExportError
        A single-leg export of a leg the study does not have, or whose landmarks leave the crop.
    """
    img, window = display_image(case)
    H, W = img.shape
    sp = float(case.pixel_spacing_mm)
    if spec.kind not in EXPORT_KINDS:
        raise ExportError(f"unknown export kind {spec.kind!r}")
    film_w = int(spec.width_px)
    s = film_w / W
    film_h = max(1, int(round(H * s)))
    sy = film_h / H
    grey = _lut(img, window, spec)
    small = _resize_area(grey, film_w, film_h, spec.resize)
    # resize: x' = (x + 0.5)·s − 0.5
    m = np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    sides = tuple(case.landmarks)
    if spec.kind == "single_leg":
        if spec.side not in case.landmarks:
            raise ExportError(f"the study has no {spec.side} leg")
        half = film_w // 2
        xs = [m[0, 0] * float(p[0]) + m[0, 2] for p in case.landmarks[spec.side].values()]
        centre = 0.5 * (min(xs) + max(xs)) + spec.crop_shift_frac * half
        x0 = int(round(min(max(centre - half / 2.0, 0.0), film_w - half)))
        small = small[:, x0:x0 + half]
        m[0, 2] -= x0
        cw, ch = spec.canvas_px or (128, 1024)
        if small.shape[0] > ch:  # too tall for the canvas: shrink the crop to fit
            f = ch / small.shape[0]
            nw, nh = max(1, int(round(small.shape[1] * f))), ch
            fx, fy = nw / small.shape[1], nh / small.shape[0]
            small = _resize_area(small, nw, nh)
            m = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]]) @ np.vstack([m, [0, 0, 1]])
        if small.shape[1] > cw:
            cut = (small.shape[1] - cw) // 2
            small = small[:, cut:cut + cw]
            m[0, 2] -= cut
        dh, dw = ch - small.shape[0], cw - small.shape[1]
        top, left = dh // 2, dw // 2
        canvas = np.zeros((ch, cw), dtype=np.float32)
        canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
        small = canvas
        m[0, 2] += left
        m[1, 2] += top
        sides = (spec.side,)
    m = np.asarray(m, dtype=np.float64)[:2]
    if spec.unsharp_amount > 0 and spec.unsharp_sigma_frac > 0:
        sigma = max(0.5, spec.unsharp_sigma_frac * small.shape[1])
        blur = cv2.GaussianBlur(small, (0, 0), sigma)
        small = small + np.float32(spec.unsharp_amount) * (small - blur)
    if spec.moire_amplitude > 0:
        n = small.shape[1] if spec.moire_vertical else small.shape[0]
        period_px = spec.moire_period_mm / (sp / s)
        wave = np.float32(spec.moire_amplitude) * np.cos(
            np.float32(2 * math.pi / period_px) * np.arange(n, dtype=np.float32))
        small = small + (wave[None, :] if spec.moire_vertical else wave[:, None])
    if spec.noise_sd > 0:
        noise_rng = np.random.default_rng([int(spec.width_px), int(spec.noise_sd * 1000), small.shape[0]])
        content = small > 0 if spec.kind == "single_leg" else np.ones(small.shape, bool)
        small = small + content * noise_rng.normal(0.0, spec.noise_sd, size=small.shape).astype(np.float32)
    out = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    if spec.clahe_clip > 0:
        content = out > 0 if spec.kind == "single_leg" else None
        eq = cv2.createCLAHE(clipLimit=float(spec.clahe_clip), tileGridSize=(8, 8)).apply(out)
        out = np.where(content, eq, 0).astype(np.uint8) if content is not None else eq
    if spec.invert:
        out = (255 - out).astype(np.uint8)
    h2, w2 = out.shape
    landmarks: dict[str, dict[str, list[float]]] = {}
    for side in sides:
        pts = {k: _map_point(m, v) for k, v in case.landmarks[side].items()}
        inside = all(-0.5 <= x <= w2 - 0.5 and -0.5 <= y <= h2 - 0.5 for x, y in pts.values())
        if not inside:
            if spec.kind == "single_leg":
                raise ExportError(f"the {side} leg's landmarks leave the single-leg crop")
            continue
        landmarks[side] = pts
    rois = []
    for r in case.rois:
        if r["side"] not in landmarks:
            continue
        box, _ = _map_box(m, r["box_px"], w2, h2)
        if box[2] > box[0] and box[3] > box[1]:
            rois.append({**{k: v for k, v in r.items() if k != "box_px"}, "box_px": box})
    if spec.kind == "single_leg":
        rois += other_leg_rois(case.rois, m, w2, h2, exclude_side=spec.side)
    if spec.fmt == "jpeg":
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(spec.jpeg_quality)])
        suffix = ".jpg"
    else:
        ok, buf = cv2.imencode(".png", out)
        suffix = ".png"
    if not ok:  # pragma: no cover
        raise ExportError("encoding the export failed")
    true_sp = sp / s
    return ExportedCase(pixels=out, encoded=buf.tobytes(), suffix=suffix, landmarks=landmarks, rois=rois,
                        pixel_spacing_mm=true_sp if spec.spacing_known else None, true_spacing_mm=true_sp,
                        spec=spec, matrix=m)
