"""Export a reviewed case into the training-set store: de-identified, with provenance. Qt-free.

The exported case keeps the landmarks, calibration, ROIs and review state, and gains an ``export`` block:
model version, the original predictions, which points moved and by how much, the reviewer and the time.
It loses everything that identifies the patient. The work is done by
:func:`llm_viewer.core.store_export.add_deidentified_case`, the one path every route into a store takes
(this export, ``training.import_cases`` and ``llm-viewer export``); see that module and
:mod:`llm_viewer.core.imageio_deid`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..core.casefile import Case
from ..core.store_export import (
    SAFE_STUDY_KEYS,
    ExportError,
    ExportResult,
    add_deidentified_case,
    deidentified_case,
    provenance_block,
    store_entry_id,
)

UID_KEYS: tuple[str, ...] = ("study_instance_uid", "series_instance_uid", "sop_instance_uid")


def export_case_id(case: Case, image_path: str | os.PathLike[str]) -> str:
    """A pseudonymous, stable id of the case's image (a keyed hash of its SOP Instance UID, never its name)."""
    return store_entry_id(image_path, "export-")


def export_case_to_store(case: Case, image_path: str | os.PathLike[str], store_path: str | os.PathLike[str],
                         reviewer: str | None, *, progress: Callable[[float, str], None] | None = None,
                         cancel: Callable[[], bool] | None = None) -> ExportResult:
    """Export ``case`` (corrected in the viewer) into the store at ``store_path`` (created if needed).

    Raises
    ------
    ExportError, StoreError, ImageLoadError, OSError
        With a message naming the problem; nothing is half-written (the store writes atomically).
    """
    return add_deidentified_case(case, Path(image_path), store_path, source="export", reviewer=reviewer,
                                 extra={"reviewer": reviewer, "status": case.status}, progress=progress,
                                 cancel=cancel)


__all__ = ["SAFE_STUDY_KEYS", "UID_KEYS", "ExportError", "ExportResult", "deidentified_case", "export_case_id",
           "export_case_to_store", "provenance_block"]
