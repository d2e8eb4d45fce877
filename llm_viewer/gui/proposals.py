"""The model's proposals after a re-analysis, drawn beside the points they would replace.

A proposal is a hollow circle in the leg's colour, joined to the current point by a dotted line; the
current point stays where it is until the reviewer accepts the proposal (see ``Document.apply_analysis``).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore

from ..core.landmarks import SIDES
from .document import Document
from .overlays import SIDE_COLORS


class ProposalLayer(QtCore.QObject):
    """Hollow markers at the proposed positions and dotted lines from each current point."""

    def __init__(self, doc: Document, vb: pg.ViewBox) -> None:
        super().__init__(vb)
        self.doc = doc
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        self.links: dict[str, pg.PlotCurveItem] = {}
        for side in SIDES:
            color = SIDE_COLORS[side]
            m = pg.ScatterPlotItem(size=18, symbol="o", pen=pg.mkPen(color, width=2), brush=pg.mkBrush(0, 0, 0, 0), pxMode=True)
            m.setZValue(18)
            line = pg.PlotCurveItem(pen=pg.mkPen(color, width=1.5, style=QtCore.Qt.PenStyle.DotLine),
                                    connect="pairs")
            line.setZValue(17)
            vb.addItem(line)
            vb.addItem(m)
            self.markers[side], self.links[side] = m, line
        doc.proposalsChanged.connect(self.refresh)
        doc.pointsChanged.connect(lambda _s: self.refresh())
        doc.loaded.connect(self.refresh)
        self.refresh()

    def shown(self, side: str) -> list[tuple[float, float]]:
        """Proposed positions drawn for ``side``."""
        xs, ys = self.markers[side].getData()
        return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]

    def refresh(self) -> None:
        for side in SIDES:
            spots, xs, ys = [], [], []
            for (s, lm), prop in sorted(self.doc.proposals.items()):
                if s != side:
                    continue
                spots.append({"pos": prop.xy, "data": lm})
                cur = self.doc.point(s, lm)
                if cur is not None:
                    xs += [cur.x, prop.xy[0]]
                    ys += [cur.y, prop.xy[1]]
            self.markers[side].setData(spots)
            self.markers[side].setVisible(bool(spots))
            self.links[side].setData(xs, ys)
            self.links[side].setVisible(bool(xs))
