"""``llm-viewer export-csv STORE_OR_CASES --out FILE.csv``: one row per leg for a study."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export-csv",
        help="write every metric of every leg of many cases to one CSV",
        description="One row per leg: every metric, LLD, uncertainty summary, review status and reviewer. "
        "Inputs are case files, folders or training-set stores (searched for *.case.json).",
    )
    p.add_argument("inputs", nargs="+", help="case files, folders or stores")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..report.csv_export import export_csv, find_case_files

    try:
        cases = find_case_files(args.inputs)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from None
    if not cases:
        raise CommandError("no case files (*.case.json) found in the given paths")
    try:
        rows, problems = export_csv(cases, args.out)
    except OSError as exc:
        raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    for p in problems:
        print(f"llm-viewer export-csv: skipped: {p}", file=sys.stderr)
    print(f"{rows} rows from {len(cases) - len(problems)} cases written to {args.out}", file=sys.stderr)
    return 1 if problems else 0
