"""What a distributable app needs: the third-party notice (and the build failing without a licence text), the
desktop entry passing desktop-file-validate, the GLIBC check of the bundled libraries, install-desktop.sh with
awkward venv paths, and the notice in Help > About."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_packaging import ROOT, load_module

VALIDATOR = shutil.which("desktop-file-validate")
needs_validator = pytest.mark.skipif(
    VALIDATOR is None, reason="desktop-file-validate is not installed (Debian/Ubuntu: apt-get install "
                              "desktop-file-utils; .ci/run installs it)")


@pytest.fixture(scope="module")
def tpn():
    return load_module(ROOT / "packaging" / "third_party_notice.py", "llm_viewer_packaging_third_party_notice")


@pytest.fixture(scope="module")
def build_app():
    return load_module(ROOT / "packaging" / "build_app.py", "llm_viewer_packaging_build_app")


def fake_distribution(site: Path, name: str, *, licence_file: str | None = None, license_field: str = "",
                      ) -> md.Distribution:
    """An installed distribution ``name`` 1.0 in ``site`` with one module, and a licence file when asked."""
    pkg = site / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    meta = ["Metadata-Version: 2.4", f"Name: {name}", "Version: 1.0"]
    meta += [f"License: {license_field}"] if license_field else []
    record = [f"{name}/__init__.py,,", f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    if licence_file:
        (info / "licenses").mkdir()
        (info / "licenses" / "LICENSE").write_text(licence_file)
        meta.append("License-File: LICENSE")
        record.append(f"{info.name}/licenses/LICENSE,,")
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return md.PathDistribution(info)


# ----------------------------------------------------------------- third-party notice
def test_a_bundled_distribution_without_a_licence_text_fails_the_build(tpn, tmp_path):
    site = tmp_path / "site-packages"
    good = fake_distribution(site, "goodpkg", licence_file="MIT License\n\nCopyright (c) the goodpkg authors")
    bad = fake_distribution(site, "nolicence", license_field="MIT")
    # what the spec does: the owners of the collected files, then the notice
    shipped = tpn.shipped_distributions([str(site / "goodpkg" / "__init__.py"), str(site / "nolicence" / "__init__.py")],
                                        owners=tpn.file_owners([good, bad]))
    assert [d.metadata["Name"] for d in shipped.distributions if d.metadata["Name"] in {"goodpkg", "nolicence"}] \
        == ["goodpkg", "nolicence"]
    with pytest.raises(tpn.NoticeError, match=r"no licence text for nolicence 1\.0") as err:
        tpn.write_notice(tmp_path / "notice.txt", shipped.distributions, python=False)
    assert "goodpkg" not in str(err.value) and "packaging/licenses" in str(err.value)
    assert not (tmp_path / "notice.txt").exists()


def test_the_notice_lists_version_licence_and_full_text(tpn, tmp_path):
    good = fake_distribution(tmp_path / "site", "goodpkg", licence_file="MIT License\n\nPermission is hereby granted",
                             license_field="MIT")
    bare = fake_distribution(tmp_path / "site", "barepkg", licence_file="BSD 2-Clause License\n\nRedistribution")
    entries = tpn.write_notice(tmp_path / "notice.txt", [good, bare])
    text = (tmp_path / "notice.txt").read_text()
    assert [e.name for e in entries] == ["Python", "goodpkg", "barepkg"]
    assert re.search(r"^goodpkg\s+1\.0\s+MIT$", text, re.M)  # the summary rows
    assert re.search(r"^barepkg\s+1\.0\s+BSD 2-Clause License \(from its licence file\)$", text, re.M)
    assert "Permission is hereby granted" in text and "PYTHON SOFTWARE FOUNDATION LICENSE" in text


def test_qt_for_python_gets_the_vendored_lgpl_and_gpl_texts(tpn):
    for name in ("PySide6-Essentials", "shiboken6"):
        dist = md.distribution(name)
        entry = tpn.entry_for(dist)
        assert entry.licence.startswith("LGPL-3.0")
        joined = "\n".join(t for _, t in entry.texts)
        assert "GNU LESSER GENERAL PUBLIC LICENSE" in joined and "Version 3, 29 June 2007" in joined
        assert "GNU GENERAL PUBLIC LICENSE" in joined and "download.qt.io" in entry.note


@pytest.mark.parametrize("name,debian", [("LGPL-3.0.txt", "LGPL-3"), ("GPL-3.0.txt", "GPL-3"), ("GPL-2.0.txt", "GPL-2")])
def test_vendored_licences_are_the_full_official_texts(name, debian):
    text = (ROOT / "packaging" / "licenses" / name).read_text()
    assert len(text) > 7000 and ("END OF TERMS AND CONDITIONS" in text or "LESSER" in text)
    official = Path("/usr/share/common-licenses") / debian
    if official.is_file():
        assert text == official.read_text()


def test_the_runtime_notice_of_this_environment_is_complete(tpn, tmp_path):
    names = {tpn.normalise(d.metadata["Name"]) for d in tpn.runtime_distributions()}
    assert {"torch", "pyside6-essentials", "shiboken6", "pydicom", "pyqtgraph", "pylibjpeg-libjpeg"} <= names
    assert not names & {"monai", "triton", "hypothesis", "pluggy", "pytest", "llm-viewer", "cuda-toolkit"}
    entries = tpn.write_notice(tmp_path / "n.txt", tpn.runtime_distributions())  # raises when a text is missing
    assert all(e.texts for e in entries)


def test_shipped_distributions_follow_the_collected_files(tpn, tmp_path):
    import pyqtgraph

    def metadata_file(name: str) -> str:
        dist = md.distribution(name)
        return next(str(dist.locate_file(f)) for f in dist.files if f.name == "METADATA")

    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "base_library.zip").write_bytes(b"PK")
    sources = [pyqtgraph.__file__, os.__file__, str(ROOT / "llm_viewer" / "cli.py"),
               metadata_file("hypothesis"), metadata_file("pluggy"),  # metadata copied by a hook ships no package
               "/lib/x86_64-linux-gnu/libexpat.so.1", str(tmp_path / "work" / "base_library.zip"), "base_library.zip"]
    shipped = tpn.shipped_distributions(sources, generated=[tmp_path / "work"])
    names = {tpn.normalise(d.metadata["Name"]) for d in shipped.distributions}
    assert "pyqtgraph" in names and not names & {"hypothesis", "pluggy", "llm-viewer"}
    assert shipped.python and not any("base_library" in s for s in shipped.system)
    if Path("/lib/x86_64-linux-gnu/libexpat.so.1").exists():
        assert any("libexpat" in s for s in shipped.system)
    # collected code is listed, excluded or not: the spec must exclude it (pytest's code is not in the app)
    import _pytest

    assert "pytest" in {tpn.normalise(d.metadata["Name"]) for d in tpn.shipped_distributions([_pytest.__file__]).distributions}
    spec = (ROOT / "packaging" / "llm-viewer.spec").read_text()
    assert all(f'"{m}"' in spec for m in ("pytest", "_pytest", "py", "pluggy", "hypothesis"))


def test_metadata_of_packages_that_ship_nothing_is_dropped(tpn):
    datas = [("hypothesis-6.170.15.dist-info/METADATA", "/x", "DATA"), ("pluggy-1.7.0.dist-info/RECORD", "/x", "DATA"),
             ("pyqtgraph-0.14.0.dist-info/METADATA", "/x", "DATA"), ("llm_viewer-0.1.0.dist-info/METADATA", "/x", "DATA"),
             ("pyside6_essentials-6.11.3.dist-info/METADATA", "/x", "DATA"), ("resources/icons/a.png", "/x", "DATA")]
    kept = [d[0].split("/")[0] for d in tpn.drop_unshipped_metadata(datas, ["pyqtgraph", "PySide6_Essentials"])]
    assert kept == ["pyqtgraph-0.14.0.dist-info", "llm_viewer-0.1.0.dist-info", "pyside6_essentials-6.11.3.dist-info",
                    "resources"]


def test_spec_writes_the_notice_and_stops_without_a_licence():
    spec = (ROOT / "packaging" / "llm-viewer.spec").read_text()
    assert "tpn.write_notice(" in spec and "except tpn.NoticeError" in spec and "raise SystemExit" in spec
    assert "drop_unshipped_metadata" in spec and "tpn.NOTICE_NAME" in spec


def test_build_checks_the_shipped_notice_and_metadata(build_app, tpn, tmp_path):
    internal = tmp_path / "app" / "_internal"
    internal.mkdir(parents=True)
    with pytest.raises(build_app.BuildError, match="notice .* is missing"):
        build_app.check_notice(tmp_path / "app")
    good = fake_distribution(tmp_path / "site", "goodpkg", licence_file="MIT License")
    (internal / tpn.NOTICE_NAME).write_text(tpn.render(tpn.collect([good])))
    (internal / "goodpkg-1.0.dist-info").mkdir()
    (internal / "llm_viewer-0.1.0.dist-info").mkdir()
    assert build_app.check_notice(tmp_path / "app") > 1000
    (internal / "other_pkg-2.0.dist-info").mkdir()
    with pytest.raises(build_app.BuildError, match="does not list .*other-pkg"):
        build_app.check_notice(tmp_path / "app")
    (internal / "other_pkg-2.0.dist-info").rmdir()
    (internal / "hypothesis-6.170.15.dist-info").mkdir()
    with pytest.raises(build_app.BuildError, match="excluded packages is shipped: hypothesis"):
        build_app.check_notice(tmp_path / "app")


# ----------------------------------------------------------------- oldest supported Linux: GLIBC versions
def small_elf_files() -> list[Path]:
    cands = [Path(sys.executable).resolve(), Path("/lib/x86_64-linux-gnu/libexpat.so.1").resolve()]
    import _ctypes
    cands.append(Path(_ctypes.__file__))  # an extension module of the interpreter
    return [p for p in cands if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF files: Linux only")
@pytest.mark.parametrize("path", small_elf_files(), ids=lambda p: p.name)
def test_glibc_versions_are_read_from_real_elf_files(build_app, path):
    names = build_app.elf_needed_versions(path)
    highest = build_app.glibc_needed(path)
    assert highest is not None and highest >= (2, 2) and any(n.startswith("GLIBC_") for n in names)
    readelf = shutil.which("readelf")
    if readelf:  # the same "Version needs" as binutils
        out = subprocess.run([readelf, "-V", "-W", str(path)], capture_output=True, text=True, check=True).stdout
        assert sorted(set(names)) == sorted(set(re.findall(r"Name: (\S+)\s+Flags", out)))
        assert highest == max(tuple(map(int, v.split("."))) for v in re.findall(r"Name: GLIBC_([\d.]+)\s", out))


def test_non_elf_files_need_no_glibc(build_app, tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "short").write_bytes(b"\x7fEL")
    assert build_app.elf_needed_versions(tmp_path / "a.txt") == [] and build_app.glibc_needed(tmp_path / "short") is None
    assert build_app.check_glibc(tmp_path) == (None, [])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF files: Linux only")
def test_build_fails_when_a_bundled_library_needs_a_newer_glibc(build_app, tmp_path):
    lib = small_elf_files()[0]
    app = tmp_path / "app" / "_internal"
    app.mkdir(parents=True)
    shutil.copy2(lib, app / lib.name)
    (app / "data.json").write_text("{}")
    need = build_app.glibc_needed(lib)
    assert build_app.check_glibc(tmp_path / "app", maximum=need) == (need, [app / lib.name])
    older = (need[0], need[1] - 1)
    with pytest.raises(build_app.BuildError, match=rf"need a GLIBC newer than {older[0]}\.{older[1]}.*{lib.name}"):
        build_app.check_glibc(tmp_path / "app", maximum=older)
    assert build_app.parse_version("2.28") == (2, 28) and build_app.SUPPORTED_GLIBC == (2, 36)
    with pytest.raises(Exception, match="not a version"):
        build_app.parse_version("bookworm")


# ----------------------------------------------------------------- desktop entry
@needs_validator
def test_desktop_entry_passes_desktop_file_validate():
    out = subprocess.run([VALIDATOR, str(ROOT / "resources" / "llm-viewer.desktop")], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "" and out.stderr.strip() == "", out.stdout + out.stderr


def test_desktop_entry_registers_only_dicom():
    lines = (ROOT / "resources" / "llm-viewer.desktop").read_text().splitlines()
    assert "MimeType=application/dicom;" in lines and "Version=1.4" in lines


# ----------------------------------------------------------------- install-desktop.sh from awkward venv paths
def fake_venv(folder: Path) -> Path:
    """A venv-like folder: bin/python (this interpreter) and the llm-viewer console script as pip writes it."""
    bindir = folder / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python").symlink_to(sys.executable)
    python = str(bindir / "python")
    try:
        from pip._vendor.distlib.scripts import ScriptMaker, enquote_executable
    except ImportError:  # pragma: no cover - pip's own writer is the reference; this is its format
        body = (f"#!{python}\n" if " " not in python and len(python) + 3 <= 127 else
                f"#!/bin/sh\n'''exec' {chr(34) + python + chr(34) if ' ' in python else python} \"$0\" \"$@\"\n' '''\n")
        (bindir / "llm-viewer").write_text(body + "from llm_viewer.cli import main\nmain()\n")
        (bindir / "llm-viewer").chmod(0o755)
    else:
        maker = ScriptMaker(None, str(bindir))
        maker.executable = enquote_executable(python)
        maker.variants = {""}
        maker.make("llm-viewer = llm_viewer.cli:main")
    return bindir / "llm-viewer"


@pytest.mark.skipif(shutil.which("bash") is None or sys.platform == "win32", reason="needs bash")
@pytest.mark.parametrize("kind", ["space", "long"])
def test_install_desktop_works_from_a_venv_with_a_space_or_a_long_path(tmp_path, kind):
    venv = tmp_path / "my venv" if kind == "space" else tmp_path / ("v" * max(1, 140 - len(str(tmp_path)))) / "venv"
    exe = fake_venv(venv)
    first = exe.read_text().splitlines()[0]
    assert first == "#!/bin/sh"  # pip's wrapper: the case that used to fail with "Syntax error"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)}
    env.pop("LLM_VIEWER_RESOURCES", None)
    out = subprocess.run(["bash", str(ROOT / "packaging" / "install-desktop.sh"), str(exe)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    entry = (tmp_path / "data" / "applications" / "llm-viewer.desktop").read_text().splitlines()
    assert f'Exec="{exe}" gui %f' in entry and f"TryExec={exe}" in entry
    assert (tmp_path / "data" / "icons" / "hicolor" / "48x48" / "apps" / "llm-viewer.png").is_file()
    if VALIDATOR:
        val = subprocess.run([VALIDATOR, str(tmp_path / "data" / "applications" / "llm-viewer.desktop")],
                             capture_output=True, text=True)
        assert val.returncode == 0, val.stdout + val.stderr


# ----------------------------------------------------------------- Help > About shows the shipped notice
def test_about_dialog_shows_the_shipped_notice(qtbot, tmp_path, monkeypatch):
    from llm_viewer.gui import about

    dlg = about.AboutDialog(bundle_path=tmp_path / "no-bundle")
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.bundleShown, timeout=30000):
        dlg.show()
    assert not dlg.notice_button.isEnabled() and dlg.show_notice() is None  # a Python install: none shipped

    (tmp_path / "_internal").mkdir()
    (tmp_path / "_internal" / about.NOTICE_FILE).write_text("llm-viewer: third-party software notices\nGNU LESSER")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "_internal"), raising=False)
    dlg2 = about.AboutDialog(bundle_path=tmp_path / "no-bundle")
    qtbot.addWidget(dlg2)
    with qtbot.waitSignal(dlg2.bundleShown, timeout=30000):
        dlg2.show()
    assert dlg2.notice_button.isEnabled()
    shown = dlg2.show_notice()
    qtbot.addWidget(shown)
    from PySide6 import QtWidgets

    assert shown.findChild(QtWidgets.QPlainTextEdit, "notice_text").toPlainText().endswith("GNU LESSER")
