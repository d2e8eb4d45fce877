"""Landmark schema of ``shared/spec/ALIGNMENT.md``: sides, the nine landmarks per leg and ROI regions.

Everything that names a landmark, a side or a region takes the identifiers from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SIDES: tuple[str, ...] = ("right", "left")
"""Leg keys, the patient's sides. The right leg is on the image's left (standard AP display)."""

LANDMARK_IDS: tuple[str, ...] = (
    "femoral_head",
    "diaphysis_center",
    "femoral_condyle_lateral",
    "femoral_condyle_medial",
    "knee_center",
    "tibial_plateau_lateral",
    "tibial_plateau_medial",
    "malleolus_lateral",
    "malleolus_medial",
)
"""The nine landmarks of each leg, in the spec's order (top to bottom)."""

MAX_COORD_PX = 1.0e6
"""Largest absolute landmark coordinate accepted, in pixels (no radiograph is a million pixels wide): larger
values (``1e308``) would overflow the geometry into NaN angles."""

MIN_SPACING_MM = 1.0e-4
MAX_SPACING_MM = 100.0
"""Accepted pixel spacing range in mm (``0`` or ``null`` mean unknown); radiographs are near 0.1-0.2 mm."""

LANDMARK_LABELS: dict[str, str] = {
    "femoral_head": "Femoral head",
    "diaphysis_center": "Diaphysis centre",
    "femoral_condyle_lateral": "Lateral condyle",
    "femoral_condyle_medial": "Medial condyle",
    "knee_center": "Knee centre",
    "tibial_plateau_lateral": "Lateral plateau",
    "tibial_plateau_medial": "Medial plateau",
    "malleolus_lateral": "Lateral malleolus",
    "malleolus_medial": "Medial malleolus",
}

LANDMARK_ABBREVIATIONS: dict[str, str] = {
    "femoral_head": "H",
    "diaphysis_center": "D",
    "femoral_condyle_lateral": "CL",
    "femoral_condyle_medial": "CM",
    "knee_center": "K",
    "tibial_plateau_lateral": "PL",
    "tibial_plateau_medial": "PM",
    "malleolus_lateral": "ML",
    "malleolus_medial": "MM",
}

REGIONS: tuple[str, ...] = ("hip", "diaphysis", "knee", "ankle")
"""ROI classes of the detector, top to bottom along a leg."""

REGION_LANDMARKS: dict[str, tuple[str, ...]] = {
    "hip": ("femoral_head",),
    "diaphysis": ("diaphysis_center",),
    "knee": (
        "femoral_condyle_lateral",
        "femoral_condyle_medial",
        "knee_center",
        "tibial_plateau_lateral",
        "tibial_plateau_medial",
    ),
    "ankle": ("malleolus_lateral", "malleolus_medial"),
}
"""Which landmarks each region's model places."""

LANDMARK_REGION: dict[str, str] = {lm: region for region, lms in REGION_LANDMARKS.items() for lm in lms}


class LandmarkError(ValueError):
    """A landmark set is incomplete or malformed; the message names the leg and the landmark."""


def side_sign(side: str) -> int:
    """Return ``σ``: +1 for the right leg, -1 for the left leg.

    Parameters
    ----------
    side : str
        ``"right"`` or ``"left"``.

    Returns
    -------
    int
        The medial direction along image ``x`` for that leg.
    """
    if side == "right":
        return 1
    if side == "left":
        return -1
    raise LandmarkError(f"unknown leg side {side!r}; expected 'right' or 'left'")


@dataclass(frozen=True)
class Point:
    """A landmark position in original-image pixels (``x`` = column, ``y`` = row)."""

    x: float
    y: float

    def as_list(self) -> list[float]:
        return [float(self.x), float(self.y)]


def parse_point(value: object, *, side: str, landmark: str) -> Point:
    """Validate one ``[x, y]`` JSON value.

    Raises
    ------
    LandmarkError
        If the value is not two finite numbers; the message names ``side`` and ``landmark``.
    """
    import math

    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise LandmarkError(f"{side} leg: landmark {landmark!r} must be [x, y], got {value!r}")
    try:
        x, y = float(value[0]), float(value[1])  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise LandmarkError(f"{side} leg: landmark {landmark!r} must be two numbers, got {value!r}") from None
    if isinstance(value[0], bool) or isinstance(value[1], bool) or isinstance(value[0], str) or isinstance(
            value[1], str) or not (math.isfinite(x) and math.isfinite(y)):
        raise LandmarkError(f"{side} leg: landmark {landmark!r} must be two finite numbers, got {value!r}")
    if abs(x) > MAX_COORD_PX or abs(y) > MAX_COORD_PX:
        raise LandmarkError(f"{side} leg: landmark {landmark!r} is out of range (more than {MAX_COORD_PX:g} px "
                            f"from the image origin): {value!r}")
    return Point(x, y)


def parse_leg_landmarks(raw: Mapping[str, object], *, side: str, require_all: bool = True) -> dict[str, Point]:
    """Validate a ``{landmark_id: [x, y]}`` mapping of one leg.

    Parameters
    ----------
    raw : Mapping
        Landmark positions as read from JSON.
    side : str
        Leg side, used in messages.
    require_all : bool
        When true, every one of the nine landmarks must be present.

    Returns
    -------
    dict[str, Point]
        Known landmarks in schema order. Unknown ids raise.

    Raises
    ------
    LandmarkError
        Naming the leg and the missing, unknown or malformed landmark.
    """
    if not isinstance(raw, Mapping):
        raise LandmarkError(f"{side} leg: 'landmarks' must be an object of landmark id -> [x, y]")
    unknown = [k for k in raw if k not in LANDMARK_IDS]
    if unknown:
        raise LandmarkError(
            f"{side} leg: unknown landmark {unknown[0]!r}; expected one of {', '.join(LANDMARK_IDS)}"
        )
    out: dict[str, Point] = {}
    for lm in LANDMARK_IDS:
        if lm not in raw or raw[lm] is None:
            if require_all:
                raise LandmarkError(f"{side} leg: landmark {lm!r} is missing")
            continue
        out[lm] = parse_point(raw[lm], side=side, landmark=lm)
    return out
