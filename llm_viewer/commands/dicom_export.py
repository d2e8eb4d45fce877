"""``llm-viewer dicom-export CASE... --out DIR``: a case's results as DICOM objects in the source study."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dicom-export",
        help="write the results of case files as DICOM (SR measurement report, Encapsulated PDF, overlay)",
        description="For each case made on a DICOM radiograph, write into --out: <case>.sr.dcm (DICOM SR "
        "measurement report, TID 1500: every landmark as a point on the source image, every metric with its "
        "unit, model, reviewer and approval), <case>.pdf.dcm (the PDF report as Encapsulated PDF) and "
        "<case>.sc.dcm (the overlay burned into the radiograph, Secondary Capture). All sit in the source "
        "image's study, in new series, and reference the source image. A case on a PNG/JPEG/TIFF image is "
        "refused: the SR references the image by its DICOM UIDs. Exits 1 when a case was skipped or an "
        "approval does not hold (the SR is then UNVERIFIED).",
    )
    p.add_argument("cases", nargs="+", help="case files (*.case.json) or folders of them")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--reviewer", default=None,
                   help="person observer of the SR (default: the case's reviewer)")
    p.add_argument("--only", default="sr,pdf,sc",
                   help="comma-separated subset of sr,pdf,sc to write (default: all three)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..report.csv_export import find_case_files
    from ..report.dicom_results import RESULT_KINDS, DicomResultsError, write_dicom_results

    kinds = [k.strip().lower() for k in str(args.only).split(",") if k.strip()]
    bad = [k for k in kinds if k not in RESULT_KINDS]
    if bad or not kinds:
        raise CommandError(f"--only: unknown kind {bad[0]!r}; expected a comma-separated subset of sr,pdf,sc"
                           if bad else "--only: name at least one of sr, pdf, sc")
    try:
        cases = find_case_files(args.cases)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from None
    if not cases:
        raise CommandError("no case files (*.case.json) found in the given paths")
    failures = unverified = 0
    for case_path in cases:
        try:
            res = write_dicom_results(case_path, args.out, reviewer=args.reviewer, include=kinds)
        except DicomResultsError as exc:
            print(f"llm-viewer dicom-export: skipped {case_path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        for w in res.warnings:
            print(f"llm-viewer dicom-export: {case_path}: warning: {w}", file=sys.stderr)
        if any("UNVERIFIED" in w for w in res.warnings):
            unverified += 1
        for path in res.paths:
            print(str(path))
    if failures == len(cases):
        raise CommandError("no DICOM results written")
    return 1 if failures or unverified else 0
