"""Measurements panel: both legs side by side, normal ranges, out-of-range highlights, calibration state."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.landmarks import LANDMARK_LABELS
from ..core.metrics import METRIC_KEYS, METRIC_LABELS, normal_range_text, out_of_range
from ..core.sensitivity import most_sensitive_points
from .document import Document
from .state import CaseMeasurement

ROW_KEYS: tuple[str, ...] = METRIC_KEYS + ("lld_mm",)
SIDE_COLUMNS = {"right": 1, "left": 2}
SENSITIVITY_DELAY_MS = 150
"""The "moves most with" line is recomputed this long after the last change (a Jacobian costs a few ms: never
on every frame of a drag)."""
LIVE_REFRESH_MS = 45
"""While a point is dragged the table follows at most this often (rewriting it costs a few ms of every drag
step); the change that ends the drag (or any other change) is shown at once."""
_SHORT = {"hka_deg": "HKA", "mldfa_deg": "mLDFA", "mmpta_deg": "mMPTA"}
OUT_OF_RANGE_BG = QtGui.QColor("#7a2e00")
UNMEASURED_FG = QtGui.QColor("#b0b0b0")

_SPACING_TEXT = {
    "PixelSpacing": "DICOM PixelSpacing (at the patient)",
    "ImagerPixelSpacing": "DICOM ImagerPixelSpacing (at the detector: includes magnification)",
    "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor": "DICOM detector spacing ÷ magnification",
    "manual-ruler": "manual: ruler of known length",
    "manual-ball": "manual: calibration ball",
    "manual-entry": "manual: entered spacing",
    "synthetic": "synthetic image (exact)",
    "case-file": "from the case file",
}


def unit_of(key: str) -> str:
    if key.endswith("_deg"):
        return "°"
    if key.endswith("_mm"):
        return "mm"
    if key.endswith("_pct"):
        return "%"
    return ""


def format_value(key: str, value: Any) -> str:
    """Display text of a metric value (1 decimal for numbers, as-is for classes)."""
    if value is None:
        return "—"
    if key == "cpak_type":
        return f"type {int(value)}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def normal_text(key: str) -> str:
    return normal_range_text(key, " – ")


class MeasurementsPanel(QtWidgets.QWidget):
    """Table of every metric of ALIGNMENT.md for the right and left leg, fed by the document."""

    def __init__(self, doc: Document, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.summary = QtWidgets.QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout.addWidget(self.summary)
        self.warning = QtWidgets.QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("background:#6b4e00; color:white; padding:4px; border-radius:3px;")
        self.warning.setVisible(False)
        layout.addWidget(self.warning)
        self.table = QtWidgets.QTableWidget(len(ROW_KEYS), 4)
        self.table.setHorizontalHeaderLabels(["Metric", "Right", "Left", "Normal"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.table.verticalHeader().setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        for c in (1, 2):
            hh.setSectionResizeMode(c, QtWidgets.QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(3, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self._items: dict[tuple[str, int], QtWidgets.QTableWidgetItem] = {}
        self._raw: dict[tuple[str, int], Any] = {}
        self._shown: dict[tuple[str, int], tuple[str, bool]] = {}
        for r, key in enumerate(ROW_KEYS):
            unit = unit_of(key)
            label = QtWidgets.QTableWidgetItem(f"{METRIC_LABELS.get(key, key)}" + (f" ({unit})" if unit else ""))
            label.setToolTip(key)
            self.table.setItem(r, 0, label)
            for c in (1, 2):
                it = QtWidgets.QTableWidgetItem("")
                it.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, it)
                self._items[(key, c)] = it
            nt = QtWidgets.QTableWidgetItem(normal_text(key))
            nt.setForeground(QtGui.QColor("#9a9a9a"))
            self.table.setItem(r, 3, nt)
        self.table.setSpan(len(ROW_KEYS) - 1, 1, 1, 2)
        layout.addWidget(self.table, 1)
        self.errors = QtWidgets.QLabel()
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet("color:#ff8080;")
        layout.addWidget(self.errors)
        self.sensitivity = QtWidgets.QLabel()
        self.sensitivity.setWordWrap(True)
        self.sensitivity.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.sensitivity.setToolTip("The landmark whose move changes each angle most, and by how much for a "
                                    "1 mm move in the worst direction: check these points first.")
        layout.addWidget(self.sensitivity)
        self._sens_timer = QtCore.QTimer(self)
        self._sens_timer.setSingleShot(True)
        self._sens_timer.setInterval(SENSITIVITY_DELAY_MS)
        self._sens_timer.timeout.connect(self._update_sensitivity)
        self._pending: CaseMeasurement | None = None
        self.most_sensitive: dict[str, dict] = {}
        """``{side: {metric: core.sensitivity.MostSensitive}}`` shown in the line under the table."""
        self.calibration = QtWidgets.QLabel()
        self.calibration.setWordWrap(True)
        layout.addWidget(self.calibration)
        self._row_of = {k: i for i, k in enumerate(ROW_KEYS)}
        self._live_timer = QtCore.QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_REFRESH_MS)
        self._live_timer.timeout.connect(self._show_live)
        doc.measurementChanged.connect(self._on_measurement)
        doc.loaded.connect(lambda: self.update_measurement(doc.measurement))
        self.update_measurement(None)

    def value(self, side: str, key: str) -> Any:
        """The unrounded value shown for ``side`` / ``key`` (``None`` when hidden or unavailable)."""
        col = 1 if key == "lld_mm" else SIDE_COLUMNS[side]
        return self._raw.get((key, col))

    def text(self, side: str, key: str) -> str:
        col = 1 if key == "lld_mm" else SIDE_COLUMNS[side]
        return self._items[(key, col)].text()

    def _on_measurement(self, m: CaseMeasurement | None) -> None:
        """A drag step is shown with the next live refresh (at most one per LIVE_REFRESH_MS); anything
        else, the end of the drag included, at once (and a pending live refresh is dropped)."""
        if self.doc.previewing:
            if not self._live_timer.isActive():
                self._live_timer.start()
            return
        self._live_timer.stop()
        self.update_measurement(m)

    def _show_live(self) -> None:
        self.update_measurement(self.doc.measurement)

    @property
    def refresh_pending(self) -> bool:
        """Whether the table is behind a drag in progress (it catches up within LIVE_REFRESH_MS)."""
        return self._live_timer.isActive()

    def update_measurement(self, m: CaseMeasurement | None) -> None:
        """Refresh every cell (a few dozen setText calls: well under a millisecond).

        A metric core could not compute shows core's reason (``needs diaphysis_center``) in its cell.
        """
        calibrated = m is not None and m.calibrated
        errors = []
        for side, col in SIDE_COLUMNS.items():
            leg = m.legs.get(side) if m else None
            metrics = leg.metrics.as_dict() if leg is not None and leg.metrics is not None else {}
            if leg is not None and leg.error:
                errors.append(leg.error)
            if leg is not None and leg.missing:
                names = ", ".join(lm.replace("_", " ") for lm in leg.missing)
                errors.append(f"{side.capitalize()} leg: not found: {names} (select it and click to place it)")
            if leg is not None:
                errors += [f"Check: {msg}" for msg in leg.implausible]
            for key in METRIC_KEYS:
                v = metrics.get(key)
                hidden = key.endswith("_mm") and not calibrated
                reason = leg.metrics.reason(key) if leg is not None and leg.metrics is not None else None
                if hidden and leg is not None:
                    placeholder = "hidden"
                elif v is None and reason is not None:
                    placeholder = reason  # core's words, e.g. "needs diaphysis_center"
                else:
                    placeholder = None
                iv = leg.intervals.get(key) if leg is not None and v is not None and not hidden else None
                self._set(key, col, None if hidden else v, placeholder,
                          f"90 % interval: {iv.text()} (calibrated landmark radii)" if iv is not None else "")
        lld = m.lld_mm if m else None
        if m is not None and not calibrated:
            self._set("lld_mm", 1, None, "hidden")
        else:
            self._set("lld_mm", 1, lld, m.study.reason() if m is not None and m.legs else None)
        self.errors.setText("\n".join(errors))
        self.errors.setVisible(bool(errors))
        self._pending = m
        self._sens_timer.start()
        if m is None:
            self.summary.setText("<i>No case open</i>")
            self.warning.setVisible(False)
            self.calibration.setText("")
            return
        parts = []
        for side in ("right", "left"):
            leg = m.legs.get(side)
            if leg is None or leg.metrics is None:
                parts.append(f"<b>{side.capitalize()}</b>: —")
                continue
            md = leg.metrics
            iv = leg.intervals.get("hka_deg")
            hka = (f"HKA {iv.text()}" if iv is not None and md.hka_deg is not None else
                   f"HKA {md.hka_deg:.1f}°" if md.hka_deg is not None else f"HKA {md.reason('hka_deg')}")
            cpak = f"CPAK type {md.cpak_type}" if md.cpak_type is not None else f"CPAK {md.reason('cpak_type')}"
            if md.cpak_type is not None and leg.borderline.get("cpak_type"):
                cpak += " (borderline)"
            head = f"{md.alignment}, " if md.alignment is not None else ""
            if md.alignment is not None and leg.borderline.get("alignment"):
                head = f"{md.alignment} (borderline), "
            parts.append(f"<b>{side.capitalize()}</b>: {head}{hka}, {cpak}")
        if lld is not None and calibrated:
            parts.append(f"<b>LLD</b> (R − L): {lld:.1f} mm")
        self.summary.setText("<br>".join(parts))
        if calibrated:
            row, col = m.pixel_spacing_mm  # type: ignore[misc]
            src = _SPACING_TEXT.get(m.spacing_source, m.spacing_source)
            self.calibration.setText(f"Calibration: {src}; {row:.4g} × {col:.4g} mm/pixel (row × column)")
            self.warning.setVisible(False)
        else:
            self.calibration.setText("Calibration: none (pixel size unknown)")
            self.warning.setText("⚠ Uncalibrated image: angles are valid, but lengths, MAD and LLD are hidden. "
                                 "Calibrate with Tools ▸ Calibrate (ruler or ball).")
            self.warning.setVisible(True)

    def _update_sensitivity(self) -> None:
        """The "moves most with" line: for HKA, mLDFA and mMPTA of each leg, the point that moves it most."""
        m = self._pending
        self.most_sensitive = {}
        parts = []
        for side in ("right", "left"):
            leg = m.legs.get(side) if m is not None else None
            if leg is None or not leg.landmarks:
                continue
            try:
                top = most_sensitive_points({k: (p.x, p.y) for k, p in leg.landmarks.items()}, side,
                                            m.pixel_spacing_mm)
            except (ValueError, ArithmeticError):
                continue
            self.most_sensitive[side] = top
            unit = "°/px" if m.pixel_spacing_mm is None else "°/mm"
            items = [f"{_SHORT[k]}: {LANDMARK_LABELS[v.landmark].lower()} {v.per_mm:.2f}{unit}"
                     for k, v in top.items()]
            if items:
                parts.append(f"<b>{side.capitalize()}</b> — " + ", ".join(items))
        self.sensitivity.setText(("Moves most with — " + "<br>".join(parts)) if parts else "")
        self.sensitivity.setVisible(bool(parts))

    def _set(self, key: str, col: int, value: Any, placeholder: str | None, interval_tip: str = "") -> None:
        it = self._items[(key, col)]
        self._raw[(key, col)] = value
        text = placeholder if (value is None and placeholder) else format_value(key, value)
        bad = isinstance(value, float) and out_of_range(key, value)
        if self._shown.get((key, col)) == (text, bad, interval_tip):  # nothing visible changed: no repaint
            return
        self._shown[(key, col)] = (text, bad, interval_tip)
        it.setText(text)
        it.setBackground(QtGui.QBrush(OUT_OF_RANGE_BG) if bad else QtGui.QBrush())
        unmeasured = value is None and placeholder is not None and placeholder != "hidden"
        it.setForeground(QtGui.QBrush(UNMEASURED_FG) if unmeasured else QtGui.QBrush())
        tip = "outside the typical normal range" if bad else (f"not computed: {text}" if unmeasured else "")
        it.setToolTip("; ".join(t for t in (tip, interval_tip) if t))
