"""PACS in the viewer: File > Open from PACS…, File > PACS settings…, Case > Send to PACS.

Every network call (C-ECHO, C-FIND, C-GET/C-MOVE, C-STORE) runs in a :class:`~llm_viewer.gui.worker.Worker`,
never on the GUI thread; failures come back as one-line messages. The node's settings are the file the CLI
uses (:func:`llm_viewer.pacs.pacs_settings_file`). Retrieved studies go to ``<app data>/pacs/<Study UID>/``
and open as a worklist; Send to PACS writes the case's SR, PDF and Secondary Capture
(:func:`llm_viewer.report.dicom_results.write_dicom_results`) into ``<app data>/pacs-outbox/<case>/`` and
sends them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from ..pacs import (
    PacsError,
    PacsNode,
    PacsSettingsError,
    StudyRecord,
    TlsFiles,
    echo,
    find_studies,
    load_node,
    pacs_settings_file,
    retrieve_study,
    save_node,
    send_files,
)
from .worker import Worker

COLUMNS = (("Patient ID", "patient_id"), ("Name", "patient_name"), ("Date", "study_date"),
           ("Modalities", "modalities"), ("Instances", "n_instances"), ("Accession", "accession_number"),
           ("Description", "study_description"))


class PacsUserError(ValueError):
    """A PACS failure as the worker's ordinary (shown, never traced) error."""


def _pacs_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except PacsError as exc:
        raise PacsUserError(str(exc)) from None


def echo_job(node: PacsNode, *, progress: Any = None, cancel: Any = None) -> float:
    """Worker body: C-ECHO; returns the round trip in seconds."""
    return _pacs_call(echo, node)


def find_job(node: PacsNode, query: dict[str, str], *, progress: Any = None, cancel: Any = None) -> list[StudyRecord]:
    """Worker body: C-FIND of studies."""
    if progress is not None:
        progress(0.2, f"searching {node.label}")
    return _pacs_call(find_studies, node, **query)


def retrieve_job(node: PacsNode, study_uid: str, dest_dir: Path, *, progress: Any = None, cancel: Any = None) -> Any:
    """Worker body: retrieve one study (the node's method) into ``dest_dir``."""
    return _pacs_call(retrieve_study, node, study_uid, dest_dir, progress=progress, cancel=cancel)


def send_case_job(case_path: Path, out_dir: Path, node: PacsNode, reviewer: str | None, *, progress: Any = None,
                  cancel: Any = None) -> dict[str, Any]:
    """Worker body: write the case's SR, PDF and Secondary Capture, then C-STORE them to the node.

    Returns
    -------
    dict
        ``{"results": DicomResults, "sent": SendResult}``.
    """
    from ..report.dicom_results import write_dicom_results

    if progress is not None:
        progress(0.05, "writing the SR, PDF and Secondary Capture")
    results = write_dicom_results(case_path, out_dir, reviewer=reviewer)
    paths = [p for p in (results.sr_path, results.pdf_path, results.sc_path) if p is not None]

    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(0.3 + 0.7 * fraction, message)

    sent = _pacs_call(send_files, node, paths, progress=step, cancel=cancel)
    return {"results": results, "sent": sent}


def _browse_row(parent: QtWidgets.QWidget, edit: QtWidgets.QLineEdit, title: str) -> QtWidgets.QWidget:
    row = QtWidgets.QWidget(parent)
    lay = QtWidgets.QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    button = QtWidgets.QPushButton("Browse…", row)

    def pick() -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, title, edit.text(), "PEM (*.pem *.crt *.key);;All (*)")
        if path:
            edit.setText(path)

    button.clicked.connect(pick)
    lay.addWidget(button)
    return row


class PacsSettingsDialog(QtWidgets.QDialog):
    """The node's AE title, host, port, calling AE, timeout, retrieve method, TLS files; Test connection.

    Signals
    -------
    tested(bool, str)
        The C-ECHO of Test connection finished: success and the message shown.
    """

    tested = QtCore.Signal(bool, str)

    def __init__(self, controller: PacsController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("PACS settings")
        form = QtWidgets.QFormLayout(self)
        self.ae_title = QtWidgets.QLineEdit()
        self.host = QtWidgets.QLineEdit()
        self.port = QtWidgets.QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.calling = QtWidgets.QLineEdit("LLMVIEWER")
        self.timeout = QtWidgets.QDoubleSpinBox()
        self.timeout.setRange(1.0, 600.0)
        self.timeout.setValue(30.0)
        self.timeout.setSuffix(" s")
        self.method = QtWidgets.QComboBox()
        self.method.addItems(["C-GET", "C-MOVE"])
        self.move_ae = QtWidgets.QLineEdit()
        self.move_port = QtWidgets.QSpinBox()
        self.move_port.setRange(0, 65535)
        self.move_port.setSpecialValueText("(none)")
        self.tls = QtWidgets.QCheckBox("Use TLS")
        self.ca, self.cert, self.key = QtWidgets.QLineEdit(), QtWidgets.QLineEdit(), QtWidgets.QLineEdit()
        for label, widget in (("Node AE title", self.ae_title), ("Host", self.host), ("Port", self.port),
                              ("Calling AE title (ours)", self.calling), ("Timeout", self.timeout),
                              ("Retrieve with", self.method), ("C-MOVE destination AE", self.move_ae),
                              ("C-MOVE local port", self.move_port), ("", self.tls),
                              ("TLS CA file", _browse_row(self, self.ca, "CA certificates")),
                              ("TLS certificate", _browse_row(self, self.cert, "Our certificate")),
                              ("TLS key", _browse_row(self, self.key, "Our private key"))):
            form.addRow(label, widget)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        self.test_button = buttons.addButton("Test connection", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.test_button.clicked.connect(self.test_connection)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        node, problem = controller.stored_node()
        if node is not None:
            self.set_node(node)
        if problem:
            self.status.setText(problem)

    def set_node(self, node: PacsNode) -> None:
        """Show ``node``'s settings in the fields."""
        self.ae_title.setText(node.ae_title)
        self.host.setText(node.host)
        self.port.setValue(node.port)
        self.calling.setText(node.calling_ae_title)
        self.timeout.setValue(node.timeout_s)
        self.method.setCurrentText(node.retrieve_method)
        self.move_ae.setText(node.move_ae_title or "")
        self.move_port.setValue(node.move_port or 0)
        self.tls.setChecked(node.tls.enabled)
        self.ca.setText(node.tls.ca_path or "")
        self.cert.setText(node.tls.cert_path or "")
        self.key.setText(node.tls.key_path or "")

    def node(self) -> PacsNode:
        """The node the fields describe (raises :class:`PacsSettingsError` with the reason)."""
        tls = TlsFiles(enabled=self.tls.isChecked(), ca_path=self.ca.text().strip() or None,
                       cert_path=self.cert.text().strip() or None, key_path=self.key.text().strip() or None)
        return PacsNode(self.ae_title.text(), self.host.text(), self.port.value(), calling_ae_title=self.calling.text(),
                        tls=tls, timeout_s=self.timeout.value(), move_ae_title=self.move_ae.text().strip() or None,
                        move_port=self.move_port.value() or None, retrieve_method=self.method.currentText())

    def test_connection(self) -> Worker | None:
        """C-ECHO the node of the fields in a worker."""
        try:
            node = self.node()
        except PacsSettingsError as exc:
            self._tested(False, str(exc))
            return None
        self.status.setText(f"C-ECHO {node.label}…")
        self.test_button.setEnabled(False)
        worker = Worker(echo_job, node)
        worker.signals.result.connect(lambda rtt: self._tested(True, f"C-ECHO ok: {node.label} answered in "
                                                                     f"{rtt * 1000:.0f} ms"))
        worker.signals.error.connect(lambda msg: self._tested(False, msg))
        worker.signals.finished.connect(lambda: self.test_button.setEnabled(True))
        return self.controller.win.pool.start(worker)

    def _tested(self, ok: bool, message: str) -> None:
        self.status.setText(message)
        self.tested.emit(ok, message)

    def save(self) -> None:
        """Validate and store the settings (the dialog stays open with the reason when they are invalid)."""
        try:
            save_node(self.node(), self.controller.settings_path())
        except PacsSettingsError as exc:
            self.status.setText(str(exc))
            return
        self.accept()


class OpenFromPacsDialog(QtWidgets.QDialog):
    """Query fields, Search (C-FIND), the studies found, Retrieve (opens the study as a worklist).

    Signals
    -------
    searched(list)
        The studies of the last search (``list[StudyRecord]``).
    retrieved(object)
        The :class:`~llm_viewer.pacs.RetrieveResult` of a retrieval (its folder is then opened).
    failed(str)
        A search or retrieval failed (the message is shown in the dialog).
    """

    searched = QtCore.Signal(list)
    retrieved = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, controller: PacsController, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.studies: list[StudyRecord] = []
        self.worker: Worker | None = None
        self.setWindowTitle("Open from PACS")
        self.resize(900, 500)
        lay = QtWidgets.QVBoxLayout(self)
        grid = QtWidgets.QGridLayout()
        self.fields: dict[str, QtWidgets.QLineEdit] = {}
        for i, (label, key, hint) in enumerate((("Patient ID", "patient_id", "wildcards * ?"),
                                                ("Patient name", "patient_name", "DOE^J*"),
                                                ("Study date", "study_date", "YYYYMMDD or YYYYMMDD-YYYYMMDD"),
                                                ("Modality", "modality", "DX, CR"),
                                                ("Accession", "accession", ""))):
            edit = QtWidgets.QLineEdit()
            edit.setPlaceholderText(hint)
            edit.returnPressed.connect(self.search)
            self.fields[key] = edit
            grid.addWidget(QtWidgets.QLabel(label), i // 3, 2 * (i % 3))
            grid.addWidget(edit, i // 3, 2 * (i % 3) + 1)
        lay.addLayout(grid)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _i: self.retrieve())
        lay.addWidget(self.table, 1)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        lay.addWidget(self.progress)
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        row = QtWidgets.QHBoxLayout()
        self.search_button = QtWidgets.QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.retrieve_button = QtWidgets.QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        settings = QtWidgets.QPushButton("Settings…")
        settings.clicked.connect(lambda: self.controller.settings_dialog(self))
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        for b in (self.search_button, self.retrieve_button, self.cancel_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(settings)
        row.addWidget(close)
        lay.addLayout(row)
        self._set_busy(False)

    def query(self) -> dict[str, str]:
        return {k: e.text().strip() for k, e in self.fields.items() if e.text().strip()}

    def _set_busy(self, busy: bool) -> None:
        self.search_button.setEnabled(not busy)
        self.retrieve_button.setEnabled(not busy and bool(self.studies))
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)

    def _start(self, worker: Worker) -> Worker:
        self.worker = worker
        self._set_busy(True)
        worker.signals.progress.connect(lambda f, m: (self.progress.setValue(int(f * 1000)), self.status.setText(m)))
        worker.signals.error.connect(self._failed)
        worker.signals.cancelled.connect(lambda: self.status.setText("cancelled"))
        worker.signals.finished.connect(lambda: self._set_busy(False))
        return self.controller.win.pool.start(worker)

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.failed.emit(message)

    def search(self) -> Worker | None:
        """C-FIND with the query fields, in a worker; fills the table."""
        node = self.controller.node_or_ask(self)
        if node is None:
            return None
        self.status.setText(f"searching {node.label}…")
        worker = Worker(find_job, node, self.query())
        worker.signals.result.connect(self._show)
        return self._start(worker)

    def _show(self, studies: list[StudyRecord]) -> None:
        self.studies = list(studies)
        self.table.setRowCount(len(self.studies))
        for r, study in enumerate(self.studies):
            d = study.as_dict()
            for c, (_label, key) in enumerate(COLUMNS):
                value = d[key]
                text = "\\".join(value) if isinstance(value, list) else ("" if value is None else str(value))
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(study.study_instance_uid)
                self.table.setItem(r, c, item)
        if self.studies:
            self.table.selectRow(0)
        self.table.resizeColumnsToContents()
        self.status.setText(f"{len(self.studies)} stud{'y' if len(self.studies) == 1 else 'ies'} found")
        self.searched.emit(self.studies)

    def selected(self) -> StudyRecord | None:
        rows = self.table.selectionModel().selectedRows()
        row = rows[0].row() if rows else (0 if len(self.studies) == 1 else -1)
        return self.studies[row] if 0 <= row < len(self.studies) else None

    def retrieve(self) -> Worker | None:
        """Retrieve the selected study into the app-data folder, then open it as a worklist."""
        study = self.selected()
        node = self.controller.node_or_ask(self)
        if study is None or node is None:
            if study is None:
                self.status.setText("select a study first")
            return None
        dest = self.controller.retrieve_folder(study.study_instance_uid)
        self.status.setText(f"retrieving {study.study_instance_uid} from {node.label}…")
        worker = Worker(retrieve_job, node, study.study_instance_uid, dest)
        worker.signals.result.connect(self._retrieved)
        return self._start(worker)

    def _retrieved(self, result: Any) -> None:
        note = f" ({len(result.warnings)} warning(s): {result.warnings[0]})" if result.warnings else ""
        self.status.setText(f"{len(result.paths)} instance(s) written to {result.dest_dir}{note}")
        self.retrieved.emit(result)
        self.controller.win.open_folder(result.dest_dir)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()


class PacsController(QtCore.QObject):
    """The window's PACS actions and dialogs.

    Signals
    -------
    sent(object)
        Send to PACS finished: ``{"results": DicomResults, "sent": SendResult}``.
    """

    sent = QtCore.Signal(object)

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win = win
        self.open_dialog: OpenFromPacsDialog | None = None

    def settings_path(self) -> Path:
        return pacs_settings_file()

    def stored_node(self) -> tuple[PacsNode | None, str | None]:
        """The stored node and, when the file is broken, the reason."""
        try:
            return load_node(self.settings_path()), None
        except PacsSettingsError as exc:
            return None, str(exc)

    def node_or_ask(self, parent: QtWidgets.QWidget | None = None) -> PacsNode | None:
        """The stored node; without one (or a broken file), the settings dialog opens and ``None`` is returned."""
        node, problem = self.stored_node()
        if node is None:
            message = problem or "No PACS is configured yet: enter the node's settings."
            if self.open_dialog is not None:
                self.open_dialog.status.setText(message)
            self.win.show_message("warning", message)
            self.settings_dialog(parent)
        return node

    def settings_dialog(self, parent: QtWidgets.QWidget | None = None) -> PacsSettingsDialog:
        dialog = PacsSettingsDialog(self, parent or self.win)
        dialog.setModal(True)
        dialog.show()
        return dialog

    def show_open_dialog(self) -> OpenFromPacsDialog:
        """File > Open from PACS…: the (single) search dialog."""
        if self.open_dialog is None:
            self.open_dialog = OpenFromPacsDialog(self, self.win)
        self.open_dialog.show()
        self.open_dialog.raise_()
        return self.open_dialog

    def retrieve_folder(self, study_uid: str) -> Path:
        return Path(self.win.app_data_dir) / "pacs" / study_uid

    def send_case(self) -> Worker | None:
        """Case > Send to PACS: write the DICOM results of the open case and send them, in a worker."""
        win = self.win
        if not win.doc.is_open or win.doc.case_path is None:
            win.show_message("info", "Open a case first: Send to PACS sends its SR, PDF and Secondary Capture.")
            return None
        node = self.node_or_ask(win)
        if node is None:
            return None
        win.doc.autosave()  # the results are made from the saved case: exactly what is on disk
        name = win.doc.case_path.name.replace(".case.json", "")
        out_dir = Path(win.app_data_dir) / "pacs-outbox" / name
        worker = Worker(send_case_job, win.doc.case_path, out_dir, node, win.doc.reviewer)
        worker.signals.progress.connect(win._progress)
        worker.signals.result.connect(lambda out: self._on_sent(out, node))
        worker.signals.error.connect(lambda msg: win.show_message("error", f"Send to PACS failed: {msg}"))
        worker.signals.finished.connect(lambda: win._busy(False))
        win.status_label.setText(f"sending to {node.label}…")
        return win.pool.start(worker)

    def _on_sent(self, out: dict[str, Any], node: PacsNode) -> None:
        sent = out["sent"]
        if sent.ok:
            self.win.show_message("info", f"Sent to {node.label}: {sent.n_sent} object(s) (SR, PDF, Secondary "
                                          "Capture)" + "".join(f"; {w}" for w in out["results"].warnings))
        else:
            self.win.show_message("error", f"Send to PACS: {sent.n_failed} of {len(sent.items)} refused: "
                                  + "; ".join(i.message for i in sent.failures))
        self.sent.emit(out)


def add_pacs_file_actions(win: Any, menu: QtWidgets.QMenu) -> None:
    """File menu: Open from PACS…, PACS settings… (creates ``win.pacs``)."""
    win.pacs = PacsController(win)
    win._action(menu, "Open from PACS…", lambda: win.pacs.show_open_dialog())
    win._action(menu, "PACS settings…", lambda: win.pacs.settings_dialog())


def add_pacs_case_actions(win: Any, menu: QtWidgets.QMenu) -> None:
    """Case menu: Send to PACS."""
    win._action(menu, "Send to PACS", lambda: win.pacs.send_case())
