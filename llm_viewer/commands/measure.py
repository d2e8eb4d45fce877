"""``llm-viewer measure FILE``: every alignment metric of the landmarks in a JSON file."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "measure",
        help="compute the alignment metrics of landmarks in a case / analysis JSON file",
        description="Read landmarks (a case file, the output of 'analyze', or the spec's minimal JSON) and "
        "print every metric of ALIGNMENT.md for each leg, plus the study's leg-length discrepancy.",
    )
    p.add_argument("file", help="JSON file with 'pixel_spacing_mm' and 'legs.<side>.landmarks'; '-' reads stdin")
    p.add_argument("--format", choices=("json", "table"), default="json", help="output format (default: json)")
    p.set_defaults(func=run)


def _read(path: str) -> dict:
    from ..cli import CommandError
    from ..core.casefile import CaseFileError, read_json_document

    if path == "-":
        from ..core.schema import MAX_JSON_BYTES, DocumentError, parse_json_bytes

        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read(MAX_JSON_BYTES + 1) if stream is not None else sys.stdin.read(MAX_JSON_BYTES + 1).encode()
        try:
            return parse_json_bytes(data, "stdin")
        except DocumentError as exc:
            raise CommandError(str(exc)) from None
    try:
        return read_json_document(path)
    except CaseFileError as exc:
        raise CommandError(str(exc)) from None


def format_table(result: dict) -> str:
    """Human-readable table of a ``measure`` result (legs as columns).

    A metric that could not be computed shows why (``needs diaphysis_center``) in its cell, or, when that
    does not fit the column, a note marker ``(a)`` explained below the table.
    """
    from ..core.metrics import METRIC_KEYS, METRIC_LABELS, missing_reason, out_of_range

    width = 24
    sides = list(result["legs"])
    notes: dict[str, str] = {}  # reason -> marker

    def reason_cell(reason: str) -> str:
        if len(reason) <= width - 1:
            return reason
        marker = notes.setdefault(reason, f"({chr(ord('a') + len(notes))})")
        return f"n/a {marker}"

    lines = [f"{'metric':<16}" + "".join(f"{s:>{width}}" for s in sides)]
    for key in METRIC_KEYS:
        cells = []
        for s in sides:
            v = result["legs"][s]["metrics"][key]
            lacking = result["legs"][s].get("unmeasured", {}).get(key)
            if v is None:
                txt = reason_cell(missing_reason(lacking)) if lacking else "n/a"
            elif isinstance(v, float):
                txt = f"{v:.2f}" + ("*" if out_of_range(key, v) else "")
            else:
                txt = str(v)
            cells.append(f"{txt:>{width}}")
        unit = "mm" if key.endswith("_mm") else ("°" if key.endswith("_deg") else ("%" if key.endswith("_pct") else ""))
        label = f"{METRIC_LABELS[key]} {unit}".strip()
        lines.append(f"{label:<16}" + "".join(cells))
    lld = result["study"]["lld_mm"]
    lld_lacking = result["study"].get("unmeasured", {}).get("lld_mm")
    lld_txt = f"{lld:.2f}" if lld is not None else (reason_cell(missing_reason(lld_lacking)) if lld_lacking else "n/a")
    lines.append(f"{'LLD (R − L) mm':<16}{lld_txt:>{width}}")
    spacing = result.get("pixel_spacing_mm")
    lines.append("spacing: " + (f"{spacing[0]:g} × {spacing[1]:g} mm (row × column)" if spacing
                                else "unknown: angles only, mm values not shown"))
    lines.append("* outside the typical normal range")
    for reason, marker in notes.items():
        lines.append(f"{marker} not computed: {reason}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..core.measurement import MeasurementError, measure_document

    doc = _read(args.file)
    try:
        result = measure_document(doc).as_dict()
    except MeasurementError as exc:
        where = "stdin" if args.file == "-" else args.file
        raise CommandError(f"{where}: {exc}") from None
    if args.format == "table":
        print(format_table(result))
    else:
        print(json.dumps(result, indent=1, allow_nan=False))
    return 0
