"""Negative views for the detector: images that hold no complete region of a leg.

A detector that has only ever seen films full of legs learns that *something* in every image is a
femoral head. Real users open crops, scout images, wrong series and noise, and the round-2 detector of
docs/EVALUATION.md put a femoral head in smoothed noise and a second ankle on the background of a real
ankle film. Training on views with no target teaches it to answer "nothing here". Four kinds, each a
pure function of the random generator:

``jigsaw``
    the film's own content cut into tiles smaller than any region and shuffled (with flips): the same
    grey levels, texture, edges and bone fragments, but no anatomy in its place;
``noise``
    smoothed random noise at a random scale (fine grain to large blobs), with a gradient, on a canvas
    of random aspect;
``gap``
    a horizontal band of the film that no region box touches (the shin between knee and ankle, the
    soft tissue above the pelvis), letterboxed again: real anatomy, correctly labelled as no region;
``clutter``
    a flat or graded field with what films carry besides legs: rulers with tick marks, lead discs,
    letter-like blocks and lines.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS: tuple[str, ...] = ("jigsaw", "noise", "gap", "clutter")


def negative_view(img: np.ndarray, boxes: np.ndarray, content_wh: tuple[float, float],
                  rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """A ``[0, 1]`` letterboxed image of the same canvas as ``img`` with no complete region in it.

    Parameters
    ----------
    img : numpy.ndarray
        ``(H, W)`` float32 letterboxed film in ``[0, 1]`` (content at the top left, zeros after).
    boxes : numpy.ndarray
        ``(n, 4)`` region boxes of the film (edges, canvas pixels), used to size the jigsaw tiles and to
        find bands free of regions.
    content_wh : tuple of float
        Width and height of the film inside the canvas.
    rng : numpy.random.Generator
    kind : str, optional
        One of :data:`KINDS`; by chance when omitted.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 image; its targets are empty.
    """
    if kind is None:
        kind = KINDS[int(rng.integers(0, len(KINDS)))]
    if kind not in KINDS:
        raise ValueError(f"unknown negative kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "gap":
        out = _gap(img, boxes, content_wh, rng)
        if out is not None:
            return out
        kind = "jigsaw"
    if kind == "jigsaw":
        return _jigsaw(img, boxes, content_wh, rng)
    if kind == "noise":
        return _noise(img.shape, rng)
    return _clutter(img.shape, rng)


def _letterbox(view: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    H, W = shape
    s = min(W / view.shape[1], H / view.shape[0])
    nw, nh = max(1, int(view.shape[1] * s)), max(1, int(view.shape[0] * s))
    out = np.zeros(shape, dtype=np.float32)
    out[:nh, :nw] = cv2.resize(view.astype(np.float32), (nw, nh),
                               interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out


def _content(img: np.ndarray, content_wh: tuple[float, float]) -> np.ndarray:
    cw, ch = max(8, int(content_wh[0])), max(8, int(content_wh[1]))
    return img[:ch, :cw]


def _jigsaw(img: np.ndarray, boxes: np.ndarray, content_wh: tuple[float, float],
            rng: np.random.Generator) -> np.ndarray:
    content = _content(img, content_wh)
    h, w = content.shape
    sides = [min(b[2] - b[0], b[3] - b[1]) for b in np.asarray(boxes).reshape(-1, 4)]
    smallest = min(sides) if sides else min(h, w) / 4.0
    tile = int(max(4, min(smallest * rng.uniform(0.25, 0.5), min(h, w) / 3.0)))
    ny, nx = max(1, h // tile), max(1, w // tile)
    tiles = [content[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] for r in range(ny) for c in range(nx)]
    order = rng.permutation(len(tiles))
    out = np.zeros_like(img, dtype=np.float32)
    for k, j in enumerate(order):
        t = tiles[j]
        if rng.random() < 0.5:
            t = t[::-1]
        if rng.random() < 0.5:
            t = t[:, ::-1]
        r, c = divmod(k, nx)
        out[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = t
    return out


def _noise(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    H, W = shape
    aspect = rng.uniform(0.2, 1.0)  # width / height of the fake film, relative to the canvas
    h = int(H * rng.uniform(0.5, 1.0))
    w = max(8, min(W, int(h * aspect * W / H * rng.uniform(0.6, 1.4))))
    sigma = float(np.exp(rng.uniform(np.log(0.7), np.log(max(1.0, min(h, w) / 6.0)))))
    field = cv2.GaussianBlur(rng.uniform(0.0, 1.0, size=(h, w)).astype(np.float32), (0, 0), sigma)
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = rng.uniform(-0.5, 0.5) * yy / h + rng.uniform(-0.5, 0.5) * xx / w
    a = rng.uniform(0.2, 1.0)
    field = a * field + grad + rng.normal(0.0, rng.uniform(0.0, 0.05), size=(h, w)).astype(np.float32)
    field = (field - np.percentile(field, 1)) / max(float(np.percentile(field, 99) - np.percentile(field, 1)), 1e-6)
    out = np.zeros(shape, dtype=np.float32)
    out[:h, :w] = np.clip(field * rng.uniform(0.5, 1.0) + rng.uniform(0.0, 0.3), 0.0, 1.0)
    return out


def _gap(img: np.ndarray, boxes: np.ndarray, content_wh: tuple[float, float],
         rng: np.random.Generator) -> np.ndarray | None:
    content = _content(img, content_wh)
    h = content.shape[0]
    covered = np.zeros(h, dtype=bool)
    for b in np.asarray(boxes).reshape(-1, 4):
        covered[max(0, int(b[1]) - 2):min(h, int(np.ceil(b[3])) + 2)] = True
    free = np.flatnonzero(~covered)
    if len(free) == 0:
        return None
    runs = np.split(free, np.flatnonzero(np.diff(free) > 1) + 1)
    runs = [r for r in runs if len(r) >= max(12, h // 12)]
    if not runs:
        return None
    run = runs[int(rng.integers(0, len(runs)))]
    y0, y1 = int(run[0]), int(run[-1]) + 1
    band = content[y0:y1]
    if rng.random() < 0.5:  # part of the band's width too (one leg's shin)
        w = band.shape[1]
        x0 = int(rng.uniform(0.0, 0.5) * w)
        band = band[:, x0:x0 + max(8, int(rng.uniform(0.4, 1.0) * (w - x0)))]
    return _letterbox(band, img.shape)


def _clutter(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    H, W = shape
    h, w = int(H * rng.uniform(0.5, 1.0)), int(W * rng.uniform(0.3, 1.0))
    base = rng.uniform(0.05, 0.6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    field = base + rng.uniform(-0.2, 0.2) * yy / h + rng.uniform(-0.2, 0.2) * xx / w
    field = field.astype(np.float32)
    bright = float(min(1.0, base + rng.uniform(0.3, 0.6)))
    for _ in range(int(rng.integers(0, 3))):  # rulers with ticks
        x = int(rng.integers(0, max(1, w - 12)))
        bw = int(rng.integers(4, 14))
        field[:, x:x + bw] = np.maximum(field[:, x:x + bw], bright * 0.8)
        step = int(rng.integers(4, 16))
        for y in range(0, h, step):
            field[y:y + 1, x:x + bw + int(rng.integers(2, 8))] = bright
    for _ in range(int(rng.integers(0, 5))):  # lead discs
        cv2.circle(field, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(3, 15)),
                   bright, -1, lineType=cv2.LINE_AA)
    letters = np.zeros((h, w), dtype=np.uint8)
    for _ in range(int(rng.integers(0, 4))):  # letters and labels (OpenCV draws text on 8-bit images only)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(6, 24))
        cv2.putText(letters, "RLAP"[int(rng.integers(0, 4))], (x, y), cv2.FONT_HERSHEY_SIMPLEX, s / 20.0,
                    255, max(1, s // 8), lineType=cv2.LINE_AA)
    field = np.maximum(field, letters.astype(np.float32) / 255.0 * bright)
    for _ in range(int(rng.integers(0, 4))):  # lines (table edges, cables)
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(field, p0, p1, float(rng.uniform(0.0, 1.0)), int(rng.integers(1, 4)), lineType=cv2.LINE_AA)
    field = cv2.GaussianBlur(field, (0, 0), float(rng.uniform(0.3, 1.5)))
    out = np.zeros(shape, dtype=np.float32)
    out[:h, :w] = np.clip(field + rng.normal(0.0, 0.02, size=(h, w)).astype(np.float32), 0.0, 1.0)
    return out
