"""First start (issue 18): a start page instead of an empty canvas, and the Linux libraries Qt needs named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6 import QtCore

from .conftest import FakeEngine, open_and_wait, small_landmarks

ROOT = Path(__file__).resolve().parents[2]


def test_start_page_offers_open_folder_demo_and_recent_cases(qtbot, make_window, case_image):
    win = make_window()
    page = win.start_page
    assert win.stack.currentWidget() is page and page.isVisible()
    assert not win.canvas.isVisible()
    assert not any(t.isVisible() for ov in win.canvas.overlays.values() for t in ov.targets.values())  # no stray cross
    assert page.open_button.isVisible() and page.folder_button.isVisible() and page.demo_button.isVisible()
    assert page.no_recent.isVisible() and "try the demo" in page.no_recent.text()
    open_and_wait(qtbot, win, case_image)
    assert win.stack.currentWidget() is win.canvas
    # a new window lists the case among the recent ones; activating it opens it
    win2 = make_window(FakeEngine(small_landmarks()))
    assert win2.start_page.recent.count() == 1 and not win2.start_page.no_recent.isVisible()
    item = win2.start_page.recent.item(0)
    assert item.data(QtCore.Qt.ItemDataRole.UserRole) == str(case_image)
    with qtbot.waitSignal(win2.ready, timeout=20000):
        win2.start_page.recent.itemActivated.emit(item)
    assert win2.doc.image_path == case_image


def test_try_the_demo_from_the_start_page(qtbot, make_window, monkeypatch, case_image):
    import llm_viewer.gui.demo as demo

    monkeypatch.setattr(demo, "prepare_demo", lambda work_dir: case_image)  # the real one is tested elsewhere
    win = make_window()
    with qtbot.waitSignal(win.ready, timeout=20000):
        qtbot.mouseClick(win.start_page.demo_button, QtCore.Qt.MouseButton.LeftButton)
    assert win.doc.image_path == case_image and win.stack.currentWidget() is win.canvas


def test_an_empty_worklist_says_how_to_fill_it(qtbot, make_window, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    win = make_window()
    win.open_folder(empty)
    assert win.worklist_dock.isVisible() and "Open folder" in win.worklist.counts.text()
    assert "training-set store" in win.worklist.counts.text()


def test_missing_qt_libraries_are_named_with_their_packages():
    from llm_viewer.gui.about import QT_XCB_LIBRARIES, qt_library_problem

    absent = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}

    def load(name):
        if name in absent:
            raise OSError(name)

    msg = qt_library_problem({"DISPLAY": ":0"}, "linux", load)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in msg and "apt-get install libxcb-icccm4 libxcb-keysyms1" in msg
    assert "libxcb-cursor" not in msg
    assert qt_library_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", load) is None
    assert qt_library_problem({"DISPLAY": ":0"}, "darwin", load) is None
    assert qt_library_problem({"DISPLAY": ":0"}, "linux", lambda n: None) is None
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for lib, pkg in QT_XCB_LIBRARIES:  # the README lists every package, .ci/run installs every one
        assert pkg in readme and f"{lib}:{pkg}" in ci


def test_gui_command_names_missing_libraries_instead_of_crashing(tmp_path):
    code = ("import sys, llm_viewer.gui.about as a; a.missing_qt_libraries = "
            "lambda load=None: [('libxcb-icccm.so.4', 'libxcb-icccm4')]; "
            "from llm_viewer.gui.app import run_gui; sys.exit(run_gui())")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=":99", HOME=str(tmp_path))
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("XDG_SESSION_TYPE", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "libxcb-icccm.so.4" in proc.stderr and "apt-get install libxcb-icccm4" in proc.stderr
