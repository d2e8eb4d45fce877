"""What the second look (and the content detector) cost: analysis time per image with them on and off.

Loads the bundled demo model once and analyses every image of the given folders (e.g. the held-out bilateral and
single-leg exports of ``python -m training.generalization``) with ``detector.second_look`` on and off, in
alternation, after one warm-up image. Prints, per folder, the median analysis time both ways, the share of images
where the second look read a leg's half again, and its own median cost on those images
(``timings_s["second_look"]``).

Usage::

    .venv/bin/python benchmarks/bench_second_look.py FOLDER [FOLDER ...] [--limit 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llm_viewer  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)
from benchmarks._machine import describe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--limit", type=int, default=20, help="images per folder")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import os

    import numpy as np

    from llm_viewer.commands.analyze import collect_images
    from llm_viewer.core.imageio import load_image
    from llm_viewer.pipeline.engine import InferenceEngine
    from llm_viewer.pipeline.runtime import THREADS_ENV, configure_threads

    configure_threads({**os.environ, THREADS_ENV: str(args.threads)})
    engine = InferenceEngine.from_bundle(None, device="cpu")
    on_cfg = engine.config
    off_cfg = dataclasses.replace(on_cfg, detector=dataclasses.replace(on_cfg.detector, second_look=False))
    print(describe())
    print(f"\nBundle {engine.model_id} (content detector: {'yes' if engine.content_detector is not None else 'no'}), "
          f"{args.threads} threads; analysis s per image, median\n")
    print("| folder | images | second look on | off | on / off | images where it ran | its own cost there |")
    print("|---|---|---|---|---|---|---|")
    warm = True
    for folder in args.folders:
        path = Path(folder)
        if (path / "images").is_dir():
            path = path / "images"
        files, _ = collect_images([str(path)])
        files = files[: args.limit]
        on, off, own = [], [], []
        for f in files:
            px = np.asarray(load_image(f).pixels, dtype=np.float32)
            if warm:
                engine.analyze(px)
                warm = False
            for cfg, out in ((on_cfg, on), (off_cfg, off)):
                engine.config = cfg
                t0 = time.perf_counter()
                res = engine.analyze(px)
                out.append(time.perf_counter() - t0)
                if cfg is on_cfg and "second_look" in res.timings_s:  # a leg's half was read again
                    own.append(res.timings_s["second_look"])
        engine.config = on_cfg
        if not files:
            continue
        m_on, m_off = statistics.median(on), statistics.median(off)
        own_txt = f"{statistics.median(own):.3f}" if own else "—"
        print(f"| {Path(folder).name} | {len(files)} | {m_on:.3f} | {m_off:.3f} | {m_on / m_off:.2f} | "
              f"{len(own)} | {own_txt} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
