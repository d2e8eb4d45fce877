"""A second look at one leg of a two-leg film: its half of the film read alone.

On a film of both legs the detector sometimes boxes three regions of a leg and not the fourth, most often
an ankle (bilateral 8-bit exports: 13 of the 17 legs not measured on the held-out exports of versions 1-6
lacked an ankle, with the ankle plainly in view). The same leg's half of the film, cut at the midline between
the legs and read alone, shows the detector what a one-leg export shows it, and there the missing region is
usually found (docs/EVALUATION.md, "A second look at each leg").

:func:`second_look` does that, once per leg and only for a region the first reading did not find although it
lies inside the image (:data:`.legs.NOT_DETECTED`), and only on a film where both legs have at least two
regions (so a lone box beside one leg, the other leg's edge on a one-leg crop, never starts one). Of the half's
boxes it keeps, per missing region, the best one of that region whose centre lies in the leg's half, in the
leg's column (within :data:`COLUMN_WIDTHS` of its widest box of the leg's box centres) and not on a box already
there, whose centre lies where the leg's nearest region puts it (within :data:`OFFSET_TOLERANCE` of the typical
offset, :func:`.legs.nearest_offset`). The leg assignment then runs again on all the boxes and decides, as for any box, whether a new one fits
the chain; the landmarks of a region found this way are flagged for review. A film whose first reading is complete costs nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .crop import Box
from .legs import NOT_DETECTED, Detection, assign_legs, box_iou, nearest_offset

COLUMN_WIDTHS = 1.0
"""A new box's centre lies at most this many widths of the leg's widest box from the median centre of its boxes."""
OFFSET_TOLERANCE = 0.5
"""...and at most this share of its typical offset (:data:`.legs.REGION_OFFSETS`) from where the nearest region of
the leg puts it (the smallest offset seen on generated legs is 0.87 of the mean)."""
_SAME_BOX_IOU = 0.5


@dataclass(frozen=True)
class SecondLook:
    """The boxes after a second look.

    Attributes
    ----------
    detections : list of Detection
        The first reading's boxes and the ones added (original pixels).
    added : list of (str, Detection)
        ``(side, box)`` of every box added, the side being the leg whose half it came from.
    looked : tuple of str
        The legs whose half was read again.
    """

    detections: list[Detection]
    added: list[tuple[str, Detection]] = field(default_factory=list)
    looked: tuple[str, ...] = ()


def second_look(detections: list[Detection], image_norm: np.ndarray,
                detect: Callable[[np.ndarray], tuple[list[Detection], float]]
                | Sequence[Callable[[np.ndarray], tuple[list[Detection], float]]], *,
                duplicate_iou: float = 0.5) -> SecondLook:
    """Read the half of a two-leg film of each leg that lacks a region in view (see the module docstring).

    Parameters
    ----------
    detections : list of Detection
        The first reading (original pixels).
    image_norm : numpy.ndarray
        The intensity-normalised image the first reading ran on.
    detect : callable or sequence of callables
        ``detect(view) -> (boxes in the view's pixels, zoom-out kept)``: the detector a one-leg export is read
        with (the bundle's content detector when it has one). With several, the next one reads the half only
        for the regions the ones before did not find there (the content detector, then the main one).
    duplicate_iou : float
        The detector's per-class NMS threshold (as :func:`.legs.assign_legs` takes it).

    Returns
    -------
    SecondLook
    """
    readers = list(detect) if isinstance(detect, Sequence) else [detect]
    h, w = image_norm.shape
    first = assign_legs(detections, image_width_px=w, image_height_px=h, duplicate_iou=duplicate_iou)
    if first.single_leg or len(first.legs) != 2 or any(len(chain) < 2 for chain in first.legs.values()):
        return SecondLook(list(detections))
    wanting = {side: [r for r in first.missing.get(side, []) if first.absent[side].get(r) == NOT_DETECTED]
               for side in first.legs}
    if not any(wanting.values()):
        return SecondLook(list(detections))
    centre = {side: float(np.median([d.box.cx for d in chain.values()])) for side, chain in first.legs.items()}
    mid = 0.5 * sum(centre.values())
    added: list[tuple[str, Detection]] = []
    looked: list[str] = []
    for side, regions in wanting.items():
        if not regions:
            continue
        x0, x1 = (0, int(math.ceil(mid))) if centre[side] < mid else (int(mid), w)
        if x1 - x0 < 16:
            continue
        looked.append(side)
        chain = first.legs[side]
        widest = max(d.box.width for d in chain.values())
        expected = {}
        for r in regions:
            ref, off = nearest_offset(chain, r)
            expected[r] = (ref.box.cy + off, off)
        todo = list(regions)
        for run in readers:
            if not todo:
                break
            found, _zoom = run(image_norm[:, x0:x1])
            for region in list(todo):
                cands = []
                for d in found:
                    if d.region != region:
                        continue
                    box = Box(d.box.x0 + x0, d.box.y0, d.box.x1 + x0, d.box.y1)
                    if not x0 <= box.cx < x1 or abs(box.cx - centre[side]) > COLUMN_WIDTHS * widest:
                        continue
                    if abs(box.cy - expected[region][0]) > OFFSET_TOLERANCE * abs(expected[region][1]):
                        continue  # not where the leg's other regions put it
                    if any(e.region == region and box_iou(e.box, box) > _SAME_BOX_IOU for e in detections):
                        continue  # the first reading had it (and the assignment did not take it)
                    cands.append(replace(d, box=box, second_look=True))
                if cands:
                    added.append((side, max(cands, key=lambda d: d.score)))
                    todo.remove(region)
    return SecondLook(list(detections) + [d for _, d in added], added, tuple(looked))
