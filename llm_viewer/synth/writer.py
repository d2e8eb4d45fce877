"""Put synthetic cases into a training-set store (DICOM image, case file, diaphysis masks).

Case files are made reproducible: every timestamp in them (history, provenance) is the study's fixed
synthetic date, not the clock, so the same seed gives byte-identical stores.
"""

from __future__ import annotations

from typing import Any

import cv2

from ..core.casefile import Case
from ..core.history import record_approval
from ..core.store import Store, StoreEntry
from .dicom import _study_datetime, dicom_bytes
from .export import ExportedCase, ExportError, export_case, sample_export_spec
from .generator import SyntheticCase


def fixed_timestamp(case: SyntheticCase) -> str:
    """The case's synthetic acquisition time as ISO-8601 UTC (used for every timestamp of the case)."""
    return _study_datetime(case).strftime("%Y-%m-%dT%H:%M:%SZ")


def _freeze(obj: Any, ts: str) -> Any:
    if isinstance(obj, dict):
        return {k: (ts if k == "at" and isinstance(v, str) else _freeze(v, ts)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_freeze(v, ts) for v in obj]
    return obj


def _ground_truth_case(case: SyntheticCase, landmarks: dict[str, dict[str, list[float]]], rois: list[dict[str, Any]],
                       spacing_mm: float, spacing_source: str, description: str) -> Case:
    """A case holding ``landmarks`` as approved-to-be ground truth, the boxes and the synthetic study header."""
    c = Case.new(pixel_spacing_mm=[spacing_mm, spacing_mm], spacing_source=spacing_source)
    for side, lms in landmarks.items():
        for lm, xy in lms.items():
            c.set_ground_truth(side, lm, xy, source="ground_truth", by="llm-viewer synth")
    c.set_rois(rois)
    c.set_study({"patient_name": f"SYNTH^{case.seed}-{case.index:06d}", "modality": "DX",
                 "study_description": description, "synthetic": True})
    return c


def build_case_document(case: SyntheticCase) -> dict[str, Any]:
    """The case file content (without the image entry, which the store adds) with fixed timestamps."""
    c = _ground_truth_case(case, case.landmarks, case.rois, case.pixel_spacing_mm, "ImagerPixelSpacing",
                           "SYNTHETIC standing long-leg AP")
    block = case.synthetic_block()
    block["masks"] = {side: {"path": f"../masks/{case.case_id}_diaphysis_{side}.png", "scale": 1}
                      for side in case.masks}
    c.set("synthetic", block)
    c.set_status("approved", by="llm-viewer synth")
    record_approval(c)  # verifiable: the fingerprint holds the points and spacing, not the (frozen) times
    return _freeze(c.to_dict(), fixed_timestamp(case))


def encode_mask(mask) -> bytes:  # noqa: ANN001 - numpy array
    """A 0/255 mask as a 1-bit PNG (lossless, small)."""
    ok, buf = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_BILEVEL, 1])
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding of a mask failed")
    return buf.tobytes()


def write_case(store: Store, case: SyntheticCase, *, dicom: bytes | None = None) -> StoreEntry:
    """Write a synthetic case into ``store`` (image, case file, one diaphysis mask per leg, manifest line)."""
    doc = build_case_document(case)
    masks = {f"diaphysis_{side}": encode_mask(m) for side, m in case.masks.items()}
    return store.add_case(case.case_id, doc, image_bytes=dicom if dicom is not None else dicom_bytes(case),
                          image_suffix=".dcm", masks=masks, source="synthetic", created=fixed_timestamp(case),
                          width_px=case.width_px, height_px=case.height_px,
                          extra={"seed": case.seed, "index": case.index})


def export_id(case_id: str, k: int) -> str:
    """The store id of clinical export ``k`` of a case."""
    return f"{case_id}-x{k}"


def clinical_exports(case: SyntheticCase, count: int, *, single_leg_rate: float = 0.45) -> list[ExportedCase]:
    """``count`` clinical exports of a case (:mod:`llm_viewer.synth.export`), a pure function of the case.

    Export ``k`` draws its format from ``(seed, index, k)``; a single-leg crop whose leg does not fit is
    drawn again (at most 5 times), then skipped.
    """
    import numpy as np

    out: list[ExportedCase] = []
    sides = tuple(case.landmarks)
    for k in range(count):
        for attempt in range(5):
            rng = np.random.default_rng([case.seed, case.index, 7_700 + k, attempt])
            try:
                out.append(export_case(case, sample_export_spec(rng, sides, single_leg_rate=single_leg_rate)))
                break
            except ExportError:
                continue
    return out


def build_export_document(case: SyntheticCase, ex: ExportedCase, k: int) -> dict[str, Any]:
    """The case file of a clinical export: landmarks and boxes in the export's pixels, provenance kept.

    The case file keeps the export's true spacing (the ground truth needs it for errors in mm); whether
    the exported *file* carries a spacing is ``synthetic.export.spacing_known`` (PNG and JPEG carry none).
    """
    source = "synthetic ground truth (the exported file has none)" if ex.pixel_spacing_mm is None else "export"
    c = _ground_truth_case(case, ex.landmarks, ex.rois, ex.true_spacing_mm, source,
                           "SYNTHETIC standing long-leg AP, clinical export")
    block = case.synthetic_block()
    block["export"] = {"of": case.case_id, "k": k, "spec": ex.spec.as_dict(),
                       "matrix": [list(map(float, row)) for row in ex.matrix]}
    c.set("synthetic", block)
    c.set_status("approved", by="llm-viewer synth")
    record_approval(c)  # verifiable: the fingerprint holds the points and spacing, not the (frozen) times
    return _freeze(c.to_dict(), fixed_timestamp(case))
