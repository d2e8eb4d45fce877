"""The bundled demo case: ``resources/demo`` copied to a working folder so the repository copy stays clean."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..core.casefile import CASE_SUFFIX

DEMO_IMAGE = "demo.dcm"


class DemoError(RuntimeError):
    """The demo case cannot be found or made; the message says what to do."""


def resources_dir() -> Path:
    """``resources/`` (source tree, installed wheel or frozen app)."""
    from ..resources_path import resources_root

    return resources_root()


def prepare_demo(work_dir: str | Path, source_dir: str | Path | None = None, *,
                 generate_height_px: int | None = None) -> Path:
    """Copy the bundled demo into ``work_dir/demo`` (once; again when the bundled one is newer).

    Returns
    -------
    Path
        The demo image to open (its case file sits beside it).

    Raises
    ------
    DemoError
        When there is no bundled demo and none can be generated.
    """
    src = Path(source_dir) if source_dir else resources_dir() / "demo"
    dst = Path(work_dir) / "demo"
    image = src / DEMO_IMAGE
    if not image.exists():
        return _generate_demo(dst, height_px=generate_height_px)
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if not f.is_file():
            continue
        target = dst / f.name
        # The working copy of the case holds the user's corrections: never overwrite it with an older one.
        if not target.exists() or (f.stat().st_mtime > target.stat().st_mtime and not f.name.endswith(CASE_SUFFIX)):
            shutil.copy2(f, target)
    return dst / DEMO_IMAGE


def _generate_demo(dst: Path, seed: int = 2024, height_px: int | None = None) -> Path:
    """Make a synthetic demo study with ``llm_viewer.synth`` when the bundled one is missing.

    Writes ``demo.dcm`` (a synthetic DICOM) and ``demo.case.json`` (its ground truth) into ``dst``.
    """
    from ..core.casefile import Case, save_case

    target = dst / DEMO_IMAGE
    if target.exists():
        return target
    try:
        from ..synth.dicom import dicom_bytes
        from ..synth.generator import generate_case
        from ..synth.params import SynthConfig
        from ..synth.writer import build_case_document
    except ImportError as exc:
        raise DemoError(f"no bundled demo case ({resources_dir() / 'demo' / DEMO_IMAGE} is missing) and the "
                        f"synthetic generator is unavailable ({exc}); open an image instead: llm-viewer gui IMAGE"
                        ) from None
    config = SynthConfig.with_height(height_px) if height_px else SynthConfig()
    case = generate_case(seed, config)
    dst.mkdir(parents=True, exist_ok=True)
    from ..core.atomic import atomic_write_bytes

    atomic_write_bytes(target, dicom_bytes(case))
    doc = Case(build_case_document(case), source="synthetic demo")
    case_path = dst / ("demo" + CASE_SUFFIX)
    doc.set_image(target, case_path, width_px=case.width_px, height_px=case.height_px)
    save_case(doc, case_path)
    return target
