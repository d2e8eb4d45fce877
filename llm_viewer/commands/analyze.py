"""``llm-viewer analyze PATH...``: landmarks, metrics and trust of every leg in radiographs.

Output per image (JSON): the spec's shape (``pixel_spacing_mm``, ``legs.<side>.landmarks/metrics``,
``study.lld_mm``; ``unmeasured`` per leg and study: each null metric -> the landmarks / inputs it lacks) plus
``spacing_source``, per-leg ``uncertainty_px``/``score``/``flagged``/``missing_regions``, ``absent_regions``
(region -> "not in the image" / "not detected"), ``side_evidence`` (how the side was decided: cue -> vote),
``resolution_limited`` (regions too small in pixels), ``mirrored_suspect``,
ROI boxes, warnings, per-stage timings and the model id. With one image and no ``--json``/``--csv`` the JSON
goes to stdout; a file that cannot be read or analysed is reported on stderr and skipped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="find the landmarks of both legs in radiographs and compute the alignment metrics",
        description="Detect hip, diaphysis, knee and ankle regions, place the nine landmarks of every leg with "
        "segmentation-guided regression, and compute every metric of ALIGNMENT.md. PATHs are image files "
        "(DICOM, PNG, JPEG, TIFF) or folders (searched recursively for such files).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--models", metavar="DIR", default=None,
                   help="model bundle folder (default: the bundled demo model in resources/models/demo)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--tta", action="store_true", help="add test-time augmentation spread to the uncertainties")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", metavar="OUT", help="write a JSON list of per-image results to OUT ('-': stdout)")
    out.add_argument("--csv", metavar="OUT", help="write one row per leg to OUT ('-': stdout)")
    p.set_defaults(func=run)


def collect_images(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Expand files and folders into image files (sorted per folder); return them and error messages."""
    from ..core.imageio_types import IMAGE_SUFFIXES

    files: list[Path] = []
    errors: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                errors.append(f"{p}: folder holds no DICOM/PNG/JPEG/TIFF images")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    return files, errors


def result_document(image_path: str, image, result) -> dict:
    """Combine an :class:`AnalysisResult` with the image's spacing and the core metrics into the output JSON."""
    from ..core.landmarks import LANDMARK_IDS, SIDES
    from ..core.metrics import GeometryError, LandmarkError, LegMetrics, compute_leg_metrics, compute_study_metrics
    from ..core.uncertainty import borderline_classes, metric_intervals

    spacing = list(image.pixel_spacing_mm) if image.pixel_spacing_mm else None
    px_mm = math.sqrt(spacing[0] * spacing[1]) if spacing else None
    unc = getattr(result, "uncertainty", None)
    legs: dict[str, dict] = {}
    leg_metrics: dict[str, LegMetrics | None] = {}
    for side in SIDES:
        leg = result.legs.get(side)
        if leg is None:
            continue
        lms = {lm: leg.landmarks[lm] for lm in LANDMARK_IDS if lm in leg.landmarks}
        entry: dict = {
            "landmarks": {lm: [p.x_px, p.y_px] for lm, p in lms.items()},
            "metrics": None,
            "unmeasured": {},
            "errors": [],
            "uncertainty_px": {lm: p.uncertainty_px for lm, p in lms.items()},
            "radius90_px": {lm: p.radius90_px for lm, p in lms.items()},
            "radius90_mm": {lm: (p.radius90_px * px_mm if p.radius90_px is not None and px_mm else None)
                            for lm, p in lms.items()},
            "ood_landmarks": sorted(lm for lm, p in lms.items() if p.ood),
            "intervals": {},
            "borderline": {"alignment": None, "cpak_type": None},
            "score": {lm: p.score for lm, p in lms.items()},
            "flagged": sorted(lm for lm, p in lms.items() if p.flagged),
            "missing_regions": list(leg.missing_regions),
            "absent_regions": dict(getattr(leg, "absent_regions", {}) or {}),
            "side_evidence": leg.side_evidence.as_dict() if getattr(leg, "side_evidence", None) else None,
            "resolution_limited": dict(getattr(leg, "resolution_limited", {}) or {}),
        }
        leg_metrics[side] = None
        if not lms:
            entry["errors"].append(f"{side} leg: no landmark found; metrics not computed")
        else:
            # Each metric from the landmarks it needs; those lacking one are null and listed in unmeasured.
            try:
                m = compute_leg_metrics({lm: (p.x_px, p.y_px) for lm, p in lms.items()}, side, spacing)
                entry["metrics"] = m.as_dict()
                entry["unmeasured"] = m.unmeasured_dict()
                leg_metrics[side] = m
                radii = {lm: p.radius90_px for lm, p in lms.items()}
                if unc is not None and unc.calibrated and all(r is not None for r in radii.values()):
                    iv = metric_intervals({lm: (p.x_px, p.y_px) for lm, p in lms.items()}, radii, side, spacing,
                                          coverage=unc.coverage or 0.9, factors=unc.metric_factors)
                    entry["intervals"] = {k: {**v.as_dict(), "text": v.text()} for k, v in iv.items()}
                    entry["borderline"] = borderline_classes(entry["metrics"], iv)
            except (LandmarkError, GeometryError, ValueError) as exc:
                entry["errors"].append(str(exc))
        legs[side] = entry
    study = compute_study_metrics(leg_metrics)
    return {
        "image": image_path,
        "pixel_spacing_mm": spacing,
        "spacing_source": image.spacing_source,
        "image_size_px": [image.width_px, image.height_px],
        "legs": legs,
        "study": study.as_dict(),
        "rois": [{"side": r.side, "region": r.region, "box_px": [r.x0, r.y0, r.x1, r.y1], "score": r.score}
                 for r in result.rois],
        "mirrored_suspect": bool(getattr(result, "mirrored_suspect", False)),
        "side_markers": [{"letter": m.letter, "mirrored": m.mirrored, "score": m.score, "box_px": list(m.box_px)}
                         for m in getattr(result, "side_markers", [])],
        "uncertainty": unc.as_dict() if unc is not None else
        {"calibrated": False, "coverage": None, "message": "nothing analysed",
         "ood": {"flagged": False, "score": None, "reasons": [], "message": None}},
        "warnings": list(result.warnings),
        "timings_s": dict(result.timings_s),
        "model_id": result.model_id,
        "device": result.device,
    }


INTERVAL_CSV = ("hka_deg", "mldfa_deg", "mmpta_deg", "mldta_deg", "fva_deg", "jlca_deg")
"""Metrics whose 90 % half-width goes into the CSV as ``<key>_pm``."""
CSV_FIELDS_HEAD = ("image", "side", "pixel_spacing_row_mm", "pixel_spacing_col_mm", "spacing_source", "model_id")


def csv_rows(doc: dict) -> list[dict]:
    """One CSV row per leg: landmarks (x, y, uncertainty), metrics, why any is empty, missing regions, errors."""
    from ..core.landmarks import LANDMARK_IDS
    from ..core.metrics import METRIC_KEYS, unmeasured_text

    spacing = doc["pixel_spacing_mm"] or [None, None]
    rows = []
    for side, leg in doc["legs"].items():
        row = {"image": doc["image"], "side": side, "pixel_spacing_row_mm": spacing[0],
               "pixel_spacing_col_mm": spacing[1], "spacing_source": doc["spacing_source"],
               "model_id": doc["model_id"]}
        for key in METRIC_KEYS:
            row[key] = (leg["metrics"] or {}).get(key)
        row["lld_mm"] = doc["study"]["lld_mm"]
        row["unmeasured"] = unmeasured_text({**leg["unmeasured"], **doc["study"]["unmeasured"]})
        for lm in LANDMARK_IDS:
            xy = leg["landmarks"].get(lm)
            row[f"{lm}_x_px"], row[f"{lm}_y_px"] = (xy if xy else (None, None))
            row[f"{lm}_uncertainty_px"] = leg["uncertainty_px"].get(lm)
        for key in INTERVAL_CSV:
            iv = leg.get("intervals", {}).get(key)
            row[f"{key}_pm"] = iv["half_width"] if iv else None
        border = leg.get("borderline", {})
        row["alignment_borderline"] = border.get("alignment")
        row["cpak_borderline"] = border.get("cpak_type")
        for lm in LANDMARK_IDS:
            row[f"{lm}_radius90_mm"] = leg.get("radius90_mm", {}).get(lm)
        unc = doc.get("uncertainty") or {}
        row["uncertainty_calibrated"] = unc.get("calibrated")
        row["ood_flagged"] = (unc.get("ood") or {}).get("flagged")
        row["ood_landmarks"] = ";".join(leg.get("ood_landmarks", []))
        row["flagged"] = ";".join(leg["flagged"])
        row["missing_regions"] = ";".join(leg["missing_regions"])
        row["errors"] = " | ".join(leg["errors"])
        rows.append(row)
    return rows


def _csv_fields() -> list[str]:
    from ..core.landmarks import LANDMARK_IDS
    from ..core.metrics import METRIC_KEYS

    fields = list(CSV_FIELDS_HEAD) + list(METRIC_KEYS) + ["lld_mm", "unmeasured"]
    for lm in LANDMARK_IDS:
        fields += [f"{lm}_x_px", f"{lm}_y_px", f"{lm}_uncertainty_px"]
    fields += [f"{k}_pm" for k in INTERVAL_CSV] + ["alignment_borderline", "cpak_borderline"]
    fields += [f"{lm}_radius90_mm" for lm in LANDMARK_IDS] + ["uncertainty_calibrated", "ood_flagged", "ood_landmarks"]
    return fields + ["flagged", "missing_regions", "errors"]


def strict(obj, where: str = "", replaced: list[str] | None = None):
    """``obj`` with every non-finite float replaced by ``None`` (strict JSON); ``replaced`` collects the paths."""
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        if replaced is not None:
            replaced.append(where or "value")
        return None
    if isinstance(obj, dict):
        return {k: strict(v, f"{where}.{k}" if where else str(k), replaced) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v, f"{where}[{i}]", replaced) for i, v in enumerate(obj)]
    return obj


def _write(target: str, text: str) -> bool:
    """Write ``text`` to ``target`` (``-``: stdout). When the file cannot be written, the finished analysis
    goes to stdout instead and the reason to stderr, so nothing computed is lost; returns False then."""
    if target == "-":
        sys.stdout.write(text)
        return True
    from ..core.atomic import atomic_write_text

    try:
        atomic_write_text(target, text)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"llm-viewer analyze: error: cannot write {target} ({reason}); the analysis follows on stdout "
              "instead", file=sys.stderr)
        sys.stdout.write(text)
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError

    files, errors = collect_images(args.paths)
    for e in errors:
        print(f"llm-viewer analyze: {e}", file=sys.stderr)
    if not files:
        raise CommandError("no image to analyse")

    from ..pipeline.bundle import BundleError, default_bundle_path
    from ..pipeline.engine import InferenceEngine
    from ..pipeline.runtime import configure_threads

    try:
        configure_threads()
    except ValueError as exc:  # a malformed LLM_VIEWER_THREADS
        raise CommandError(str(exc)) from None

    bundle_dir = Path(args.models) if args.models else default_bundle_path()
    if not (bundle_dir / "bundle.json").is_file():
        raise CommandError(f"no model bundle at {bundle_dir}; train one with python -m training.train or pass --models")
    try:
        engine = InferenceEngine.from_bundle(bundle_dir, device=args.device, tta=args.tta)
    except BundleError as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:  # device not available
        raise CommandError(str(exc)) from None

    from ..core.imageio import ImageLoadError, load_image
    from ..pipeline.prefetch import prefetch_images

    docs: list[dict] = []
    failed = 0
    # the next file is read and decoded on a background thread while the models analyse this one
    for item in prefetch_images(files, load_image, ahead=1, expected_errors=(ImageLoadError, OSError, ValueError)):
        f = item.path
        if not item.ok:
            failed += 1
            print(f"llm-viewer analyze: skipped {f}: {item.error}", file=sys.stderr)
            continue
        image, load_s = item.image, item.load_s
        try:
            result = engine.analyze(image.pixels)
        except Exception as exc:  # noqa: BLE001 - one bad image never ends the batch
            failed += 1
            print(f"llm-viewer analyze: skipped {f}: analysis failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        doc = result_document(str(f), image, result)
        doc["timings_s"] = {"load": load_s, **doc["timings_s"]}
        replaced: list[str] = []
        doc = strict(doc, "", replaced)
        if replaced:
            doc["warnings"].append(f"non-finite values replaced by null: {', '.join(replaced[:5])}")
        docs.append(doc)
        for w in doc["warnings"]:
            print(f"llm-viewer analyze: {f}: warning: {w}", file=sys.stderr)
        for leg in doc["legs"].values():
            for e in leg["errors"]:
                print(f"llm-viewer analyze: {f}: warning: {e}", file=sys.stderr)

    written = True
    if args.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_csv_fields(), lineterminator="\n")
        writer.writeheader()
        for doc in docs:
            writer.writerows(csv_rows(doc))
        written = _write(args.csv, buf.getvalue())
    elif args.json:
        written = _write(args.json, json.dumps(docs, indent=2, allow_nan=False) + "\n")
    elif len(files) == 1 and docs:
        sys.stdout.write(json.dumps(docs[0], indent=2, allow_nan=False) + "\n")
    else:
        for doc in docs:  # several images and no output file: one JSON document per line
            sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
    if not docs:
        raise CommandError(f"none of the {len(files)} image(s) could be analysed")
    if not written:
        return 2
    return 1 if failed or errors else 0
