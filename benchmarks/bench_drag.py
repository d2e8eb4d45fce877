"""Latency of one live update while dragging a landmark on a full-size radiograph (target: < 16 ms).

Opens a 2800 x 8100 image in the real main window (offscreen unless a display is set), then moves the
right knee centre N times through ``TargetItem.setPos`` — the call ``TargetItem.mouseDragEvent`` makes on
every mouse move, which emits ``sigPositionChanged``. For each step it times

* ``update``: from the signal to the end of the document / overlay / panel update (core measurement,
  lines, labels, rings, table cells);
* ``update+paint``: the same plus ``processEvents()``, which repaints the view;
* ``u+p CPU time``: the GUI thread's CPU time for update+paint (what the step costs without other
  processes competing for the cores; wall-clock figures include waiting for a core on a busy machine).

Usage::

    .venv/bin/python benchmarks/bench_drag.py [--steps 300] [--width 2800] [--height 8100]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6 import QtCore

import llm_viewer.gui  # noqa: F401  (pins None/True/False before Qt runs)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "example_case.json"


def full_size_image(width: int, height: int) -> np.ndarray:
    """A smooth 12-bit-range image with bright legs (content only matters for painting cost)."""
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    legs = np.exp(-((x - 0.3) ** 2) / 0.004) + np.exp(-((x - 0.7) ** 2) / 0.004)
    img = 600.0 + 2500.0 * legs[None, :] * (0.8 + 0.2 * np.cos(8 * y))
    img += rng.normal(0.0, 20.0, size=(height, width)).astype(np.float32)
    return img.astype(np.float32)


class Engine:
    """Returns the example case's landmarks (scaled to the image) as the model's prediction."""

    model_id = "bench"
    device = "cpu"

    def __init__(self, landmarks):
        self.landmarks = landmarks

    def analyze(self, image, *, progress=None, cancel=None):
        pred = lambda x, y: SimpleNamespace(x_px=x, y_px=y, score=0.9, uncertainty_px=3.0,  # noqa: E731
                                            seg_peak_xy_px=None)
        legs = {s: SimpleNamespace(side=s, landmarks={lm: pred(*xy) for lm, xy in lms.items()}, missing_regions=[])
                for s, lms in self.landmarks.items()}
        return SimpleNamespace(legs=legs, rois=[], warnings=[], timings_s={}, model_id="bench", device="cpu")


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100.0 * len(s)) - 1))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--width", type=int, default=2800)
    ap.add_argument("--height", type=int, default=8100)
    ap.add_argument("--window", default="1600x1000", help="window size WxH")
    args = ap.parse_args(argv)

    from llm_viewer.gui.app import application
    from llm_viewer.gui.mainwindow import MainWindow

    app = application()
    tmp = Path(tempfile.mkdtemp(prefix="bench-drag-"))
    scale_x, scale_y = args.width / 2800.0, args.height / 8100.0
    doc = json.loads(EXAMPLE.read_text())
    landmarks = {s: {lm: (xy[0] * scale_x, xy[1] * scale_y) for lm, xy in leg["landmarks"].items()}
                 for s, leg in doc["legs"].items()}
    t0 = time.perf_counter()
    pixels = full_size_image(args.width, args.height)
    t_make = time.perf_counter() - t0
    placeholder = tmp / "bench.png"
    placeholder.write_bytes(b"placeholder: pixels are generated in memory")
    lo, hi = float(np.percentile(pixels[::8, ::8], 1)), float(np.percentile(pixels[::8, ::8], 99.5))
    image = SimpleNamespace(pixels=pixels, pixel_spacing_mm=(0.143, 0.143), spacing_source="synthetic",
                            window=SimpleNamespace(center=(lo + hi) / 2, width=hi - lo), photometric="MONOCHROME2",
                            bits_stored=12, file_format="png", metadata=SimpleNamespace(as_dict=lambda: {}),
                            source_path=placeholder, height_px=args.height, width_px=args.width)
    settings = QtCore.QSettings(str(tmp / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(engine_factory=lambda: Engine(landmarks), settings=settings, app_data_dir=tmp / "appdata",
                     image_loader=lambda _p: image)
    w, h = (int(v) for v in args.window.split("x"))
    win.resize(w, h)
    win.show()
    ready = []
    win.ready.connect(lambda: ready.append(1))
    t0 = time.perf_counter()
    win.open_path(placeholder, analyze=True)
    while not ready:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if time.perf_counter() - t0 > 120:
            print("timed out waiting for the case to open", file=sys.stderr)
            return 1
    t_open = time.perf_counter() - t0
    for _ in range(20):
        app.processEvents()

    target = win.canvas.overlays["right"].targets["knee_center"]
    x0, y0 = landmarks["right"]["knee_center"]
    rows = []
    for view in ("fit", "knee zoom"):
        if view == "fit":
            win.canvas.fit()
        else:
            win.canvas.zoom_to("right", "knee")
        for _ in range(10):
            app.processEvents()
        upd: list[float] = []
        tot: list[float] = []
        cpu: list[float] = []
        target.moving = True
        for i in range(args.steps):
            a = 2 * math.pi * i / 60.0
            x, y = x0 + 40.0 * math.cos(a), y0 + 25.0 * math.sin(a)
            c_a = time.thread_time()
            t_a = time.perf_counter()
            target.setPos(x, y)  # emits sigPositionChanged, as a mouse drag step does
            t_b = time.perf_counter()
            app.processEvents()  # repaint
            t_c = time.perf_counter()
            c_c = time.thread_time()
            upd.append((t_b - t_a) * 1e3)
            tot.append((t_c - t_a) * 1e3)
            cpu.append((c_c - c_a) * 1e3)
        target.moving = False
        target.sigPositionChangeFinished.emit(target)
        win.undo_stack.undo()
        rows.append((view, "update", upd))
        rows.append((view, "update+paint", tot))
        rows.append((view, "u+p CPU time", cpu))

    print(f"image {args.width}x{args.height} float32 (made in {t_make:.2f} s), window {args.window}, "
          f"platform {app.platformName()}, open+analysis {t_open:.2f} s, {args.steps} drag steps per view, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'view':<10} {'measure':<13} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'< 16 ms':>8}")
    for view, what, vals in rows:
        ok = sum(v < 16.0 for v in vals) / len(vals) * 100
        print(f"{view:<10} {what:<13} {statistics.median(vals):>10.2f} {percentile(vals, 95):>8.2f} "
              f"{max(vals):>8.2f} {ok:>7.1f}%")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
