"""Bad images (decompression bombs, truncated, disguised, noise) through the loader, ``analyze`` and the viewer,
plus the generator's degenerate draw, the store's writer lock and the training modules' bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from llm_viewer.core.imageio import ImageLoadError, load_image, raster_size

from .conftest import (
    assert_clear_error,
    dicom_bomb,
    jpeg_bomb,
    png_bomb,
    png_bomb_valid,
    run_cli,
    strict_loads,
    tiff_bomb,
)

REPO = Path(__file__).resolve().parents[2]


def _png(path: Path, arr: np.ndarray) -> Path:
    import cv2

    assert cv2.imwrite(str(path), arr)
    return path


def _bad_images(d: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, word the error must contain)."""
    rng = np.random.default_rng(0)
    good = _png(d / "good.png", (rng.random((64, 32)) * 100).astype(np.uint8))
    data = good.read_bytes()
    files = {
        "png-bomb-32000": (d / "bomb32k.png", png_bomb(32000, 32000), "megapixels"),
        "png-bomb-20000": (d / "bomb20k.png", png_bomb(20000, 20000), "megapixels"),
        "png-bomb-wide": (d / "wide.png", png_bomb(2_000_000, 100), "megapixels"),
        "png-bomb-valid-20000": (d / "valid20k.png", png_bomb_valid(20000, 20000), "megapixels"),
        "jpeg-bomb": (d / "bomb.jpg", jpeg_bomb(60000, 60000), "megapixels"),
        "tiff-bomb": (d / "bomb.tif", tiff_bomb(30000, 30000), "megapixels"),
        "empty": (d / "empty.png", b"", "empty"),
        "truncated-png": (d / "trunc.png", data[: len(data) // 2], "corrupt"),
        "header-only-png": (d / "head.png", data[:33], "corrupt"),
        "pdf-named-png": (d / "doc.png", b"%PDF-1.4\n1 0 obj << >> endobj\n", "not a recognised image"),
        "text-named-dcm": (d / "notes.dcm", b"hello, this is not DICOM\n" * 10, "not a recognised image"),
        "random-bytes": (d / "rand.tif", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "cannot load"),
        "dicm-prefix-only": (d / "pre.dcm", b"\0" * 128 + b"DICM", "dicom"),
        "dicm-garbage": (d / "garbage.dcm", b"\0" * 128 + b"DICM" + rng.integers(0, 256, 2000, dtype=np.uint8)
                         .tobytes(), "cannot load"),
    }
    out = {}
    for name, (p, content, word) in files.items():
        p.write_bytes(content)
        out[name] = (p, word)
    out["dicom-bomb"] = (dicom_bomb(d / "bomb.dcm", 40000, 40000), "megapixels")
    return out


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory):
    return _bad_images(tmp_path_factory.mktemp("imgs"))


def test_loader_gives_one_clear_error_per_bad_image(bad_images):
    for name, (path, word) in bad_images.items():
        with pytest.raises(ImageLoadError) as exc:
            load_image(path)
        msg = str(exc.value)
        assert word.lower() in msg.lower() and str(path.name) in msg, (name, msg)
        assert "\n" not in msg, (name, msg)


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    p = _png(tmp_path / "small.png", np.zeros((100, 50), np.uint8))
    monkeypatch.setenv("LLM_VIEWER_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ImageLoadError, match="LLM_VIEWER_MAX_IMAGE_PIXELS"):
        load_image(p)
    monkeypatch.setenv("LLM_VIEWER_MAX_IMAGE_PIXELS", "5000")
    assert load_image(p).pixels.shape == (100, 50)


def test_header_sizes_match_the_decoded_sizes(tmp_path):
    import cv2

    for ext, fmt, dtype in ((".png", "png", np.uint16), (".jpg", "jpeg", np.uint8), (".tif", "tiff", np.uint16)):
        ok, buf = cv2.imencode(ext, np.zeros((123, 457), dtype))
        assert ok and raster_size(buf.tobytes(), fmt) == (457, 123)


def test_bombs_are_refused_within_a_small_address_space(bad_images):
    """In a child limited to 1.5 GB of address space (a 32000² image needs 4 GB as float32)."""
    paths = [str(p) for n, (p, _) in bad_images.items() if "bomb" in n]
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 ** 2, 1536 * 1024 ** 2))
        from llm_viewer.core.imageio import ImageLoadError, load_image
        for p in {paths!r}:
            try:
                load_image(p)
                print("LOADED", p)
            except ImageLoadError as exc:
                print("REFUSED", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("REFUSED") == len(paths) and "LOADED" not in proc.stdout, proc.stdout


# ------------------------------------------------------------------------------------------------ analyze
@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    from llm_viewer.core.landmarks import REGIONS
    from llm_viewer.pipeline.bundle import save_bundle
    from llm_viewer.pipeline.engine import InferenceEngine

    from ..pipeline.conftest import tiny_config

    engine = InferenceEngine.from_config(tiny_config(), device="cpu", seed=0)
    path = tmp_path_factory.mktemp("bundle")
    save_bundle(path, engine.config, {"detector": engine.detector.state_dict(),
                                      **{r: engine.region_models[r].state_dict() for r in REGIONS}})
    return path


def test_analyze_batch_of_bad_images_reports_each_and_keeps_going(tmp_path, tiny_bundle, bad_images):
    rng = np.random.default_rng(1)
    noise8 = _png(tmp_path / "noise8.png", rng.integers(0, 256, (900, 320), dtype=np.uint8))
    noise16 = _png(tmp_path / "noise16.png", rng.integers(0, 65535, (900, 320), dtype=np.uint16))
    black = _png(tmp_path / "black.png", np.zeros((900, 320), np.uint8))
    one = _png(tmp_path / "one.png", np.zeros((1, 1), np.uint8))
    inputs = [noise8, noise16, black, one] + [p for p, _ in bad_images.values()]
    out = tmp_path / "all.json"
    run = run_cli(["analyze", *map(str, inputs), "--models", str(tiny_bundle), "--device", "cpu", "--json", str(out)],
                  timeout_s=120)
    assert run.rc == 1 and "Traceback" not in run.err and "internal error" not in run.err, run.err
    for p, _ in bad_images.values():
        assert f"skipped {p}" in run.err, p
    docs = strict_loads(out.read_text())
    by_name = {Path(d["image"]).name: d for d in docs}
    for name in ("noise8.png", "noise16.png"):
        assert by_name[name]["legs"] == {}, "random noise got landmarks"
        assert any("noise" in w for w in by_name[name]["warnings"])
    assert by_name["black.png"]["legs"] == {} and by_name["one.png"]["legs"] == {}
    for name in ("noise8.png", "noise16.png", "black.png", "one.png"):  # warnings reach stderr too
        assert f"{name}: warning:" in run.err, name


@pytest.mark.parametrize("target", ["/proc/llm-viewer-test.json", "/etc/hostname/x.json"])
def test_analyze_keeps_a_finished_analysis_when_the_output_cannot_be_written(tmp_path, tiny_bundle, target):
    img = _png(tmp_path / "legs.png", (np.add.outer(np.arange(600), np.arange(200)) % 256).astype(np.uint8))
    run = run_cli(["analyze", str(img), "--models", str(tiny_bundle), "--device", "cpu", "--json", target],
                  timeout_s=60)
    assert_clear_error(run, "cannot write", "stdout", rc=2)
    docs = strict_loads(run.out)
    assert docs[0]["image"] == str(img)


# ------------------------------------------------------------------------------------------------ viewer
def _run_gui(path: Path, tmp_path: Path) -> int:
    """``run_gui --screenshot`` in-process with isolated settings; the window's close must not leave a quit
    pending for the next test's event loops."""
    from PySide6 import QtCore, QtWidgets

    from llm_viewer.gui.app import run_gui

    app = QtWidgets.QApplication.instance()
    keep = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    try:
        settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
        return run_gui(path, screenshot=tmp_path / "shot.png", analyze=False, app_data_dir=tmp_path / "appdata",
                       settings=settings)
    finally:
        QtWidgets.QApplication.processEvents()
        app.setQuitOnLastWindowClosed(keep)


def test_worker_prints_no_traceback_for_ordinary_errors(qtbot, capfd):
    from llm_viewer.gui.worker import Worker

    def fail(progress, cancel):
        raise ValueError("x.png: empty file (0 bytes)")

    w = Worker(fail)
    with qtbot.waitSignal(w.signals.error, timeout=5000) as blocker:
        w.run()
    assert blocker.args == ["x.png: empty file (0 bytes)"]
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("content", [b"", b"%PDF-1.4\n", b"\0" * 128 + b"DICM\x02\x00"])
def test_gui_screenshot_of_a_bad_file_exits_1_with_one_line(qtbot, tmp_path, capfd, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    code = _run_gui(bad, tmp_path)
    err = capfd.readouterr().err
    assert code == 1
    lines = [ln for ln in err.splitlines() if "llm-viewer gui: error:" in ln]
    assert len(lines) == 1 and "bad.png" in lines[0], err
    assert "Traceback" not in err


def test_gui_screenshot_of_a_case_with_bad_provenance_fails_cleanly(qtbot, tmp_path, capfd):
    doc = json.loads((REPO / "resources" / "examples" / "example_case.json").read_text())
    doc["legs"]["right"]["provenance"] = "oops"
    _png(tmp_path / "img.png", np.zeros((900, 320), np.uint8))
    doc["image"] = {"path": "img.png"}
    case = tmp_path / "img.case.json"
    case.write_text(json.dumps(doc))
    code = _run_gui(case, tmp_path)
    err = capfd.readouterr().err
    assert code == 1 and "provenance" in err and "Traceback" not in err, err


# ------------------------------------------------------------------------------------------------ generator, store
def test_generator_draw_that_made_nan_is_finite_now():
    from llm_viewer.synth.generator import generate_case
    from llm_viewer.synth.params import SynthConfig

    case = generate_case(7, SynthConfig.with_height(1024), index=5)
    assert case.pixels.dtype == np.uint16 and all(np.isfinite(case.window))


def test_shapes_signed_distance_never_overflows_for_an_outline_outside_the_window():
    from llm_viewer.synth.primitives import Canvas, Layer
    from llm_viewer.synth.shapes import outline_solid

    canvas = Canvas(64, 64, 1.0, 4)
    layer = Layer(canvas, bone=True)
    # outline just below the canvas: its padded window is clipped to the bottom row, where nothing is inside
    outline_solid(layer, [(20.0, 66.0), (40.0, 66.0), (40.0, 80.0), (20.0, 80.0)], radius_mm=5.0, depth=1.0,
                  cortex_mm=1.0, mu_cortex=0.05, mu_inner=0.02)
    layer.commit()
    assert np.isfinite(canvas.att).all()


def test_second_writer_of_a_store_is_refused_clearly(tmp_path):
    from llm_viewer.core.store import Store, StoreBusyError

    store_dir = tmp_path / "store"
    holder = Store.create(store_dir)
    with holder.writing():
        run = run_cli(["synth", "--size", "small", "--count", "1", "--seed", "3", "--out", str(store_dir),
                       "--no-progress"], timeout_s=30)
        assert_clear_error(run, "another process is writing", str(store_dir))
        with pytest.raises(StoreBusyError):
            with Store.open(store_dir).writing(timeout_s=0.2):
                pass
    assert (store_dir / "manifest.jsonl").read_text() == ""
    run = run_cli(["synth", "--size", "small", "--count", "1", "--seed", "3", "--out", str(store_dir),
                   "--no-progress"], timeout_s=60)
    assert run.rc == 0, run.err
    assert len((store_dir / "manifest.jsonl").read_text().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ training
def test_training_store_with_a_corrupt_case_skips_it_by_name(tmp_path, capsys):
    from llm_viewer.core.store import Store
    from training.data import read_store

    store_dir = tmp_path / "store"
    Store.create(store_dir)
    assert run_cli(["synth", "--size", "small", "--count", "2", "--seed", "4", "--out", str(store_dir),
                    "--no-progress"], timeout_s=60).rc == 0
    ids = [e.id for e in Store.open(store_dir).entries()]
    (store_dir / "cases" / f"{ids[0]}.case.json").write_text('{"legs": {"right": {"provenance": "oops"}}}')
    cases = read_store(store_dir)
    assert [c.case_id for c in cases] == ids[1:]
    assert f"skipped case {ids[0]}" in capsys.readouterr().err


def test_pickled_backbone_weights_are_refused_with_one_line(tmp_path):
    import torch

    from training.train import WeightsError, load_backbone

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo PICKLE-RAN",))

    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "x": Payload()}, evil)
    with pytest.raises(WeightsError, match="pickle") as exc:
        load_backbone(torch.nn.Linear(1, 1), str(evil))
    assert "\n" not in str(exc.value)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="junk.safetensors"):
        load_backbone(torch.nn.Linear(1, 1), str(junk))


def test_init_from_a_pickle_is_one_line(tmp_path):
    from training.train import WeightsError, init_weights

    p = tmp_path / "evil.pt"
    p.write_bytes(b"\x80\x04\x95")
    with pytest.raises(WeightsError, match="--init-from"):
        init_weights(str(p), "hip")
