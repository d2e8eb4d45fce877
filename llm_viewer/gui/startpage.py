"""The start page shown while no case is open: open a file or a folder, try the demo, reopen a recent case."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets


class StartPage(QtWidgets.QWidget):
    """What to do first, instead of an empty canvas.

    Signals
    -------
    openRequested()
        "Open image or case…" (the main window asks for the file).
    openFolderRequested()
        "Open folder…".
    demoRequested()
        "Try the demo".
    recentChosen(str)
        A recent case or folder was activated.
    """

    openRequested = QtCore.Signal()
    openFolderRequested = QtCore.Signal()
    demoRequested = QtCore.Signal()
    recentChosen = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoFillBackground(True)
        outer = QtWidgets.QVBoxLayout(self)
        outer.addStretch(1)
        box = QtWidgets.QWidget()
        box.setMaximumWidth(640)
        lay = QtWidgets.QVBoxLayout(box)
        title = QtWidgets.QLabel("llm-viewer")
        font = title.font()
        font.setPointSize(font.pointSize() * 2)
        font.setBold(True)
        title.setFont(font)
        lay.addWidget(title)
        intro = QtWidgets.QLabel(
            "Lower-limb alignment on full-leg radiographs: the model places nine landmarks per leg, you check "
            "and correct them, every angle follows. Open a radiograph (DICOM, PNG, JPEG, TIFF) or a case file, "
            "or a folder or training-set store as a worklist. Research use only: not a medical device.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        row = QtWidgets.QHBoxLayout()
        self.open_button = QtWidgets.QPushButton("Open image or case…  (Ctrl+O)")
        self.folder_button = QtWidgets.QPushButton("Open folder…  (Ctrl+Shift+O)")
        self.demo_button = QtWidgets.QPushButton("Try the demo")
        self.demo_button.setToolTip("A synthetic study with known ground truth; the model runs on it")
        for b in (self.open_button, self.folder_button, self.demo_button):
            b.setMinimumHeight(36)
            row.addWidget(b)
        lay.addLayout(row)
        lay.addSpacing(12)
        lay.addWidget(QtWidgets.QLabel("Recent cases and folders"))
        self.recent = QtWidgets.QListWidget()
        self.recent.setMinimumHeight(160)
        lay.addWidget(self.recent)
        self.no_recent = QtWidgets.QLabel("None yet: open a radiograph or try the demo.")
        self.no_recent.setEnabled(False)
        lay.addWidget(self.no_recent)
        hint = QtWidgets.QLabel("Drag a landmark to correct it; F1 lists every shortcut.")
        hint.setEnabled(False)
        lay.addWidget(hint)
        h = QtWidgets.QHBoxLayout()
        h.addStretch(1)
        h.addWidget(box, 4)
        h.addStretch(1)
        outer.addLayout(h)
        outer.addStretch(2)
        self.open_button.clicked.connect(self.openRequested.emit)
        self.folder_button.clicked.connect(self.openFolderRequested.emit)
        self.demo_button.clicked.connect(self.demoRequested.emit)
        self.recent.itemActivated.connect(
            lambda it: self.recentChosen.emit(it.data(QtCore.Qt.ItemDataRole.UserRole)))

    def set_recent(self, paths: list[str]) -> None:
        """Show the recent paths, newest first (not checked here: no file I/O on the GUI thread; opening a
        path that has gone shows the error in the banner)."""
        self.recent.clear()
        for p in paths:
            it = QtWidgets.QListWidgetItem(f"{Path(p).name}    —    {Path(p).parent}")
            it.setData(QtCore.Qt.ItemDataRole.UserRole, p)
            it.setToolTip(p)
            self.recent.addItem(it)
        self.recent.setVisible(bool(paths))
        self.no_recent.setVisible(not paths)
