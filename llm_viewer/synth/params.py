"""What a synthetic study is made of: the configuration and the per-leg alignment targets.

:func:`sample_study` draws everything random about one study from a ``numpy`` generator. The alignment
targets of each leg (mLDFA, mMPTA, JLCA, mLDTA, FVA, lengths, stance) follow a mixture of phenotypes:
normal, varus, valgus, marked deformity and post-operative knees, with leg-length discrepancy in a
share of studies. Everything that is not a target (bone widths, soft tissue, implants, noise, ...) is
drawn here too so that rendering is a pure function of a :class:`StudyParameters`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..core.landmarks import SIDES

PHENOTYPES: tuple[str, ...] = ("normal", "varus", "valgus", "severe_varus", "severe_valgus", "postop_tka")
PHENOTYPE_WEIGHTS: tuple[float, ...] = (0.45, 0.2, 0.12, 0.07, 0.05, 0.11)
SIDE_WIDTH_SD = 0.015
"""SD of the difference between a patient's left and right joint widths (condylar, plateau, malleolar lines),
on top of the per-patient scale: bilateral asymmetry of the knee and ankle is a few per cent."""

FULL_WIDTH_PX = 2800
FULL_HEIGHT_PX = 8100
FULL_SPACING_MM = 0.14


class SynthConfigError(ValueError):
    """An invalid generator setting; the message names it."""


@dataclass(frozen=True)
class SynthConfig:
    """Settings of the generator (everything not drawn at random).

    Attributes
    ----------
    height_px, width_px : int
        Image size. The field of view is ``height_px * spacing_mm`` by ``width_px * spacing_mm``.
    spacing_mm : float or None
        Pixel spacing (square pixels). ``None``: chosen so that the field of view is that of a full-size
        image (2800 x 8100 at 0.14 mm, i.e. 392 x 1134 mm) whatever the pixel count.
    monochrome : str
        ``"MONOCHROME1"``, ``"MONOCHROME2"`` or ``"random"`` (30 % MONOCHROME1).
    implants_rate : float
        Probability that a leg carries implants (total knee or hip, plate, screws), besides the
        post-operative knee phenotype which always has a total knee.
    one_leg_rate : float
        Probability that the study shows a single leg (the other collimated out).
    calibration : str
        ``"ruler"``, ``"ball"``, ``"none"`` or ``"random"``.
    render_scale : int
        Attenuation is rendered at ``1/render_scale`` of the image resolution, then upsampled.
    """

    height_px: int = FULL_HEIGHT_PX
    width_px: int = FULL_WIDTH_PX
    spacing_mm: float | None = None
    monochrome: str = "random"
    implants_rate: float = 0.12
    one_leg_rate: float = 0.05
    calibration: str = "random"
    render_scale: int = 4

    def __post_init__(self) -> None:
        if not (64 <= int(self.height_px) <= 20000) or not (64 <= int(self.width_px) <= 20000):
            raise SynthConfigError(f"image size must be 64..20000 pixels, got {self.width_px}x{self.height_px}")
        if self.spacing_mm is not None and not (0.01 <= float(self.spacing_mm) <= 5.0):
            raise SynthConfigError(f"spacing_mm must be 0.01..5 mm, got {self.spacing_mm}")
        fov_h = self.height_px * self.pixel_spacing_mm
        if not (700.0 <= fov_h <= 2000.0):
            raise SynthConfigError(
                f"the field of view must be 700..2000 mm tall to hold a whole leg, got {fov_h:.0f} mm "
                f"({self.height_px} px x {self.pixel_spacing_mm:.3f} mm)")
        if self.monochrome not in ("MONOCHROME1", "MONOCHROME2", "random"):
            raise SynthConfigError(f"monochrome must be MONOCHROME1, MONOCHROME2 or random, got {self.monochrome!r}")
        for name in ("implants_rate", "one_leg_rate"):
            v = float(getattr(self, name))
            if not (0.0 <= v <= 1.0):
                raise SynthConfigError(f"{name} must be between 0 and 1, got {v}")
        if self.calibration not in ("ruler", "ball", "none", "random"):
            raise SynthConfigError(f"calibration must be ruler, ball, none or random, got {self.calibration!r}")
        if int(self.render_scale) not in (1, 2, 3, 4, 6, 8):
            raise SynthConfigError(f"render_scale must be one of 1, 2, 3, 4, 6, 8, got {self.render_scale}")

    @property
    def pixel_spacing_mm(self) -> float:
        """The square pixel spacing actually used, in mm."""
        if self.spacing_mm is not None:
            return round(float(self.spacing_mm), 6)
        # rounded so that the DICOM decimal string holds exactly the value the landmarks use
        return round(FULL_SPACING_MM * FULL_HEIGHT_PX / float(self.height_px), 6)

    @classmethod
    def with_height(cls, height_px: int, **kwargs: Any) -> SynthConfig:
        """A configuration of ``height_px`` rows with the full-size aspect ratio and field of view."""
        width = max(64, int(round(height_px * FULL_WIDTH_PX / FULL_HEIGHT_PX)))
        return cls(height_px=int(height_px), width_px=width, **kwargs)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pixel_spacing_mm"] = self.pixel_spacing_mm
        return d


@dataclass(frozen=True)
class LegParameters:
    """Alignment targets and shape of one leg (mm and degrees).

    The targets are what :func:`llm_viewer.core.metrics.compute_leg_metrics` must return for the ground
    truth landmarks. ``hka_deg`` is not free: ``hka = 180 - mldfa + mmpta - jlca`` (the spec's identity).
    """

    side: str
    phenotype: str
    mldfa_deg: float
    mmpta_deg: float
    jlca_deg: float
    mldta_deg: float
    fva_deg: float
    femur_length_mm: float
    tibia_length_mm: float
    stance_width_mm: float
    """Horizontal distance from the body midline to the ankle centre."""
    neck_shaft_angle_deg: float
    head_radius_mm: float
    bone_scale: float
    """Width scale of all bones (1 = average adult)."""
    rotation_deg: float
    """Limb rotation (+ external): changes projected neck, patella and fibula overlap, not landmarks."""
    diaphysis_fraction: float
    """Distance from the knee centre to the diaphysis landmark, as a fraction of femur length."""
    soft_tissue_scale: float
    knee_implant: bool = False
    hip_implant: bool = False
    plate: str = "none"
    """``"none"``, ``"femur"`` or ``"tibia"``: a lateral plate with screws."""
    bracelet: bool = False
    condyle_spread: float = 1.0
    """Scale of the distance between the condyles' tangent points (CL–CM), on top of ``bone_scale``."""
    plateau_spread: float = 1.0
    """Scale of the tibial plateau width (PL–PM), on top of ``bone_scale``."""
    malleolar_spread: float = 1.0
    """Scale of the malleolar width (ML–MM), on top of ``bone_scale``."""
    cortex_asymmetry: float = 1.0
    """How eccentric the femoral canal is (0 = centred; 1 = medial cortex ~1.6 mm thicker at the calcar)."""

    @property
    def hka_deg(self) -> float:
        return 180.0 - self.mldfa_deg + self.mmpta_deg - self.jlca_deg

    def targets(self) -> dict[str, float]:
        """The alignment targets keyed as the spec's metrics."""
        return {"hka_deg": self.hka_deg, "mldfa_deg": self.mldfa_deg, "mmpta_deg": self.mmpta_deg,
                "mldta_deg": self.mldta_deg, "fva_deg": self.fva_deg, "jlca_deg": self.jlca_deg,
                "femur_length_mm": self.femur_length_mm, "tibia_length_mm": self.tibia_length_mm}

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hka_deg"] = self.hka_deg
        return d


@dataclass(frozen=True)
class StudyParameters:
    """Everything random about one synthetic study."""

    legs: dict[str, LegParameters]
    """Both legs, keyed by side (both are modelled; see ``sides`` for those in the field of view)."""
    sides: tuple[str, ...]
    """Legs shown and annotated: both, or one when the other is collimated out."""
    hip_distance_mm: float
    """Distance between the two femoral head centres."""
    midline_x_mm: float
    ankle_y_mm: float
    """Row of the ankle centres (floor level) in mm from the image top."""
    pelvis_tilt_deg: float
    body_scale: float
    monochrome: str
    calibration: str
    seams: int
    exposure: float
    noise_level: float
    scatter_fraction: float
    collimation_mm: tuple[float, float]
    """Left and right collimator edges, in mm from the image's left edge."""
    marker: str
    """``"R"`` or ``"L"``: the lead marker letter; placed on that leg's side."""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["legs"] = {s: p.as_dict() for s, p in self.legs.items()}
        d["sides"] = list(self.sides)
        d["collimation_mm"] = list(self.collimation_mm)
        return d


def _clip(v: float, lo: float, hi: float) -> float:
    return float(min(max(v, lo), hi))


def sample_alignment(rng: np.random.Generator, phenotype: str) -> dict[str, float]:
    """Draw mLDFA, mMPTA, JLCA, mLDTA and FVA for a phenotype.

    Parameters
    ----------
    rng : numpy.random.Generator
    phenotype : str
        One of :data:`PHENOTYPES`.

    Returns
    -------
    dict
        ``mldfa_deg``, ``mmpta_deg``, ``jlca_deg``, ``mldta_deg``, ``fva_deg``.
    """
    n = rng.normal
    if phenotype == "normal":
        mldfa, mmpta, jlca = n(87.5, 1.8), n(87.0, 1.8), n(0.6, 0.8)
    elif phenotype == "varus":
        mldfa, mmpta, jlca = n(89.0, 2.0), n(84.5, 1.8), abs(n(1.8, 1.2))
    elif phenotype == "valgus":
        mldfa, mmpta, jlca = n(84.5, 1.8), n(89.0, 1.6), n(0.0, 1.0)
    elif phenotype == "severe_varus":
        mldfa, mmpta, jlca = n(90.5, 2.0), n(82.0, 2.0), abs(n(3.0, 1.5))
    elif phenotype == "severe_valgus":
        mldfa, mmpta, jlca = n(82.5, 2.0), n(90.0, 1.8), n(-0.5, 1.2)
    elif phenotype == "postop_tka":
        mldfa, mmpta, jlca = n(90.0, 1.2), n(90.0, 1.0), n(0.0, 0.6)
    else:
        raise SynthConfigError(f"unknown phenotype {phenotype!r}; expected one of {', '.join(PHENOTYPES)}")
    # keep HKA (= 180 - mldfa + mmpta - jlca) within 180 +- 17 degrees by shrinking the deviations
    dev = mmpta - mldfa - jlca
    if abs(dev) > 17.0:
        k = 17.0 / abs(dev)
        mldfa, mmpta, jlca = 87.5 + (mldfa - 87.5) * k, 87.5 + (mmpta - 87.5) * k, jlca * k
    return {
        "mldfa_deg": _clip(mldfa, 74.0, 100.0),
        "mmpta_deg": _clip(mmpta, 74.0, 100.0),
        "jlca_deg": _clip(jlca, -4.0, 9.0),
        "mldta_deg": _clip(n(89.0, 2.5), 80.0, 98.0),
        "fva_deg": _clip(n(6.0, 1.2), 3.0, 10.0),
    }


def sample_study(rng: np.random.Generator, config: SynthConfig) -> StudyParameters:
    """Draw every random property of one study.

    Parameters
    ----------
    rng : numpy.random.Generator
        The study's generator (the caller derives it from the seed).
    config : SynthConfig

    Returns
    -------
    StudyParameters
    """
    fov_w = config.width_px * config.pixel_spacing_mm
    fov_h = config.height_px * config.pixel_spacing_mm
    body = _clip(rng.normal(1.0, 0.06), 0.86, 1.16)
    femur = _clip(rng.normal(445.0, 28.0) * body, 370.0, 530.0)
    tibia_ratio = _clip(rng.normal(0.815, 0.025), 0.74, 0.89)
    one_leg = bool(rng.random() < config.one_leg_rate)
    present = [SIDES[int(rng.integers(2))]] if one_leg else list(SIDES)
    lld = 0.0
    if rng.random() < 0.15:
        lld = float(rng.uniform(8.0, 40.0)) * (1 if rng.random() < 0.5 else -1)
    pheno_main = PHENOTYPES[int(rng.choice(len(PHENOTYPES), p=np.array(PHENOTYPE_WEIGHTS)))]
    stance_half = _clip(rng.normal(55.0, 25.0), 25.0, 140.0)
    legs: dict[str, LegParameters] = {}
    # Joint widths vary between people (about 5-7 % SD) but little between a person's two legs: a per-patient
    # scale and a small per-leg deviation (SIDE_WIDTH_SD), so that each leg's distribution stays N(1, sd).
    width_sd = {"condyle": 0.07, "plateau": 0.05, "malleolar": 0.06}
    patient_width = {k: rng.normal(1.0, math.sqrt(sd ** 2 - SIDE_WIDTH_SD ** 2)) for k, sd in width_sd.items()}
    head_r = _clip(rng.normal(23.5, 1.5) * body, 19.0, 28.0)
    for side in SIDES:
        # Legs of one patient are similar: the other leg keeps the phenotype with probability 0.7.
        pheno = pheno_main if rng.random() < 0.7 else PHENOTYPES[int(rng.choice(len(PHENOTYPES),
                                                                             p=np.array(PHENOTYPE_WEIGHTS)))]
        align = sample_alignment(rng, pheno)
        shorten = (lld if side == "left" else 0.0) if lld > 0 else (-lld if side == "right" else 0.0)
        f_len = femur * _clip(rng.normal(1.0, 0.004), 0.98, 1.02) - 0.55 * shorten
        t_len = femur * tibia_ratio * _clip(rng.normal(1.0, 0.004), 0.98, 1.02) - 0.45 * shorten
        implants = rng.random() < config.implants_rate
        knee_impl = pheno == "postop_tka" or (implants and rng.random() < 0.35)
        hip_impl = implants and rng.random() < 0.4
        plate = "none"
        if implants and not knee_impl and rng.random() < 0.6:
            plate = "femur" if rng.random() < 0.5 else "tibia"
        p = LegParameters(
            side=side, phenotype=pheno, **align,
            femur_length_mm=float(f_len), tibia_length_mm=float(t_len),
            stance_width_mm=float(stance_half + rng.normal(0.0, 8.0)),
            neck_shaft_angle_deg=_clip(rng.normal(129.0, 5.0), 115.0, 145.0),
            head_radius_mm=float(head_r * _clip(rng.normal(1.0, 0.015), 0.96, 1.04)),
            bone_scale=float(body * _clip(rng.normal(1.0, 0.03), 0.92, 1.08)),
            rotation_deg=_clip(rng.normal(0.0, 8.0), -20.0, 25.0),
            diaphysis_fraction=float(rng.uniform(0.27, 0.36)),
            soft_tissue_scale=_clip(rng.normal(1.0, 0.18), 0.7, 1.6),
            knee_implant=bool(knee_impl), hip_implant=bool(hip_impl), plate=plate,
            bracelet=bool(rng.random() < 0.03),
            condyle_spread=_clip(patient_width["condyle"] + rng.normal(0.0, SIDE_WIDTH_SD), 0.85, 1.18),
            plateau_spread=_clip(patient_width["plateau"] + rng.normal(0.0, SIDE_WIDTH_SD), 0.88, 1.12),
            malleolar_spread=_clip(patient_width["malleolar"] + rng.normal(0.0, SIDE_WIDTH_SD), 0.86, 1.15),
            cortex_asymmetry=float(rng.uniform(0.4, 1.4)),
        )
        legs[side] = p
    hip_distance = _clip(rng.normal(182.0, 10.0) * body, 150.0, 220.0)
    # Keep the stance no narrower than touching ankles and the whole body in the field of view.
    mono = config.monochrome if config.monochrome != "random" else (
        "MONOCHROME1" if rng.random() < 0.3 else "MONOCHROME2")
    calib = config.calibration if config.calibration != "random" else (
        ("ruler", "ball", "none")[int(rng.choice(3, p=np.array([0.55, 0.25, 0.2])))])
    midline = fov_w / 2.0 + rng.normal(0.0, 0.03 * fov_w)
    # Leg length H->A ~ femur + tibia; the femoral heads sit 110..200 mm below the image top.
    leg_len = max(p.femur_length_mm + p.tibia_length_mm for p in legs.values())
    head_y = rng.uniform(110.0, 200.0)
    ankle_y = min(head_y + leg_len * math.cos(math.radians(3.0)), fov_h - 45.0)
    col_margin = rng.uniform(0.0, 0.06 * fov_w, size=2)
    collimation = (float(col_margin[0]), float(fov_w - col_margin[1]))
    if one_leg:
        # Collimate the other leg out: the blade sits at the midline.
        if present[0] == "right":
            collimation = (collimation[0], float(midline + rng.uniform(10.0, 40.0)))
        else:
            collimation = (float(midline - rng.uniform(10.0, 40.0)), collimation[1])
    return StudyParameters(
        legs=legs,
        sides=tuple(present),
        hip_distance_mm=float(hip_distance),
        midline_x_mm=float(midline),
        ankle_y_mm=float(ankle_y),
        pelvis_tilt_deg=0.0,
        body_scale=float(body),
        monochrome=mono,
        calibration=calib,
        seams=int(rng.choice([2, 3], p=[0.6, 0.4])),
        exposure=float(rng.uniform(0.8, 1.25)),
        noise_level=float(rng.uniform(0.7, 1.4)),
        scatter_fraction=float(rng.uniform(0.25, 0.55)),
        collimation_mm=collimation,
        marker="R" if rng.random() < 0.6 else "L",
    )
