"""What the app is and what it needs: the About dialog, and the first-start checks behind its messages.

First start can meet four problems; each has a clear message and a working fallback:

- no GPU: the model runs on the CPU (the status bar says ``CPU``);
- no model bundle: a banner says so; images still open and landmarks placed by hand are measured;
- a read-only install folder: nothing is ever written there (the demo and case files of read-only images
  live in the app-data folder; when that is unwritable too, in a temporary folder for the session);
- an unwritable settings folder: preferences live in a temporary file for the session, with a warning.

torch is never imported here (it takes seconds): its version comes from the package metadata and the
GPU is detected from the NVIDIA driver until torch is loaded by the first analysis.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__

RESEARCH_NOTICE = (
    "Research use only: not a medical device. llm-viewer has not been cleared or approved by any regulatory "
    "authority (FDA, CE/MDR or other) and must not be used for diagnosis or treatment decisions. Every "
    "landmark and measurement must be checked by a qualified clinician."
)


@dataclass(frozen=True)
class ThirdParty:
    """A bundled third-party component: display name, distribution (for its version), licence, note."""

    name: str
    dist: str | None
    licence: str
    note: str = ""


THIRD_PARTY: tuple[ThirdParty, ...] = (
    ThirdParty("Python", None, "PSF-2.0"),
    ThirdParty("Qt 6 / PySide6", "PySide6-Essentials", "LGPL-3.0",
               "dynamically linked; the Qt libraries are separate files that users may replace"),
    ThirdParty("Shiboken6", "shiboken6", "LGPL-3.0"),
    ThirdParty("pyqtgraph", "pyqtgraph", "MIT"),
    ThirdParty("PyTorch", "torch", "BSD-3-Clause", "plus the licences of its bundled third-party code"),
    ThirdParty("torchvision", "torchvision", "BSD-3-Clause"),
    ThirdParty("NVIDIA CUDA libraries", "nvidia-cuda-runtime", "NVIDIA proprietary (CUDA EULA, cuDNN SLA)",
               "redistributable runtime; only in the CUDA build"),
    ThirdParty("MONAI", "monai", "Apache-2.0", "training only"),
    ThirdParty("pydicom", "pydicom", "MIT"),
    ThirdParty("dicognito", "dicognito", "MIT", "de-identification of exports to a training-set store"),
    ThirdParty("pylibjpeg", "pylibjpeg", "MIT"),
    ThirdParty("pylibjpeg-openjpeg (OpenJPEG)", "pylibjpeg-openjpeg", "MIT; OpenJPEG BSD-2-Clause"),
    ThirdParty("pylibjpeg-libjpeg (libjpeg)", "pylibjpeg-libjpeg", "GPL-3.0",
               "GPLv3: distributing the app with this plugin puts the whole under GPLv3 terms; see PACKAGING.md"),
    ThirdParty("NumPy", "numpy", "BSD-3-Clause"),
    ThirdParty("SciPy", "scipy", "BSD-3-Clause"),
    ThirdParty("OpenCV", "opencv-python-headless", "Apache-2.0", "the wheel bundles FFmpeg (LGPL-2.1)"),
    ThirdParty("ReportLab", "reportlab", "BSD-3-Clause"),
    ThirdParty("safetensors", "safetensors", "Apache-2.0"),
    ThirdParty("Pillow", "pillow", "MIT-CMU"),
)
"""Third-party licences shown in the About dialog (kept in step with docs/PACKAGING.md)."""


NOTICE_FILE = "THIRD-PARTY-NOTICES.txt"
"""The full third-party notice (every bundled distribution with its licence text), written by the build
(``packaging/third_party_notice.py``) into the application folder's ``_internal/``."""


def third_party_notice_path() -> Path | None:
    """The shipped third-party notice, or ``None`` outside an application folder (a Python install has each
    package's licence in its ``*.dist-info`` folder)."""
    base = getattr(sys, "_MEIPASS", None)
    path = Path(base) / NOTICE_FILE if base else None
    return path if path is not None and path.is_file() else None


def package_version(dist: str | None) -> str:
    """Installed version of a distribution (``None``: Python itself); ``"not installed"`` when absent."""
    if dist is None:
        return platform.python_version()
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


# ====================================================================== accelerator
QT_XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
)
"""Shared libraries Qt's X11 (xcb) platform plugin loads, with the Debian/Ubuntu package of each (the list
in the README and the ones ``.ci/run`` installs). Qt's own error names ``libxcb-cursor0`` whatever is missing."""


def missing_qt_libraries(load: Callable[[str], Any] = ctypes.CDLL) -> list[tuple[str, str]]:
    """``(library, package)`` for each library of :data:`QT_XCB_LIBRARIES` that cannot be loaded."""
    missing = []
    for lib, pkg in QT_XCB_LIBRARIES:
        try:
            load(lib)
        except OSError:
            missing.append((lib, pkg))
    return missing


def qt_library_problem(env: dict[str, str] | None = None, platform_name: str | None = None,
                       load: Callable[[str], Any] = ctypes.CDLL) -> str | None:
    """Before the first window on Linux/X11: a message naming the missing libraries, or ``None``.

    Only checked when Qt would use its xcb plugin (``QT_QPA_PLATFORM`` unset or ``xcb``, not a Wayland
    session); offscreen and other platforms need none of these.
    """
    env = dict(os.environ if env is None else env)
    if (platform_name or sys.platform) != "linux":
        return None
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None
    if not qpa and (env.get("WAYLAND_DISPLAY") or env.get("XDG_SESSION_TYPE") == "wayland"):
        return None
    missing = missing_qt_libraries(load)
    if not missing:
        return None
    libs = ", ".join(lib for lib, _ in missing)
    pkgs = " ".join(pkg for _, pkg in missing)
    return (f"Qt cannot open a window: missing system libraries {libs}. Install them (Debian/Ubuntu: "
            f"sudo apt-get install {pkgs}), or run headless with QT_QPA_PLATFORM=offscreen.")


@dataclass(frozen=True)
class Accelerator:
    """Where the model will run: ``kind`` is ``"CUDA"``, ``"MPS"`` or ``"CPU"``; ``detail`` says why."""

    kind: str
    detail: str


def _nvidia_driver_present() -> bool:
    if sys.platform.startswith("linux"):
        if Path("/proc/driver/nvidia/version").exists():
            return True
        names = ["libcuda.so.1"]
    elif sys.platform == "win32":
        names = ["nvcuda.dll"]
    else:
        return False
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def detect_accelerator() -> Accelerator:
    """The device ``--device auto`` will use, without importing torch when it is not loaded yet."""
    torch: Any = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda"):
        try:
            if torch.cuda.is_available():
                return Accelerator("CUDA", f"GPU: {torch.cuda.get_device_name(0)}")
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                return Accelerator("MPS", "Apple GPU (Metal)")
        except Exception:  # noqa: BLE001 - a broken driver means CPU, not a crash
            pass
        return Accelerator("CPU", "no GPU usable by PyTorch: the model runs on the CPU (slower, same results)")
    if _nvidia_driver_present():
        return Accelerator("CUDA", "NVIDIA driver found: the model runs on the GPU")
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return Accelerator("MPS", "Apple GPU (Metal)")
    return Accelerator("CPU", "no GPU found: the model runs on the CPU (slower, same results)")


# ====================================================================== model bundle
@dataclass(frozen=True)
class BundleInfo:
    """The installed model bundle, or why there is none (``status``: installed | missing | invalid)."""

    status: str
    path: Path
    message: str
    name: str | None = None
    version: str | None = None
    model_id: str | None = None
    fingerprint: str | None = None

    @property
    def installed(self) -> bool:
        return self.status == "installed"


def bundle_folder() -> Path:
    """Where the default model bundle is expected (the pipeline's ``default_bundle_path``)."""
    from ..pipeline import bundle as bundle_mod

    return Path(bundle_mod.default_bundle_path())


def missing_bundle_message(path: Path | None = None) -> str | None:
    """A cheap check (no hashing, no torch): the banner text when no bundle is installed, else ``None``."""
    folder = path or bundle_folder()
    if (folder / "bundle.json").is_file():
        return None
    return (f"No model bundle installed (expected in {folder}). You can still open radiographs, place the "
            "landmarks by hand (select one in the Landmarks list, then click on the image) and read every "
            "measurement.")


def read_bundle_info(path: Path | None = None, **_worker: Any) -> BundleInfo:
    """Validate the bundle (checksums included) and describe it. Imports torch via safetensors: call it in a
    worker thread. Never raises for a missing or broken bundle: ``status`` and ``message`` say what is wrong.
    """
    from ..pipeline.bundle import BundleError, load_bundle

    folder = Path(path) if path is not None else bundle_folder()
    if missing_bundle_message(folder) is not None:
        return BundleInfo("missing", folder, "no model bundle installed")
    try:
        b = load_bundle(folder)
    except BundleError as exc:
        return BundleInfo("invalid", folder, f"the model bundle cannot be used: {exc}")
    return BundleInfo("installed", folder, "installed", name=b.config.name, version=str(b.config.version),
                      model_id=b.model_id, fingerprint=b.fingerprint)


# ====================================================================== writable folders
@dataclass(frozen=True)
class FolderChoice:
    """A folder to write to and, when it is a fallback, the warning to show."""

    path: Path
    warning: str | None = None


def _writable(folder: Path) -> str | None:
    """``None`` when files can be created in ``folder`` (made if needed), else the reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def choose_app_data_dir(preferred: Path) -> FolderChoice:
    """``preferred`` when writable, else a temporary folder for this session (with a warning)."""
    reason = _writable(preferred)
    if reason is None:
        return FolderChoice(preferred)
    tmp = Path(tempfile.mkdtemp(prefix="llm-viewer-data-"))
    return FolderChoice(tmp, f"The app-data folder {preferred} is not writable ({reason}): the demo and the case "
                             f"files of read-only images are kept in {tmp} for this session only.")


def settings_file(config_dir: Path | None = None) -> Path:
    """``<config dir>/llm-viewer/llm-viewer.conf`` (``~/.config`` on Linux, honouring ``XDG_CONFIG_HOME``)."""
    if config_dir is None:
        loc = QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.GenericConfigLocation)
        config_dir = Path(loc) if loc else Path.home() / ".config"
    return Path(config_dir) / "llm-viewer" / "llm-viewer.conf"


def open_settings(config_dir: Path | None = None) -> tuple[QtCore.QSettings, str | None]:
    """The user's settings, or session-only settings in a temporary file when they cannot be saved.

    Returns
    -------
    (QSettings, str or None)
        The settings and the warning to show when they are the session-only fallback.
    """
    path = settings_file(config_dir)
    reason = _writable(path.parent)
    if reason is None:
        settings = QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)
        settings.setValue("app/last_start_version", __version__)
        settings.sync()
        if settings.status() == QtCore.QSettings.Status.NoError:
            return settings, None
        reason = "the settings file cannot be written"
    tmp = Path(tempfile.mkdtemp(prefix="llm-viewer-settings-")) / "llm-viewer.conf"
    settings = QtCore.QSettings(str(tmp), QtCore.QSettings.Format.IniFormat)
    return settings, (f"Settings cannot be saved in {path.parent} ({reason}): window layout, recent files and the "
                      "reviewer name last only for this session.")


@dataclass
class StartupEnvironment:
    """Settings and app-data folder the window uses, and the first-start warnings to show."""

    settings: QtCore.QSettings
    app_data_dir: Path
    warnings: list[str]


def startup_environment(settings: QtCore.QSettings | None, app_data_dir: str | Path | None,
                        default_app_data_dir: Callable[[], Path], *, check_bundle: bool) -> StartupEnvironment:
    """Resolve the window's settings and data folder, with fallbacks, and collect the first-start warnings.

    Parameters
    ----------
    settings, app_data_dir
        Given by the caller (tests, scripts): used as they are. ``None``: the user's, checked for writability.
    default_app_data_dir : callable
        The platform's app-data folder.
    check_bundle : bool
        Warn when the bundled model is not installed (only when the default engine is used).
    """
    warnings: list[str] = []
    if settings is None:
        settings, warning = open_settings()
        warnings += [warning] if warning else []
    if app_data_dir:
        folder = Path(app_data_dir)
    else:
        choice = choose_app_data_dir(default_app_data_dir())
        folder = choice.path
        warnings += [choice.warning] if choice.warning else []
    if check_bundle:
        missing = missing_bundle_message()
        warnings += [missing] if missing else []
    return StartupEnvironment(settings, folder, warnings)


# ====================================================================== dialog
class AboutDialog(QtWidgets.QDialog):
    """Version, model bundle (name, version, id, fingerprint), runtime versions, device, licences, notice.

    The bundle is validated in a worker thread (it hashes the weights and loads torch);
    ``bundleShown`` is emitted when its section is filled in.
    """

    bundleShown = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *, bundle_path: Path | None = None,
                 pool: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About llm-viewer")
        self.resize(720, 640)
        self.bundle_info: BundleInfo | None = None
        lay = QtWidgets.QVBoxLayout(self)
        head = QtWidgets.QLabel(f"<h2>llm-viewer {__version__}</h2>Lower-limb alignment on full-leg radiographs "
                                "(segmentation-guided regression landmarks, axes and angles).")
        head.setWordWrap(True)
        lay.addWidget(head)
        notice = QtWidgets.QLabel(RESEARCH_NOTICE)
        notice.setObjectName("research_notice")
        notice.setWordWrap(True)
        notice.setStyleSheet("QLabel { background:#6b4e00; color:white; padding:6px; font-weight:bold; }")
        lay.addWidget(notice)
        form = QtWidgets.QFormLayout()
        self.bundle_label = QtWidgets.QLabel("reading the model bundle…")
        self.bundle_label.setWordWrap(True)
        self.bundle_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Model bundle:", self.bundle_label)
        acc = detect_accelerator()
        self.device_label = QtWidgets.QLabel(f"{acc.kind} — {acc.detail}")
        self.device_label.setWordWrap(True)
        form.addRow("Device:", self.device_label)
        qt_version = QtCore.qVersion()
        self.runtime_label = QtWidgets.QLabel(
            f"Python {platform.python_version()}, PyTorch {package_version('torch')}, "
            f"Qt {qt_version}, PySide6 {package_version('PySide6-Essentials')}, {platform.system()} "
            f"{platform.machine()}")
        self.runtime_label.setWordWrap(True)
        form.addRow("Runtime:", self.runtime_label)
        lay.addLayout(form)
        lay.addWidget(QtWidgets.QLabel("Third-party software and licences:"))
        self.licences = QtWidgets.QTableWidget(len(THIRD_PARTY), 4)
        self.licences.setHorizontalHeaderLabels(["Component", "Version", "Licence", "Note"])
        self.licences.verticalHeader().hide()
        self.licences.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.licences.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, tp in enumerate(THIRD_PARTY):
            for col, text in enumerate((tp.name, package_version(tp.dist), tp.licence, tp.note)):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(text)
                self.licences.setItem(row, col, item)
        self.licences.resizeColumnsToContents()
        self.licences.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.licences, 1)
        self.notice_path = third_party_notice_path()
        self.notice_button = QtWidgets.QPushButton("Third-party notice (full licence texts)…")
        self.notice_button.setEnabled(self.notice_path is not None)
        self.notice_button.setToolTip(str(self.notice_path) if self.notice_path else
                                      f"{NOTICE_FILE} ships with the application folder; in a Python install each "
                                      "package's licence is in its *.dist-info folder")
        self.notice_button.clicked.connect(self.show_notice)
        lay.addWidget(self.notice_button, 0, QtCore.Qt.AlignmentFlag.AlignLeft)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)
        self._start_bundle_read(bundle_path, pool)

    def _start_bundle_read(self, bundle_path: Path | None, pool: Any) -> None:
        from .worker import Worker, WorkerPool

        self._pool = pool if pool is not None else WorkerPool(self)
        worker = Worker(read_bundle_info, bundle_path)
        worker.signals.result.connect(self.show_bundle)
        worker.signals.error.connect(lambda msg: self.show_bundle(
            BundleInfo("invalid", bundle_path or Path("?"), f"the model bundle cannot be read: {msg}")))
        self._worker = worker
        self._pool.start(worker)

    def show_notice(self) -> QtWidgets.QDialog | None:
        """Show the shipped third-party notice in a read-only text window (returned, for tests)."""
        if self.notice_path is None:
            return None
        dlg = QtWidgets.QDialog(self)
        dlg.setWindowTitle("Third-party notice")
        dlg.resize(820, 640)
        view = QtWidgets.QPlainTextEdit(dlg)
        view.setObjectName("notice_text")
        view.setReadOnly(True)
        view.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        view.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        view.setPlainText(self.notice_path.read_text(encoding="utf-8", errors="replace"))
        box = QtWidgets.QVBoxLayout(dlg)
        box.addWidget(view)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(dlg.reject)
        box.addWidget(close)
        dlg.show()
        return dlg

    def show_bundle(self, info: BundleInfo) -> None:
        """Fill in the bundle section (called from the worker's result)."""
        self.bundle_info = info
        if info.installed:
            self.bundle_label.setText(f"{info.name} version {info.version}<br>model id: <b>{info.model_id}</b><br>"
                                      f"fingerprint (SHA-256): <tt>{info.fingerprint}</tt><br>{info.path}")
        else:
            self.bundle_label.setText(f"{info.message}<br><small>{info.path}</small>")
        self.bundleShown.emit(info)

    def text(self) -> str:
        """Everything the dialog shows, as plain text (for tests and copy/paste)."""
        rows = [" | ".join(self.licences.item(r, c).text() for c in range(4)) for r in range(self.licences.rowCount())]
        labels = [w.text() for w in self.findChildren(QtWidgets.QLabel)]
        return "\n".join(labels + rows)
