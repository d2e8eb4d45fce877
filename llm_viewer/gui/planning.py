"""Tools > Plan osteotomy…: the osteotomy planning dock with a live preview on the canvas.

The surgeon picks the leg, the method (HTO opening / closing, DFO opening / closing) and the target (WBL ratio
or HKA), and drags the hinge and the start of the osteotomy line on the image. Every change runs
:func:`llm_viewer.core.planning.simulate` (cheap geometry) and shows its result: the distal fragment of the
image turned about the hinge (a semi-transparent masked copy), the planned mechanical axis, the wedge, and the
table of pre/post metrics, correction angle and wedge height. This module computes no number itself.

*Save plan* stores the plan in the case (``plans``, :mod:`llm_viewer.core.planning_store`) as one undo step
on the window's undo stack, and autosaves. A plan changes no landmark: it never withdraws an approval.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from ..core.landmarks import SIDES
from ..core.metrics import METRIC_LABELS, metric_text
from ..core.planning import (
    METHOD_LABELS,
    METHODS,
    OsteotomyPlan,
    PlanError,
    PlanResult,
    PlanTarget,
    bone,
    default_plan,
    default_target,
    is_opening,
    simulate,
    suggest_method,
)
from ..core.planning_store import case_plans, plan_for_side, remove_plan, restore_plans, save_plan
from .planning_preview import FragmentPreview

HINGE_COLOR, CUT_COLOR = "#ffe14d", "#ff4a4a"
PRE_AXIS_COLOR, POST_AXIS_COLOR, WEDGE_RGBA = "#f29a1a", "#33dd55", (80, 190, 255, 120)
RESULT_ROWS = ("correction", "wedge", "length", "leg_change")
METRIC_ROWS = ("hka_deg", "wbl_ratio_pct", "mad_mm", "mmpta_deg", "mldfa_deg", "jlo_deg", "jlca_deg",
               "leg_length_mm")
ROW_LABELS = {"correction": "Correction angle", "wedge": "Wedge height", "length": "Osteotomy length",
              "leg_change": "Leg length change", **{k: METRIC_LABELS[k] for k in METRIC_ROWS}}


def result_texts(res: PlanResult) -> dict[str, str]:
    """The "Planned" column's correction rows as shown (the test reads them back)."""
    return {"correction": f"{res.correction_deg:.2f}°",
            "wedge": "refused: no calibration" if res.wedge_height_mm is None else f"{res.wedge_height_mm:.1f} mm",
            "length": "n/a" if res.osteotomy_length_mm is None else f"{res.osteotomy_length_mm:.1f} mm",
            "leg_change": "n/a" if res.leg_length_change_mm is None else f"{res.leg_length_change_mm:+.1f} mm"}


class PlanEdit(QtGui.QUndoCommand):
    """Save or delete a plan: undo / redo put the case's whole ``plans`` list back (history records each)."""

    def __init__(self, tool: PlanningTool, text: str, *, plan: OsteotomyPlan | None = None,
                 remove_id: str | None = None) -> None:
        super().__init__(text)
        self.tool, self.plan, self.remove_id = tool, plan, remove_id
        self.before = case_plans(tool.doc.case)
        self.after: list[OsteotomyPlan] | None = None

    def redo(self) -> None:
        case, by = self.tool.doc.case, self.tool.doc.actor
        if self.after is None:
            if self.plan is not None:
                save_plan(case, self.plan, by=by)
            elif self.remove_id is not None:
                remove_plan(case, self.remove_id, by=by)
            self.after = case_plans(case)
        else:
            restore_plans(case, self.after, by=by, change="redo")
        self.tool.stored_changed()

    def undo(self) -> None:
        restore_plans(self.tool.doc.case, self.before, by=self.tool.doc.actor, change="undo")
        self.tool.stored_changed()


class PlanningPanel(QtWidgets.QWidget):
    """The dock's controls: leg, method, target, buttons, the results table and the notes."""

    def __init__(self) -> None:
        super().__init__()
        lay = QtWidgets.QVBoxLayout(self)
        form = QtWidgets.QFormLayout()
        self.side = QtWidgets.QComboBox()
        for s in SIDES:
            self.side.addItem(f"{s.capitalize()} leg", s)
        self.method = QtWidgets.QComboBox()
        for m in METHODS:
            self.method.addItem(METHOD_LABELS[m], m)
        self.target_kind = QtWidgets.QComboBox()
        self.target_kind.addItem("WBL ratio (%)", "wbl_ratio_pct")
        self.target_kind.addItem("HKA (°)", "hka_deg")
        self.target_value = QtWidgets.QDoubleSpinBox()
        self.target_value.setDecimals(1)
        self.target_value.setSingleStep(0.5)
        self.target_value.setKeyboardTracking(False)
        target_row = QtWidgets.QHBoxLayout()
        target_row.addWidget(self.target_kind)
        target_row.addWidget(self.target_value)
        form.addRow("Leg", self.side)
        form.addRow("Method", self.method)
        form.addRow("Target", target_row)
        lay.addLayout(form)
        buttons = QtWidgets.QHBoxLayout()
        self.defaults_button = QtWidgets.QPushButton("Default points")
        self.save_button = QtWidgets.QPushButton("Save plan")
        self.delete_button = QtWidgets.QPushButton("Delete plan")
        for b in (self.defaults_button, self.save_button, self.delete_button):
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.table = QtWidgets.QTableWidget(len(RESULT_ROWS) + len(METRIC_ROWS), 3)
        self.table.setHorizontalHeaderLabels(["", "Pre-op", "Planned"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.rows = {key: i for i, key in enumerate((*RESULT_ROWS, *METRIC_ROWS))}
        for key, i in self.rows.items():
            self.table.setItem(i, 0, QtWidgets.QTableWidgetItem(ROW_LABELS[key]))
            for col in (1, 2):
                self.table.setItem(i, col, QtWidgets.QTableWidgetItem(""))
        lay.addWidget(self.table, 1)
        self.notes = QtWidgets.QLabel()
        self.notes.setWordWrap(True)
        lay.addWidget(self.notes)
        self.stored = QtWidgets.QLabel()
        self.stored.setWordWrap(True)
        lay.addWidget(self.stored)
        hint = QtWidgets.QLabel("Drag the yellow hinge and the red start of the osteotomy line on the image. The "
                                "turned distal fragment and the planned axis (green) follow; the dashed orange "
                                "line is today's axis. Planning simulation only: verify before surgery.")
        hint.setWordWrap(True)
        lay.addWidget(hint)

    def cell(self, key: str, col: int) -> str:
        """Text of a row (``"correction"``, ``"hka_deg"``...) in column 1 (pre-op) or 2 (planned)."""
        return self.table.item(self.rows[key], col).text()


class PlanningTool(QtCore.QObject):
    """The planning dock and its canvas items for the window ``win`` (created on first use)."""

    def __init__(self, win) -> None:
        super().__init__(win)
        self.win, self.doc, self.canvas = win, win.doc, win.canvas
        self.panel = PlanningPanel()
        self.dock = QtWidgets.QDockWidget("Osteotomy planning", win)
        self.dock.setObjectName("planning")
        self.dock.setWidget(self.panel)
        win.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        if getattr(win, "side_dock", None) is not None:
            win.tabifyDockWidget(win.side_dock, self.dock)
        self.dock.hide()
        self.plan: OsteotomyPlan | None = None
        self.result: PlanResult | None = None
        self.error: str | None = None
        self._syncing = False
        self._build_items()
        p = self.panel
        p.side.currentIndexChanged.connect(lambda _i: self._choose(side=p.side.currentData()))
        p.method.currentIndexChanged.connect(lambda _i: self._choose(method=p.method.currentData()))
        p.target_kind.currentIndexChanged.connect(lambda _i: self._target_kind_changed())
        p.target_value.valueChanged.connect(lambda _v: self._target_changed())
        p.defaults_button.clicked.connect(lambda: self._choose(method=p.method.currentData(), defaults=True))
        p.save_button.clicked.connect(lambda: self.save())
        p.delete_button.clicked.connect(lambda: self.delete())
        self.dock.visibilityChanged.connect(self._set_items_visible)
        self.doc.loaded.connect(self._on_loaded)
        self.doc.pointsChanged.connect(lambda _s: self.update() if self.dock.isVisible() else None)
        self.doc.caseChanged.connect(lambda: self.update() if self.dock.isVisible() else None)  # e.g. calibration
        self.canvas.sigWindowChanged.connect(lambda *_: self._invalidate_preview())

    # ------------------------------------------------------------------ canvas items
    def _build_items(self) -> None:
        vb = self.canvas.vb
        self.preview = FragmentPreview(self.doc, self.canvas)
        self.fragment = self.preview.item
        self.pre_axis = pg.PlotCurveItem(pen=pg.mkPen(PRE_AXIS_COLOR, width=2, style=QtCore.Qt.PenStyle.DashLine))
        self.post_axis = pg.PlotCurveItem(pen=pg.mkPen(POST_AXIS_COLOR, width=2.5))
        self.cut_line = pg.PlotCurveItem(pen=pg.mkPen(CUT_COLOR, width=3))
        self.wedge = QtWidgets.QGraphicsPolygonItem()
        self.wedge.setBrush(QtGui.QBrush(QtGui.QColor(*WEDGE_RGBA)))
        self.wedge.setPen(pg.mkPen(QtGui.QColor(*WEDGE_RGBA[:3]), width=1))
        self.hinge = pg.TargetItem(pos=(0, 0), size=16, symbol="o", movable=True, pen=pg.mkPen("k", width=1),
                                   brush=pg.mkBrush(HINGE_COLOR), label="hinge",
                                   labelOpts={"color": HINGE_COLOR, "offset": (12, -12), "fill": (0, 0, 0, 170)})
        self.cut = pg.TargetItem(pos=(0, 0), size=14, symbol="s", movable=True, pen=pg.mkPen("k", width=1),
                                 brush=pg.mkBrush(CUT_COLOR), label="cut start",
                                 labelOpts={"color": CUT_COLOR, "offset": (12, 12), "fill": (0, 0, 0, 170)})
        for z, item in ((24, self.pre_axis), (25, self.post_axis), (26, self.wedge), (27, self.cut_line),
                        (40, self.hinge), (40, self.cut)):
            item.setZValue(z)
        self.items = (self.fragment, self.pre_axis, self.post_axis, self.wedge, self.cut_line, self.hinge, self.cut)
        for item in self.items:
            if item is not self.fragment:  # the preview adds its own item
                vb.addItem(item)
            item.setVisible(False)
        self.hinge.sigPositionChanged.connect(lambda *_: self._handle_moved())
        self.cut.sigPositionChanged.connect(lambda *_: self._handle_moved())

    def _set_items_visible(self, on: bool) -> None:
        for item in self.items:
            item.setVisible(bool(on) and self.plan is not None)
        if on:
            self.update()

    # ------------------------------------------------------------------ opening / choosing
    def open(self) -> None:
        """Show the dock on the open case: the leg's stored plan, else defaults for the most deformed leg."""
        if not self.doc.is_open:
            return
        sides = [s for s in SIDES if self.doc.points(s)]
        if not sides:
            self.win.show_message("warning", "Plan osteotomy: the case has no landmarks yet (run the model first).")
            return
        stored = [p.side for p in self._stored_plans()]
        side = stored[0] if stored else sides[0]
        self.dock.show()
        self.dock.raise_()
        self._choose(side=side)
        self.canvas.zoom_to(side, "knee", context=3.0)

    def _stored_plans(self) -> list[OsteotomyPlan]:
        try:
            return case_plans(self.doc.case) if self.doc.case is not None else []
        except PlanError:
            return []

    def _choose(self, *, side: str | None = None, method: str | None = None, defaults: bool = False) -> None:
        if self._syncing or not self.doc.is_open:
            return
        side = side or (self.plan.side if self.plan else SIDES[0])
        lms = self.doc.points(side)
        spacing = self.doc.pixel_spacing_mm
        try:
            stored = plan_for_side(self.doc.case, side)
        except PlanError:
            stored = None
        try:
            if stored is not None and not defaults and method in (None, stored.method):
                plan = stored
            else:
                method = method or suggest_method(lms, side, spacing)
                keep = self.plan is not None and self.plan.side == side and bone(self.plan.method) == bone(method)
                target = self.plan.target if keep else default_target(method)
                plan = default_plan(lms, side, method, spacing, target=target)
                if stored is not None and stored.method == method:
                    plan = plan.with_changes(id=stored.id)
        except PlanError as exc:
            self.plan, self.result, self.error = None, None, str(exc)
            self._show()
            return
        self.plan = plan
        self._sync_controls()
        self.update()

    def _sync_controls(self) -> None:
        p, plan = self.panel, self.plan
        self._syncing = True
        try:
            p.side.setCurrentIndex(p.side.findData(plan.side))
            p.method.setCurrentIndex(p.method.findData(plan.method))
            p.target_kind.setCurrentIndex(p.target_kind.findData(plan.target.kind))
            lo, hi = (-50.0, 150.0) if plan.target.kind == "wbl_ratio_pct" else (150.0, 210.0)
            p.target_value.setRange(lo, hi)
            p.target_value.setValue(plan.target.value)
            self.hinge.setPos(*plan.hinge_px)
            self.cut.setPos(*plan.cut_start_px)
        finally:
            self._syncing = False

    def _target_kind_changed(self) -> None:
        if self._syncing or self.plan is None:
            return
        kind = self.panel.target_kind.currentData()
        value = default_target(self.plan.method).value if kind == "wbl_ratio_pct" else 180.0
        self.plan = self.plan.with_changes(target=PlanTarget(kind, value))
        self._sync_controls()
        self.update()

    def _target_changed(self) -> None:
        if self._syncing or self.plan is None:
            return
        try:
            target = PlanTarget(self.panel.target_kind.currentData(), self.panel.target_value.value())
        except PlanError as exc:
            self.error = str(exc)
            self._show()
            return
        self.plan = self.plan.with_changes(target=target)
        self.update()

    def _handle_moved(self) -> None:
        if self._syncing or self.plan is None:
            return
        h, c = self.hinge.pos(), self.cut.pos()
        self.plan = self.plan.with_changes(hinge_px=(float(h.x()), float(h.y())), cut_start_px=(float(c.x()), float(c.y())))
        self.update()

    def _on_loaded(self) -> None:
        self.plan = self.result = None
        self._invalidate_preview()
        if self.dock.isVisible():
            if self.doc.is_open:
                self.open()
            else:
                self._show()

    # ------------------------------------------------------------------ simulation and display
    def update(self) -> None:
        """Simulate the current plan on the current landmarks (core) and show the result."""
        if self.plan is None or not self.doc.is_open:
            self._show()
            return
        try:
            self.result = simulate(self.plan, self.doc.points(self.plan.side), self.plan.side, self.doc.pixel_spacing_mm)
            self.error = None
        except (PlanError, ValueError) as exc:
            self.result, self.error = None, str(exc)
        self._show()

    def _show(self) -> None:
        p, res = self.panel, self.result
        visible = self.dock.isVisible() and self.plan is not None
        if self.plan is not None:
            p.table.item(p.rows["wedge"], 0).setText(
                f"{'Opening' if is_opening(self.plan.method) else 'Closing'} wedge height")
        for key, i in p.rows.items():
            pre = res.pre.get(key) if res is not None and key in METRIC_ROWS else None
            p.table.item(i, 1).setText("" if key in RESULT_ROWS else (metric_text(key, pre) if res else ""))
            if res is None:
                p.table.item(i, 2).setText("—")
            elif key in RESULT_ROWS:
                p.table.item(i, 2).setText(result_texts(res)[key])
            else:
                p.table.item(i, 2).setText(metric_text(key, res.post.get(key)))
        if self.error:
            p.notes.setText(f"<span style='color:#ff6060'>{self.error}</span>")
        else:
            p.notes.setText("<br>".join(res.notes) if res is not None else "")
        stored = self._stored_plans()
        mine = next((s for s in stored if self.plan is not None and s.side == self.plan.side), None)
        text = (f"Saved plan {mine.id} ({METHOD_LABELS[mine.method]}, {mine.updated_by or 'unknown'}, "
                f"{mine.updated_at or '?'})" if mine else "No plan saved for this leg.")
        def inputs(plan: OsteotomyPlan) -> tuple:
            return plan.method, plan.target, plan.hinge_px, plan.cut_start_px

        if mine is not None and self.plan is not None and inputs(mine) != inputs(self.plan):
            text += ". <span style='color:#ffb040'>Unsaved changes: Save plan keeps them.</span>"
        elif (mine is not None and mine.result is not None and res is not None
              and abs(mine.result.correction_deg - res.correction_deg) > 0.01):
            text += (f". <span style='color:#ffb040'>Its saved correction ({mine.result.correction_deg:.2f}°) differs "
                     "from the one shown: the landmarks or the calibration changed since; save again.</span>")
        p.stored.setText(text)
        p.save_button.setEnabled(res is not None)
        p.delete_button.setEnabled(mine is not None)
        for item in (self.hinge, self.cut, self.cut_line):
            item.setVisible(visible)
        if self.plan is not None:
            self.cut_line.setData([self.plan.cut_start_px[0], self.plan.hinge_px[0]],
                                  [self.plan.cut_start_px[1], self.plan.hinge_px[1]])
        ok = visible and res is not None
        for item in (self.pre_axis, self.post_axis, self.wedge, self.fragment):
            item.setVisible(ok)
        if not ok:
            return
        pre_pts = self.doc.points(self.plan.side)
        head = res.post_landmarks_px["femoral_head"]

        def ankle(points) -> tuple[float, float]:
            a, b = points["malleolus_lateral"], points["malleolus_medial"]
            (ax, ay), (bx, by) = ((a.x, a.y) if hasattr(a, "x") else a), ((b.x, b.y) if hasattr(b, "x") else b)
            return ((ax + bx) / 2, (ay + by) / 2)

        a0, a1 = ankle(pre_pts), ankle(res.post_landmarks_px)
        self.pre_axis.setData([head[0], a0[0]], [head[1], a0[1]])
        self.post_axis.setData([head[0], a1[0]], [head[1], a1[1]])
        self.wedge.setPolygon(QtGui.QPolygonF([QtCore.QPointF(x, y) for x, y in res.wedge_px]))
        self.preview.update(self.plan, res)

    # ------------------------------------------------------------------ distal fragment preview
    def _invalidate_preview(self) -> None:
        self.preview.invalidate()
        if self.result is not None and self.plan is not None and self.dock.isVisible():
            self.preview.update(self.plan, self.result)

    # ------------------------------------------------------------------ saving
    def save(self) -> bool:
        """Store the current plan and its result in the case (one undo step); False when there is nothing."""
        if self.plan is None or self.result is None or not self.doc.is_open:
            return False
        plan = self.plan.with_changes(result=self.result)
        self.win.undo_stack.push(PlanEdit(self, f"Save osteotomy plan ({plan.side})", plan=plan))
        return True

    def delete(self) -> bool:
        """Delete the leg's stored plan (one undo step); the points on the image stay for a new one."""
        if self.plan is None or self.doc.case is None:
            return False
        stored = plan_for_side(self.doc.case, self.plan.side)
        if stored is None:
            return False
        self.win.undo_stack.push(PlanEdit(self, f"Delete osteotomy plan ({stored.side})", remove_id=stored.id))
        return True

    def stored_changed(self) -> None:
        """After a save, delete, undo or redo: autosave and show the stored state."""
        self.doc.autosave()
        if self.plan is not None:
            stored = plan_for_side(self.doc.case, self.plan.side)
            if stored is not None:
                self.plan = stored
                self._sync_controls()
        self.update()


def planning_tool(win) -> PlanningTool:
    """The window's planning tool (made on first use)."""
    tool = getattr(win, "planning", None)
    if tool is None:
        tool = win.planning = PlanningTool(win)
    return tool


def add_planning_action(win, menu: QtWidgets.QMenu) -> QtGui.QAction:
    """Tools > Plan osteotomy… (the window's hook)."""
    menu.addSeparator()
    return win._action(menu, "Plan osteotomy…", lambda: planning_tool(win).open())


