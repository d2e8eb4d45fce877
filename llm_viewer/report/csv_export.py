"""The study table: one row per leg with every metric, an uncertainty summary, status and reviewer."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from ..core.atomic import atomic_write_text
from ..core.casefile import CASE_SUFFIX, CaseFileError
from ..core.metrics import METRIC_KEYS, unmeasured_text
from .model import CaseReport, build_case_report, ordered_sides

CSV_COLUMNS: tuple[str, ...] = (
    "case_id", "case_path", "image", "side", "status", "reviewer", "reviewed_at", "model_id",
    "pixel_spacing_row_mm", "pixel_spacing_col_mm", "spacing_source",
    *METRIC_KEYS,
    "lld_mm", "unmeasured", "uncertainty_mean_px", "uncertainty_max_px", "manual_landmarks", "flagged_landmarks", "error",
)


def find_case_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand case files, folders (searched recursively for ``*.case.json``) and stores into case paths.

    Raises
    ------
    FileNotFoundError
        For an input that does not exist.
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*" + CASE_SUFFIX) if not q.name.startswith(".tmp-")))
        else:
            out.append(p)
    seen: set[Path] = set()
    unique = []
    for p in out:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(p)
    return unique


def leg_rows(report: CaseReport) -> list[dict[str, object]]:
    """CSV rows (one per leg) of a case.

    An empty metric cell is explained in ``unmeasured`` (``"fva_deg needs diaphysis_center"``, and
    ``lld_mm`` when the study's LLD lacks a leg's length); ``error`` is for a leg not measured at all.
    """
    rows = []
    sp = report.pixel_spacing_mm
    for side in ordered_sides(report):
        leg = report.legs[side]
        metrics = leg.metrics.as_dict() if leg.metrics else {k: None for k in METRIC_KEYS}
        row: dict[str, object] = {
            "case_id": report.case_id,
            "case_path": str(report.case_path),
            "image": report.case.image.path if report.case.image else "",
            "side": side,
            "status": report.review.get("status", "new"),
            "reviewer": report.review.get("by") or "",
            "reviewed_at": report.review.get("at") or "",
            "model_id": ";".join(report.model_ids),
            "pixel_spacing_row_mm": sp[0] if sp else None,
            "pixel_spacing_col_mm": sp[1] if sp else None,
            "spacing_source": report.spacing_source,
            **metrics,
            "lld_mm": report.lld_mm,
            "unmeasured": unmeasured_text({**(leg.metrics.unmeasured if leg.metrics else {}),
                                           **report.study.unmeasured}),
            "uncertainty_mean_px": leg.mean_uncertainty_px,
            "uncertainty_max_px": leg.max_uncertainty_px,
            "manual_landmarks": ";".join(leg.manual),
            "flagged_landmarks": ";".join(leg.flagged),
            "error": leg.error or "",
        }
        rows.append(row)
    return rows


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def export_csv(case_paths: Iterable[Path], out_path: str | Path) -> tuple[int, list[str]]:
    """Write the study CSV atomically.

    Returns
    -------
    (rows_written, problems)
        ``problems`` lists the case files that could not be read (each skipped, never ending the export).
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    n = 0
    problems: list[str] = []
    for path in case_paths:
        try:
            report = build_case_report(path, check_image=False)
        except CaseFileError as exc:
            problems.append(str(exc))
            continue
        for row in leg_rows(report):
            writer.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
            n += 1
    atomic_write_text(out_path, buf.getvalue())
    return n, problems
