"""Free ruler and angle tools ("for anything else"): place, drag by the end points, list, delete, undo.

- *Ruler* (R): two clicks; the line shows its length in mm (in px, marked uncalibrated, without a spacing).
- *Angle* (N): three clicks, the vertex in the middle; *two lines* (Shift+N): four clicks, the acute angle.

Each measurement is drawn on the canvas with a label beside it and handles on its points; dragging a handle
moves the point (the value follows live), the release is one undo step. The "Ruler / angles" tab lists them;
Delete (or the list's context menu) removes the selected one. Every change is a command on the window's undo
stack and is saved in the case file (``annotations``, :mod:`llm_viewer.core.annotations`, which also computes
every number shown here). A free measurement never withdraws an approval: it changes no landmark.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.annotations import (
    ANNOTATION_KINDS,
    ANNOTATION_LABELS,
    Annotation,
    AnnotationError,
    annotation_text,
    measure_annotation,
    new_annotation,
)
from ..core.casefile import utc_now

MEASURE_COLOR = "#c58cff"
SELECTED_COLOR = "#ffffff"
HANDLE_PX = 11
LABEL_FILL = QtGui.QColor(0, 0, 0, 190)
TOOL_KEYS: dict[str, str] = {"ruler": "R", "angle": "N", "line_angle": "Shift+N"}
TOOL_MENU: dict[str, str] = {
    "ruler": "Ruler: two clicks (distance in mm)",
    "angle": "Angle: three clicks (vertex in the middle)",
    "line_angle": "Angle between two lines: four clicks",
}


class AnnotationEdit(QtGui.QUndoCommand):
    """Replace the case's free measurements ``before`` -> ``after`` (one undo step)."""

    def __init__(self, tools: MeasureTools, before: list[Annotation], after: list[Annotation], text: str,
                 action: str, **details) -> None:
        super().__init__(text)
        self.tools, self.before, self.after = tools, list(before), list(after)
        self.action, self.details = action, details

    def redo(self) -> None:
        self.tools.apply(self.after, self.action, **self.details)

    def undo(self) -> None:
        self.tools.apply(self.before, "annotations_undo", undone=self.action)


class _Line(pg.PlotCurveItem):
    """A measurement's line: a click selects it, except while a tool places points (the click is the tool's)."""

    def __init__(self, canvas, **kwargs) -> None:
        super().__init__(**kwargs)
        self.canvas = canvas

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if self.canvas.placing():
            ev.ignore()
            return
        super().mouseClickEvent(ev)


class _Handle(pg.TargetItem):
    """An end point: drag it to move the point; a click selects its measurement (unless a tool is placing)."""

    def __init__(self, canvas, on_click, **kwargs) -> None:
        super().__init__(**kwargs)
        self.canvas, self.on_click = canvas, on_click

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph API
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and not self.moving and not self.canvas.placing():
            ev.accept()
            self.on_click()
            return
        super().mouseClickEvent(ev)


class _Graphic:
    """The canvas items of one measurement: its line(s), a handle per point and the value label."""

    def __init__(self, tools: MeasureTools, ann: Annotation) -> None:
        self.tools, self.id, self.kind = tools, ann.id, ann.kind
        self.line = _Line(tools.canvas, connect="pairs" if ann.kind == "line_angle" else "all")
        self.line.setClickable(True, width=8)
        self.line.setZValue(30)
        self.line.sigClicked.connect(lambda *_: tools.select(self.id))
        self.label = pg.TextItem("", color=MEASURE_COLOR, fill=LABEL_FILL, border=pg.mkPen(MEASURE_COLOR),
                                 anchor=(-0.15, 1.2))  # beside its point, framed: not an overlay's label
        font = QtGui.QFont()
        font.setPointSize(10)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setZValue(32)
        self.handles: list[_Handle] = []
        for i, (x, y) in enumerate(ann.points_px):
            h = _Handle(tools.canvas, lambda: tools.select(self.id), pos=(x, y), size=HANDLE_PX, symbol="o",
                        movable=True,
                        pen=pg.mkPen(MEASURE_COLOR, width=2), brush=pg.mkBrush(0, 0, 0, 120))
            h.setZValue(31)
            h.sigPositionChanged.connect(lambda _h, i=i: self._dragging(i))
            h.sigPositionChangeFinished.connect(lambda _h, i=i: self._dropped(i))
            self.handles.append(h)
        self._syncing = False
        self.ann = ann
        vb = tools.canvas.vb
        for item in (self.line, self.label, *self.handles):
            vb.addItem(item)
        self.update(ann)

    def points(self) -> list[tuple[float, float]]:
        return [(float(h.pos().x()), float(h.pos().y())) for h in self.handles]

    def update(self, ann: Annotation, selected: bool = False) -> None:
        self.ann = ann
        self._syncing = True
        try:
            for h, (x, y) in zip(self.handles, ann.points_px):
                if (h.pos().x(), h.pos().y()) != (x, y):
                    h.setPos(x, y)
        finally:
            self._syncing = False
        self._draw(ann.points_px, selected)

    def _draw(self, pts, selected: bool) -> None:
        color = SELECTED_COLOR if selected else MEASURE_COLOR
        self.line.setData([p[0] for p in pts], [p[1] for p in pts], pen=pg.mkPen(color, width=3 if selected else 2))
        text = annotation_text(self.ann.with_points(pts), self.tools.spacing())
        self.label.setText(text, color=color)
        self.label.border = pg.mkPen(color)
        # the label beside the ruler's middle, or beside the vertex of an angle
        if self.kind == "ruler":
            x, y = (pts[0][0] + pts[1][0]) / 2.0, (pts[0][1] + pts[1][1]) / 2.0
        elif self.kind == "angle":
            x, y = pts[1]
        else:
            x, y = pts[2]
        self.label.setPos(x, y)

    def _dragging(self, _i: int) -> None:
        if self._syncing:
            return
        try:
            self._draw(self.points(), self.tools.selected_id == self.id)
        except AnnotationError:
            pass

    def _dropped(self, _i: int) -> None:
        points = self.points()  # before anything redraws the stored positions
        self.tools.selected_id = self.id
        if not self.tools.move(self.id, points):
            self.tools.sync()

    def remove(self) -> None:
        vb = self.tools.canvas.vb
        for item in (self.line, self.label, *self.handles):
            vb.removeItem(item)


class MeasureList(QtWidgets.QWidget):
    """The "Ruler / angles" tab: the case's free measurements; Delete or the context menu removes one."""

    def __init__(self, tools: MeasureTools) -> None:
        super().__init__()
        self.tools = tools
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        for kind, text in (("ruler", "Ruler (R)"), ("angle", "Angle (N)"), ("line_angle", "Two lines (Shift+N)")):
            b = QtWidgets.QPushButton(text)
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _c=False, k=kind: tools.start(k))
            row.addWidget(b)
        lay.addLayout(row)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderLabels(["Measurement", "Value", "By"])
        self.tree.setRootIsDecorated(False)
        self.tree.setContextMenuPolicy(QtCore.Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)
        self.tree.itemSelectionChanged.connect(self._on_selection)
        self.tree.installEventFilter(self)
        self.tree.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.tree, 1)
        self.delete_button = QtWidgets.QPushButton("Delete the selected measurement (Del)")
        self.delete_button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.delete_button.clicked.connect(lambda: tools.delete_selected())
        lay.addWidget(self.delete_button)
        hint = QtWidgets.QLabel("Drag a measurement's end points to adjust it. Free measurements are saved in the "
                                "case and listed in the PDF report; they are not part of the approval.")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        self._blocking = False

    def refresh(self, annotations: list[Annotation]) -> None:
        self._blocking = True
        try:
            self.tree.clear()
            for i, ann in enumerate(annotations, start=1):
                it = QtWidgets.QTreeWidgetItem([f"{i}. {ANNOTATION_LABELS[ann.kind]}",
                                                annotation_text(ann, self.tools.spacing()), ann.created_by or ""])
                it.setData(0, QtCore.Qt.ItemDataRole.UserRole, ann.id)
                it.setToolTip(0, f"created {ann.created_at or '?'} by {ann.created_by or 'unknown'}")
                self.tree.addTopLevelItem(it)
                if ann.id == self.tools.selected_id:
                    it.setSelected(True)
        finally:
            self._blocking = False
        self.delete_button.setEnabled(bool(annotations))

    def row_ids(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(0, QtCore.Qt.ItemDataRole.UserRole)
                for i in range(self.tree.topLevelItemCount())]

    def _on_selection(self) -> None:
        if self._blocking:
            return
        items = self.tree.selectedItems()
        self.tools.select(items[0].data(0, QtCore.Qt.ItemDataRole.UserRole) if items else None, from_list=True)

    def _menu(self, pos: QtCore.QPoint) -> None:
        it = self.tree.itemAt(pos)
        if it is None:
            return
        aid = it.data(0, QtCore.Qt.ItemDataRole.UserRole)
        menu = QtWidgets.QMenu(self)
        menu.addAction("Delete", lambda: self.tools.delete(aid))
        menu.addAction("Show on the image", lambda: self.tools.reveal(aid))
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt API
        if obj is self.tree and ev.type() == QtCore.QEvent.Type.KeyPress and ev.key() in (
                QtCore.Qt.Key.Key_Delete, QtCore.Qt.Key.Key_Backspace):
            self.tools.delete_selected()
            return True
        return False


class MeasureTools(QtCore.QObject):
    """Free measurements of the open case: canvas graphics, the list tab, undoable edits.

    Signals
    -------
    changed()
        The case's free measurements changed (added, moved, deleted, undone) or a new case was opened.
    """

    changed = QtCore.Signal()

    def __init__(self, doc, canvas, undo_stack: QtGui.QUndoStack, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.canvas, self.undo_stack = doc, canvas, undo_stack
        self.start_tool = None
        """Callable(kind) starting the click tool (set by the window: its placement tools take the clicks)."""
        self.selected_id: str | None = None
        self.graphics: dict[str, _Graphic] = {}
        self.panel = MeasureList(self)
        doc.loaded.connect(self._on_loaded)
        doc.caseChanged.connect(self.sync)  # a new calibration changes the lengths

    # ------------------------------------------------------------------ reading
    def spacing(self):
        return self.doc.pixel_spacing_mm if self.doc.case is not None else None

    def annotations(self) -> list[Annotation]:
        if self.doc.case is None:
            return []
        try:
            return self.doc.case.annotations
        except AnnotationError:
            return []

    def find(self, aid: str) -> Annotation | None:
        return next((a for a in self.annotations() if a.id == aid), None)

    # ------------------------------------------------------------------ edits (undoable)
    def start(self, kind: str) -> None:
        if self.start_tool is not None and self.doc.is_open:
            self.start_tool(kind)

    def add(self, kind: str, points_px) -> Annotation | None:
        """A new measurement from the clicked points (one undo step); ``None`` when the points define none."""
        if not self.doc.is_open:
            return None
        ann = new_annotation(kind, points_px, created_by=self.doc.actor, created_at=utc_now())
        measure_annotation(ann, self.spacing())  # an angle whose points coincide raises AnnotationError
        before = self.annotations()
        self.undo_stack.push(AnnotationEdit(self, before, [*before, ann], f"Add {ANNOTATION_LABELS[kind].lower()}",
                                            "annotation_added", id=ann.id, kind=kind))
        self.select(ann.id)
        return ann

    def move(self, aid: str, points_px) -> bool:
        before = self.annotations()
        old = next((a for a in before if a.id == aid), None)
        if old is None:
            return False
        try:
            new = old.with_points(points_px)
        except AnnotationError:
            self.sync()
            return False
        if new.points_px == old.points_px:
            return False
        after = [new if a.id == aid else a for a in before]
        self.undo_stack.push(AnnotationEdit(self, before, after, f"Move {ANNOTATION_LABELS[old.kind].lower()}",
                                            "annotation_moved", id=aid))
        return True

    def delete(self, aid: str | None) -> bool:
        before = self.annotations()
        old = next((a for a in before if a.id == aid), None)
        if old is None:
            return False
        after = [a for a in before if a.id != aid]
        self.undo_stack.push(AnnotationEdit(self, before, after, f"Delete {ANNOTATION_LABELS[old.kind].lower()}",
                                            "annotation_removed", id=aid, kind=old.kind,
                                            points_px=[list(p) for p in old.points_px]))
        if self.selected_id == aid:
            self.selected_id = None
        self.sync()
        return True

    def delete_selected(self) -> bool:
        return self.delete(self.selected_id)

    def apply(self, annotations: list[Annotation], action: str, **details) -> None:
        """Store the measurements in the case, autosave, redraw (called by :class:`AnnotationEdit`)."""
        if self.doc.case is None:
            return
        self.doc.case.set_annotations(annotations, by=self.doc.actor, action=action, **details)
        self.doc.autosave()
        if self.selected_id is not None and all(a.id != self.selected_id for a in annotations):
            self.selected_id = None
        self.sync()

    # ------------------------------------------------------------------ display
    def select(self, aid: str | None, *, from_list: bool = False) -> None:
        self.selected_id = aid
        self.sync(refresh_list=not from_list)

    def reveal(self, aid: str) -> None:
        ann = self.find(aid)
        if ann is not None:
            self.select(aid)
            x, y = ann.points_px[len(ann.points_px) // 2]
            self.canvas.ensure_visible(x, y)

    def _on_loaded(self) -> None:
        self.selected_id = None
        self.sync()

    def sync(self, refresh_list: bool = True) -> None:
        """Canvas items and list follow the case's measurements."""
        anns = self.annotations() if self.doc.is_open else []
        ids = {a.id for a in anns}
        for aid in [k for k in self.graphics if k not in ids]:
            self.graphics.pop(aid).remove()
        for ann in anns:
            g = self.graphics.get(ann.id)
            if g is None:
                g = self.graphics[ann.id] = _Graphic(self, ann)
            g.update(ann, selected=ann.id == self.selected_id)
        if refresh_list:
            self.panel.refresh(anns)
        self.changed.emit()


def add_measure_actions(win, menu: QtWidgets.QMenu) -> None:
    """The Tools menu's ruler and angle entries (with their shortcuts) and Delete for the selected one."""
    menu.addSeparator()
    for kind in ANNOTATION_KINDS:
        win._action(menu, TOOL_MENU[kind], lambda _c=False, k=kind: win.measures.start(k),
                    QtGui.QKeySequence(TOOL_KEYS[kind]))
    win._action(menu, "Delete the selected measurement", lambda: win.measures.delete_selected(),
                QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Delete))
