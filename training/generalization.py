"""Generalization: a bundle on held-out sets from every generator version and in clinical export formats.

Usage::

    python -m training.generalization --models resources/models/demo --out docs/evaluation/generalization \
        [--versions 1,2,3,4,5,6] [--count 20] [--seed 9000] [--work /tmp/llm-gen]

For each generator version the code of that version is checked out from git history into a worktree
(``git worktree add --detach``; the current version is this checkout) and renders ``--count`` held-out
studies at half size (seed ``--seed + version``). Each set is then also exported, by this checkout's
:mod:`llm_viewer.synth.export`, in two clinical formats: ``bilateral`` (8-bit PNG / JPEG, 250–3000 px
wide, console look-up tables, no spacing) and ``single_leg`` (each leg on a 128 × 1024 canvas with black
bars, CLAHE as published crops have it). The bundle then analyses every image exactly as ``llm-viewer
analyze`` does (``InferenceEngine.analyze``, refinement included) and is compared with the ground truth.

Per set: legs in the images, share of legs whose HKA was computed *for the right side*, HKA MAE over
those, legs more than 3° off, mean landmark error over the paper's 8 landmarks found (mm, true spacing),
missing landmarks, and side accuracy (legs found under their true side / legs found at all). The table goes
to ``table.md`` and every number with per-leg rows to ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llm_viewer.core.landmarks import LANDMARK_IDS

SGR8 = tuple(lm for lm in LANDMARK_IDS if lm != "diaphysis_center")
REPO = Path(__file__).resolve().parents[1]
FORMATS = ("native", "bilateral", "single_leg")


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Bundle accuracy on every generator version and clinical exports",
                                add_help=add_help)
    p.add_argument("--models", required=True, help="model bundle folder")
    p.add_argument("--out", required=True, help="folder for table.md and results.json")
    p.add_argument("--versions", default="1,2,3,4,5,6", type=parse_versions,
                   help="generator versions: a comma list, ranges allowed (default 1-6)")
    p.add_argument("--formats", default=",".join(FORMATS), help=f"comma list of {', '.join(FORMATS)}")
    p.add_argument("--count", type=int, default=20, help="studies per version (default 20)")
    p.add_argument("--seed", type=int, default=9000, help="held-out seed base; version v uses seed + v")
    p.add_argument("--size", default="half", help="synth --size of the rendered sets (default half)")
    p.add_argument("--work", default=None, help="where worktrees and stores go (default OUT/work)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--title", default=None, help="heading of table.md")
    return p


def parse_versions(text: str) -> list[int]:
    """``"1,3-5"`` -> ``[1, 3, 4, 5]``; an unreadable list is an argparse error, not a traceback."""
    out: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"versions must look like 1,2,3 or 1-6, got {text!r}") from None
    if not out:
        raise argparse.ArgumentTypeError("no generator version given")
    return out


def version_commits(repo: Path = REPO) -> dict[int, str]:
    """Generator version -> the last commit that renders it (the parent of the next version's first commit).

    The newest version maps to ``"HEAD"`` (this checkout, uncommitted changes included).
    """
    out = subprocess.run(["git", "-C", str(repo), "log", "--format=%H", "-G", "GENERATOR_VERSION = [0-9]", "--",
                          "llm_viewer/synth/generator.py"], capture_output=True, text=True, check=True).stdout
    firsts: dict[int, str] = {}
    for sha in out.split():
        src = subprocess.run(["git", "-C", str(repo), "show", f"{sha}:llm_viewer/synth/generator.py"],
                             capture_output=True, text=True, check=True).stdout
        for line in src.splitlines():
            if line.startswith("GENERATOR_VERSION = "):
                firsts[int(line.split("=")[1])] = sha
                break
    from llm_viewer.synth.generator import GENERATOR_VERSION

    commits = {v: subprocess.run(["git", "-C", str(repo), "rev-parse", f"{firsts[v + 1]}^"], capture_output=True,
                                 text=True, check=True).stdout.strip()
               for v in sorted(firsts) if v + 1 in firsts}
    commits[GENERATOR_VERSION] = "HEAD"
    return commits


def render_version(version: int, commit: str, store: Path, work: Path, count: int, seed: int, size: str) -> None:
    """Render ``count`` studies of generator ``version`` into ``store`` with that version's own code."""
    if (store / "manifest.jsonl").exists() and sum(1 for _ in open(store / "manifest.jsonl")) >= count:
        return
    if commit == "HEAD":
        src = REPO
    else:
        src = work / f"v{version}-src"
        if not (src / "llm_viewer").exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(src), commit],
                           check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=str(src))
    subprocess.run([sys.executable, "-m", "llm_viewer.cli", "synth", "--count", str(count), "--seed", str(seed),
                    "--size", size, "--out", str(store), "--no-progress", "--workers", "2"],
                   cwd=str(src), env=env, check=True)


class _StudyView:
    """What :func:`llm_viewer.synth.export.export_case` needs, read from a store's DICOM and case file."""

    def __init__(self, pixels: np.ndarray, window: tuple[float, float], landmarks: dict, rois: list,
                 spacing_mm: float) -> None:
        self.pixels, self.window, self.photometric = pixels, window, "MONOCHROME2"
        self.landmarks, self.rois, self.pixel_spacing_mm = landmarks, rois, spacing_mm


def export_store(src: Path, dst: Path, fmt: str, seed: int) -> None:
    """Write the clinical exports (``bilateral`` or ``single_leg``) of every case of ``src`` into ``dst``."""
    from llm_viewer.core.casefile import Case
    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.store import Store
    from llm_viewer.synth.export import ExportError, export_case, sample_export_spec

    if (dst / "manifest.jsonl").exists():
        return
    s_in, s_out = Store.open(src), Store.create(dst, exist_ok=True)
    for n, e in enumerate(s_in.entries()):
        case = s_in.load_case(e)
        img = load_image(s_in.image_path(e))
        px = np.asarray(img.pixels, dtype=np.float32)  # bone bright
        lo, hi = np.percentile(px[::4, ::4], [1.0, 99.8])
        lms = {side: {k: [float(p.x), float(p.y)] for k, p in case.landmarks(side).items()} for side in case.sides}
        lms = {s: v for s, v in lms.items() if len(v) == 9}
        view = _StudyView(px, (float(lo + hi) / 2, float(hi - lo)), lms, case.rois, float(case.pixel_spacing_mm[0]))
        sides = tuple(lms) if fmt == "single_leg" else (None,)
        for k, side in enumerate(sides):
            rng = np.random.default_rng([seed, n, k])
            spec = sample_export_spec(rng, tuple(lms), single_leg_rate=1.0 if fmt == "single_leg" else 0.0)
            if side is not None:
                from dataclasses import replace

                spec = replace(spec, side=side)
            try:
                ex = export_case(view, spec)
            except ExportError:
                continue
            c = Case.new(pixel_spacing_mm=[ex.true_spacing_mm] * 2, spacing_source="synthetic ground truth")
            for sd, pts in ex.landmarks.items():
                for lm, xy in pts.items():
                    c.set_ground_truth(sd, lm, xy, source="ground_truth", by="training.generalization")
            c.set_rois([{**r, "box_px": [float(v) for v in r["box_px"]]} for r in ex.rois
                        if r.get("side") in ex.landmarks])  # the boxes, for training on these exports
            c.set("synthetic", {"export": {"of": e.id, "spec": spec.as_dict()}})
            s_out.add_case(f"{e.id}-{fmt}{k}", c.to_dict(), image_bytes=ex.encoded, image_suffix=ex.suffix,
                           source="synthetic", split="test")


@dataclass
class LegResult:
    case_id: str
    side: str
    found_side: bool
    hka_error_deg: float | None
    errors_mm: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    other_side: bool = False


def _hka(landmarks: dict[str, tuple[float, float]], side: str, spacing: list[float]) -> float | None:
    from llm_viewer.core.metrics import compute_leg_metrics

    need = ("femoral_head", "knee_center", "malleolus_lateral", "malleolus_medial", "femoral_condyle_lateral",
            "femoral_condyle_medial", "tibial_plateau_lateral", "tibial_plateau_medial")
    if any(k not in landmarks for k in need):
        return None
    pts = dict(landmarks)
    if "diaphysis_center" not in pts:  # HKA does not use it; the metric function of this version wants nine
        h, k = pts["femoral_head"], pts["knee_center"]
        pts["diaphysis_center"] = (0.5 * (h[0] + k[0]), 0.5 * (h[1] + k[1]))
    try:
        v = compute_leg_metrics(pts, side, spacing).as_dict().get("hka_deg")
    except Exception:  # noqa: BLE001 - a degenerate prediction is a failed measurement, not a crash
        return None
    return float(v) if v is not None and math.isfinite(float(v)) else None


def evaluate_store(engine: Any, store_path: Path) -> list[LegResult]:
    """Analyse every image of a store and compare each true leg with the prediction for that side."""
    from llm_viewer.core.imageio import load_image
    from llm_viewer.core.store import Store

    store = Store.open(store_path)
    rows: list[LegResult] = []
    for e in store.entries():
        case = store.load_case(e)
        img = load_image(store.image_path(e))
        res = engine.analyze(np.asarray(img.pixels, dtype=np.float32))
        sp = [float(v) for v in case.pixel_spacing_mm]
        for side in case.sides:
            gt = {k: (float(p.x), float(p.y)) for k, p in case.landmarks(side).items()}
            if len(gt) != 9:
                continue
            leg = res.legs.get(side)
            other = [s for s in res.legs if s != side]
            r = LegResult(e.id, side, leg is not None, None,
                          other_side=leg is None and bool(other) and len(case.sides) == 1)
            if leg is not None:
                pred = {k: (p.x_px, p.y_px) for k, p in leg.landmarks.items()}
                r.errors_mm = {k: float(math.hypot((pred[k][0] - gt[k][0]) * sp[0], (pred[k][1] - gt[k][1]) * sp[1]))
                               for k in SGR8 if k in pred}
                r.missing = [k for k in SGR8 if k not in pred]
                h_pred, h_true = _hka(pred, side, sp), _hka(gt, side, sp)
                if h_pred is not None and h_true is not None:
                    r.hka_error_deg = abs(h_pred - h_true)
            else:
                r.missing = list(SGR8)
            rows.append(r)
    return rows


def summarize(rows: list[LegResult]) -> dict[str, Any]:
    """The table's numbers for one set."""
    n = len(rows)
    hka = [r.hka_error_deg for r in rows if r.hka_error_deg is not None]
    errs = [v for r in rows for v in r.errors_mm.values()]
    found = [r for r in rows if r.found_side]
    single = [r for r in rows if r.found_side or r.other_side]
    return {
        "legs": n,
        "measured_pct": 100.0 * len(hka) / n if n else None,
        "hka_mae_deg": float(np.mean(hka)) if hka else None,
        "hka_over_3deg": int(sum(1 for v in hka if v > 3.0)),
        "mean_error_mm": float(np.mean(errs)) if errs else None,
        "median_error_mm": float(np.median(errs)) if errs else None,
        "missing_landmarks": int(sum(len(r.missing) for r in rows)),
        "legs_found": len(found),
        "side_accuracy_pct": 100.0 * len(found) / len(single) if single else None,
    }


def _fmt(v: Any, spec: str) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def write_table(results: dict[str, dict[str, Any]], out: Path, title: str, meta: dict[str, Any]) -> str:
    lines = [f"# {title}", "",
             f"Bundle `{meta['model_id']}`; {meta['count']} held-out studies per version (seed {meta['seed']} + "
             f"version), rendered at `--size {meta['size']}` by each version's own code; "
             "`python -m training.generalization` wrote this table.", "",
             "| set | legs | HKA measured | HKA MAE | legs > 3° | mean error, 8 landmarks | median | missing "
             "landmarks | side right |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, s in results.items():
        lines.append(f"| {name} | {s['legs']} | {_fmt(s['measured_pct'], '.1f')} % | {_fmt(s['hka_mae_deg'], '.2f')}° "
                     f"| {s['hka_over_3deg']} | {_fmt(s['mean_error_mm'], '.2f')} mm | "
                     f"{_fmt(s['median_error_mm'], '.2f')} mm | {s['missing_landmarks']} | "
                     f"{_fmt(s['side_accuracy_pct'], '.0f')} % |")
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    return text


def main(args: argparse.Namespace) -> int:
    import torch

    from llm_viewer.pipeline.engine import InferenceEngine

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else out / "work"
    work.mkdir(parents=True, exist_ok=True)
    versions = args.versions if isinstance(args.versions, list) else parse_versions(args.versions)
    formats = [f for f in args.formats.split(",") if f]
    commits = version_commits()
    engine = InferenceEngine.from_bundle(args.models, device="cpu")
    results: dict[str, dict[str, Any]] = {}
    per_leg: dict[str, list[dict[str, Any]]] = {}
    for v in versions:
        if v not in commits:
            raise SystemExit(f"generator version {v} is not in this repository's history")
        native = work / f"v{v}-native"
        t0 = time.time()
        render_version(v, commits[v], native, work, args.count, args.seed + v, args.size)
        for fmt in formats:
            store = native if fmt == "native" else work / f"v{v}-{fmt}"
            if fmt != "native":
                export_store(native, store, fmt, args.seed + 100 * v)
            rows = evaluate_store(engine, store)
            name = f"v{v} {fmt}"
            results[name] = summarize(rows)
            per_leg[name] = [r.__dict__ for r in rows]
            print(f"{name}: {json.dumps(results[name])} ({time.time() - t0:.0f} s)", flush=True)
    meta = {"model_id": engine.model_id, "count": args.count, "seed": args.seed, "size": args.size,
            "commits": {str(k): v for k, v in commits.items()}}
    (out / "results.json").write_text(json.dumps({"meta": meta, "sets": results, "legs": per_leg}, indent=1,
                                                 allow_nan=False, default=lambda o: None))
    print(write_table(results, out, args.title or "Generalization across generator versions and export formats",
                      meta))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
