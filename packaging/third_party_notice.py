"""The third-party notice of the application folder: every bundled distribution, its version, licence and text.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python packaging/third_party_notice.py [--out THIRD-PARTY-NOTICES.txt]

Without a PyInstaller analysis at hand the script lists the runtime closure of ``llm-viewer``'s
requirements (what the application folder can hold, minus :data:`EXCLUDED_DISTRIBUTIONS`). The spec
(``packaging/llm-viewer.spec``) calls :func:`shipped_distributions` on the files PyInstaller actually
collected instead, writes the notice into the app (``_internal/THIRD-PARTY-NOTICES.txt``; Help > About shows
it) and stops the build when a bundled distribution has no licence text (:class:`NoticeError`).

The metadata comes from the installed distributions (:mod:`importlib.metadata`); the licence texts from
their ``License-File`` entries and the licence files they install. Where a wheel ships no text (PySide6 and
shiboken6 ship none) the text is taken from ``packaging/licenses/`` (:data:`VENDORED`: the official texts,
as Debian ships them in ``/usr/share/common-licenses``). Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LICENSES = HERE / "licenses"
NOTICE_NAME = "THIRD-PARTY-NOTICES.txt"
PROJECT = "llm-viewer"

EXCLUDED_DISTRIBUTIONS = frozenset({
    "triton", "monai", "hypothesis", "pluggy", "pytest", "iniconfig", "sortedcontainers", "pytest-qt",
    "pip", "cuda-toolkit",
})
"""Never in the app (the spec excludes them, or they install nothing the app loads): not in the notice and
their metadata is dropped from the app."""

METAPACKAGES = frozenset({"cuda-toolkit"})
"""Install no file of their own: their requirements (the nvidia-* wheels) are followed, they are not listed."""

ALWAYS = ("pyinstaller",)
"""In every build though no Python file of theirs is collected: PyInstaller's bootloader is the executable."""

QT_SOURCE = ("Qt for Python (PySide6, Shiboken6) is used under the LGPL-3.0; it is dynamically linked: the Qt "
             "libraries are separate files in _internal/PySide6/Qt/lib that may be replaced. The source code of "
             "Qt for Python {version} and of Qt is available at https://download.qt.io/official_releases/"
             "QtForPython/ and https://download.qt.io/official_releases/qt/ (and code.qt.io).")

VENDORED: dict[str, tuple[str, tuple[str, ...], str]] = {
    "pyside6-essentials": ("LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only",
                           ("LGPL-3.0.txt", "GPL-3.0.txt", "GPL-2.0.txt"), QT_SOURCE),
    "shiboken6": ("LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only",
                  ("LGPL-3.0.txt", "GPL-3.0.txt", "GPL-2.0.txt"), QT_SOURCE),
    # highdicom's dependency (pydicom decodes JPEG-LS with it); its wheel ships no text. It bundles CharLS.
    "pyjpegls": ("MIT AND BSD-3-Clause", ("pyjpegls-MIT.txt", "CharLS-BSD-3-Clause.txt"),
                 "texts from github.com/pydicom/pyjpegls (license.txt) and github.com/team-charls/charls (LICENSE.md)"),
}
"""Licence texts the wheels lack: normalised distribution name -> (licence, files in packaging/licenses, note)."""

LICENCE_FILE = re.compile(r"(^|[/_.-])(LICEN[CS]E|COPYING|NOTICE|COPYRIGHT)[^/]*$", re.IGNORECASE)


class NoticeError(RuntimeError):
    """A bundled distribution has no licence text: the build must not go on."""


def normalise(name: str) -> str:
    """PEP 503 name: ``PySide6_Essentials`` -> ``pyside6-essentials``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Entry:
    """One component of the notice."""

    name: str
    version: str
    licence: str
    texts: list[tuple[str, str]] = field(default_factory=list)  # (file label, full text)
    note: str = ""


# ---------------------------------------------------------------- one distribution
def licence_name(dist: md.Distribution) -> str:
    """The licence as the metadata states it: License-Expression, a short License, else the classifiers."""
    meta = dist.metadata
    vendored = VENDORED.get(normalise(meta["Name"] or ""))
    for value in (meta.get("License-Expression"), meta.get("License")):
        value = (value or "").strip()
        if value and "\n" not in value and len(value) <= 120:
            return value
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return " / ".join(classifiers)
    if vendored:
        return vendored[0]
    first = (meta.get("License") or "").strip().splitlines()
    return first[0][:120] if first else "UNKNOWN"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace").strip()


def licence_texts(dist: md.Distribution) -> list[tuple[str, str]]:
    """Full licence texts of a distribution: its License-File entries, then any licence file it installs, then
    the vendored texts of :data:`VENDORED`. Texts with the same content are given once."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(label: str, text: str) -> None:
        if text and text not in seen:
            seen.add(text)
            found.append((label, text))

    files = list(dist.files or [])
    declared = set(dist.metadata.get_all("License-File") or [])
    meta_dir = [f for f in files if f.parts and f.parts[0].endswith((".dist-info", ".egg-info"))]
    for f in meta_dir:  # dist-info/licenses/<License-File> (metadata 2.4) or dist-info/<License-File>
        rel = "/".join(f.parts[2:] if len(f.parts) > 2 and f.parts[1] == "licenses" else f.parts[1:])
        if rel in declared or LICENCE_FILE.search(str(f)):
            path = Path(dist.locate_file(f))
            if path.is_file():
                add(rel, _read(path))
    if not found:  # e.g. nvidia-cusparselt: nvidia/cusparselt/LICENSE.txt
        for f in files:
            if LICENCE_FILE.search(str(f)) and not str(f).endswith((".py", ".pyc", ".so", ".h")):
                path = Path(dist.locate_file(f))
                if path.is_file():
                    add(str(f), _read(path))
    vendored = VENDORED.get(normalise(dist.metadata["Name"] or ""))
    for name in vendored[1] if vendored else ():
        add(f"{name} (from packaging/licenses)", _read(LICENSES / name))
    return found


def entry_for(dist: md.Distribution) -> Entry:
    name = dist.metadata["Name"]
    vendored = VENDORED.get(normalise(name))
    note = vendored[2].format(version=dist.version) if vendored else ""
    licence, texts = licence_name(dist), licence_texts(dist)
    if licence == "UNKNOWN" and texts:  # no licence in the metadata: the licence file's title
        title = texts[0][1].splitlines()[0].strip()
        licence = f"{title} (from its licence file)" if 0 < len(title) <= 80 else licence
    return Entry(name, dist.version, licence, texts, note)


def python_entry() -> Entry:
    """The Python interpreter and standard library bundled by PyInstaller (libpython, the stdlib modules)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [("LICENSE.txt", _read(p)) for p in (stdlib / "LICENSE.txt",) if p.is_file()]
    return Entry("Python", sys.version.split()[0], "PSF-2.0", texts)


# ---------------------------------------------------------------- which distributions
def runtime_distributions(project: str = PROJECT) -> list[md.Distribution]:
    """The installed closure of ``project``'s requirements (no extras), less :data:`EXCLUDED_DISTRIBUTIONS`."""
    from packaging.requirements import Requirement  # noqa: PLC0415 - PyInstaller and pip depend on it

    todo: list[tuple[str, frozenset[str]]] = [(project, frozenset())]
    done: dict[str, md.Distribution] = {}
    expanded: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        name = normalise(name)
        if (name, extras) in expanded or (name in EXCLUDED_DISTRIBUTIONS and name not in METAPACKAGES):
            continue
        expanded.add((name, extras))
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        if name not in METAPACKAGES:
            done[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
                todo.append((req.name, frozenset(req.extras)))
    done.pop(normalise(project), None)
    return sorted(done.values(), key=lambda d: normalise(d.metadata["Name"]))


def file_owners(dists: Iterable[md.Distribution] | None = None) -> dict[str, md.Distribution]:
    """Real path of every installed file -> its distribution (from the RECORD files)."""
    owners: dict[str, md.Distribution] = {}
    for dist in md.distributions() if dists is None else dists:
        for f in dist.files or []:
            owners[os.path.realpath(dist.locate_file(f))] = dist
    return owners


@dataclass
class Shipped:
    """What a set of collected files belongs to."""

    distributions: list[md.Distribution]
    python: bool
    system: list[str]        # files from the build system (not Python's, not a distribution's)
    unowned: list[str]       # files under site-packages that no RECORD lists


def shipped_distributions(sources: Iterable[str], owners: dict[str, md.Distribution] | None = None,
                          generated: Iterable[str | Path] = ()) -> Shipped:
    """The distributions owning any of ``sources`` (source paths of PyInstaller's collected files).

    Files of the project itself, of Python (standard library, libpython), copied metadata (``*.dist-info``)
    and files below ``generated`` (PyInstaller's work folder: ``base_library.zip``) are left out; files from
    the build system (e.g. ``/lib/.../libstdc++.so.6``) are listed in ``system``. A distribution whose code
    is collected is listed even when it is in :data:`EXCLUDED_DISTRIBUTIONS`: exclude it in the spec instead.
    """
    owners = file_owners() if owners is None else owners
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    site = {os.path.realpath(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}
    roots = {os.path.realpath(ROOT)} | _project_dirs()
    skipped = {os.path.realpath(g) for g in generated}
    found: dict[str, md.Distribution] = {}
    python, system, unowned = False, set(), set()
    for src in sources:
        if not src or not os.path.isabs(src):
            continue
        real = os.path.realpath(src)
        if re.search(r"\.(dist|egg)-info(/|$)", real.replace(os.sep, "/")):
            continue  # copied metadata does not ship a distribution (hooks copy metadata of excluded ones)
        dist = owners.get(real)
        if dist is not None:
            found[normalise(dist.metadata["Name"])] = dist
        elif any(real.startswith(s + os.sep) for s in site):
            unowned.add(real)
        elif any(real.startswith(r + os.sep) for r in roots | skipped):
            continue  # llm-viewer itself, or made by PyInstaller
        elif real.startswith(stdlib + os.sep) or any(real.startswith(p + os.sep) for p in prefixes):
            python = True
        else:
            system.add(real)
    for name in ALWAYS:
        try:
            found.setdefault(name, md.distribution(name))
        except md.PackageNotFoundError:
            pass
    found.pop(normalise(PROJECT), None)
    return Shipped(sorted(found.values(), key=lambda d: normalise(d.metadata["Name"])), python, sorted(system),
                   sorted(unowned))


def _project_dirs() -> set[str]:
    """Where this interpreter imports the project's packages from (an editable install may map them elsewhere)."""
    import importlib.util  # noqa: PLC0415

    dirs = set()
    for pkg in ("llm_viewer", "training"):
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            dirs.add(os.path.realpath(loc))
    return dirs


def drop_unshipped_metadata(datas: list[tuple], shipped: Iterable[str]) -> list[tuple]:
    """PyInstaller data entries less the ``*.dist-info`` / ``*.egg-info`` folders of distributions that are not
    shipped (e.g. hypothesis, pluggy: hooks copy their metadata though their code is excluded)."""
    keep = {normalise(n) for n in shipped} | {normalise(PROJECT)}
    out = []
    for entry in datas:
        top = str(entry[0]).replace("\\", "/").split("/", 1)[0]
        m = re.fullmatch(r"(.+?)-[^-]+\.(dist|egg)-info", top)
        if m and normalise(m.group(1)) not in keep:
            continue
        out.append(entry)
    return out


# ---------------------------------------------------------------- system libraries (Debian)
def system_entries(paths: Iterable[str]) -> list[Entry]:
    """Libraries copied from the build system: their Debian package and its copyright file, where known."""
    paths = list(paths)
    owners = _dpkg_owners(paths)
    by_pkg: dict[str, list[str]] = {}
    for p in paths:
        by_pkg.setdefault(owners.get(p, ""), []).append(p)
    entries = []
    for pkg, files in sorted(by_pkg.items()):
        names = ", ".join(sorted(Path(f).name for f in files))
        copyright_file = Path("/usr/share/doc") / pkg.split(":")[0] / "copyright"
        if pkg and copyright_file.is_file():
            entries.append(Entry(f"{names} (Debian package {pkg})", _dpkg_version(pkg),
                                 "see the package's copyright file", [(str(copyright_file), _read(copyright_file))]))
        else:
            entries.append(Entry(names, "", "from the build system; see its package's licence",
                                 note="no package database on the build machine: add the texts by hand"))
    return entries


def _dpkg_owners(paths: list[str]) -> dict[str, str]:
    """Debian package of each path (one ``dpkg -S`` call; /usr/lib and /lib are the same on merged-/usr)."""
    variants = {}
    for p in paths:
        for cand in {p, re.sub(r"^/usr/lib/", "/lib/", p), re.sub(r"^/lib/", "/usr/lib/", p)}:
            variants.setdefault(cand, p)
    if not variants:
        return {}
    try:
        out = subprocess.run(["dpkg", "-S", *sorted(variants)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    owners: dict[str, str] = {}
    for line in out.stdout.splitlines():
        pkg, sep, path = line.partition(": ")
        if sep and path.strip() in variants and "diversion" not in pkg:
            owners.setdefault(variants[path.strip()], pkg.split(",")[0].strip())
    return owners


def _dpkg_version(pkg: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


# ---------------------------------------------------------------- the notice
def collect(dists: Iterable[md.Distribution], *, python: bool = True,
            system: Iterable[str] = ()) -> list[Entry]:
    """Entries of the notice; raises :class:`NoticeError` naming every distribution that has no licence text."""
    entries = [python_entry()] if python else []
    entries += [entry_for(d) for d in dists]
    missing = [f"{e.name} {e.version}" for e in entries if not e.texts]
    if missing:
        raise NoticeError(
            "no licence text for " + ", ".join(missing) + ": the app may not be distributed without it. Add the "
            "official text to packaging/licenses/ and the distribution to VENDORED in "
            "packaging/third_party_notice.py, or exclude the package from the build.")
    return entries + system_entries(system)


def render(entries: list[Entry]) -> str:
    """The notice as plain text: a summary table, then each component's full licence texts."""
    width = min(max((len(e.name) for e in entries), default=10), 32)  # longer names push their row's columns
    vwidth = max((len(e.version) for e in entries), default=7)
    lines = [
        "llm-viewer: third-party software notices",
        "=" * 40,
        "",
        "llm-viewer is research software (research use only, not a medical device). Its application folder",
        "contains the third-party components below, each under its own licence; the full texts follow.",
        "",
        f"{'Component'.ljust(width)}  {'Version'.ljust(vwidth)}  Licence",
        f"{'-' * width}  {'-' * vwidth}  {'-' * 7}",
    ]
    lines += [f"{e.name.ljust(width)}  {e.version.ljust(vwidth)}  {e.licence}" for e in entries]
    for e in entries:
        lines += ["", "", "=" * 78, f"{e.name} {e.version}".rstrip(), f"Licence: {e.licence}"]
        lines += [f"Note: {e.note}"] if e.note else []
        lines.append("=" * 78)
        for label, text in e.texts:
            lines += ["", f"--- {label} ---", "", text]
    return "\n".join(lines) + "\n"


def write_notice(path: Path, dists: Iterable[md.Distribution], *, python: bool = True,
                 system: Iterable[str] = ()) -> list[Entry]:
    """Collect (raises :class:`NoticeError`), render and write the notice; returns its entries."""
    entries = collect(dists, python=python, system=system)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(entries), encoding="utf-8")
    return entries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(NOTICE_NAME), help=f"file to write (default: {NOTICE_NAME})")
    args = ap.parse_args(argv)
    try:
        entries = write_notice(args.out, runtime_distributions())
    except NoticeError as exc:
        print(f"third_party_notice: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {len(entries)} components")
    return 0


if __name__ == "__main__":
    sys.exit(main())
