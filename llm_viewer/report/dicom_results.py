"""A case's results as DICOM objects in the source image's study: SR measurement report, PDF, overlay.

:func:`write_dicom_results` writes, for a case made on a DICOM radiograph,

- ``<stem>.sr.dcm``: the TID 1500 measurement report (:mod:`llm_viewer.report.dicom_sr`);
- ``<stem>.pdf.dcm``: the PDF report as Encapsulated PDF (:mod:`llm_viewer.report.dicom_pdf`);
- ``<stem>.sc.dcm``: the overlay as an RGB Secondary Capture (:mod:`llm_viewer.report.dicom_sc`);

each atomically (:mod:`llm_viewer.core.atomic`), after all requested objects were built, so a failure
leaves no partial set of new files. ``<stem>`` is the case file's name without ``.case.json``.
"""

from __future__ import annotations

import io
import warnings as _warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from ..core.atomic import atomic_write_bytes
from ..core.casefile import CaseFileError
from .dicom_source import DicomResultsError, SourceImage, header_problems, read_source
from .model import CaseReport, build_case_report

__all__ = ["RESULT_KINDS", "DicomResults", "DicomResultsError", "write_dicom_results"]

RESULT_KINDS: tuple[str, ...] = ("sr", "pdf", "sc")


@dataclass(frozen=True)
class DicomResults:
    """What :func:`write_dicom_results` wrote (``None`` for an object not requested)."""

    sr_path: Path | None
    pdf_path: Path | None
    sc_path: Path | None
    study_instance_uid: str
    warnings: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        """The files written, in the order SR, PDF, SC."""
        return [p for p in (self.sr_path, self.pdf_path, self.sc_path) if p is not None]


def _encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _build(kinds: list[str], report: CaseReport, source: SourceImage, reviewer: str | None, warnings: list[str],
           encoded: dict[str, bytes]) -> None:
    """Build and encode the requested objects into ``encoded`` (nothing is written here)."""
    from .dicom_pdf import build_encapsulated_pdf, render_pdf_bytes
    from .dicom_sc import build_secondary_capture, render_overlay_rgb
    from .dicom_sr import build_sr, verification

    try:
        if "sr" in kinds:
            encoded["sr"] = _encode(build_sr(report, source, reviewer=reviewer, warnings=warnings))
        if "pdf" in kinds:
            institution = str(source.dataset.get("InstitutionName") or "")
            encoded["pdf"] = _encode(build_encapsulated_pdf(render_pdf_bytes(report, institution), source,
                                                            verified=verification(report).verified))
        if "sc" in kinds:
            encoded["sc"] = _encode(build_secondary_capture(render_overlay_rgb(report), source, tuple(report.legs)))
    except DicomResultsError:
        raise
    except (ValueError, TypeError, AttributeError) as exc:  # highdicom/pydicom reject a value (e.g. the source's)
        raise DicomResultsError(f"{report.case_path}: the DICOM results cannot be built from it and "
                                f"{report.image_path}: {type(exc).__name__}: {exc}") from None


def case_stem(case_path: Path) -> str:
    """The case file's name without ``.case.json`` (or its last suffix)."""
    name = case_path.name
    return name[: -len(".case.json")] if name.endswith(".case.json") else case_path.stem


def write_dicom_results(case_path: str | Path, out_dir: str | Path, *, reviewer: str | None = None,
                        include: Iterable[str] = RESULT_KINDS) -> DicomResults:
    """Write the DICOM results of one case into ``out_dir``.

    Parameters
    ----------
    case_path : path-like
        A case file (``*.case.json``) whose image is the original DICOM radiograph.
    out_dir : path-like
        Output folder (created); receives ``<stem>.sr.dcm``, ``<stem>.pdf.dcm``, ``<stem>.sc.dcm``.
    reviewer : str, optional
        Person observer of the SR; default: the case's reviewer.
    include : iterable of str
        Which objects to write, among ``"sr"``, ``"pdf"``, ``"sc"``.

    Returns
    -------
    DicomResults
        The paths written, the study they belong to, and warnings (e.g. an approval that does not hold,
        which makes the SR UNVERIFIED).

    Raises
    ------
    DicomResultsError
        The case cannot be read, its image is missing, changed or not DICOM, a header UID is missing, or
        an output cannot be written; the message names the file and the problem.
    """

    kinds = [k.strip().lower() for k in include]
    unknown = [k for k in kinds if k not in RESULT_KINDS]
    if unknown or not kinds:
        raise DicomResultsError(f"unknown DICOM result kind {unknown[0]!r}; expected some of sr, pdf, sc" if unknown
                                else "no DICOM result requested; expected some of sr, pdf, sc")
    case_path = Path(case_path)
    try:
        report = build_case_report(case_path)
    except CaseFileError as exc:
        raise DicomResultsError(str(exc)) from None
    if report.image_path is None:
        raise DicomResultsError(f"{case_path}: the case names no image, so there is no study to add results to")
    source = read_source(report.image_path)
    if report.image_problem:
        raise DicomResultsError(f"{case_path}: {report.image_problem}: the results would not match the image "
                                "they reference")
    if not report.legs:
        raise DicomResultsError(f"{case_path}: the case has no landmarks to report")
    warnings: list[str] = header_problems(source)
    encoded: dict[str, bytes] = {}
    with _warnings.catch_warnings():
        # pydicom warns about each malformed source value it meets; header_problems() said it once, clearly
        _warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom\.")
        _build(kinds, report, source, reviewer, warnings, encoded)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DicomResultsError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    stem = case_stem(case_path)
    paths: dict[str, Path] = {}
    for kind in RESULT_KINDS:
        if kind in encoded:
            target = out / f"{stem}.{kind}.dcm"
            try:
                atomic_write_bytes(target, encoded[kind])
            except OSError as exc:
                raise DicomResultsError(f"cannot write {target}: {exc.strerror or exc}") from None
            paths[kind] = target
    for w in report.warnings:
        if w not in warnings and not any(w in x for x in warnings):
            warnings.append(w)
    return DicomResults(sr_path=paths.get("sr"), pdf_path=paths.get("pdf"), sc_path=paths.get("sc"),
                        study_instance_uid=source.study_instance_uid, warnings=warnings)
