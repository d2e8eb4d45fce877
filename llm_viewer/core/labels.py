"""Label placement without overlap (pure geometry shared by the viewer's canvas and the PDF report).

Units are the renderer's: screen pixels in the viewer, points in the PDF (pass ``rings`` to suit).

Each label asks for a place (its preferred centre) near the thing it names (its anchor); labels are placed
one by one in priority order at the first candidate position, searched on rings around the preferred
centre, whose box hits no label placed before and no obstacle (the landmark markers of both legs). A label
that had to move away from its preferred place gets a leader line to its anchor; an optional label that
finds no free place is left out rather than drawn over another (level of detail).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

Rect = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in screen pixels, ``x0 <= x1``, ``y0 <= y1``."""

RING_STEPS_PX: tuple[float, ...] = (0.0, 8.0, 16.0, 26.0, 38.0, 52.0, 70.0, 92.0)
"""Distances from the preferred centre at which candidate positions are tried."""
DIRECTIONS = 16
LEADER_MIN_PX = 10.0
"""A label moved farther than this from its preferred centre gets a leader line to its anchor."""
GAP_PX = 2.0
"""Free space kept around every label."""


@dataclass(frozen=True)
class LabelRequest:
    """One label to place.

    ``anchor``: the point it names (a landmark, an angle's vertex); ``preferred``: where its centre should
    be; ``size``: its width and height; lower ``priority`` is placed first; an ``optional`` label that finds
    no free place is hidden.
    """

    key: Hashable
    anchor: tuple[float, float]
    preferred: tuple[float, float]
    size: tuple[float, float]
    priority: float = 0.0
    optional: bool = True


@dataclass(frozen=True)
class Placement:
    """Where a label went: its centre and box, whether it is shown and whether it needs a leader line."""

    key: Hashable
    center: tuple[float, float]
    rect: Rect
    visible: bool
    leader: tuple[float, float, float, float] | None
    """``(anchor x, anchor y, x, y)`` of the leader line's ends (on the label's box), or ``None``."""


def rect_at(center: tuple[float, float], size: tuple[float, float]) -> Rect:
    w, h = size
    return (center[0] - w / 2.0, center[1] - h / 2.0, center[0] + w / 2.0, center[1] + h / 2.0)


def overlap(a: Rect, b: Rect, gap: float = 0.0) -> bool:
    """Whether boxes ``a`` and ``b`` come closer than ``gap``."""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def marker_rect(x: float, y: float, radius: float) -> Rect:
    return (x - radius, y - radius, x + radius, y + radius)


def _nearest_on_rect(r: Rect, p: tuple[float, float]) -> tuple[float, float]:
    return (min(max(p[0], r[0]), r[2]), min(max(p[1], r[1]), r[3]))


def _candidates(preferred: tuple[float, float], rings: Sequence[float]) -> Iterable[tuple[float, float]]:
    px, py = preferred
    for d in rings:
        if d == 0.0:
            yield preferred
            continue
        for k in range(DIRECTIONS):
            a = 2.0 * math.pi * k / DIRECTIONS
            yield (px + d * math.cos(a), py + d * math.sin(a))


def _inside(r: Rect, view: Rect | None) -> bool:
    return view is None or (r[0] >= view[0] and r[1] >= view[1] and r[2] <= view[2] and r[3] <= view[3])


def place_labels(requests: Sequence[LabelRequest], obstacles: Sequence[Rect] = (), view: Rect | None = None,
                 rings: Sequence[float] = RING_STEPS_PX, leader_min: float = LEADER_MIN_PX,
                 gap: float = GAP_PX) -> dict[Hashable, Placement]:
    """Place ``requests`` so that no two labels and no label and obstacle overlap.

    Parameters
    ----------
    requests : sequence of LabelRequest
    obstacles : sequence of Rect
        Boxes no label may cover (markers).
    view : Rect, optional
        The visible area; positions outside it are tried last.
    rings, leader_min, gap : optional
        Search distances, the move beyond which a leader line is drawn, the free space around a label.

    Returns
    -------
    dict
        ``key -> Placement`` for every request (``visible=False`` for an optional label with no free place).
    """
    placed: list[Rect] = []
    out: dict[Hashable, Placement] = {}
    reach = rings[-1]
    for req in sorted(requests, key=lambda r: r.priority):
        here = rect_at(req.preferred, req.size)
        if view is not None and not overlap(here, view, reach):  # off screen: nothing to read, nothing to search
            out[req.key] = Placement(req.key, req.preferred, here, True, None)
            continue
        # only what the search can reach is checked
        near = (here[0] - reach, here[1] - reach, here[2] + reach, here[3] + reach)
        obs = [o for o in obstacles if overlap(o, near)]
        labs = [q for q in placed if overlap(q, near, gap)]
        best: tuple[float, float] | None = None
        fallback: tuple[float, float] | None = None
        w2, h2 = req.size[0] / 2.0, req.size[1] / 2.0
        for cx, cy in _candidates(req.preferred, rings):
            r = (cx - w2, cy - h2, cx + w2, cy + h2)
            if any(r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3] for o in obs) or any(
                    r[0] < q[2] + gap and q[0] < r[2] + gap and r[1] < q[3] + gap and q[1] < r[3] + gap
                    for q in labs):
                continue
            if _inside(r, view):
                best = (cx, cy)
                break
            if fallback is None:
                fallback = (cx, cy)
        best = best or fallback
        if best is None:
            if req.optional:
                out[req.key] = Placement(req.key, req.preferred, here, False, None)
                continue
            best = req.preferred  # a label that must be shown: at its place, even over another
        r = rect_at(best, req.size)
        placed.append(r)
        leader = None
        if math.hypot(best[0] - req.preferred[0], best[1] - req.preferred[1]) > leader_min:
            end = _nearest_on_rect(r, req.anchor)
            if math.hypot(end[0] - req.anchor[0], end[1] - req.anchor[1]) > 4.0:
                leader = (req.anchor[0], req.anchor[1], end[0], end[1])
        out[req.key] = Placement(req.key, best, r, True, leader)
    return out
