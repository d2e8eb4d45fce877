"""The About dialog and the first start: no GPU, no model, a read-only install folder, unwritable settings."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6 import QtCore

from llm_viewer import __version__
from llm_viewer.core.metrics import compute_leg_metrics
from llm_viewer.gui import about

from .conftest import FakeEngine, have_imageio, open_and_wait, small_landmarks


def make_bundle(folder: Path) -> Path:
    """A valid (tiny, untrained) bundle: load_bundle checks files, checksums and headers, not shapes."""
    import torch

    from llm_viewer.pipeline.bundle import MODEL_NAMES, save_bundle
    from llm_viewer.pipeline.config import lite_config

    save_bundle(folder, lite_config(name="sgr-test", version="7"),
                {n: {"w": torch.full((3,), float(i))} for i, n in enumerate(MODEL_NAMES)})
    return folder


def tree_snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def window(qtbot, **kw):
    from llm_viewer.gui.mainwindow import MainWindow

    win = MainWindow(**kw)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


# ============================================================================ About
def test_about_dialog_shows_version_bundle_fingerprint_licences_and_notice(qtbot, tmp_path):
    folder = make_bundle(tmp_path / "bundle")
    dlg = about.AboutDialog(bundle_path=folder)
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.bundleShown, timeout=30000) as sig:
        dlg.show()
    info = sig.args[0]
    # the fingerprint is the SHA-256 over the weight files' SHA-256 digests in model order (recomputed here)
    doc = json.loads((folder / "bundle.json").read_text())
    digests = [hashlib.sha256((folder / doc["files"][n]["file"]).read_bytes()).hexdigest()
               for n in ("detector", "hip", "diaphysis", "knee", "ankle")]
    expected = hashlib.sha256("".join(digests).encode()).hexdigest()
    assert info.installed and info.fingerprint == expected
    assert info.model_id == f"sgr-test-7-{expected[:8]}"
    text = dlg.text()
    assert f"llm-viewer {__version__}" in text
    assert expected in text and info.model_id in text and "version 7" in text
    assert "Research use only: not a medical device" in text
    licences = {dlg.licences.item(r, 0).text(): dlg.licences.item(r, 2).text() for r in range(dlg.licences.rowCount())}
    assert licences["Qt 6 / PySide6"] == "LGPL-3.0" and licences["pyqtgraph"] == "MIT"
    assert licences["pylibjpeg-libjpeg (libjpeg)"] == "GPL-3.0" and licences["PyTorch"] == "BSD-3-Clause"
    assert len(licences) == len(about.THIRD_PARTY) >= 17
    # versions come from the installed packages' metadata (torch is not imported for this)
    row = next(r for r in range(dlg.licences.rowCount()) if dlg.licences.item(r, 0).text() == "pyqtgraph")
    import pyqtgraph

    assert dlg.licences.item(row, 1).text() == pyqtgraph.__version__


def test_about_dialog_without_a_bundle_says_so(qtbot, tmp_path):
    dlg = about.AboutDialog(bundle_path=tmp_path / "nothing-here")
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.bundleShown, timeout=30000) as sig:
        dlg.show()
    assert sig.args[0].status == "missing"
    assert "no model bundle installed" in dlg.bundle_label.text()


def test_about_dialog_reports_a_corrupt_bundle(qtbot, tmp_path):
    folder = make_bundle(tmp_path / "bundle")
    (folder / "knee.safetensors").write_bytes(b"garbage")
    info = about.read_bundle_info(folder)
    assert info.status == "invalid" and "SHA-256 mismatch" in info.message


def test_about_is_in_the_help_menu(qtbot, tmp_path, settings):
    win = window(qtbot, engine_factory=lambda: FakeEngine(small_landmarks()), settings=settings,
                 app_data_dir=tmp_path / "appdata")
    help_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Help")
    act = next(a for a in help_menu.actions() if a.text().startswith("About"))
    act.trigger()
    dlg = next(w for w in win.findChildren(about.AboutDialog))
    assert dlg.isVisible() and "Research use only" in dlg.text()
    qtbot.waitUntil(lambda: dlg.bundle_info is not None, timeout=30000)  # read in the window's worker pool
    assert dlg.bundle_info.status in ("installed", "missing", "invalid")
    dlg.close()
    win.pool.wait(5000)


def test_version_flag_prints_the_version():
    out = subprocess.run([sys.executable, "-m", "llm_viewer", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"llm-viewer {__version__}"


# ============================================================================ no GPU
def test_accelerator_is_cpu_without_a_gpu_and_cuda_with_one(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(about, "_nvidia_driver_present", lambda: False)
    monkeypatch.setattr(about.sys, "platform", "linux")
    acc = about.detect_accelerator()
    assert acc.kind == "CPU" and "CPU" in acc.detail
    monkeypatch.setattr(about, "_nvidia_driver_present", lambda: True)
    assert about.detect_accelerator().kind == "CUDA"
    # once torch is loaded it decides: a driver without a usable GPU is still the CPU
    fake_torch = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False),
                                 backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: False)))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    assert about.detect_accelerator().kind == "CPU"


def test_status_bar_names_the_device_and_follows_the_analysis(qtbot, tmp_path, settings, case_image, image_loader,
                                                              monkeypatch):
    monkeypatch.setattr(about, "_nvidia_driver_present", lambda: False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    win = window(qtbot, engine_factory=lambda: FakeEngine(small_landmarks()), settings=settings,
                 app_data_dir=tmp_path / "appdata", image_loader=image_loader)
    assert win.device_label.text() == "CPU" and "CPU" in win.device_label.toolTip()
    open_and_wait(qtbot, win, case_image)  # the fake engine reports device "cpu"
    assert win.device_label.text() == "CPU"
    assert "on cpu" in win.status_label.text()
    win.pool.wait(5000)


# ============================================================================ no model
def test_no_model_banner_and_manual_landmarks_are_measured(qtbot, tmp_path, settings, case_image, image_loader,
                                                           monkeypatch):
    from llm_viewer.pipeline import bundle as bundle_mod

    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setattr(bundle_mod, "default_bundle_path", lambda: empty)
    win = window(qtbot, settings=settings, app_data_dir=tmp_path / "appdata", image_loader=image_loader)
    assert "No model bundle installed" in win.banner.text and str(empty) in win.banner.text
    open_and_wait(qtbot, win, case_image)  # the default engine runs and finds no bundle: a message, no crash
    assert "no model bundle" in win.banner.text and "click on the image" in win.banner.text
    assert win.doc.is_open and not win.doc.points("right")
    truth = small_landmarks()["right"]
    for lm, (x, y) in truth.items():
        win.select_landmark("right", lm)
        win._on_image_clicked(x, y)
    expected = compute_leg_metrics(win.doc.points("right"), "right", win.doc.pixel_spacing_mm)
    assert win.panel.value("right", "hka_deg") == expected.hka_deg
    assert all(win.doc.is_manual("right", lm) for lm in truth)
    win.pool.wait(5000)


# ============================================================================ read-only install folder
@pytest.mark.skipif(not have_imageio(), reason="llm_viewer.core.imageio not available yet")
def test_read_only_install_folder_is_never_written(qtbot, tmp_path, settings, monkeypatch):
    from llm_viewer.gui import state
    from llm_viewer.gui.demo import prepare_demo

    generated = prepare_demo(tmp_path / "gen", generate_height_px=1024)
    install = tmp_path / "install" / "resources"
    shutil.copytree(generated.parent, install / "demo")
    for p in sorted(install.rglob("*"), reverse=True):
        p.chmod(0o555 if p.is_dir() else 0o444)
    before = tree_snapshot(install)
    real_access = os.access
    # root ignores permission bits: report the install folder as read-only the way a normal user sees it
    monkeypatch.setattr(state.os, "access", lambda p, mode, **kw: False if str(install) in str(p)
                        else real_access(p, mode, **kw))
    app_data = tmp_path / "appdata"
    engine = FakeEngine({s: dict(v) for s, v in small_landmarks().items()})
    win = window(qtbot, engine_factory=lambda: engine, settings=settings, app_data_dir=app_data)
    image = prepare_demo(win.app_data_dir, source_dir=install / "demo")
    assert app_data in image.parents
    open_and_wait(qtbot, win, image)
    p = win.doc.point("right", "knee_center")
    win.commit_move("right", "knee_center", p.x + 3.0, p.y)
    assert app_data in win.doc.case_path.parents and win.doc.case_path.exists()
    # opening the image straight from the install folder: its case goes to the app-data folder too
    assert not any(f.name.endswith(".case.json") and f.name != "demo.case.json" for f in (install / "demo").iterdir())
    loc = state.case_path_for_image(install / "demo" / "other.dcm", app_data)
    assert loc.fallback and app_data in loc.path.parents
    assert tree_snapshot(install) == before
    win.pool.wait(5000)


# ============================================================================ unwritable settings / app data
def test_unwritable_settings_folder_falls_back_to_session_settings(qtbot, tmp_path, monkeypatch, case_image,
                                                                   image_loader):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker / "config"))  # under a regular file: never a folder
    settings, warning = about.open_settings()
    assert warning and "Settings cannot be saved" in warning and str(blocker) in warning
    assert str(blocker) not in settings.fileName()
    settings.setValue("reviewer", "Dr Test")
    settings.sync()
    assert settings.status() == QtCore.QSettings.Status.NoError and settings.value("reviewer") == "Dr Test"
    win = window(qtbot, engine_factory=lambda: FakeEngine(small_landmarks()), app_data_dir=tmp_path / "appdata",
                 image_loader=image_loader)
    assert "Settings cannot be saved" in win.banner.text
    open_and_wait(qtbot, win, case_image)
    assert "Settings cannot be saved" in win.banner.text  # still said after the first case opened
    assert str(case_image) in win.settings.value("recent")  # the session's settings work
    win.close()
    win.pool.wait(5000)


def test_writable_settings_folder_is_used_without_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    settings, warning = about.open_settings()
    assert warning is None
    assert Path(settings.fileName()) == tmp_path / "cfg" / "llm-viewer" / "llm-viewer.conf"


def test_unwritable_app_data_folder_falls_back_to_a_temporary_one(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    choice = about.choose_app_data_dir(blocker / "data")
    assert choice.warning and "not writable" in choice.warning
    assert choice.path.is_dir() and str(blocker) not in str(choice.path)
    (choice.path / "probe").write_text("ok")
    assert about.choose_app_data_dir(tmp_path / "fine") == about.FolderChoice(tmp_path / "fine")


def test_about_names_the_model_in_use_after_switching_to_another(qtbot, tmp_path, settings):
    """Tools > Adapt switches the model: Help > About then describes that bundle, not the bundled one."""
    other = make_bundle(tmp_path / "adapted")
    win = window(qtbot, engine_factory=lambda: FakeEngine(small_landmarks()), settings=settings,
                 app_data_dir=tmp_path / "appdata")
    win.adapter.current_path = other  # what ModelAdapter.use() sets
    dlg = win.show_about()
    qtbot.waitUntil(lambda: dlg.bundle_info is not None, timeout=30000)
    assert Path(dlg.bundle_info.path) == other and dlg.bundle_info.status == "installed"
    dlg.close()
    win.pool.wait(5000)
