"""A case as a DICOM SR measurement report (TID 1500, Comprehensive SR, built with highdicom).

Content (see docs/DICOM.md, "Results as DICOM"):

- one TID 1501 measurement group per leg: tracking identifier ``"<side> leg"``, finding site Lower limb
  with its laterality, the landmark model as algorithm identification, the source image;
- each landmark as an SCOORD ``POINT`` selected from the source image. The case puts the centre of the
  top-left pixel at ``[0, 0]``; DICOM puts ``(0, 0)`` at that pixel's top-left corner, so the SR holds
  ``x + 0.5, y + 0.5``;
- each metric of :data:`llm_viewer.core.metrics.METRIC_KEYS` that core computed, as a NUM with its UCUM
  unit (the alignment class as a CODE); a metric core could not compute is left out and named in a TEXT
  item ``Metric not measured`` with core's reason;
- a study group with the leg-length discrepancy; one group per osteotomy plan of the case (``plans``);
- the reviewer as person observer and the software as device observer; an approval that still holds makes
  the document VERIFIED (the approver as verifying observer) and COMPLETE, anything else UNVERIFIED and
  PARTIAL.

Numbers come from :func:`llm_viewer.report.model.build_case_report` (core's metrics), as in the PDF.
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from .. import __version__
from ..core.landmarks import LANDMARK_IDS, LANDMARK_LABELS, Point
from ..core.metrics import METRIC_KEYS, METRIC_LABELS
from . import dicom_codes as C
from .dicom_source import (
    MANUFACTURER,
    PRIVATE_SCHEME,
    PRIVATE_SCHEME_NAME,
    TYPE2_KEYWORDS,
    SourceImage,
    copy_patient_study,
    dicom_datetime,
    new_uid,
    person_name,
    set_equipment,
)
from .model import CaseReport, ordered_sides

SR_SERIES_NUMBER = 9901
UNKNOWN_ORGANIZATION = "unknown organization"
"""VerifyingOrganization (type 1) when the source names no InstitutionName."""
PIXEL_CENTRE_SHIFT_PX = 0.5
"""Added to the case's pixel-centre coordinates to get DICOM SCOORD (pixel-corner origin) coordinates."""

DEVICE_UID = str(generate_uid(prefix=None, entropy_srcs=["llm-viewer", "device-observer"]))
"""Stable UID of llm-viewer as device observer."""


def scoord_xy(p: Point | tuple[float, float] | list[float]) -> np.ndarray:
    """The ``(column, row)`` SCOORD graphic data of a case point: ``[[x + 0.5, y + 0.5]]``."""
    x, y = (p.x, p.y) if isinstance(p, Point) else (float(p[0]), float(p[1]))
    return np.array([[x + PIXEL_CENTRE_SHIFT_PX, y + PIXEL_CENTRE_SHIFT_PX]], dtype=np.float64)


def _point_item(name: Any, p: Point | list[float], source: SourceImage) -> hd.sr.ScoordContentItem:
    item = hd.sr.ScoordContentItem(name=name, graphic_type=hd.sr.GraphicTypeValues.POINT,
                                   graphic_data=scoord_xy(p),
                                   relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    item.ContentSequence = [hd.sr.SourceImageForRegion(source.sop_class_uid, source.sop_instance_uid)]
    return item


def _text(name: Any, value: str) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=name, value=value[:1024],
                                 relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)


def _metric_content(values: Mapping[str, Any], *, post: bool = False
                    ) -> tuple[list[hd.sr.Measurement], list[hd.sr.QualitativeEvaluation]]:
    """NUMs (and the alignment CODE) of the metrics with a value; ``post`` uses the post-operative codes."""
    nums: list[hd.sr.Measurement] = []
    quals: list[hd.sr.QualitativeEvaluation] = []
    for key in METRIC_KEYS:
        value = values.get(key)
        if value is None:
            continue
        name, unit = C.METRIC_CODES[key]
        if post:
            name = C.post_code(key)
        if key == "alignment":
            code = C.ALIGNMENT_VALUES.get(str(value))
            if code is not None:
                quals.append(hd.sr.QualitativeEvaluation(name=name, value=code))
            continue
        nums.append(hd.sr.Measurement(name=name, value=float(value), unit=unit))
    return nums, quals


def _algorithm(report: CaseReport) -> hd.sr.AlgorithmIdentification | None:
    if not report.model_ids:
        return None
    return hd.sr.AlgorithmIdentification(name="llm-viewer SGR landmark model",
                                         version=", ".join(report.model_ids)[:64], manufacturer=MANUFACTURER)


def _leg_group(report: CaseReport, side: str, source: SourceImage) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    leg = report.legs[side]
    values = leg.metrics.as_dict() if leg.metrics is not None else {}
    nums, quals = _metric_content(values)
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=new_uid(), identifier=f"{side} leg"),
        finding_sites=[hd.sr.FindingSite(anatomic_location=C.LOWER_LIMB, laterality=C.LATERALITY[side])],
        algorithm_id=_algorithm(report),
        measurements=nums or None,
        qualitative_evaluations=quals or None,
        source_images=[hd.sr.SourceImageForMeasurementGroup(source.sop_class_uid, source.sop_instance_uid)],
    )
    extra = []
    for lm in LANDMARK_IDS:
        if lm in leg.landmarks:
            extra.append(_point_item(C.LANDMARK_CODES[lm], leg.landmarks[lm], source))
    for key in METRIC_KEYS:
        if values.get(key) is None:
            reason = leg.error or (leg.metrics.reason(key) if leg.metrics is not None else None) or "not measured"
            extra.append(_text(C.UNMEASURED, f"{METRIC_LABELS[key]} ({key}): {reason}"))
    if leg.manual:
        extra.append(_text(C.MANUAL_LANDMARKS, ", ".join(LANDMARK_LABELS[lm] for lm in leg.manual)))
    group[0].ContentSequence.extend(extra)
    return group


def _study_group(report: CaseReport) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    lld = report.study.lld_mm
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=new_uid(), identifier="both legs"),
        finding_sites=[hd.sr.FindingSite(anatomic_location=C.LOWER_LIMB, laterality=C.LATERALITY["both"])],
        measurements=[hd.sr.Measurement(name=C.LLD_CODE, value=float(lld), unit=C.UNIT_MM)] if lld is not None
        else None,
    )
    if lld is None:
        group[0].ContentSequence.append(_text(C.UNMEASURED, f"{METRIC_LABELS['lld_mm']} (lld_mm): "
                                                         f"{report.study.reason() or 'not measured'}"))
    return group


def _num_or_none(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


@dataclass(frozen=True)
class PlanEntry:
    """One osteotomy plan as the SR reports it: the contract's plan dict, the result shown, and remarks."""

    plan: Mapping[str, Any]
    result: Mapping[str, Any]
    remarks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verification:
    """Whether the SR is VERIFIED, by whom, and (when an approval is not honoured) why not."""

    verified: bool
    verifier: str | None = None
    reason: str | None = None


def plan_entries(report: CaseReport, notes: list[str]) -> list[PlanEntry]:
    """The case's osteotomy plans (right leg first).

    With :mod:`llm_viewer.report.pdf_plan` (the planning feature) each result is the one the PDF's plan page
    shows: simulated again on the current landmarks by ``core.planning``; a remark says when that differs
    from the stored result or cannot be done (the stored one is then reported). Without it, the stored
    results of the case's ``plans`` are reported as they are. Problems reading the plans go to ``notes``.
    """
    try:
        from .pdf_plan import plan_pages
    except ImportError:
        plans = report.case.get("plans") or []
        if not isinstance(plans, list):
            notes.append("the case's osteotomy plans are not reported: 'plans' is not a list")
            return []
        out = []
        for plan in plans:
            if isinstance(plan, Mapping) and plan.get("side") in ("right", "left"):
                result = plan.get("result") if isinstance(plan.get("result"), Mapping) else {}
                out.append(PlanEntry(plan, result))
            else:
                ident = plan.get("id") if isinstance(plan, Mapping) else plan
                notes.append(f"osteotomy plan {ident!r} not reported: it names no leg side")
        return sorted(out, key=lambda e: e.plan.get("side") != "right")
    before = len(report.warnings)
    pages = plan_pages(report)
    notes.extend(report.warnings[before:])
    out = []
    for page in pages:
        remarks = []
        if page.problem:
            remarks.append(f"stored result reported: {page.problem}")
        if page.stale:
            remarks.append("result simulated again on the current landmarks (the stored one differs)")
        out.append(PlanEntry(page.plan.as_dict(), page.result.as_dict() if page.result is not None else {}, remarks))
    return out


def _plan_group(plan: Mapping[str, Any], result: Mapping[str, Any], remarks: list[str], source: SourceImage
                ) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 group of one osteotomy plan (``plan["side"]`` is right or left)."""
    side = plan["side"]
    nums: list[hd.sr.Measurement] = []
    target = plan.get("target") if isinstance(plan.get("target"), Mapping) else {}
    if target.get("kind") in C.PLAN_TARGETS and _num_or_none(target.get("value")) is not None:
        name, unit = C.PLAN_TARGETS[target["kind"]]
        nums.append(hd.sr.Measurement(name=name, value=_num_or_none(target["value"]), unit=unit))
    for key, (name, unit) in C.PLAN_RESULTS.items():
        value = _num_or_none(result.get(key))
        if value is not None:
            nums.append(hd.sr.Measurement(name=name, value=value, unit=unit))
    post = result.get("post") if isinstance(result.get("post"), Mapping) else {}
    post_nums, post_quals = _metric_content(post, post=True)
    method = C.PLAN_METHODS.get(str(plan.get("method")))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=new_uid(),
                                                     identifier=f"osteotomy plan {plan.get('id', '')} ({side})"),
        finding_type=C.PLAN_FINDING,
        method=method,
        finding_sites=[hd.sr.FindingSite(anatomic_location=C.LOWER_LIMB, laterality=C.LATERALITY[side])],
        measurements=(nums + post_nums) or None,
        qualitative_evaluations=post_quals or None,
    )
    extra = []
    for key, name in C.PLAN_POINTS.items():
        xy = plan.get(key)
        if isinstance(xy, (list, tuple)) and len(xy) == 2 and all(_num_or_none(v) is not None for v in xy):
            extra.append(_point_item(name, [float(xy[0]), float(xy[1])], source))
    for note in list(result.get("notes") or ()) + remarks:
        extra.append(_text(C.PLAN_NOTE, str(note)))
    group[0].ContentSequence.extend(extra)
    return group


def _observation_context(report: CaseReport, reviewer: str | None) -> hd.sr.ObservationContext:
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=DEVICE_UID, name="llm-viewer", manufacturer_name=MANUFACTURER,
            model_name=(", ".join(report.model_ids) or f"llm-viewer {__version__}")[:64]))
    person = None
    if reviewer:
        person = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=reviewer))
    return hd.sr.ObservationContext(observer_person_context=person, observer_device_context=device)


def _evidence(source: SourceImage) -> Dataset:
    """The source header with empty type 2 patient/study attributes where absent (highdicom reads them)."""
    ev = Dataset()
    ev.update(source.dataset)
    copy_patient_study(source, ev)  # malformed sex / dates / times empty: highdicom refuses them
    for kw in TYPE2_KEYWORDS:
        if kw not in ev:
            setattr(ev, kw, "")
    return ev


def verification(report: CaseReport) -> Verification:
    """Whether the SR is VERIFIED: an approval that holds (valid, or unverifiable with no later change in the
    history) verifies it, by the approver; a stale one, or one without the approver's name, does not."""
    state = report.approval.state
    by = person_name(report.review.get("by"))
    if state == "not_approved":
        return Verification(False)
    if state == "stale":
        return Verification(False, None, f"the SR is UNVERIFIED: {report.approval.message}")
    if by is None:
        return Verification(False, None, "the SR is UNVERIFIED: the approval names no reviewer")
    return Verification(True, by)


def build_sr(report: CaseReport, source: SourceImage, *, reviewer: str | None = None,
             warnings: list[str] | None = None) -> hd.sr.ComprehensiveSR:
    """The TID 1500 measurement report of a case, in the source image's study.

    Parameters
    ----------
    report : CaseReport
        From :func:`llm_viewer.report.model.build_case_report`.
    source : SourceImage
        The case's source radiograph (:func:`llm_viewer.report.dicom_source.read_source`).
    reviewer : str, optional
        The person observer; default: the case's reviewer (``review.by``), none when that is empty too.
    warnings : list of str, optional
        Receives one line per thing a reader of the SR should know (e.g. why it is UNVERIFIED).

    Returns
    -------
    highdicom.sr.ComprehensiveSR
        A new SOP instance in a new series.
    """
    notes = warnings if warnings is not None else []
    check = verification(report)
    verified, verifier = check.verified, check.verifier
    if check.reason:
        notes.append(check.reason)
    if report.approval.state == "unverifiable" and verified:
        notes.append(f"the approval is taken as given but cannot be checked: {report.approval.message}")
    person = person_name(reviewer) or person_name(report.review.get("by"))
    groups: list[hd.sr.MeasurementsAndQualitativeEvaluations] = [
        _leg_group(report, side, source) for side in ordered_sides(report)]
    if len(report.legs) == 2:
        groups.append(_study_group(report))
    for entry in plan_entries(report, notes):
        groups.append(_plan_group(entry.plan, entry.result, entry.remarks, source))
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", UserWarning)  # person names without "^" (e.g. "Dr Test") are legal PN
        content = hd.sr.MeasurementReport(
            observation_context=_observation_context(report, person),
            procedure_reported=C.PROCEDURE,
            imaging_measurements=groups,
            title=codes.cid7021.ImagingMeasurementReport,
        )
        sr = hd.sr.ComprehensiveSR(
            evidence=[_evidence(source)],
            content=content[0],
            series_instance_uid=new_uid(),
            series_number=SR_SERIES_NUMBER,
            sop_instance_uid=new_uid(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            is_complete=verified,
            is_final=verified,
            is_verified=verified,
            verifying_observer_name=verifier,
            verifying_organization=(str(source.dataset.get("InstitutionName") or "").strip() or UNKNOWN_ORGANIZATION)
            if verified else None,
            institution_name=str(source.dataset.get("InstitutionName") or "") or None,
            series_description="llm-viewer alignment measurements",
        )
    if verified:
        when = dicom_datetime(report.review.get("at"))
        if when is not None:
            sr.VerifyingObserverSequence[0].VerificationDateTime = when.strftime("%Y%m%d%H%M%S") + "+0000"
    copy_patient_study(source, sr)
    set_equipment(sr)
    sr.CodingSchemeIdentificationSequence = [_scheme_item()]
    return sr


def _scheme_item() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeVersion = __version__
    item.CodingSchemeResponsibleOrganization = "llm-viewer project"
    return item
