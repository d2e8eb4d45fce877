"""Score a pool of images with a strategy and rank them into a relabel queue (``llm-viewer rank``, the loop)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...core.imageio_types import IMAGE_SUFFIXES
from .strategies import RankedImage, Strategy, breakdown, rank_scores
from .tta import UncertaintyAnalyzer


@dataclass(frozen=True)
class PoolItem:
    """An image of the pool and, for a store's case, its case file (the viewer opens it through that)."""

    image: Path
    case: Path | None = None


@dataclass(frozen=True)
class RankOutcome:
    """The queue (most informative first) and a message per image that could not be used."""

    ranked: list[RankedImage]
    skipped: list[str]




def collect_pool(paths: Sequence[str]) -> tuple[list[PoolItem], list[str]]:
    """Every image of the pool and a message per bad entry.

    A folder holding ``store.json`` is read as a training-set store (its cases' images, each with its case
    file); other folders are searched recursively for DICOM/PNG/JPEG/TIFF files; files are taken as given.
    Duplicates (same resolved path) are listed once.
    """
    from ...core.store import Store, StoreError

    items: list[PoolItem] = []
    errors: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and (p / "store.json").is_file():
            try:
                store = Store.open(p)
            except StoreError as exc:
                errors.append(str(exc))
                continue
            entries = store.entries()
            if not entries:
                errors.append(f"{p}: store holds no case")
            items += [PoolItem(store.image_path(e), store.case_path(e)) for e in entries]
        elif p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                errors.append(f"{p}: folder holds no DICOM/PNG/JPEG/TIFF images")
            items += [PoolItem(f) for f in found]
        elif p.is_file():
            items.append(PoolItem(p))
        else:
            errors.append(f"{p}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for it in items:
        key = it.image.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(it)
    return unique, errors


def rank_pool(items: Sequence[PoolItem], analyzer: UncertaintyAnalyzer, strategy: Strategy, *,
              top: int | None = None, log: Callable[[str], None] | None = None,
              diversity: float = 0.0) -> RankOutcome:
    """Load, analyse and score every image; unreadable images are skipped with a message.

    Parameters
    ----------
    items : sequence of PoolItem
    analyzer : UncertaintyAnalyzer
    strategy : Strategy
        Its ``needs_tta`` decides whether the test-time views run.
    top : int, optional
        Keep only the ``top`` highest scores.
    log : callable, optional
        Progress lines.
    diversity : float
        ``λ`` of :func:`llm_viewer.pipeline.active.expected.diverse_order` (0: plain score order): near-identical
        images are pushed down the queue.

    Returns
    -------
    RankOutcome
    """
    from ...core.casefile import CaseFileError, load_case
    from ...core.imageio import ImageLoadError, load_image
    from ..crop import normalize_intensity
    from .expected import diverse_order, image_descriptor

    scored, cases, skipped, descriptors = [], {}, [], []
    for i, item in enumerate(items):
        try:
            image = load_image(item.image)
        except (ImageLoadError, OSError, ValueError) as exc:
            skipped.append(f"{item.image}: skipped ({exc})")
            continue
        spacing = image.pixel_spacing_mm
        if item.case is not None:
            try:
                spacing = load_case(item.case).pixel_spacing_mm or spacing
            except (CaseFileError, OSError, ValueError):
                pass
        ev, _final = analyzer.evidence(image.pixels, tta=strategy.needs_tta, pixel_spacing_mm=spacing,
                                       key=str(item.image))
        score = float(strategy.score(ev))
        details = breakdown(ev).as_dict()
        details.update({"legs": sorted(ev.result.legs), "warnings": len(ev.result.warnings),
                        "model_id": ev.result.model_id})
        scored.append((str(item.image), score, details))
        if diversity > 0:
            norm = normalize_intensity(image.pixels, analyzer.engine.config.intensity)
            descriptors.append(image_descriptor(norm, sorted(ev.result.legs)))
        if item.case is not None:
            cases[str(item.image)] = str(item.case)
        if log is not None:
            log(f"rank: {i + 1}/{len(items)} {item.image.name} {strategy.name} {score:.3f}")
    if not scored:
        return RankOutcome([], skipped)
    if diversity <= 0:
        return RankOutcome(rank_scores(scored, strategy.name, top=top, cases=cases), skipped)
    rank_scores(scored, strategy.name, cases=cases)  # validates the scores
    order = diverse_order([s for _, s, _ in scored], descriptors, lam=diversity, top=top)
    if top is not None:
        order = order[:top]
    ranked = [RankedImage(scored[i][0], float(scored[i][1]), strategy.name, k + 1, cases.get(scored[i][0]),
                          {**scored[i][2], "diversity": diversity}) for k, i in enumerate(order)]
    return RankOutcome(ranked, skipped)


def queue_json(ranked: Sequence[RankedImage]) -> str:
    """The relabel queue as JSON text: a list of objects, most informative first."""
    return json.dumps([r.as_dict() for r in ranked], indent=1) + "\n"


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
