"""Make the figures of docs/PLANNING.md: the planning dock (docs/planning.png) and the PDF plan page
(docs/plan_page.png), on the synthetic two-leg study of ``tests/planning_fixtures.py``.

Run from the repository root (offscreen Qt is fine; pdftoppm renders the PDF page)::

    QT_QPA_PLATFORM=offscreen python docs/dev/planning_figures.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> int:
    from PySide6 import QtCore, QtWidgets

    from llm_viewer.gui.app import application, save_screenshot
    from llm_viewer.gui.mainwindow import MainWindow
    from llm_viewer.gui.planning import planning_tool
    from llm_viewer.report.model import build_case_report
    from llm_viewer.report.pdf import render_case_pdf
    from tests.planning_fixtures import write_demo_case

    work = Path(tempfile.mkdtemp(prefix="planning-figures-"))
    case_path = write_demo_case(work / "study", height_px=4050)
    # the PDF: page 4 is the left leg's HTO plan
    pdf = work / "report.pdf"
    render_case_pdf(build_case_report(case_path), pdf)
    subprocess.run(["pdftoppm", "-f", "4", "-l", "4", "-r", "90", "-png", "-singlefile", str(pdf),
                    str(REPO / "docs" / "plan_page")], check=True)
    # the window: the planning dock on the left leg, hinge moved a little from its default
    app = application(sys.argv[:1])
    settings = QtCore.QSettings(str(work / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(engine_factory=lambda: None, settings=settings, app_data_dir=work / "appdata")
    win.resize(1500, 950)
    win.show()
    loop = QtCore.QEventLoop()
    win.ready.connect(loop.quit)
    win.loadFailed.connect(lambda msg: (print(msg, file=sys.stderr), loop.quit()))
    win.open_path(case_path, analyze=False)
    QtCore.QTimer.singleShot(60000, loop.quit)
    loop.exec()
    tool = planning_tool(win)
    tool.open()
    tool.panel.side.setCurrentIndex(tool.panel.side.findData("left"))
    hx, hy = tool.plan.hinge_px
    tool.hinge.setPos(hx - 2.0, hy + 3.0)
    k = win.doc.point("left", "knee_center")
    mm = 1.0 / win.doc.pixel_spacing_mm[1]
    win.canvas.vb.setRange(QtCore.QRectF(k.x - 110 * mm, k.y - 90 * mm, 220 * mm, 330 * mm), padding=0.0)
    for _ in range(20):
        app.processEvents()
        QtWidgets.QApplication.processEvents()
    out = save_screenshot(win, REPO / "docs" / "planning.png")
    print(f"wrote {out} and {REPO / 'docs' / 'plan_page.png'}; correction {tool.panel.cell('correction', 2)}")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
