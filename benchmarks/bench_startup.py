"""Start-up: one ``llm-viewer analyze`` process on one image, against the analysis time it reports itself.

Runs ``python -m llm_viewer.cli analyze IMAGE --json OUT`` ``--repeats`` times (file cache warm after the
first) with the bundled demo model (or ``--models``), and prints per run the process wall time, the time
the process reports for reading and analysing the image (``timings_s.load + timings_s.total``) and their
ratio (target: <= 3). Then, in fresh interpreters, what the process pays before the analysis: importing
torch, torchvision's detection models (plainly and through :func:`llm_viewer.pipeline.runtime.import_detection`,
which skips ``torch._dynamo``), and building + loading the bundle with and without random initialisation
and batch-norm folding.

Usage::

    .venv/bin/python benchmarks/bench_startup.py [--image FILE] [--models DIR] [--repeats 5]

Without ``--image`` a half-size synthetic study (seed 7) is written to a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._machine import describe  # noqa: E402


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _py(code: str) -> float:
    """Seconds a fresh interpreter needs for ``code`` (measured inside it, start-up excluded)."""
    wrapped = f"import time as _t; _t0 = _t.perf_counter()\n{code}\nprint(_t.perf_counter() - _t0)"
    out = subprocess.run([sys.executable, "-c", wrapped], env=_env(), capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def make_image(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "llm_viewer.cli", "synth", "--count", "1", "--seed", "7", "--out",
                    str(folder), "--size", "half", "--workers", "1", "--no-progress"], env=_env(), check=True,
                   capture_output=True)
    return sorted((folder / "images").iterdir())[0]


BUILD_LOOP = """
import contextlib, llm_viewer, torch
from llm_viewer.pipeline.bundle import load_bundle, load_state_dict_checked
from llm_viewer.pipeline.models import build_detector, build_landmark_model, fold_batchnorm, skip_random_init
from llm_viewer.pipeline.runtime import import_detection
import_detection()
b = load_bundle({models!r})
names = ("detector", "hip", "diaphysis", "knee", "ankle")
states = {{n: b.state_dict(n) for n in names}}
_t0 = _t.perf_counter()
for name in names:
    with (skip_random_init() if {skip} else contextlib.nullcontext()):
        m = build_detector(b.config.detector) if name == "detector" else build_landmark_model(b.config.regions[name])
    load_state_dict_checked(m, states[name], name=name, where="bench")
    if {fold}:
        fold_batchnorm(m.eval())
"""
FROM_BUNDLE = """
import llm_viewer, torch
from llm_viewer.pipeline.engine import InferenceEngine
from llm_viewer.pipeline.runtime import import_detection
import_detection()
_t0 = _t.perf_counter()
InferenceEngine.from_bundle({models!r}, device="cpu")
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=None)
    ap.add_argument("--models", default=None, help="bundle folder (default: the bundled demo model)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    image = Path(args.image) if args.image else make_image(tmp / "store")
    models = args.models or str(ROOT / "resources" / "models" / "demo")
    print(f"# start-up benchmark: {sys.executable}, image {image.name} ({image.stat().st_size / 1e6:.1f} MB), "
          f"bundle {Path(models).name}")
    print(f"# machine at start: {describe()}")
    rows = []
    for i in range(args.repeats):
        out = tmp / f"out{i}.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "llm_viewer.cli", "analyze", str(image), "--models", models,
                        "--device", "cpu", "--json", str(out)], env=_env(), check=True, capture_output=True)
        wall = time.perf_counter() - t0
        t = json.loads(out.read_text())[0]["timings_s"]
        rows.append((wall, t["load"] + t["total"], t["total"]))
    print(f"{'run':<5} {'process s':>10} {'reported s':>11} {'ratio':>7}")
    for i, (wall, rep, _tot) in enumerate(rows):
        print(f"{i:<5} {wall:>10.2f} {rep:>11.2f} {wall / rep:>7.2f}")
    med_wall = statistics.median(r[0] for r in rows)
    med_rep = statistics.median(r[1] for r in rows)
    print(f"{'med':<5} {med_wall:>10.2f} {med_rep:>11.2f} {med_wall / med_rep:>7.2f}")
    print()
    parts = [
        ("python + import llm_viewer.cli", "import llm_viewer.cli"),
        ("import torch", "import llm_viewer, torch"),
        ("import torchvision detection (plain)", "import llm_viewer, torch; _t0 = _t.perf_counter()\n"
                                                 "import torchvision.models.detection"),
        ("import detection, no torch._dynamo", "import llm_viewer, torch; _t0 = _t.perf_counter()\n"
                                               "from llm_viewer.pipeline.runtime import import_detection\n"
                                               "import_detection()"),
        ("5 models: random init + load (before)", BUILD_LOOP.format(models=models, skip=False, fold=False)),
        ("5 models: no init + load", BUILD_LOOP.format(models=models, skip=True, fold=False)),
        ("5 models: no init + load + fold BN", BUILD_LOOP.format(models=models, skip=True, fold=True)),
        ("from_bundle (checksums, refiner, calib.)", FROM_BUNDLE.format(models=models)),
    ]
    print(f"{'fresh interpreter, median of 3':<40} {'s':>7}")
    for label, code in parts:
        print(f"{label:<40} {statistics.median(_py(code) for _ in range(3)):>7.3f}")
    print(f"# machine at end: {describe()}")
    ok = med_wall / med_rep <= 3.0
    print(f"target: process <= 3 x reported analysis: {med_wall / med_rep:.2f} {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
