"""Side widgets of the main window: landmark list, overlay toggles, display controls, message banner, help."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.annotations import radius_mm
from ..core.landmarks import LANDMARK_IDS, LANDMARK_LABELS, SIDES
from .document import Document
from .overlays import OVERLAY_KINDS, SIDE_COLORS
from .state import CUSTOM_WINDOW, DisplayPreset, matching_preset

SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+O", "Open an image or case file"),
    ("Ctrl+Shift+O", "Open a folder (worklist)"),
    ("Ctrl+R", "Run the model on this image"),
    ("Esc", "Cancel the analysis / stop placing a point"),
    ("Drag a landmark", "Move it (lines and numbers follow live)"),
    ("Click a landmark", "Select it"),
    ("Arrow keys", "Nudge the selected landmark 1 pixel (Shift: 10 pixels); anywhere but a text field; "
                   "an off-screen point is first shown, not moved; one undo step per burst (< 0.8 s apart)"),
    ("Tab / Shift+Tab", "Select the next / previous landmark (the view pans to it)"),
    ("A / Shift+A", "Accept the model's proposal for the selected point / all proposals (undoable)"),
    ("D / Shift+D", "Reject the model's proposal for the selected point / all proposals"),
    ("Click on the image", "Place the selected landmark when it is missing"),
    ("G", "Guided placement: each missing landmark in turn, zoomed there (S skips, Esc stops)"),
    ("C", "Femoral head: three clicks on its rim give the centre, or drag across it from rim to rim"),
    ("J / K / M", "Femoral condyle / tibial plateau / malleolar line: two clicks give both ends"),
    ("R", "Ruler: two clicks give a distance in mm (px when the image is uncalibrated)"),
    ("N / Shift+N", "Angle: three clicks, vertex in the middle / angle between two lines: four clicks"),
    ("Delete", "Delete the selected ruler or angle (drag its end points to adjust it; Ruler / angles tab)"),
    ("Backspace", "Reset the selected landmark to the model's prediction"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo (one step per finished drag)"),
    ("Wheel / left-drag", "Zoom / pan"),
    ("Right-drag", "Window (horizontal) and level (vertical); 1000 px sweep the image's value range"),
    ("F", "Fit the image to the window"),
    ("1 / 2 / 3", "Zoom to the right hip / knee / ankle"),
    ("4 / 5 / 6", "Zoom to the left hip / knee / ankle"),
    ("I", "Invert the display"),
    ("W", "Reset the window/level to the image's default"),
    ("Ctrl+Return", "Approve the case (any later change withdraws the approval)"),
    ("Ctrl+P", "Export the PDF report of the case"),
    ("Page Down / Page Up", "Next / previous case in the worklist"),
    ("Ctrl+E", "Export the case to the training set"),
    ("F1", "This list"),
]


class MessageBar(QtWidgets.QFrame):
    """A non-modal banner at the top of the window (errors never block or close the app)."""

    STYLES = {"error": "#8b1a1a", "warning": "#6b4e00", "info": "#1f4e79"}

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        close = QtWidgets.QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self.level = ""
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        self.label.setText(text)
        self.setStyleSheet(f"MessageBar {{ background:{self.STYLES.get(level, '#333')}; }} QLabel {{ color:white; }}")
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


RADIUS_TIP = ("Calibrated 90 % radius: the true point lies within this distance of the model's point with 90 % "
              "probability (0 for a point placed or moved by hand)")
RAW_TIP = ("The model's raw uncertainty in pixels: not calibrated (run the model again with a calibrated bundle "
           "for a 90 % radius)")


def uncertainty_cell(radius90_px: float | None, raw_px: float | None, spacing_mm, manual: bool) -> tuple[str, str]:
    """Text and tooltip of a landmark's uncertainty: the calibrated 90 % radius (mm when the image is calibrated),
    else the model's raw value marked uncalibrated, else nothing."""
    if manual:  # the model's uncertainty no longer describes a point a person placed
        return "by hand", "Placed or moved by hand: taken as exact in the ± intervals"
    if radius90_px is not None:
        mm = radius_mm(radius90_px, spacing_mm)
        return (f"{mm:.1f} mm" if mm is not None else f"{radius90_px:.1f} px"), RADIUS_TIP
    if isinstance(raw_px, (int, float)):
        return f"±{raw_px:.1f} px (uncalibrated)", RAW_TIP
    return "", ""


class LandmarkList(QtWidgets.QTreeWidget):
    """The 18 landmarks with their source (model / manual / missing) and uncertainty (the calibrated 90 %
    radius in mm when the case has one, else the model's raw value marked uncalibrated)."""

    landmarkSelected = QtCore.Signal(str, str)

    def __init__(self, doc: Document, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setHeaderLabels(["Landmark", "Source", "90 % radius"])
        self.headerItem().setToolTip(2, RADIUS_TIP)
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self._items: dict[tuple[str, str], QtWidgets.QTreeWidgetItem] = {}
        for side in SIDES:
            top = QtWidgets.QTreeWidgetItem([f"{side.capitalize()} leg"])
            top.setForeground(0, QtGui.QColor(SIDE_COLORS[side]))
            top.setFlags(top.flags() & ~QtCore.Qt.ItemFlag.ItemIsSelectable)
            self.addTopLevelItem(top)
            for lm in LANDMARK_IDS:
                it = QtWidgets.QTreeWidgetItem([LANDMARK_LABELS[lm], "", ""])
                it.setData(0, QtCore.Qt.ItemDataRole.UserRole, (side, lm))
                top.addChild(it)
                self._items[(side, lm)] = it
            top.setExpanded(True)
        self.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.itemSelectionChanged.connect(self._on_selection)
        doc.loaded.connect(self.refresh)
        doc.caseChanged.connect(self.refresh)
        doc.proposalsChanged.connect(self.refresh)
        self._blocking = False

    def refresh(self) -> None:
        for (side, lm), it in self._items.items():
            if self.doc.case is None:
                it.setText(1, "")
                it.setText(2, "")
                continue
            p = self.doc.point(side, lm)
            prov = self.doc.provenance(side, lm)
            src = "missing" if p is None else str(prov.get("source") or "?").replace("_", " ")
            prop = self.doc.proposal(side, lm)
            if prop is not None:
                it.setText(1, f"{src} · model proposes a change")
                it.setToolTip(1, "A: accept the model's position, D: reject it")
            else:
                it.setText(1, src)
                it.setToolTip(1, "")
            unc = prov.get("uncertainty_px") if p is not None else None
            r90 = self.doc.radius90_px(side, lm) if p is not None else None
            text, tip = uncertainty_cell(r90, unc, self.doc.pixel_spacing_mm, src == "manual")
            it.setText(2, text)
            it.setToolTip(2, tip)
            color = {"missing": "#ff6060", "manual": "#ffb020"}.get(src)
            it.setForeground(1, QtGui.QBrush(QtGui.QColor(color)) if color else QtGui.QBrush())

    def select(self, side: str, lm: str) -> None:
        self._blocking = True
        try:
            self.setCurrentItem(self._items[(side, lm)])
        finally:
            self._blocking = False

    def _on_selection(self) -> None:
        if self._blocking:
            return
        items = self.selectedItems()
        if items:
            data = items[0].data(0, QtCore.Qt.ItemDataRole.UserRole)
            if data:
                self.landmarkSelected.emit(data[0], data[1])


class OverlayToggles(QtWidgets.QWidget):
    """A grid of check boxes: one row per overlay kind, one column per leg."""

    toggled = QtCore.Signal(str, str, bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        self.boxes: dict[tuple[str, str], QtWidgets.QCheckBox] = {}
        for c, side in enumerate(SIDES):
            head = QtWidgets.QLabel(f"<b style='color:{SIDE_COLORS[side]}'>{side.capitalize()}</b>")
            grid.addWidget(head, 0, c + 1, QtCore.Qt.AlignmentFlag.AlignHCenter)
        for r, (kind, label) in enumerate(OVERLAY_KINDS.items(), start=1):
            grid.addWidget(QtWidgets.QLabel(label), r, 0)
            for c, side in enumerate(SIDES):
                cb = QtWidgets.QCheckBox()
                cb.setChecked(True)
                cb.toggled.connect(lambda on, k=kind, s=side: self.toggled.emit(s, k, on))
                grid.addWidget(cb, r, c + 1, QtCore.Qt.AlignmentFlag.AlignHCenter)
                self.boxes[(side, kind)] = cb
        grid.setRowStretch(len(OVERLAY_KINDS) + 1, 1)


class DisplayControls(QtWidgets.QWidget):
    """Window presets, centre/width, reset and invert.

    The preset box follows the window: it names the preset the window is, or says "Custom" after a
    right-drag or an edit.
    """

    presetChosen = QtCore.Signal(int)
    windowEdited = QtCore.Signal(float, float)
    invertToggled = QtCore.Signal(bool)
    resetRequested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        form = QtWidgets.QFormLayout(self)
        self._presets: list[DisplayPreset] = []
        self.presets = QtWidgets.QComboBox()
        reset = QtWidgets.QPushButton("Reset (W)")
        reset.setToolTip("Back to the image's default window (DICOM VOI)")
        reset.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        reset.clicked.connect(self.resetRequested.emit)
        self.reset_button = reset
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.presets, 1)
        row.addWidget(reset)
        form.addRow("Preset", row)
        self.center = QtWidgets.QDoubleSpinBox()
        self.width = QtWidgets.QDoubleSpinBox()
        for sb in (self.center, self.width):
            sb.setRange(-1e9, 1e9)
            sb.setDecimals(3)
            sb.setKeyboardTracking(False)
        self.width.setMinimum(1e-6)
        form.addRow("Level (centre)", self.center)
        form.addRow("Window (width)", self.width)
        self.invert = QtWidgets.QCheckBox("Invert (I)")
        form.addRow(self.invert)
        hint = QtWidgets.QLabel("Right-drag on the image: horizontal = window, vertical = level.")
        hint.setWordWrap(True)
        form.addRow(hint)
        self.presets.activated.connect(self._on_activated)
        self.center.valueChanged.connect(lambda _v: self.windowEdited.emit(self.center.value(), self.width.value()))
        self.width.valueChanged.connect(lambda _v: self.windowEdited.emit(self.center.value(), self.width.value()))
        self.invert.toggled.connect(self.invertToggled.emit)

    def set_presets(self, presets: list[DisplayPreset]) -> None:
        """The image's presets, plus "Custom" (chosen by the box itself when the window is none of them)."""
        self._presets = list(presets)
        self.presets.blockSignals(True)
        self.presets.clear()
        self.presets.addItems([pr.name for pr in self._presets] + [CUSTOM_WINDOW])
        self.presets.blockSignals(False)

    def _on_activated(self, index: int) -> None:
        if 0 <= index < len(self._presets):
            self.presetChosen.emit(index)
        else:  # "Custom" is a state, not a choice: show what the window is
            self.show_window(self.center.value(), self.width.value())

    def show_window(self, center: float, width: float) -> None:
        for sb, v in ((self.center, center), (self.width, width)):
            sb.blockSignals(True)
            sb.setValue(v)
            sb.blockSignals(False)
        i = matching_preset(self._presets, center, width)
        self.presets.blockSignals(True)
        self.presets.setCurrentIndex(len(self._presets) if i is None else i)
        self.presets.blockSignals(False)


def shortcuts_dialog(parent: QtWidgets.QWidget) -> QtWidgets.QDialog:
    """The help dialog listing every keyboard shortcut."""
    dlg = QtWidgets.QDialog(parent)
    dlg.setWindowTitle("Keyboard shortcuts")
    layout = QtWidgets.QVBoxLayout(dlg)
    table = QtWidgets.QTableWidget(len(SHORTCUTS), 2)
    table.setHorizontalHeaderLabels(["Keys", "Action"])
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    for r, (k, a) in enumerate(SHORTCUTS):
        table.setItem(r, 0, QtWidgets.QTableWidgetItem(k))
        table.setItem(r, 1, QtWidgets.QTableWidgetItem(a))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    layout.addWidget(table)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dlg.reject)
    layout.addWidget(buttons)
    dlg.resize(560, 560)
    return dlg
