"""Build the self-contained llm-viewer application folder with PyInstaller, then smoke-test it.

Usage (from the repository root, with the project's environment)::

    .venv/bin/python packaging/build_app.py --out /work/build-pkg [--models DIR] [--cpu-only]
                                            [--skip-build] [--xvfb]

Steps:

1. ``PyInstaller packaging/llm-viewer.spec`` into ``OUT/dist/llm-viewer`` (work files in ``OUT/work``);
2. smoke test of the built app in a fresh, empty home folder (a true first start): ``llm-viewer --version``,
   then ``llm-viewer gui --demo --screenshot OUT/smoke.png`` headless (``QT_QPA_PLATFORM=offscreen``, or
   under ``xvfb-run`` with ``--xvfb``), twice (first start generates the demo; the second is a warm start);
3. a table: folder size, time to ``--version``, time until the window is shown, time until the screenshot.

Exit status 0 only when the build succeeded, the screenshot exists and is a PNG of the window.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "llm-viewer.spec"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
        home = Path(tempfile.mkdtemp(prefix="llm-viewer-smoke-home-"))
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
