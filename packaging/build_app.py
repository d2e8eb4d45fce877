"""Build the self-contained llm-viewer application folder with PyInstaller, check it, then smoke-test it.

Usage (from the repository root, with the project's environment, see docs/PACKAGING.md)::

    .venv/bin/python packaging/build_app.py [--out build/app] [--models DIR] [--cpu-only] [--skip-build]
                                            [--xvfb] [--max-glibc 2.36]

Steps:

1. ``PyInstaller packaging/llm-viewer.spec`` into ``OUT/dist/llm-viewer`` (work files in ``OUT/work``); the
   spec writes the third-party notice and stops when a bundled distribution has no licence text;
2. checks of the folder: the notice is there and names every ``*.dist-info`` folder shipped, no metadata of
   an excluded package (hypothesis, pluggy) is shipped, and no bundled library needs a newer GLIBC than
   ``--max-glibc`` (the oldest supported Linux, :data:`SUPPORTED_GLIBC`);
3. smoke test of the built app in a fresh, empty home folder (a true first start, removed afterwards):
   ``llm-viewer --version``, then ``llm-viewer gui --demo --screenshot OUT/smoke.png`` headless
   (``QT_QPA_PLATFORM=offscreen``, or under ``xvfb-run`` with ``--xvfb``), twice (first start generates the
   demo; the second is a warm start);
4. ``llm-viewer analyze`` on the generated demo image (inference in the frozen app);
5. a table: folder size, highest GLIBC needed, time to ``--version``, time until the window is shown, time
   until the screenshot, time of ``analyze``.

Exit status 0 only when the build and the checks succeeded, the screenshot exists and is a PNG of the window.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "llm-viewer.spec"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


SUPPORTED_GLIBC = (2, 36)
"""The oldest GLIBC the Linux application folder supports: Debian 12 (bookworm), the build machine. A build on
an older system (``--max-glibc``) supports older ones; see docs/PACKAGING.md."""
EXCLUDED_METADATA = ("hypothesis", "pluggy", "pytest", "triton", "monai")
"""Excluded packages whose ``*.dist-info`` must not be in the app."""


class BuildError(RuntimeError):
    """The build or the smoke test failed; the message says which step and why."""


@dataclass(frozen=True)
class SmokeRun:
    """One headless start of the built app."""

    label: str
    total_s: float
    window_shown_s: float | None
    screenshot: Path
    png_bytes: int


def folder_size_bytes(folder: Path) -> int:
    """Bytes of every regular file below ``folder`` (links are not followed)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# ---------------------------------------------------------------- GLIBC symbol versions of ELF files
_SHT_GNU_VERNEED = 0x6FFFFFFE
_GLIBC = re.compile(rb"GLIBC_(\d+(?:\.\d+)+)$")


def elf_needed_versions(path: Path) -> list[str]:
    """Symbol version names an ELF file needs from the libraries it links (its ``.gnu.version_r`` section,
    what ``readelf -V`` lists as "Version needs"), e.g. ``["GLIBC_2.2.5", "GLIBCXX_3.4"]``; ``[]`` for a file
    that is not ELF or needs none. Pure Python: no binutils needed."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            return []
        is64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
        head = f.read(48 if is64 else 36)
        if is64:
            shoff, = struct.unpack_from(end + "Q", head, 24)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", head, 42)
        else:
            shoff, = struct.unpack_from(end + "I", head, 16)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", head, 30)
        if not shoff or not shnum:
            return []
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        fmt = end + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
        sections = [struct.unpack_from(fmt, table, i * shentsize) for i in range(len(table) // shentsize)]

        def read(sec: tuple) -> bytes:
            f.seek(sec[4])
            return f.read(sec[5])

        names: list[str] = []
        for sec in sections:
            if sec[1] != _SHT_GNU_VERNEED or sec[6] >= len(sections):
                continue
            data, strtab = read(sec), read(sections[sec[6]])
            off = 0
            for _ in range(sec[7]):  # sh_info: number of Verneed entries
                _ver, cnt, _file, aux, nxt = struct.unpack_from(end + "HHIII", data, off)
                a = off + aux
                for _ in range(cnt):
                    _hash, _flags, _other, name, anext = struct.unpack_from(end + "IHHII", data, a)
                    names.append(strtab[name:strtab.index(b"\0", name)].decode("ascii", "replace"))
                    if not anext:
                        break
                    a += anext
                if not nxt:
                    break
                off += nxt
        return names


def glibc_needed(path: Path) -> tuple[int, ...] | None:
    """The highest ``GLIBC_x.y`` version an ELF file needs, or ``None``."""
    versions = [tuple(int(p) for p in m.group(1).split(b"."))
                for n in elf_needed_versions(path) if (m := _GLIBC.match(n.encode()))]
    return max(versions, default=None)


def glibc_report(folder: Path) -> dict[tuple[int, ...], list[Path]]:
    """Every ELF file below ``folder`` by the highest GLIBC version it needs (links are not followed)."""
    by_version: dict[tuple[int, ...], list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            try:
                v = glibc_needed(p)
            except (OSError, struct.error, ValueError):
                continue
            if v is not None:
                by_version.setdefault(v, []).append(p)
    return by_version


def version_text(v: tuple[int, ...]) -> str:
    return ".".join(map(str, v))


def parse_version(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d+(\.\d+)+", text.strip()):
        raise argparse.ArgumentTypeError(f"not a version like 2.36: {text!r}")
    return tuple(int(p) for p in text.strip().split("."))


def check_glibc(folder: Path, maximum: tuple[int, ...] = SUPPORTED_GLIBC) -> tuple[tuple[int, ...] | None, list[Path]]:
    """The highest GLIBC version any bundled library needs and the libraries needing it; raises
    :class:`BuildError` when it is above ``maximum`` (the app would not start on the oldest supported Linux)."""
    report = glibc_report(folder)
    if not report:
        return None, []
    highest = max(report)
    if highest > maximum:
        too_new = sorted((p for v, ps in report.items() if v > maximum for p in ps))
        listed = ", ".join(f"{p.relative_to(folder)} (GLIBC {version_text(glibc_needed(p))})" for p in too_new[:12])
        raise BuildError(
            f"{len(too_new)} bundled files need a GLIBC newer than {version_text(maximum)}, the oldest supported: "
            f"{listed}{' …' if len(too_new) > 12 else ''}. Build on the oldest Linux you support (docs/PACKAGING.md), "
            "or raise --max-glibc and say so in the docs.")
    return highest, report[highest]


# ---------------------------------------------------------------- third-party notice and metadata
def check_notice(app_dir: Path) -> int:
    """The notice is shipped and names every shipped ``*.dist-info``; no excluded package's metadata is
    shipped. Returns the notice's size in bytes."""
    internal = app_dir / "_internal" if (app_dir / "_internal").is_dir() else app_dir
    notice = internal / "THIRD-PARTY-NOTICES.txt"
    if not notice.is_file():
        raise BuildError(f"the third-party notice {notice} is missing")
    text = notice.read_text(encoding="utf-8")
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()  # noqa: E731
    lines = text.splitlines()
    start = next((i + 2 for i, line in enumerate(lines) if line.startswith("Component ")), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    listed = {norm(line.split()[0]) for line in lines[start:end]}  # the summary table's first column
    shipped = {norm(d.name.split("-", 1)[0]) for d in internal.glob("*.dist-info")}
    excluded = sorted(shipped & {norm(n) for n in EXCLUDED_METADATA})
    if excluded:
        raise BuildError(f"metadata of excluded packages is shipped: {', '.join(excluded)}")
    unlisted = sorted(shipped - listed - {"llm-viewer"})
    if unlisted:
        raise BuildError(f"the third-party notice does not list the shipped distributions {', '.join(unlisted)}")
    return notice.stat().st_size


def check_torch(cpu_only: bool) -> str:
    """Refuse a CPU-only build with the CUDA wheel of PyTorch (its libtorch links the CUDA libraries)."""
    import importlib.metadata as md

    import torch  # noqa: PLC0415 - only needed by the builder

    cuda = torch.version.cuda
    if cpu_only and cuda:
        raise BuildError(
            f"--cpu-only needs a CPU build of PyTorch, but this environment has torch {torch.__version__} built "
            f"for CUDA {cuda} (libtorch_cuda.so cannot load without the NVIDIA libraries). Make a build "
            "environment with: python -m venv venv-cpu && venv-cpu/bin/pip install torch==2.14.1 "
            "torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu && venv-cpu/bin/pip install "
            ". pyinstaller, then run this script with venv-cpu/bin/python.")
    return f"torch {md.version('torch')} ({'CUDA ' + cuda if cuda else 'CPU'})"


def run_pyinstaller(out: Path, models: Path | None, cpu_only: bool, clean: bool = False) -> Path:
    env = dict(os.environ)
    if models is not None:
        env["LLM_VIEWER_MODELS"] = str(models)
    env["LLM_VIEWER_CPU_ONLY"] = "1" if cpu_only else "0"
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
           "--distpath", str(out / "dist"), "--workpath", str(out / "work")]
    cmd += ["--clean"] if clean else []
    print("+", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise BuildError(f"PyInstaller failed with exit status {proc.returncode}")
    print(f"PyInstaller finished in {time.perf_counter() - t0:.0f} s", flush=True)
    app_dir = out / "dist" / "llm-viewer"
    if not app_dir.is_dir():
        raise BuildError(f"PyInstaller did not produce {app_dir}")
    return app_dir


def executable(app_dir: Path) -> Path:
    exe = app_dir / ("llm-viewer.exe" if sys.platform == "win32" else "llm-viewer")
    if not exe.is_file():
        raise BuildError(f"{exe} is missing")
    return exe


def first_start_env(home: Path) -> dict[str, str]:
    """An environment like a new user's: empty home, config and data folders, headless Qt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_VIEWER_", "PYTHON", "QT_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_RUNTIME_DIR=str(home / "runtime"),
               LLM_VIEWER_REPORT_STARTUP="1")
    (home / "runtime").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def smoke_version(exe: Path, env: dict[str, str]) -> tuple[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True, timeout=300)
    dt = time.perf_counter() - t0
    if proc.returncode != 0 or "llm-viewer" not in proc.stdout:
        raise BuildError(f"`llm-viewer --version` failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc.stdout.strip(), dt


def smoke_gui(exe: Path, env: dict[str, str], png: Path, label: str, xvfb: bool, timeout_s: int) -> SmokeRun:
    cmd = [str(exe), "gui", "--demo", "--screenshot", str(png), "--size", "1600x1000"]
    if xvfb:
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1200x24", *cmd]
    else:
        env = {**env, "QT_QPA_PLATFORM": "offscreen"}
    png.unlink(missing_ok=True)
    print("+", " ".join(cmd), flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    total = time.time() - t0
    shown = None
    for line in proc.stdout.splitlines():
        if line.startswith("llm-viewer: window shown at "):
            shown = float(line.rsplit(" ", 1)[1]) - t0
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
    if proc.returncode != 0:
        raise BuildError(f"smoke test ({label}) exited with {proc.returncode}:\n{tail}")
    if "Traceback (most recent call last)" in proc.stderr:  # e.g. the analysis failed inside its worker
        raise BuildError(f"smoke test ({label}): an error was reported:\n{proc.stderr[-3000:]}")
    if not png.is_file() or png.read_bytes()[:8] != PNG_MAGIC or png.stat().st_size < 10_000:
        raise BuildError(f"smoke test ({label}): no usable screenshot at {png}:\n{tail}")
    print(tail, flush=True)
    return SmokeRun(label, total, shown, png, png.stat().st_size)


def smoke_analyze(exe: Path, env: dict[str, str], home: Path) -> tuple[str, float]:
    """``llm-viewer analyze`` on the demo image the GUI run generated: CPU (or CUDA) inference, frozen."""
    demo = next(iter(sorted(home.rglob("demo.dcm"))), None)
    if demo is None:
        raise BuildError(f"no demo.dcm was generated under {home}")
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "analyze", str(demo)], env={**env, "QT_QPA_PLATFORM": "offscreen"},
                          capture_output=True, text=True, timeout=900)
    dt = time.perf_counter() - t0
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise BuildError(f"`llm-viewer analyze` failed ({proc.returncode}): {proc.stderr[-3000:]}") from None
    return f"model {doc.get('model_id')}, {len(doc.get('legs', {}))} leg(s), warnings {doc.get('warnings')}", dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "app",
                    help="build folder (default: build/app, git-ignored); the app lands in OUT/dist/llm-viewer")
    ap.add_argument("--models", type=Path, help="model bundle to ship as the demo model "
                    "(default: resources/models/demo)")
    ap.add_argument("--cpu-only", action="store_true",
                    help="ship no NVIDIA CUDA libraries (needs a CPU build of PyTorch in this environment)")
    ap.add_argument("--skip-build", action="store_true", help="only smoke-test an existing build")
    ap.add_argument("--xvfb", action="store_true", help="smoke-test under xvfb-run instead of the offscreen platform")
    ap.add_argument("--clean", action="store_true", help="rebuild PyInstaller's analysis cache from scratch")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed per smoke run")
    ap.add_argument("--max-glibc", type=parse_version, default=SUPPORTED_GLIBC,
                    help="fail when a bundled library needs a newer GLIBC (default: "
                         f"{version_text(SUPPORTED_GLIBC)}, the oldest supported Linux; Linux only)")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    try:
        if args.models is not None and not (args.models / "bundle.json").is_file():
            raise BuildError(f"--models {args.models}: no bundle.json there")
        if args.xvfb and shutil.which("xvfb-run") is None:
            raise BuildError("--xvfb: xvfb-run is not installed (apt-get install xvfb)")
        torch_desc = check_torch(args.cpu_only)
        app_dir = out / "dist" / "llm-viewer"
        t_build = None
        if not args.skip_build:
            t0 = time.perf_counter()
            app_dir = run_pyinstaller(out, args.models, args.cpu_only, args.clean)
            t_build = time.perf_counter() - t0
        exe = executable(app_dir)
        size = folder_size_bytes(app_dir)
        nvidia = folder_size_bytes(app_dir / "_internal" / "nvidia") if (app_dir / "_internal" / "nvidia").is_dir() else 0
        notice_bytes = check_notice(app_dir)
        glibc, glibc_files = check_glibc(app_dir, args.max_glibc) if sys.platform.startswith("linux") else (None, [])
        with tempfile.TemporaryDirectory(prefix="llm-viewer-smoke-home-") as tmp:  # removed afterwards (~44 MB)
            home = Path(tmp)
            env = first_start_env(home)
            version, t_version = smoke_version(exe, env)
            runs = [smoke_gui(exe, env, out / "smoke-first-start.png", "first start", args.xvfb, args.timeout),
                    smoke_gui(exe, env, out / "smoke.png", "warm start", args.xvfb, args.timeout)]
            analysed, t_analyze = smoke_analyze(exe, env, home)
    except (BuildError, subprocess.TimeoutExpired) as exc:
        print(f"build_app: error: {exc}", file=sys.stderr)
        return 1
    print()
    print(f"| llm-viewer application ({version}; {torch_desc}; {sys.platform}, {os.cpu_count()} CPUs) | |")
    print("|---|---|")
    if t_build is not None:
        print(f"| build time | {t_build / 60:.1f} min |")
    print(f"| folder | {app_dir} |")
    print(f"| folder size | {size / 2**30:.2f} GiB ({size / 2**20:.0f} MiB; NVIDIA CUDA libraries {nvidia / 2**20:.0f} MiB) |")
    print(f"| third-party notice | _internal/THIRD-PARTY-NOTICES.txt, {notice_bytes / 2**20:.1f} MiB |")
    if glibc is not None:
        names = ", ".join(sorted({p.name for p in glibc_files})[:6])
        print(f"| highest GLIBC needed (limit {version_text(args.max_glibc)}) | {version_text(glibc)}: {names} |")
    print(f"| `llm-viewer --version` | {t_version:.1f} s |")
    for r in runs:
        shown = f"{r.window_shown_s:.1f} s" if r.window_shown_s is not None else "n/a"
        print(f"| {r.label}: window shown | {shown} |")
        print(f"| {r.label}: demo analysed, screenshot saved, exited | {r.total_s:.1f} s ({r.screenshot}, "
              f"{r.png_bytes / 1024:.0f} KiB) |")
    print(f"| `llm-viewer analyze demo.dcm` (process start to JSON) | {t_analyze:.1f} s: {analysed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
