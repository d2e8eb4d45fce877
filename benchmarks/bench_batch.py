"""Images per second on a folder of studies: sequential reading vs reading the next image ahead.

Loads the bundled demo model once, analyses the first image to warm up, then analyses every image of the
folder twice: reading each file when it is needed (sequential) and with
:func:`llm_viewer.pipeline.prefetch.prefetch_images` (the next file is read and decoded on a background
thread while the models run, as ``llm-viewer analyze`` does). Last, one ``llm-viewer analyze FOLDER --json``
process on the same folder (start-up included).

Usage::

    .venv/bin/python benchmarks/bench_batch.py [--folder DIR] [--count 20] [--size half]

Without ``--folder``, ``--count`` synthetic studies (seed 7) are written to a temporary store.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llm_viewer  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)
from benchmarks._machine import describe  # noqa: E402


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", default=None)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--size", default="half")
    args = ap.parse_args(argv)
    if args.folder:
        folder = Path(args.folder)
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench-batch-")) / "store"
        subprocess.run([sys.executable, "-m", "llm_viewer.cli", "synth", "--count", str(args.count), "--seed", "7",
                        "--out", str(folder), "--size", args.size, "--workers", "1", "--no-progress"], env=_env(),
                       check=True, capture_output=True)
    from llm_viewer.commands.analyze import collect_images
    from llm_viewer.core.imageio import load_image
    from llm_viewer.pipeline.engine import InferenceEngine
    from llm_viewer.pipeline.prefetch import prefetch_images
    from llm_viewer.pipeline.runtime import configure_threads

    if (folder / "images").is_dir():  # a synth store: its images, not its masks
        folder = folder / "images"
    files, _errors = collect_images([str(folder)])
    threads = configure_threads()
    engine = InferenceEngine.from_bundle(None, device="cpu")
    first = load_image(files[0])
    print(f"# batch benchmark: {len(files)} images of {first.width_px}x{first.height_px} px "
          f"({sum(f.stat().st_size for f in files) / 1e6:.0f} MB), lite demo bundle, {threads.n_threads} threads")
    print(f"# machine at start: {describe()}")
    engine.analyze(first.pixels)  # warm-up
    rows = []
    t0 = time.perf_counter()
    load_s = analysis_s = 0.0
    for f in files:
        t = time.perf_counter()
        img = load_image(f)
        load_s += time.perf_counter() - t
        analysis_s += engine.analyze(img.pixels).timings_s["total"]
    wall = time.perf_counter() - t0
    rows.append(("sequential", wall, load_s, analysis_s))
    t0 = time.perf_counter()
    load_s = analysis_s = 0.0
    for item in prefetch_images(files, load_image, ahead=1):
        load_s += item.load_s
        analysis_s += engine.analyze(item.image.pixels).timings_s["total"]
    wall = time.perf_counter() - t0
    rows.append(("prefetch", wall, load_s, analysis_s))
    out = Path(tempfile.mkdtemp(prefix="bench-batch-out-")) / "batch.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "llm_viewer.cli", "analyze", str(folder), "--json", str(out),
                    "--device", "cpu"], env=_env(), check=True, capture_output=True)
    cli_wall = time.perf_counter() - t0
    n = len(files)
    print(f"{'mode':<22} {'wall s':>8} {'images/s':>9} {'read s':>8} {'analysis s':>11}")
    for name, wall, ls, an in rows:
        print(f"{name:<22} {wall:>8.2f} {n / wall:>9.2f} {ls:>8.2f} {an:>11.2f}")
    print(f"{'llm-viewer analyze DIR':<22} {cli_wall:>8.2f} {n / cli_wall:>9.2f} {'':>8} {'':>11}")
    print("# read s: summed reading time (in prefetch mode on the background thread, overlapping the analysis)")
    print(f"# machine at end: {describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
