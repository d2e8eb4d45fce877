"""Open an image or a case file into (image, case, autosave location): Qt-free, runs in a worker thread."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.casefile import CASE_SUFFIX, Case, CaseFileError, load_case, save_case, sha256_file
from .state import CaseLocation, DisplayPreset, case_path_for_image, display_presets


class OpenError(ValueError):
    """The path cannot be opened as a case; the message names the file and the problem."""


@dataclass
class LoadedCase:
    """Everything the document needs to show a case."""

    image: Any  # llm_viewer.core.imageio.RadiographImage
    case: Case
    location: CaseLocation
    image_path: Path
    created: bool
    presets: list[DisplayPreset]
    warnings: list[str] = field(default_factory=list)


def _load_image(path: Path) -> Any:
    from ..core.imageio import load_image  # lazy: pydicom import costs start-up time

    return load_image(path)


def open_case(path: str | os.PathLike[str], app_data_dir: str | os.PathLike[str], *,
              progress: Callable[[float, str], None] | None = None,
              cancel: Callable[[], bool] | None = None,
              image_loader: Callable[[Path], Any] | None = None) -> LoadedCase:
    """Open ``path`` (an image, or a ``.case.json``) with its case file, creating the case if there is none.

    Parameters
    ----------
    path : path-like
        A radiograph (DICOM, PNG, JPEG, TIFF) or a case file naming one.
    app_data_dir : path-like
        Where case files go when the image's folder is read-only.
    progress, cancel : callable, optional
        Worker callbacks.
    image_loader : callable, optional
        Replaces :func:`llm_viewer.core.imageio.load_image` (tests).

    Returns
    -------
    LoadedCase

    Raises
    ------
    OpenError, CaseFileError, ImageLoadError
        With a message naming the file and the problem.
    """
    progress = progress or (lambda f, m: None)
    loader = image_loader or _load_image
    p = Path(path).expanduser()
    if not p.exists():
        raise OpenError(f"{p}: no such file")
    if p.is_dir():
        raise OpenError(f"{p}: is a folder; open it as a worklist")
    warnings: list[str] = []
    created = False
    if p.name.endswith(CASE_SUFFIX):
        progress(0.05, "reading case file")
        case = load_case(p)
        image_path = case.resolve_image_path(p)
        if not image_path.exists():
            raise OpenError(f"{p}: its image {image_path} does not exist")
        location = CaseLocation(p.resolve(), False)
    else:
        image_path = p.resolve()
        location = case_path_for_image(image_path, app_data_dir)
        case = load_case(location.path) if location.path.exists() else None
    progress(0.2, f"loading {image_path.name}")
    image = loader(image_path)
    if cancel is not None and cancel():
        raise OpenError("cancelled")
    if case is None:
        case = Case.new(pixel_spacing_mm=image.pixel_spacing_mm, spacing_source=image.spacing_source)
        case.set_image(image_path, location.path, width_px=image.width_px, height_px=image.height_px)
        try:
            case.set_study(_public_study(image))
        except Exception:  # noqa: BLE001 - study metadata is a convenience, never a reason to fail
            pass
        created = True
    else:
        ref = case.image
        if ref is not None and ref.sha256:
            progress(0.7, "checking the image")
            if sha256_file(image_path) != ref.sha256:
                warnings.append(f"{image_path.name} changed since its case was saved: check every landmark")
        if ref is not None and ref.width_px and ref.height_px and (ref.width_px, ref.height_px) != (
                image.width_px, image.height_px):
            raise OpenError(f"{location.path}: made for a {ref.width_px}×{ref.height_px} image, but "
                            f"{image_path.name} is {image.width_px}×{image.height_px}")
    progress(0.9, "preparing display")
    presets = display_presets(image.pixels, image.window.center, image.window.width)
    if location.fallback:
        warnings.append(f"the image's folder is read-only: autosaving to {location.path}")
    if created:
        save_case(case, location.path)
    return LoadedCase(image, case, location, image_path, created, presets, warnings)


def _public_study(image: Any) -> dict[str, Any]:
    """Study fields kept in the case file (dates and descriptions; identity stays in the image)."""
    md = image.metadata.as_dict() if hasattr(image.metadata, "as_dict") else {}
    keep = ("study_date", "study_description", "modality", "manufacturer", "body_part",
            "study_instance_uid", "series_instance_uid", "sop_instance_uid",
            "patient_sex")
    return {k: md.get(k) for k in keep if md.get(k) is not None}


__all__ = ["LoadedCase", "OpenError", "open_case", "CaseFileError"]
