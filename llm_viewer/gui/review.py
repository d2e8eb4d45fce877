"""Display, calibration, approval and export actions of the main window (a mixin of ``MainWindow``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from ..core.approval import check_approval
from .calibration import CalibrationTool
from .worker import Worker


class ReviewMixin:
    """Methods of :class:`~llm_viewer.gui.mainwindow.MainWindow` that act on the open case as a whole."""

    # ================================================================== display / calibration
    def set_inverted(self, on: bool) -> None:
        self.canvas.set_inverted(on)
        for w in (self.act_invert, self.display.invert):
            w.blockSignals(True)
            w.setChecked(on)
            w.blockSignals(False)
        self.settings.setValue("display/invert", bool(on))

    def _apply_preset(self, index: int) -> None:
        if 0 <= index < len(self.doc.presets):
            pr = self.doc.presets[index]
            self.canvas.set_window(pr.center, pr.width)

    def start_calibration(self, mode: str) -> None:
        if not self.doc.is_open or self._calibration is not None:
            return
        tool = CalibrationTool(self.doc, self.canvas, mode)
        dock = QtWidgets.QDockWidget("Calibration", self)
        dock.setObjectName("calibration")
        dock.setWidget(tool)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self._calibration = tool

        def done(msg: str) -> None:
            self._calibration = None
            self.status_label.setText(msg)
            self.canvas.set_spacing(self.doc.pixel_spacing_mm)
            dock.deleteLater()

        tool.finished.connect(done)

    def use_dicom_spacing(self) -> None:
        if not self.doc.is_open:
            return
        img = self.doc.image
        self.doc.set_calibration(img.pixel_spacing_mm, img.spacing_source)
        self.canvas.set_spacing(self.doc.pixel_spacing_mm)

    # ================================================================== review / export
    def approve(self, reviewer: str | None = None) -> bool:
        """Approve the case with the reviewer's name and the time (asks for the name if unknown)."""
        if not self.doc.is_open:
            return False
        if not reviewer:
            reviewer, ok = QtWidgets.QInputDialog.getText(self, "Approve case", "Reviewer name:",
                                                          text=str(self.settings.value("reviewer", "") or ""))
            if not ok or not reviewer.strip():
                return False
        self.doc.approve(reviewer)
        self.settings.setValue("reviewer", reviewer.strip())
        self.status_label.setText(f"approved by {reviewer.strip()}")
        return True

    def export_to_store(self, store_path: str | Path | None = None, reviewer: str | None = None) -> Worker | None:
        """Export the corrected case, de-identified and with provenance, into a training-set store (worker)."""
        from .export import export_case_to_store

        if not self.doc.is_open:
            return None
        check = check_approval(self.doc.case)
        if check.state == "stale":  # a training set must never take unapproved points for approved ones
            self.show_message("error", f"Not exported: {check.message}. Approve the case again (Ctrl+Return) "
                                       "after checking it, then export.")
            return None
        if check.state == "unverifiable":
            self.show_message("warning", f"Exporting, but {check.message}.")
        if store_path is None:
            store_path = QtWidgets.QFileDialog.getExistingDirectory(
                self, "Training-set store", str(self.settings.value("store/path", "")))
            if not store_path:
                return None
        reviewer = reviewer or self.doc.reviewer or str(self.settings.value("reviewer", "") or "") or None
        self.settings.setValue("store/path", str(store_path))
        case_copy = type(self.doc.case)(self.doc.case.to_dict())
        worker = Worker(export_case_to_store, case_copy, self.doc.image_path, Path(store_path), reviewer)
        worker.signals.result.connect(self._on_exported)
        worker.signals.error.connect(lambda msg: self.show_message("error", f"Export failed: {msg}"))
        worker.signals.progress.connect(self._progress)
        worker.signals.finished.connect(lambda: self._busy(False))
        return self.pool.start(worker)

    def export_report(self, out_path: str | Path | None = None) -> Worker | None:
        """Write the case's PDF report (the same renderer as ``llm-viewer report``) in a worker thread."""
        if not self.doc.is_open or self.doc.case_path is None:
            return None
        check = check_approval(self.doc.case)
        if check.state == "stale":  # a report must never show an approval for values nobody approved
            self.show_message("error", f"Report not written: {check.message}. Approve the case again "
                                       "(Ctrl+Return) or change it, then export.")
            return None
        if check.state == "unverifiable":  # written, with "Approval not verifiable" in its header
            self.show_message("warning", f"The report says so in its header: {check.message}.")
        if out_path is None:
            start = Path(str(self.settings.value("report/dir", "") or self.doc.case_path.parent))
            name = self.doc.case_path.name.replace(".case.json", "") + ".pdf"
            out_path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export report", str(start / name),
                                                                "PDF (*.pdf)")
            if not out_path:
                return None
        out_path = Path(out_path)
        self.settings.setValue("report/dir", str(out_path.parent))
        self.doc.autosave()  # the report reads the saved case: it shows exactly what is on disk
        options = {"institution": str(self.settings.value("report/institution", "") or ""),
                   "logo_path": str(self.settings.value("report/logo", "") or "") or None,
                   "paper": str(self.settings.value("report/paper", "a4") or "a4")}
        worker = Worker(write_case_report, self.doc.case_path, out_path, options)
        worker.signals.result.connect(self._on_report)
        worker.signals.error.connect(lambda msg: self.show_message("error", f"Report failed: {msg}"))
        worker.signals.finished.connect(lambda: self._busy(False))
        return self.pool.start(worker)

    def _on_report(self, info: Any) -> None:
        self.status_label.setText(f"report written to {info}")
        self.reportWritten.emit(str(info))

    def _on_exported(self, info: Any) -> None:
        self.status_label.setText(f"exported to the training set: {info}")
        self.exported.emit(info)


def write_case_report(case_path: Path, out_path: Path, options: dict[str, Any], *, progress=None,
                      cancel=None) -> Path:
    """Worker body: build and render the PDF report of a saved case (no Qt)."""
    if progress is not None:
        progress(0.1, "writing the report")
    from ..report.model import build_case_report
    from ..report.pdf import ReportOptions, render_case_pdf

    report = build_case_report(case_path)
    render_case_pdf(report, out_path, ReportOptions(**options))
    return out_path
