"""``llm-viewer report CASE... --out FILE.pdf``: the surgeon's PDF, one per case."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the PDF alignment report of case files",
        description="One PDF per case: radiograph with overlays, hip/knee/ankle insets of both legs, every "
        "metric with normal ranges, calibration, model version, manual corrections and review status. An "
        "approval that no longer matches the landmarks (changed after it, e.g. the case file edited) is marked "
        "NOT VALID in the report's header and makes the command exit 1; one recorded without a fingerprint "
        "(older versions) is marked 'not verifiable'.",
    )
    p.add_argument("cases", nargs="+", help="case files (*.case.json) or folders of them")
    p.add_argument("--out", required=True,
                   help="output PDF for one case, or a folder (created) receiving <case>.pdf for several")
    p.add_argument("--paper", choices=("a4", "letter"), default="a4")
    p.add_argument("--institution", default="", help="institution name printed in the header")
    p.add_argument("--logo", default=None, help="institution logo (PNG/JPEG) for the header")
    p.add_argument("--allow-missing-image", action="store_true",
                   help="exit 0 even when a case's image is missing, changed (sha256) or unreadable; the "
                   "report then says 'Image not shown' (without this flag such a report exits 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..core.casefile import CaseFileError
    from ..report.csv_export import find_case_files
    from ..report.model import build_case_report
    from ..report.pdf import ReportError, ReportOptions, render_case_pdf

    try:
        cases = find_case_files(args.cases)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from None
    if not cases:
        raise CommandError("no case files (*.case.json) found in the given paths")
    out = Path(args.out)
    several = len(cases) > 1 or out.is_dir() or not out.suffix.lower() == ".pdf"
    if several:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    if args.logo and not Path(args.logo).is_file():
        raise CommandError(f"logo not found: {args.logo}")
    opts = ReportOptions(paper=args.paper, institution=args.institution, logo_path=args.logo)
    failures = image_missing = stale = 0
    for case_path in cases:
        try:
            report = build_case_report(case_path)
            target = out / (report.case_id + ".pdf") if several else out
            before = len(report.warnings)
            render_case_pdf(report, target, opts)
        except (CaseFileError, ReportError) as exc:
            print(f"llm-viewer report: skipped {case_path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        except OSError as exc:
            print(f"llm-viewer report: skipped {case_path}: cannot write the report: {exc.strerror or exc}",
                  file=sys.stderr)
            failures += 1
            continue
        for w in report.warnings:
            print(f"llm-viewer report: {case_path}: warning: {w}", file=sys.stderr)
        if report.approval.state == "stale":
            print(f"llm-viewer report: {case_path}: APPROVAL NOT VALID: {report.approval.message}; the report is "
                  "marked so in its header", file=sys.stderr)
            stale += 1
        unreadable = [w for w in report.warnings[before:] if w.startswith("cannot load")]
        if (report.image_problem or unreadable or report.image_path is None) and not args.allow_missing_image:
            print(f"llm-viewer report: {case_path}: the report was written without its image "
                  f"({report.image_problem or 'the image cannot be read'}); pass --allow-missing-image to accept "
                  "that", file=sys.stderr)
            image_missing += 1
        print(str(target))
    if failures == len(cases):
        raise CommandError("no report written")
    return 1 if failures or image_missing or stale else 0
