"""Lite analysis under a competing CPU load: quiet vs one busy process, by OpenMP wait policy.

For each wait policy (``PASSIVE``, what ``llm_viewer`` sets, and libgomp's default spin-then-sleep, selected
by an empty ``OMP_WAIT_POLICY``) a fresh worker process loads the bundled demo model, analyses one
half-size synthetic study once to warm up, then ``--repeats`` times quiet and ``--repeats`` times while one
other process spins on a core (``python -c "while True: pass"``, the competing load), and prints the
median analysis times (``timings_s.total``) and their ratio. Target: busy <= 2.5 x quiet for the policy the
app uses. On N cores a fair share for our T threads with one more runnable thread is T/(T+1) of a core
each (1.5x on 2 cores with 2 threads).

Usage::

    .venv/bin/python benchmarks/bench_contention.py [--repeats 7] [--image FILE] [--threads N]
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

BUSY = "while True: pass"


def _env(policy: str | None, threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_WAIT_POLICY"] = policy if policy is not None else ""
    if threads:
        env["LLM_VIEWER_THREADS"] = str(threads)
    return env


def worker(image: str, repeats: int, phases: list[str]) -> None:
    """Runs inside the child: analyse ``image`` per phase, reading 'go <phase>' lines on stdin."""
    from llm_viewer.core.imageio import load_image
    from llm_viewer.pipeline.engine import InferenceEngine
    from llm_viewer.pipeline.runtime import configure_threads

    choice = configure_threads()
    engine = InferenceEngine.from_bundle(None, device="cpu")
    pixels = load_image(image).pixels
    engine.analyze(pixels)  # warm-up: first-call costs (kernel selection, lazy imports)
    print(json.dumps({"ready": True, "threads": choice.n_threads}), flush=True)
    for _ in phases:
        sys.stdin.readline()
        times = [engine.analyze(pixels).timings_s["total"] for _ in range(repeats)]
        print(json.dumps({"times": times}), flush=True)


def run_policy(policy: str | None, image: Path, repeats: int, threads: int | None) -> dict:
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import benchmarks.bench_contention as b; "
            f"b.worker({str(image)!r}, {repeats}, ['quiet', 'busy'])")
    proc = subprocess.Popen([sys.executable, "-c", code], env=_env(policy, threads), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    ready = json.loads(proc.stdout.readline())
    out: dict = {"threads": ready["threads"]}
    proc.stdin.write("go quiet\n")
    proc.stdin.flush()
    out["quiet"] = json.loads(proc.stdout.readline())["times"]
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(1.0)
        proc.stdin.write("go busy\n")
        proc.stdin.flush()
        out["busy"] = json.loads(proc.stdout.readline())["times"]
    finally:
        busy.kill()
        busy.wait()
    proc.stdin.close()
    proc.wait(timeout=60)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--image", default=None)
    ap.add_argument("--threads", type=int, default=None, help="LLM_VIEWER_THREADS for the worker")
    ap.add_argument("--policies", default="PASSIVE,default", help="comma list: PASSIVE, ACTIVE, default")
    args = ap.parse_args(argv)
    if args.image:
        image = Path(args.image)
    else:
        store = Path(tempfile.mkdtemp(prefix="bench-contention-")) / "store"
        subprocess.run([sys.executable, "-m", "llm_viewer.cli", "synth", "--count", "1", "--seed", "7", "--out",
                        str(store), "--size", "half", "--workers", "1", "--no-progress"], env=_env("PASSIVE", None),
                       check=True, capture_output=True)
        image = sorted((store / "images").iterdir())[0]
    print(f"# contention benchmark: lite demo bundle, one half-size study, median of {args.repeats}; "
          "competing load: one busy Python process")
    print(f"# machine at start: {describe()}")
    rows = []
    for name in args.policies.split(","):
        policy = None if name == "default" else name
        r = run_policy(policy, image, args.repeats, args.threads)
        q, b = statistics.median(r["quiet"]), statistics.median(r["busy"])
        rows.append((name if policy else "libgomp default", r["threads"], q, b, b / q))
    print(f"{'OMP_WAIT_POLICY':<16} {'threads':>7} {'quiet s':>8} {'busy s':>8} {'ratio':>6}")
    for name, t, q, b, ratio in rows:
        print(f"{name:<16} {t:>7} {q:>8.3f} {b:>8.3f} {ratio:>6.2f}")
    print(f"# machine at end: {describe()}")
    for name, _t, _q, _b, ratio in rows:
        if name == "PASSIVE":
            print(f"target: busy <= 2.5 x quiet with PASSIVE: {ratio:.2f} {'met' if ratio <= 2.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
