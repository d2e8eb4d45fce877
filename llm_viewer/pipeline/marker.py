"""Reading the lead side marker ("R" / "L") of a radiograph, and whether it reads mirrored.

Radiographers put a lead letter on the cassette on the patient's right or left. It is the one thing on a film
that can reveal an image stored mirrored (anatomy only gives a leg's *orientation*, see :mod:`.sidecue`): a
letter that reads reversed ("Я") means the film is shown flipped left to right.

:func:`read_side_markers` finds small, very bright, thin-stroked shapes (a white top-hat of the normalised
image: the image minus its morphological opening by a disc larger than a letter's strokes and smaller than a
bone) of a letter's size (:data:`LETTER_HEIGHT_FRAC` of the image's smaller side), and compares each
candidate's binary mask with "R" and "L", plain and mirrored, drawn in OpenCV's Hershey fonts at several
stroke widths (:func:`templates`). A candidate is read when its best normalised correlation is at least
:data:`MIN_SCORE` (per letter) and beats the best template of every other reading by :data:`MIN_MARGIN`.
Pure numpy + OpenCV, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

LETTER_HEIGHT_FRAC = (0.025, 0.2)
"""A letter's height as a fraction of the image's smaller side (a 20 mm letter on a 390 mm wide film is 5 %;
on a 128-px single-leg crop about 10 %)."""
MIN_HEIGHT_PX = 10
WORK_SIDE_PX = 1536.0
"""The image is searched at most this large (a 20 mm letter on a 1134 mm tall film is then 27 px tall)."""
MIN_SCORE = {"R": 0.6, "L": 0.75}
"""Per letter: an "L" is a plain corner that bone edges and ruler ticks imitate (they score up to 0.71 on
generated films), an "R" is not (real markers score 0.64–0.97, RG3's mirrored "R" 0.69)."""
MIN_MARGIN = 0.08
TEMPLATE_PX = 32
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_PLAIN)
THRESHOLDS = (0.15, 0.25, 0.4, 0.6)
"""Levels of the top-hat (fractions of its 99.9th percentile) at which letter candidates are cut out."""
READINGS = (("R", False), ("R", True), ("L", False), ("L", True))


@dataclass(frozen=True)
class MarkerReading:
    """One side marker found in the image.

    Attributes
    ----------
    letter : str
        ``"R"`` or ``"L"``.
    mirrored : bool
        The letter reads reversed: the image is shown flipped left to right.
    score : float
        Normalised correlation with the best template (0–1).
    margin : float
        How much better than the best template of any other reading.
    box_px : tuple of int
        ``(x0, y0, x1, y1)`` of the letter in the image.
    """

    letter: str
    mirrored: bool
    score: float
    margin: float
    box_px: tuple[int, int, int, int]

    @property
    def text(self) -> str:
        return f"lead marker '{self.letter}'" + (" reads mirrored" if self.mirrored else "")


def _square(mask: np.ndarray) -> np.ndarray:
    """``mask`` (the letter's bounding box) centred on a square canvas and resized to the template size."""
    h, w = mask.shape
    s = max(h, w)
    pad = np.zeros((s, s), np.float32)
    pad[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = mask
    return cv2.resize(pad, (TEMPLATE_PX, TEMPLATE_PX), interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=1)
def templates() -> dict[tuple[str, bool], list[np.ndarray]]:
    """Binary letter masks (cropped to the letter, squared, ``TEMPLATE_PX``) per ``(letter, mirrored)``."""
    out: dict[tuple[str, bool], list[np.ndarray]] = {r: [] for r in READINGS}
    for letter in ("R", "L"):
        for font in _FONTS:
            for thick in (2, 4, 6, 9):
                canvas = np.zeros((140, 140), np.uint8)
                cv2.putText(canvas, letter, (25, 115), font, 3.0, 255, thick, cv2.LINE_AA)
                ys, xs = np.nonzero(canvas > 127)
                crop = (canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1] > 127).astype(np.float32)
                out[(letter, False)].append(_square(crop))
                out[(letter, True)].append(_square(crop[:, ::-1]))
    return out


@lru_cache(maxsize=1)
def _template_matrix() -> tuple[np.ndarray, np.ndarray]:
    """Zero-mean, unit-norm templates as rows, and the reading index of each row."""
    rows, which = [], []
    for k, r in enumerate(READINGS):
        for t in templates()[r]:
            v = t.ravel() - t.mean()
            rows.append(v / max(float(np.linalg.norm(v)), 1e-9))
            which.append(k)
    return np.stack(rows), np.asarray(which)


def classify_letter(mask: np.ndarray) -> tuple[tuple[str, bool], float, float]:
    """Best reading of a binary letter mask (cropped to the letter), its score and its margin over the others."""
    q = _square(mask.astype(np.float32)).ravel()
    q = q - q.mean()
    norm = float(np.linalg.norm(q))
    mat, which = _template_matrix()
    ncc = mat @ (q / norm) if norm > 0 else np.zeros(len(mat))
    best = np.array([ncc[which == k].max() for k in range(len(READINGS))])
    order = np.argsort(-best)
    return READINGS[int(order[0])], float(best[order[0]]), float(best[order[0]] - best[order[1]])


def read_side_markers(norm: np.ndarray) -> list[MarkerReading]:
    """Every side marker read in a normalised image (``[0, 1]``, bone bright), best first.

    Parameters
    ----------
    norm : numpy.ndarray
        2-D image normalised as the engine does (:func:`llm_viewer.pipeline.crop.normalize_intensity`).

    Returns
    -------
    list of MarkerReading
        Empty when nothing reads as R or L with confidence.
    """
    img = np.asarray(norm, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) < 32:
        return []
    H, W = img.shape
    scale = min(1.0, WORK_SIDE_PX / max(H, W))
    small = cv2.resize(img, (max(1, int(W * scale)), max(1, int(H * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else img
    side = min(small.shape)
    lo_h, hi_h = max(MIN_HEIGHT_PX * scale, LETTER_HEIGHT_FRAC[0] * side), LETTER_HEIGHT_FRAC[1] * side
    k = int(max(5, round(0.35 * hi_h))) | 1
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    tophat = small - opened
    peak = float(np.percentile(tophat, 99.9))
    if peak <= 0.05:
        return []
    found: list[MarkerReading] = []
    # a letter is bright against its own surroundings, not necessarily against the whole film: several levels
    for frac in THRESHOLDS:
        binary = (tophat > frac * peak).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if not (lo_h <= h <= hi_h) or not (0.35 <= w / h <= 1.1):
                continue
            fill = area / float(w * h)
            if not 0.15 <= fill <= 0.85:  # strokes, not a blob or a speck
                continue
            mask = (labels[y:y + h, x:x + w] == i).astype(np.float32)
            (letter, mirrored), score, margin = classify_letter(mask)
            if score < MIN_SCORE[letter] or margin < MIN_MARGIN:
                continue
            box = (int(x / scale), int(y / scale), int(np.ceil((x + w) / scale)), int(np.ceil((y + h) / scale)))
            reading = MarkerReading(letter, mirrored, round(score, 3), round(margin, 3), box)
            same = [f for f in found if _overlap(box, f.box_px)]
            if all(f.score < reading.score for f in same):
                found = [f for f in found if f not in same] + [reading]
    return sorted(found, key=lambda r: -r.score)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def marker_warnings(readings: list[MarkerReading], legs: dict) -> list[str]:
    """What the side markers say about the legs' names, as warnings (empty when they agree or none was read).

    Parameters
    ----------
    readings : list of MarkerReading
        From :func:`read_side_markers`, best first.
    legs : dict
        ``{side: LegPrediction}`` of the analysis (sides named by orientation, see :mod:`.sidecue`).

    Notes
    -----
    The engine names a leg by its orientation as displayed (a leg whose fibula is on the image left is a
    right leg). A marker that reads mirrored means the image is shown flipped: every leg's name is then the
    opposite of its orientation. The engine keeps the orientation (crops, medial and lateral, the metrics'
    varus/valgus sense all follow it) and says so; it does not rename legs on a marker alone.
    """
    if not readings:
        return []
    best = readings[0]
    if best.mirrored:
        shown = ", ".join(f"the leg shown as {s}" for s in sorted(legs)) or "the image"
        return [f"{best.text}: the image is probably stored mirrored (flipped left to right); {shown} "
                f"may be the patient's other leg: check the side before reporting"]
    if len(legs) == 1:
        side = next(iter(legs))
        named = "right" if best.letter == "R" else "left"
        if named != side and len(readings) == 1:
            return [f"{best.text} while the anatomy shows a {side} leg: check the side (a marker may also "
                    f"name the other leg)"]
    return []
