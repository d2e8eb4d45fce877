"""Benchmark of the synthetic radiograph generator: seconds per full-size image on one core.

Usage::

    .venv/bin/python benchmarks/bench_synth.py [--count 5] [--height-px 8100]

Each image is generated, encoded as DICOM and its masks as PNG (everything ``llm-viewer synth`` does
except the disk writes), in this process with OpenCV and BLAS limited to one thread. Prints a table.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--height-px", type=int, default=8100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    from llm_viewer.synth.dicom import dicom_bytes
    from llm_viewer.synth.generator import generate_case
    from llm_viewer.synth.params import SynthConfig
    from llm_viewer.synth.writer import encode_mask

    cfg = SynthConfig.with_height(args.height_px)
    generate_case(args.seed, SynthConfig.with_height(1024))  # warm up imports and caches
    gen, enc = [], []
    for i in range(args.count):
        t0 = time.perf_counter()
        case = generate_case(args.seed, cfg, index=i)
        t1 = time.perf_counter()
        dicom_bytes(case)
        for m in case.masks.values():
            encode_mask(m)
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        enc.append(t2 - t1)
    total = [a + b for a, b in zip(gen, enc)]
    med = statistics.median(total)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    print(f"machine: {cpu}; {os.cpu_count()} logical CPUs; python {platform.python_version()}; "
          f"numpy {np.__version__}; opencv {cv2.__version__}; 1 thread")
    print(f"image: {cfg.width_px} x {cfg.height_px} px at {cfg.pixel_spacing_mm} mm, render scale 1/{cfg.render_scale}")
    print()
    print(f"| {'stage':<28} | {'median s/image':>14} | {'min':>7} | {'max':>7} |")
    print(f"|{'-' * 30}|{'-' * 16}|{'-' * 9}|{'-' * 9}|")
    for name, v in (("generate (render + truth)", gen), ("encode DICOM + mask PNGs", enc), ("total", total)):
        print(f"| {name:<28} | {statistics.median(v):>14.3f} | {min(v):>7.3f} | {max(v):>7.3f} |")
    print()
    print(f"images/s/core: {1.0 / med:.2f}  (target >= 1.0)  over {args.count} images")


if __name__ == "__main__":
    main()
