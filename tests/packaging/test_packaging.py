"""Packaging: resource lookup in every layout, the frozen launcher, desktop entry and icons, the build script."""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from llm_viewer import resources_path as rp

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------- resources_path
def test_source_tree_resources_are_found_in_a_checkout(monkeypatch):
    monkeypatch.delenv(rp.ENV_VAR, raising=False)
    assert rp.resources_root() == ROOT / "resources"
    assert rp.resource_path("icons", "llm-viewer.svg").is_file()


def test_environment_variable_overrides_the_bundled_resources(monkeypatch, tmp_path):
    (tmp_path / "models" / "demo").mkdir(parents=True)
    monkeypatch.setenv(rp.ENV_VAR, str(tmp_path))
    assert rp.resource_path("models", "demo") == tmp_path / "models" / "demo"


def test_frozen_app_finds_resources_under_meipass(monkeypatch, tmp_path):
    monkeypatch.delenv(rp.ENV_VAR, raising=False)
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert rp.is_frozen()
    assert rp.resources_root() == tmp_path / "resources"


def test_installed_wheel_layout_wins_over_the_source_tree(monkeypatch, tmp_path):
    monkeypatch.delenv(rp.ENV_VAR, raising=False)
    pkg = tmp_path / "site-packages" / "llm_viewer"
    (pkg / "resources" / "models").mkdir(parents=True)
    monkeypatch.setattr(rp, "_PACKAGE_DIR", pkg)
    assert rp.resources_root() == pkg / "resources"


def test_missing_resources_name_the_package_data_location(monkeypatch, tmp_path):
    monkeypatch.delenv(rp.ENV_VAR, raising=False)
    pkg = tmp_path / "site-packages" / "llm_viewer"
    pkg.mkdir(parents=True)
    monkeypatch.setattr(rp, "_PACKAGE_DIR", pkg)
    assert rp.resource_path("models", "demo") == pkg / "resources" / "models" / "demo"


# ----------------------------------------------------------------- launcher of the frozen app
@pytest.fixture(scope="module")
def launcher():
    return load_module(ROOT / "packaging" / "launcher.py", "llm_viewer_packaging_launcher")


@pytest.mark.parametrize("argv,expected", [
    ([], ["gui"]),
    (["scan.dcm"], ["gui", "scan.dcm"]),
    (["--demo", "--screenshot", "x.png"], ["gui", "--demo", "--screenshot", "x.png"]),
    (["--debug", "scan.dcm"], ["--debug", "gui", "scan.dcm"]),
    (["analyze", "a.dcm"], ["analyze", "a.dcm"]),
    (["--version"], ["--version"]),
    (["--debug", "measure", "-"], ["--debug", "measure", "-"]),
])
def test_frozen_launcher_defaults_to_the_viewer(launcher, argv, expected):
    assert launcher.frozen_argv(argv, {"gui", "analyze", "measure"}) == expected


# ----------------------------------------------------------------- desktop entry and icons
def test_desktop_entry_is_valid_and_points_at_installed_icon():
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(ROOT / "resources" / "llm-viewer.desktop", encoding="utf-8")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert entry["Exec"].split()[0] == "llm-viewer" and "%f" in entry["Exec"]
    assert entry["Categories"].endswith(";") and "MedicalSoftware" in entry["Categories"]
    assert "application/dicom" in entry["MimeType"]
    assert (ROOT / "resources" / "icons" / f"{entry['Icon']}.svg").is_file()


@pytest.mark.parametrize("size", [16, 32, 48, 64, 128, 256, 512])
def test_png_icons_have_their_nominal_size(size):
    data = (ROOT / "resources" / "icons" / f"llm-viewer-{size}.png").read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (size, size)


def test_windows_icon_is_an_ico_file():
    data = (ROOT / "resources" / "icons" / "llm-viewer.ico").read_bytes()
    assert data[:4] == b"\x00\x00\x01\x00" and int.from_bytes(data[4:6], "little") >= 5  # ICO with >= 5 sizes


# ----------------------------------------------------------------- build script pieces (no build here)
@pytest.fixture(scope="module")
def build_app():
    return load_module(ROOT / "packaging" / "build_app.py", "llm_viewer_packaging_build_app")


def test_folder_size_counts_files_once(build_app, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"1" * 1000)
    (tmp_path / "y.bin").write_bytes(b"2" * 24)
    (tmp_path / "link").symlink_to(tmp_path / "y.bin")
    assert build_app.folder_size_bytes(tmp_path) == 1024


def test_cpu_only_build_is_refused_with_the_cuda_wheel(build_app):
    import torch

    if torch.version.cuda is None:
        assert "CPU" in build_app.check_torch(cpu_only=True)
    else:
        with pytest.raises(build_app.BuildError, match="CPU build of PyTorch"):
            build_app.check_torch(cpu_only=True)
        assert f"CUDA {torch.version.cuda}" in build_app.check_torch(cpu_only=False)


def test_first_start_environment_is_empty_and_headless_ready(build_app, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_VIEWER_RESOURCES", "/somewhere")
    env = build_app.first_start_env(tmp_path)
    assert env["HOME"] == str(tmp_path) and env["XDG_CONFIG_HOME"].startswith(str(tmp_path))
    assert "LLM_VIEWER_RESOURCES" not in env and env["LLM_VIEWER_REPORT_STARTUP"] == "1"


def test_spec_ships_resources_and_excludes_build_only_files():
    spec = (ROOT / "packaging" / "llm-viewer.spec").read_text()
    assert '"resources/models/demo"' in spec and "launcher.py" in spec
    for excluded in ('"triton"', '"monai"', '"training"', "torch/include/"):
        assert excluded in spec


# ----------------------------------------------------------------- wheel contents (pipx install .)
@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="setup.py (copies resources/ into the wheel) not applied")
def test_wheel_ships_the_resources_inside_the_package(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    names = zipfile.ZipFile(next(tmp_path.glob("llm_viewer-*.whl"))).namelist()
    assert "llm_viewer/resources/icons/llm-viewer.svg" in names
    assert "llm_viewer/resources/llm-viewer.desktop" in names
    assert "llm_viewer/resources_path.py" in names
