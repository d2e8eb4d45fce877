"""Worklist: the cases of a folder, a training-set store or a relabel queue (``llm-viewer rank`` JSON) with their
review status, filters, next/previous."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from ..core.atomic import TEMP_PREFIX
from ..core.casefile import CASE_SUFFIX, REVIEW_STATUSES, CaseFileError, read_json_document
from ..core.imageio_types import IMAGE_SUFFIXES
from .state import case_path_for_image

EMPTY_HINT = ("No cases here. Open a folder of radiographs (DICOM, PNG, JPEG, TIFF) or case files, a training-set "
              "store (llm-viewer synth writes one) or a relabel queue from llm-viewer rank: File → Open folder "
              "(Ctrl+Shift+O).")
"""What an empty worklist says."""

STATUS_COLORS = {"new": "#9a9a9a", "predicted": "#35c8ff", "corrected": "#ffb020", "approved": "#50d050",
                 "error": "#ff5050"}


@dataclass(frozen=True)
class WorklistEntry:
    """One case: what to open (``path``: an image or a case file), its name and review status."""

    path: Path
    name: str
    status: str
    case_path: Path | None
    score: float | None = None
    """Relabel queues only: the strategy's score (higher = more informative); the list keeps the queue's order."""

    @property
    def label(self) -> str:
        text = f"{self.name}    [{self.status}]"
        return text if self.score is None else f"{text}  score {self.score:.3g}"


def _status_of(case_path: Path | None) -> str:
    if case_path is None or not case_path.exists():
        return "new"
    try:
        doc = read_json_document(case_path)
    except CaseFileError:
        return "error"
    status = (doc.get("review") or {}).get("status", "new")
    return status if status in REVIEW_STATUSES else "error"


def scan_store(root: str | os.PathLike[str]) -> list[WorklistEntry]:
    """The cases of a training-set store (opened through their case files, which are autosaved in place)."""
    from ..core.store import Store

    store = Store.open(root)
    out = []
    for e in store.entries():
        case_path = store.case_path(e)
        out.append(WorklistEntry(case_path, e.id, _status_of(case_path), case_path))
    return sorted(out, key=lambda e: e.name.lower())


def is_queue_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a relabel queue: a ``.json`` file (not a ``.case.json``) holding a JSON list."""
    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".json" or p.name.endswith(CASE_SUFFIX):
        return False
    try:
        with open(p, "rb") as f:
            head = f.read(64).lstrip()
    except OSError:
        return False
    return head.startswith(b"[")


def scan_queue(path: str | os.PathLike[str], app_data_dir: str | os.PathLike[str]) -> list[WorklistEntry]:
    """The entries of a relabel queue written by ``llm-viewer rank --out FILE.json``, in the file's order
    (most informative first).

    Each item needs ``image`` (a path, relative paths taken from the queue's folder) and ``score``; an item
    with a ``case`` (a store's case file) is opened through it, otherwise through the image's own case file
    when there is one.

    Raises
    ------
    CaseFileError
        The file is not a JSON list of such objects; the message names the file and the item.
    """
    import json
    import math

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CaseFileError(f"{p}: not a readable relabel queue ({exc})") from None
    if not isinstance(doc, list):
        raise CaseFileError(f"{p}: a relabel queue must be a JSON list of {{'image', 'score'}} objects")
    out: list[WorklistEntry] = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            raise CaseFileError(f"{p}: item {i + 1} has no 'image' path")
        score = item.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise CaseFileError(f"{p}: item {i + 1} ({item['image']}) has no finite 'score'")
        img = Path(item["image"])
        img = img if img.is_absolute() else p.parent / img
        case = item.get("case")
        case_path = None
        if isinstance(case, str):
            case_path = Path(case) if Path(case).is_absolute() else p.parent / case
        if case_path is not None and case_path.exists():
            out.append(WorklistEntry(case_path, img.name, _status_of(case_path), case_path, float(score)))
            continue
        loc = case_path_for_image(img, app_data_dir)
        own = loc.path if loc.path.exists() else None
        status = _status_of(own) if img.exists() else "error"
        out.append(WorklistEntry(img, img.name, status, own, float(score)))
    return out


def scan_folder(folder: str | os.PathLike[str], app_data_dir: str | os.PathLike[str]) -> list[WorklistEntry]:
    """List the cases of ``folder``: a training-set store, or radiographs and case files (also in its
    ``images``/``cases`` sub-folders) with their review status. A relabel queue file (:func:`is_queue_file`)
    is listed by :func:`scan_queue`, in its own order.

    A case file is listed under its image's name and opened through the case file; an image without a case
    file is listed as ``new``.
    """
    if is_queue_file(folder):
        return scan_queue(folder, app_data_dir)
    root = Path(folder)
    if not root.is_dir():
        raise CaseFileError(f"{root}: not a folder")
    if (root / "store.json").exists():
        return scan_store(root)
    files: list[Path] = []
    for d in (root, root / "images", root / "cases"):
        if d.is_dir():
            files += [p for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(TEMP_PREFIX)]
    entries: list[WorklistEntry] = []
    covered: set[Path] = set()
    for p in files:
        if not p.name.endswith(CASE_SUFFIX):
            continue
        try:
            doc = read_json_document(p)
            img = (p.parent / str((doc.get("image") or {}).get("path", ""))).resolve()
        except CaseFileError:
            entries.append(WorklistEntry(p, p.name, "error", p))
            continue
        covered.add(img)
        entries.append(WorklistEntry(p, img.name if img.is_file() else p.name[: -len(CASE_SUFFIX)],
                                     _status_of(p), p))
    for p in files:
        if p.suffix.lower() in IMAGE_SUFFIXES and p.resolve() not in covered:
            loc = case_path_for_image(p, app_data_dir)
            case_path = loc.path if loc.path.exists() else None
            entries.append(WorklistEntry(p, p.name, _status_of(case_path), case_path))
    return sorted(entries, key=lambda e: e.name.lower())


class WorklistWidget(QtWidgets.QWidget):
    """List of cases with a status filter and a name filter.

    Signals
    -------
    openRequested(str)
        The user activated an entry (double click / Enter) or moved with next/previous.
    """

    openRequested = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[WorklistEntry] = []
        self.source: Path | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        self.status_filter = QtWidgets.QComboBox()
        self.status_filter.addItems(["all", *REVIEW_STATUSES, "not approved"])
        self.search = QtWidgets.QLineEdit()
        self.search.setPlaceholderText("filter by name")
        row.addWidget(self.status_filter)
        row.addWidget(self.search, 1)
        layout.addLayout(row)
        self.list = QtWidgets.QListWidget()
        layout.addWidget(self.list, 1)
        self.counts = QtWidgets.QLabel()
        layout.addWidget(self.counts)
        self.status_filter.currentTextChanged.connect(lambda _t: self._refill())
        self.search.textChanged.connect(lambda _t: self._refill())
        self.list.itemActivated.connect(lambda it: self.openRequested.emit(it.data(QtCore.Qt.ItemDataRole.UserRole)))

    def set_entries(self, entries: Iterable[WorklistEntry], source: Path | None = None) -> None:
        self.entries = list(entries)
        self.source = source
        self._refill()

    def visible_entries(self) -> list[WorklistEntry]:
        want = self.status_filter.currentText()
        text = self.search.text().strip().lower()
        out = []
        for e in self.entries:
            if want == "not approved" and e.status == "approved":
                continue
            if want not in ("all", "not approved") and e.status != want:
                continue
            if text and text not in e.name.lower():
                continue
            out.append(e)
        return out

    def _refill(self, current: str | None = None) -> None:
        current = current or self.current_path()
        self.list.clear()
        for e in self.visible_entries():
            it = QtWidgets.QListWidgetItem(e.label)
            it.setData(QtCore.Qt.ItemDataRole.UserRole, str(e.path))
            it.setForeground(QtGui.QColor(STATUS_COLORS.get(e.status, "#dddddd")))
            self.list.addItem(it)
            if current and str(e.path) == current:
                self.list.setCurrentItem(it)
        counts = {s: sum(1 for e in self.entries if e.status == s) for s in REVIEW_STATUSES}
        self.counts.setWordWrap(True)
        self.counts.setText(" · ".join(f"{n} {s}" for s, n in counts.items()) if self.entries else EMPTY_HINT)

    def current_path(self) -> str | None:
        it = self.list.currentItem()
        return it.data(QtCore.Qt.ItemDataRole.UserRole) if it is not None else None

    @staticmethod
    def _matches(e: WorklistEntry, targets: set[Path]) -> bool:
        return e.path.resolve() in targets or (e.case_path is not None and e.case_path.resolve() in targets)

    def mark_current(self, *paths: str | os.PathLike[str] | None) -> None:
        """Highlight the entry of an image or case file if listed."""
        targets = {Path(p).resolve() for p in paths if p}
        by_path = {str(e.path): e for e in self.entries}
        for i in range(self.list.count()):
            it = self.list.item(i)
            e = by_path.get(it.data(QtCore.Qt.ItemDataRole.UserRole))
            if e is not None and self._matches(e, targets):
                self.list.setCurrentItem(it)
                return

    def update_status(self, status: str, *paths: str | os.PathLike[str] | None) -> None:
        """Show the new review status of the case at any of ``paths`` (image or case file)."""
        targets = {Path(p).resolve() for p in paths if p}
        changed = False
        out = []
        for e in self.entries:
            if self._matches(e, targets) and e.status != status:
                e = WorklistEntry(e.path, e.name, status, e.case_path, e.score)
                changed = True
            out.append(e)
        if changed:
            self.entries = out
            self._refill()

    def step(self, delta: int) -> str | None:
        """Select and return the next (``delta=1``) or previous (``-1``) visible entry."""
        n = self.list.count()
        if n == 0:
            return None
        i = self.list.currentRow()
        j = (0 if delta > 0 else n - 1) if i < 0 else i + delta
        if not 0 <= j < n:
            return None
        self.list.setCurrentRow(j)
        return self.list.item(j).data(QtCore.Qt.ItemDataRole.UserRole)
