"""Placing all 18 landmarks of the demo by hand, with scripted input: time, clicks and keys.

The bundled demo study (2800 x 8100 px, generated from its fixed seed) is opened without its landmarks, as
if the model had found nothing, in the real main window (offscreen unless a display is set). A scripted user
then clicks each landmark at its ground-truth position through real mouse events on the canvas, in two ways:

* ``guided``: G starts guided placement, which asks for each missing landmark in turn with the view zoomed
  to its region; one click per landmark.
* ``tools``: per leg, zoom keys (1-6), C + three clicks on the femoral head's rim, J / K / M + two clicks for
  the femoral condyles, the tibial plateau and the malleoli; then G and one click each for the diaphysis and
  the knee centre.

Time is the application's: from the first key to the last point placed, including every redraw, with no
thinking time of the user. The error is the largest distance (px) from a placed point to the ground truth.

Usage::

    .venv/bin/python benchmarks/bench_placement.py [--height 8100]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtTest  # noqa: E402

import llm_viewer.gui  # noqa: E402,F401  (pins None/True/False before Qt runs)

HEAD_RIM_MM = 22.0  # a femoral head's radius (about 44 mm across)


class User:
    """Real mouse and key events on the window's canvas; counts them."""

    def __init__(self, win, app) -> None:
        self.win, self.app = win, app
        self.clicks = self.keys = 0

    def settle(self) -> None:
        for _ in range(3):
            self.app.processEvents()

    def key(self, key) -> None:
        QtTest.QTest.keyClick(self.win.canvas, key)
        self.keys += 1
        self.settle()

    def click(self, x: float, y: float) -> None:
        view = self.win.canvas
        p = view.mapFromScene(view.vb.mapViewToScene(QtCore.QPointF(x, y)))
        QtTest.QTest.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton,
                                QtCore.Qt.KeyboardModifier.NoModifier, p)
        self.clicks += 1
        self.settle()


def open_empty_demo(app, work: Path, height: int | None):
    from llm_viewer.core.casefile import load_case
    from llm_viewer.gui.demo import prepare_demo
    from llm_viewer.gui.mainwindow import MainWindow

    demo = prepare_demo(work / "src", generate_height_px=height)
    truth = load_case(demo.with_name("demo.case.json"))
    empty = work / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    shutil.copy2(demo, empty / demo.name)  # the image without its case file: no landmark at all

    def no_model():
        raise RuntimeError("no model: placing by hand")

    settings = QtCore.QSettings(str(work / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(engine_factory=no_model, settings=settings, app_data_dir=work / "appdata")
    win.resize(1500, 950)
    win.show()
    loop = QtCore.QEventLoop()
    win.ready.connect(loop.quit)
    win.loadFailed.connect(lambda _m: loop.quit())
    win.open_path(empty / demo.name, analyze=False)
    loop.exec()
    return win, truth


def run_guided(user: User, truth) -> None:
    win = user.win
    user.key(QtCore.Qt.Key.Key_G)
    while win.placement.guided:
        side, lm = win.selected
        user.click(*truth.landmark(side, lm).as_list())


def run_tools(user: User, truth) -> None:
    from llm_viewer.core.construct import JOINT_LINES

    win = user.win
    spacing = truth.pixel_spacing_mm
    r = HEAD_RIM_MM / spacing[1] if spacing else 150.0
    zoom_keys = {"right": (QtCore.Qt.Key.Key_1, QtCore.Qt.Key.Key_2, QtCore.Qt.Key.Key_3),
                 "left": (QtCore.Qt.Key.Key_4, QtCore.Qt.Key.Key_5, QtCore.Qt.Key.Key_6)}
    tool_keys = {"femoral": QtCore.Qt.Key.Key_J, "tibial": QtCore.Qt.Key.Key_K, "malleolar": QtCore.Qt.Key.Key_M}
    for side in ("right", "left"):
        hip, knee, ankle = zoom_keys[side]
        user.key(hip)
        win.select_landmark(side, "femoral_head")  # the tools act on the selected leg (a click in the list)
        user.clicks += 1
        user.key(QtCore.Qt.Key.Key_C)
        h = truth.landmark(side, "femoral_head")
        for a in (200.0, 290.0, 20.0):
            user.click(h.x + r * math.cos(math.radians(a)), h.y + r * math.sin(math.radians(a)))
        for tool, zoom in (("femoral", knee), ("tibial", knee), ("malleolar", ankle)):
            if tool != "tibial":
                user.key(zoom)
            user.key(tool_keys[tool])
            lat, med = JOINT_LINES[tool]
            user.click(*truth.landmark(side, lat).as_list())
            user.click(*truth.landmark(side, med).as_list())
    run_guided(user, truth)  # the diaphysis and knee centre of both legs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=None, help="generate a smaller demo (default: the full size)")
    args = ap.parse_args(argv)
    from llm_viewer.core.landmarks import LANDMARK_IDS, SIDES
    from llm_viewer.gui.app import application

    app = application(["bench"])
    rows = []
    for mode, script in (("guided", run_guided), ("tools", run_tools)):
        with tempfile.TemporaryDirectory(prefix="llmv-bench-place-") as tmp:
            win, truth = open_empty_demo(app, Path(tmp), args.height)
            user = User(win, app)
            t0 = time.perf_counter()
            script(user, truth)
            elapsed = time.perf_counter() - t0
            placed = [(s, lm) for s in SIDES for lm in LANDMARK_IDS if win.doc.point(s, lm) is not None]
            err = max(math.dist(win.doc.point(s, lm).as_list(), truth.landmark(s, lm).as_list())
                      for s, lm in placed) if placed else float("nan")
            h, w = win.doc.image.pixels.shape[:2]
            rows.append((mode, len(placed), elapsed, user.clicks, user.keys, err, win.undo_stack.count()))
            win.close()
    print(f"# placing the demo's 18 landmarks by hand ({w} x {h} px), {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, Qt platform {app.platformName()}")
    print(f"{'mode':<8} {'placed':>6} {'time s':>7} {'clicks':>6} {'keys':>5} {'max err px':>10} {'undo steps':>10}")
    for mode, n, t, c, k, e, u in rows:
        print(f"{mode:<8} {n:>6} {t:>7.2f} {c:>6} {k:>5} {e:>10.2f} {u:>10}")
    return 0 if all(r[1] == 18 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
