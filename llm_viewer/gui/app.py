"""Start the review application: ``run_gui(path, demo=..., screenshot=...)``."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from .analysis import EngineFactory
from .mainwindow import MainWindow

SCREENSHOT_TIMEOUT_S = 600


def _dark_palette() -> QtGui.QPalette:
    pal = QtGui.QPalette()
    c = QtGui.QColor
    role = QtGui.QPalette.ColorRole
    for r, col in ((role.Window, c(37, 37, 40)), (role.WindowText, c(225, 225, 225)), (role.Base, c(25, 25, 28)),
                   (role.AlternateBase, c(45, 45, 48)), (role.Text, c(225, 225, 225)), (role.Button, c(50, 50, 54)),
                   (role.ButtonText, c(225, 225, 225)), (role.Highlight, c(42, 110, 170)),
                   (role.HighlightedText, c(255, 255, 255)), (role.ToolTipBase, c(50, 50, 54)),
                   (role.ToolTipText, c(225, 225, 225)), (role.PlaceholderText, c(130, 130, 130))):
        pal.setColor(r, col)
    return pal


def application(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The QApplication (created once), styled for reading radiographs (dark, Fusion)."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setOrganizationName("llm-viewer")
        QtCore.QCoreApplication.setApplicationName("llm-viewer")
        app = QtWidgets.QApplication(argv or ["llm-viewer"])
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())
        app.setDesktopFileName("llm-viewer")  # matches resources/llm-viewer.desktop (taskbar icon on Wayland)
        from ..resources_path import resource_path

        icon = resource_path("icons", "llm-viewer.svg")
        if icon.is_file():
            app.setWindowIcon(QtGui.QIcon(str(icon)))
    return app  # type: ignore[return-value]


def save_screenshot(window: QtWidgets.QWidget, out: str | Path) -> Path:
    """Grab ``window`` to a PNG (max compression)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    QtWidgets.QApplication.processEvents()
    image = window.grab().toImage()
    if not image.save(str(out), "PNG", 0):
        raise OSError(f"{out}: cannot write the screenshot")
    return out


def run_gui(path: str | Path | None = None, *, demo: bool = False, screenshot: str | Path | None = None,
            analyze: bool | None = None, engine_factory: EngineFactory | None = None,
            settings: QtCore.QSettings | None = None, app_data_dir: str | Path | None = None,
            image_loader: Callable[[Path], Any] | None = None, size: tuple[int, int] | None = None) -> int:
    """Open the window (optionally on ``path`` or the demo) and run the event loop.

    Parameters
    ----------
    path : path, optional
        Image, case file or folder. Without it, the last session's case reopens (crash recovery).
    demo : bool
        Open the bundled synthetic case and run the model on it.
    screenshot : path, optional
        Save the window to this PNG once the analysis has finished (or the case loaded), then exit.

    Returns
    -------
    int
        Exit status: 0, 1 when a screenshot was requested and opening failed, 2 when Qt's X11 libraries are
        missing (the message names them and their packages).
    """
    from .about import qt_library_problem
    from .demo import prepare_demo

    if QtWidgets.QApplication.instance() is None:
        problem = qt_library_problem()
        if problem:  # Qt would abort with a message naming the wrong library
            print(f"llm-viewer gui: error: {problem}", file=sys.stderr)
            return 2
    app = application(sys.argv[:1])
    win = MainWindow(engine_factory=engine_factory, settings=settings, app_data_dir=app_data_dir,
                     image_loader=image_loader)
    if size:
        win.resize(*size)
    target: Path | None = Path(path) if path else None
    if demo:
        target = prepare_demo(win.app_data_dir)
        analyze = True if analyze is None else analyze
    elif target is None:
        last = win.settings.value("session/last_path")
        if last and Path(str(last)).exists():
            target = Path(str(last))
    status = {"code": 0}
    if screenshot:
        def shoot(code: int = 0) -> None:
            if status.get("shot"):
                return
            status["shot"] = 1

            def later() -> None:
                try:
                    save_screenshot(win, screenshot)
                    print(f"screenshot saved to {screenshot}")
                except OSError as exc:
                    print(f"llm-viewer gui: error: {exc}", file=sys.stderr)
                    code_ = 1
                else:
                    code_ = code
                status["code"] = code_
                win.close()
                app.exit(code_)
            QtCore.QTimer.singleShot(500, later)

        win.ready.connect(lambda: shoot(0))
        def failed(message: str) -> None:
            print(f"llm-viewer gui: error: {' '.join(str(message).split())}", file=sys.stderr)
            shoot(1)

        win.loadFailed.connect(failed)
        QtCore.QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: shoot(1))
        if target is None:
            shoot(0)
    win.show()
    if os.environ.get("LLM_VIEWER_REPORT_STARTUP"):  # start-up time measured by packaging/build_app.py
        QtCore.QTimer.singleShot(0, lambda: print(f"llm-viewer: window shown at {time.time():.3f}", flush=True))
    if target is not None:
        QtCore.QTimer.singleShot(0, lambda: win.open_path(target, analyze=analyze, accept_model=demo))
    code = app.exec()
    return int(status["code"] or code)
