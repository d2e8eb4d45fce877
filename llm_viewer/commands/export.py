"""``llm-viewer export PATH... --store STORE``: put cases into a training-set store, de-identified.

``PATH`` is a case file or the JSON that ``analyze`` writes (one document or the list ``--json`` writes; each
names its image). Every case goes through :func:`llm_viewer.core.store_export.add_deidentified_case`, the
same path as the viewer's export and ``training.import_cases``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export case files / analyze results into a training-set store, de-identified",
        description="De-identify each case and its image (DICOM: PS3.15 basic profile, private tags, preamble, "
        "free text, sequences; PNG/JPEG/TIFF: re-encoded without metadata) and add them to STORE (created if "
        "needed). Prints one line per case with what was removed; the full report is in the manifest.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="case files (*.case.json) or 'analyze' JSON output")
    p.add_argument("--store", required=True, help="training-set store folder (created when new or empty)")
    p.add_argument("--reviewer", default=None, help="who reviewed the cases (recorded in the provenance)")
    p.add_argument("--json", action="store_true", help="print the reports as one JSON document instead of lines")
    p.set_defaults(func=run)


class InputError(ValueError):
    """One input cannot be exported; the message names it and the problem."""


def _resolve_image(raw: Any, json_path: Path) -> Path:
    if not isinstance(raw, str) or not raw:
        raise InputError(f"{json_path}: names no image ('image' must be the image's path)")
    p = Path(raw)
    candidates = [p] if p.is_absolute() else [json_path.parent / p, Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return c
    raise InputError(f"{json_path}: its image {raw} does not exist")


def case_from_analysis(doc: dict[str, Any], where: str) -> Any:
    """A :class:`Case` holding an ``analyze`` result's predictions, spacing, ROIs and model id."""
    from ..core.casefile import Case
    from ..core.landmarks import LANDMARK_IDS
    from ..core.schema import DocumentError, validate_landmark_document

    body = {k: v for k, v in doc.items() if k in ("pixel_spacing_mm", "spacing_source", "legs")}
    body["legs"] = {s: {"landmarks": (leg or {}).get("landmarks")} for s, leg in (doc.get("legs") or {}).items()} \
        if isinstance(doc.get("legs"), dict) else doc.get("legs")
    try:
        validate_landmark_document(body)
    except DocumentError as exc:
        raise InputError(f"{where}: {exc}") from None
    spacing = body.get("pixel_spacing_mm")
    case = Case.new(pixel_spacing_mm=spacing, spacing_source=str(doc.get("spacing_source") or "unknown"))
    model_id = str(doc.get("model_id") or "unknown")
    for side, leg in (doc.get("legs") or {}).items():
        scores = leg.get("score") or {}
        unc = leg.get("uncertainty_px") or {}
        flagged = set(leg.get("flagged") or [])
        for lm in LANDMARK_IDS:
            xy = (leg.get("landmarks") or {}).get(lm)
            if xy is None:
                continue
            case.set_prediction(side, lm, xy, model_id=model_id, score=_num(scores.get(lm)),
                                uncertainty_px=_num(unc.get(lm)), flagged=lm in flagged)
    rois = [r for r in (doc.get("rois") or []) if isinstance(r, dict)]
    case.set_rois(rois)
    case.set("analysis", {"model_id": model_id, "device": str(doc.get("device") or ""),
                          "warnings": [str(w) for w in doc.get("warnings") or []]})
    return case


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_inputs(path: Path) -> list[tuple[str, Any, Path]]:
    """``[(label, case, image_path)]`` of one PATH (several for an ``analyze --json`` list)."""
    from ..core.casefile import CASE_FORMAT, Case, CaseFileError
    from ..core.schema import MAX_JSON_BYTES, DocumentError, parse_json_bytes

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; give case files or analyze JSON") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    text = data.lstrip()
    if text.startswith(b"["):  # analyze --json: a list of documents
        try:
            docs = parse_json_bytes(b'{"list": ' + data + b"}", str(path))["list"]
        except DocumentError as exc:
            raise InputError(str(exc).replace("'list'", "the list")) from None
        if not docs:
            raise InputError(f"{path}: the list holds no analysis")
        out = []
        for i, doc in enumerate(docs):
            where = f"{path} [{i}]"
            if not isinstance(doc, dict):
                raise InputError(f"{where}: expected an analysis object, got {type(doc).__name__}")
            out.append((where, case_from_analysis(doc, where), _resolve_image(doc.get("image"), path)))
        return out
    try:
        doc = parse_json_bytes(data, str(path))
    except DocumentError as exc:
        raise InputError(str(exc)) from None
    if isinstance(doc.get("image"), str) or (doc.get("format") != CASE_FORMAT and "model_id" in doc):
        return [(str(path), case_from_analysis(doc, str(path)), _resolve_image(doc.get("image"), path))]
    try:
        case = Case(doc, source=str(path))
        image = case.resolve_image_path(path)
    except CaseFileError as exc:
        raise InputError(str(exc)) from None
    if not image.is_file():
        raise InputError(f"{path}: its image {case.image.path if case.image else image} does not exist")
    return [(str(path), case, image)]


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..core.imageio_types import ImageLoadError
    from ..core.store import Store, StoreError
    from ..core.store_export import ExportError, add_deidentified_case, report_line

    try:
        store = Store.create(args.store, exist_ok=True)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{args.store}: cannot create the store ({exc.strerror or exc})") from None

    problems: list[str] = []
    done: list[dict[str, Any]] = []
    for raw in args.paths:
        try:
            items = read_inputs(Path(raw))
        except InputError as exc:
            problems.append(str(exc))
            continue
        for label, case, image in items:
            try:
                result = add_deidentified_case(case, image, store, source="export", reviewer=args.reviewer,
                                               extra={"reviewer": args.reviewer, "status": case.status})
            except (ExportError, ImageLoadError, StoreError, OSError, ValueError) as exc:
                problems.append(f"{label}: {exc}")
                continue
            done.append({"input": label, "id": result.case_id, "deidentification": result.report})
            if not args.json:
                print(f"{label} -> {result.case_id}: {report_line(result.report)}")
    if args.json:
        sys.stdout.write(json.dumps({"store": str(store.root), "exported": done, "skipped": problems},
                                    indent=2, allow_nan=False) + "\n")
    if not done and len(problems) == 1:
        raise CommandError(problems[0])  # one input, one line
    for msg in problems:
        print(f"llm-viewer export: skipped {msg}", file=sys.stderr)
    if not done:
        raise CommandError(f"nothing exported: none of the {len(problems)} input(s) could be exported")
    print(f"llm-viewer export: {len(done)} case(s) exported into {store.root}"
          + (f", {len(problems)} skipped" if problems else ""), file=sys.stderr)
    return 1 if problems else 0
