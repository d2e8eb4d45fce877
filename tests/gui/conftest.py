"""GUI test fixtures: offscreen Qt, a small synthetic two-leg image, a deterministic fake engine."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "example_case.json"
SCALE = 9.0  # the example case is a 2800 x 8100 study at 0.143 mm; tests use a 1/9 scale copy
WIDTH, HEIGHT = 320, 900


def small_landmarks() -> dict[str, dict[str, tuple[float, float]]]:
    """Plausible landmarks of both legs for a 320 x 900 image (the example case scaled by 1/9)."""
    doc = json.loads(EXAMPLE.read_text())
    return {side: {lm: (xy[0] / SCALE, xy[1] / SCALE) for lm, xy in leg["landmarks"].items()}
            for side, leg in doc["legs"].items()}


SPACING_MM = (0.143 * SCALE, 0.143 * SCALE)


def synthetic_pixels(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A smooth 16-bit-range image with two bright 'legs' (enough to look at, cheap to make)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = 800.0 + 200.0 * np.sin(yy / 40.0)
    for cx in (width * 0.3, width * 0.7):
        img += 2500.0 * np.exp(-((xx - cx) ** 2) / (2 * (width * 0.06) ** 2))
    return img.astype(np.float32)


def write_png16(path: Path, pixels: np.ndarray) -> Path:
    import cv2

    ok = cv2.imwrite(str(path), np.clip(pixels, 0, 65535).astype(np.uint16))
    assert ok
    return path


def fallback_loader(spacing=SPACING_MM):
    """Stand-in for core.imageio.load_image while that module does not exist (same fields)."""

    def load(path: Path):
        import cv2

        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ValueError(f"{path}: not a readable image")
        px = arr.astype(np.float32)
        lo, hi = float(px.min()), float(px.max())
        md = SimpleNamespace(as_dict=lambda: {})
        return SimpleNamespace(pixels=px, pixel_spacing_mm=spacing, spacing_source="synthetic" if spacing else "unknown",
                               window=SimpleNamespace(center=(lo + hi) / 2, width=max(hi - lo, 1.0)),
                               photometric="MONOCHROME2", bits_stored=16, file_format="png", metadata=md,
                               source_path=Path(path), height_px=px.shape[0], width_px=px.shape[1])

    return load


def have_imageio() -> bool:
    try:
        import llm_viewer.core.imageio  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def image_loader():
    """The real loader when core.imageio exists (PNG files carry no spacing: tests then calibrate)."""
    if have_imageio():
        return None
    return fallback_loader()


@dataclass
class FakePrediction:
    x_px: float
    y_px: float
    score: float = 0.9
    uncertainty_px: float = 2.0
    seg_peak_xy_px: tuple[float, float] | None = None
    flagged: bool = False


@dataclass
class FakeLeg:
    side: str
    landmarks: dict
    missing_regions: list = field(default_factory=list)


@dataclass
class FakeResult:
    legs: dict
    rois: list
    warnings: list
    timings_s: dict
    model_id: str
    device: str


class FakeEngine:
    """Test double with InferenceEngine's interface: returns the landmarks it was given."""

    def __init__(self, landmarks, *, model_id="fake-model-1", uncertainty_px=2.0, fail=None, block=False,
                 flagged=()):
        self.landmarks = landmarks
        self.flagged = set(flagged)
        self.model_id = model_id
        self.device = "cpu"
        self.uncertainty_px = uncertainty_px
        self.fail = fail
        self.block = block
        self.calls = 0

    def analyze(self, image, *, progress=None, cancel=None):
        import time

        self.calls += 1
        if progress:
            progress(0.5, "fake analysis")
        if self.block:
            for _ in range(500):
                if cancel and cancel():
                    raise type("AnalysisCancelled", (Exception,), {})("cancelled")
                time.sleep(0.01)
        if self.fail:
            raise self.fail
        legs = {side: FakeLeg(side, {lm: FakePrediction(x, y, uncertainty_px=self.uncertainty_px,
                                                         flagged=(side, lm) in self.flagged)
                                     for lm, (x, y) in lms.items()})
                for side, lms in self.landmarks.items()}
        rois = [SimpleNamespace(side="right", region="knee", x0=60.0, y0=440.0, x1=160.0, y1=540.0, score=0.95)]
        return FakeResult(legs, rois, ["fake warning"] if False else [], {"total": 0.01}, self.model_id, "cpu")


@pytest.fixture
def case_image(tmp_path) -> Path:
    """A 320 x 900 16-bit PNG in its own folder."""
    d = tmp_path / "images"
    d.mkdir()
    return write_png16(d / "leg.png", synthetic_pixels())


@pytest.fixture
def settings(tmp_path):
    from PySide6 import QtCore

    return QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, tmp_path, settings, image_loader):
    """Factory: a MainWindow with a fake engine, test settings and a private app-data folder."""
    created = []

    def make(engine=None, loader=image_loader, engine_factory=None):
        from llm_viewer.gui.mainwindow import MainWindow

        eng = engine if engine is not None else FakeEngine(small_landmarks())
        win = MainWindow(engine_factory=engine_factory or (lambda: eng), settings=settings, app_data_dir=tmp_path / "appdata",
                         image_loader=loader)
        qtbot.addWidget(win)
        win.resize(1200, 800)
        win.show()
        created.append(win)
        return win

    yield make
    for w in created:
        w.pool.wait(5000)


def open_and_wait(qtbot, win, path, **kw):
    with qtbot.waitSignal(win.ready, timeout=20000):
        win.open_path(path, **kw)
    assert win.doc.is_open
