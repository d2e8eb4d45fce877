"""Osteotomy plan data: methods, targets, the plan and its result, and reading stored plans.

The dicts written by :meth:`OsteotomyPlan.as_dict` are the case file's ``plans`` entries (the contract with
the DICOM SR writer). The geometry is in :mod:`llm_viewer.core.planning`, which re-exports all of this.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .landmarks import side_sign
from .metrics import METRIC_KEYS, MetricValue

METHODS: tuple[str, ...] = ("hto_open_medial", "hto_close_lateral", "dfo_open_lateral", "dfo_close_medial")
METHOD_LABELS: dict[str, str] = {
    "hto_open_medial": "HTO, medial opening wedge",
    "hto_close_lateral": "HTO, lateral closing wedge",
    "dfo_open_lateral": "DFO, lateral opening wedge",
    "dfo_close_medial": "DFO, medial closing wedge",
}
TARGET_KINDS: tuple[str, ...] = ("wbl_ratio_pct", "hka_deg")
PLANS_KEY = "plans"
"""The case file's key of the plans list."""
class PlanError(ValueError):
    """A plan cannot be simulated (missing landmark, hinge on the wrong side, unreachable target)."""


def bone(method: str) -> str:
    """``"hto"`` or ``"dfo"`` for a method of :data:`METHODS`."""
    check_method(method)
    return method[:3]


def is_opening(method: str) -> bool:
    """True for an opening wedge."""
    check_method(method)
    return "_open_" in method


def check_method(method: str) -> None:
    """Raise :class:`PlanError` unless ``method`` is one of :data:`METHODS`."""
    if method not in METHODS:
        raise PlanError(f"unknown osteotomy method {method!r}; expected one of {', '.join(METHODS)}")


def new_plan_id() -> str:
    """``plan-<8 hex digits>``."""
    return f"plan-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class PlanTarget:
    """What the correction aims at: ``kind`` of :data:`TARGET_KINDS` and its ``value`` (% or degrees)."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise PlanError(f"unknown plan target {self.kind!r}; expected one of {', '.join(TARGET_KINDS)}")
        v = float(self.value)
        if not math.isfinite(v):
            raise PlanError(f"the plan target {self.kind} must be a finite number, got {self.value!r}")
        if self.kind == "hka_deg" and not 150.0 <= v <= 210.0:
            raise PlanError(f"target HKA {v:g}° is out of range (150 to 210°; 180 is straight)")
        if self.kind == "wbl_ratio_pct" and not -50.0 <= v <= 150.0:
            raise PlanError(f"target WBL ratio {v:g} % is out of range (-50 to 150 %)")
        object.__setattr__(self, "value", v)

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "value": self.value}

    def text(self) -> str:
        """``"WBL 62.5 %"`` or ``"HKA 180.0°"``."""
        return target_text(self.kind, self.value)


def target_text(kind: str, value: float) -> str:
    """``"WBL 62.5 %"`` or ``"HKA 180.0°"`` for a target kind and value."""
    return f"WBL {value:.1f} %" if kind == "wbl_ratio_pct" else f"HKA {value:.1f}°"


@dataclass(frozen=True)
class PlanResult:
    """The simulated correction of a plan (computed by :func:`simulate`, never by a view).

    ``pre`` and ``post`` are metric dicts keyed as :data:`llm_viewer.core.metrics.METRIC_KEYS`.
    ``rotation_deg`` is the signed rotation of the distal fragment in image axes (see the module docs),
    ``correction_deg`` its magnitude. ``affine_px`` maps an original-image pixel of the distal fragment to
    its planned position (2 × 3, ``[x', y'] = A[:, :2] @ [x, y] + A[:, 2]``). ``wedge_px`` is the wedge's
    triangle (hinge, cut start, third corner: the opened gap, or the bone a closing wedge removes);
    ``distal_cut_px`` the line (hinge, point) beyond which the bone moves. These view helpers are empty on a
    result read back from a case file.
    """

    correction_deg: float
    wedge_height_mm: float | None
    osteotomy_length_mm: float | None
    pre: dict[str, MetricValue]
    post: dict[str, MetricValue]
    notes: tuple[str, ...] = ()
    rotation_deg: float | None = None
    osteotomy_length_px: float | None = None
    post_landmarks_px: dict[str, tuple[float, float]] = field(default_factory=dict)
    affine_px: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    wedge_px: tuple[tuple[float, float], ...] = ()
    distal_cut_px: tuple[tuple[float, float], ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The contract's ``result`` object."""
        return {"correction_deg": self.correction_deg, "wedge_height_mm": self.wedge_height_mm,
                "osteotomy_length_mm": self.osteotomy_length_mm,
                "pre": {k: self.pre.get(k) for k in METRIC_KEYS}, "post": {k: self.post.get(k) for k in METRIC_KEYS},
                "notes": list(self.notes)}

    @property
    def leg_length_change_mm(self) -> float | None:
        """Post-op minus pre-op leg length (``None`` without spacing)."""
        a, b = self.pre.get("leg_length_mm"), self.post.get("leg_length_mm")
        return float(b) - float(a) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None

    @classmethod
    def from_dict(cls, raw: Mapping[str, object], *, where: str = "plan") -> PlanResult:
        """Read a stored ``result`` object (raises :class:`PlanError` naming ``where``)."""
        if not isinstance(raw, Mapping):
            raise PlanError(f"{where}: 'result' must be an object")
        try:
            corr = float(raw["correction_deg"])  # type: ignore[arg-type]
            wedge = raw.get("wedge_height_mm")
            length = raw.get("osteotomy_length_mm")
            pre, post = raw.get("pre") or {}, raw.get("post") or {}
            if not isinstance(pre, Mapping) or not isinstance(post, Mapping):
                raise TypeError("pre/post must be objects")
            return cls(corr, None if wedge is None else float(wedge), None if length is None else float(length),
                       {k: pre.get(k) for k in METRIC_KEYS}, {k: post.get(k) for k in METRIC_KEYS},
                       tuple(str(n) for n in (raw.get("notes") or ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{where}: malformed result ({exc})") from None


@dataclass(frozen=True)
class OsteotomyPlan:
    """One osteotomy plan of one leg (the contract's plan dict: :meth:`as_dict`)."""

    side: str
    method: str
    target: PlanTarget
    hinge_px: tuple[float, float]
    cut_start_px: tuple[float, float]
    id: str = field(default_factory=new_plan_id)  # noqa: A003 - the contract's key
    result: PlanResult | None = None
    created_by: str | None = None
    created_at: str | None = None
    updated_by: str | None = None
    updated_at: str | None = None

    def __post_init__(self) -> None:
        side_sign(self.side)
        check_method(self.method)
        for name in ("hinge_px", "cut_start_px"):
            p = getattr(self, name)
            try:
                xy = (float(p[0]), float(p[1]))
            except (TypeError, ValueError, IndexError):
                raise PlanError(f"plan {name} must be [x, y], got {p!r}") from None
            if len(p) != 2 or not all(math.isfinite(v) for v in xy):
                raise PlanError(f"plan {name} must be two finite numbers, got {p!r}")
            object.__setattr__(self, name, xy)

    def with_changes(self, **changes: object) -> OsteotomyPlan:
        """A copy with some fields replaced (``hinge_px=...``, ``target=...``, ``result=...``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The plan as stored in the case file's ``plans`` list."""
        return {"id": self.id, "side": self.side, "method": self.method, "target": self.target.as_dict(),
                "hinge_px": list(self.hinge_px), "cut_start_px": list(self.cut_start_px),
                "result": None if self.result is None else self.result.as_dict(),
                "created_by": self.created_by, "created_at": self.created_at,
                "updated_by": self.updated_by, "updated_at": self.updated_at}


def parse_plan(raw: Mapping[str, Any], *, where: str = "plan") -> OsteotomyPlan:
    """One stored plan dict -> :class:`OsteotomyPlan` (raises :class:`PlanError` naming ``where``)."""
    if not isinstance(raw, Mapping):
        raise PlanError(f"{where}: a plan must be an object")
    try:
        target = raw["target"]
        if not isinstance(target, Mapping):
            raise PlanError(f"{where}: 'target' must be an object")
        result = raw.get("result")
        return OsteotomyPlan(
            side=str(raw["side"]), method=str(raw["method"]),
            target=PlanTarget(str(target["kind"]), target["value"]),
            hinge_px=tuple(raw["hinge_px"]), cut_start_px=tuple(raw["cut_start_px"]),  # type: ignore[arg-type]
            id=str(raw["id"]),
            result=None if result is None else PlanResult.from_dict(result, where=where),
            created_by=raw.get("created_by"), created_at=raw.get("created_at"),
            updated_by=raw.get("updated_by"), updated_at=raw.get("updated_at"))
    except KeyError as exc:
        raise PlanError(f"{where}: missing {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, PlanError):
            raise PlanError(f"{where}: {exc}") from None
        raise PlanError(f"{where}: malformed plan ({exc})") from None


def parse_plans(case_dict: Mapping[str, Any]) -> list[OsteotomyPlan]:
    """The plans of a case document (``case.to_dict()`` or the parsed JSON), in stored order.

    Raises
    ------
    PlanError
        A malformed plan, or two plans for one leg; the message names the plan's index.
    """
    raw = case_dict.get(PLANS_KEY) if isinstance(case_dict, Mapping) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PlanError("'plans' must be a list of plans")
    plans = [parse_plan(p, where=f"plans[{i}]") for i, p in enumerate(raw)]
    sides = [p.side for p in plans]
    for s in set(sides):
        if sides.count(s) > 1:
            raise PlanError(f"'plans' holds {sides.count(s)} plans for the {s} leg (at most one per leg)")
    return plans
