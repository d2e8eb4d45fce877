"""Configuration of a model bundle: dataclasses written to and read from ``bundle.json``.

A bundle holds one ROI detector and one model per region type (hip, diaphysis, knee, ankle). Every
number the inference code needs to reproduce training-time preprocessing lives here, so that a bundle
is self-describing and a mismatch with the code is caught when it is loaded, never at the first wrong
landmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.landmarks import REGION_LANDMARKS, REGIONS

BUNDLE_FORMAT_VERSION = 1
"""Version of the bundle layout this code reads and writes."""

DETECTOR_ARCHS: tuple[str, ...] = ("resnet50_fpn", "mobilenet_v3_fpn")
LANDMARK_METHODS: tuple[str, ...] = ("sgr", "segmentation", "regression")
MASK_METHOD = "mask"
"""Method of the diaphysis model: a binary bone mask, the landmark is derived geometrically."""
VGG_DEPTHS: tuple[int, ...] = (11, 16)
DETECTOR_CLASSES: tuple[str, ...] = ("background",) + REGIONS
"""Detector label ``i`` is ``DETECTOR_CLASSES[i]``: 1 hip, 2 diaphysis, 3 knee, 4 ankle."""


class BundleError(ValueError):
    """A model bundle is missing, malformed, corrupt or does not fit this code; the message says which."""


def _require(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise BundleError(f"{where}: required key {key!r} is missing")
    return raw[key]


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise BundleError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; this code knows {sorted(allowed)}")


def _num(value: Any, where: str, *, lo: float | None = None, hi: float | None = None, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BundleError(f"{where} must be a number, got {value!r}")
    if integer and int(value) != value:
        raise BundleError(f"{where} must be an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BundleError(f"{where} must be in [{lo}, {hi}], got {value!r}")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class IntensityConfig:
    """Robust intensity normalisation: percentiles ``low_pct``/``high_pct`` of the image map to 0 and 1."""

    method: str = "percentile"
    low_pct: float = 0.5
    high_pct: float = 99.5

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> IntensityConfig:
        where = "bundle.json intensity"
        _check_keys(raw, {"method", "low_pct", "high_pct"}, where)
        method = raw.get("method", "percentile")
        if method != "percentile":
            raise BundleError(f"{where}: method {method!r} is not supported (only 'percentile')")
        low = _num(raw.get("low_pct", 0.5), f"{where}.low_pct", lo=0, hi=100)
        high = _num(raw.get("high_pct", 99.5), f"{where}.high_pct", lo=0, hi=100)
        if not low < high:
            raise BundleError(f"{where}: low_pct ({low}) must be below high_pct ({high})")
        return cls(method, low, high)


CONTENT_CROP_MODES = ("first", "fallback", "off")


@dataclass(frozen=True)
class DetectorConfig:
    """ROI detector: Faster R-CNN on the whole image letterboxed into ``input_width_px × input_height_px``."""

    arch: str = "mobilenet_v3_fpn"
    input_width_px: int = 512
    input_height_px: int = 1536
    score_threshold: float = 0.5
    nms_threshold: float = 0.5  # per-class box suppression IoU (torchvision's default); legs.dedupe uses it too
    rpn_pre_nms_top_n: int = 300
    rpn_post_nms_top_n: int = 150
    detections_per_img: int = 40
    zoom_out_factors: tuple[float, ...] = (1.5, 2.0)  # extra passes for a view without a whole leg (multiscale)
    content_crop: str = "fallback"
    """Padding bars (``crop.detection_crop``): ``"first"`` detects on the content inside them first (a detector
    trained on such crops), ``"fallback"`` on the whole image first and on the content when that finds no whole
    leg (a detector trained on whole exports: the default for bundles that do not say), ``"off"`` never."""
    second_look: bool = True
    """Read again, alone, the half of a two-leg film of a leg that lacks a region in view (``second_look``)."""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DetectorConfig:
        where = "bundle.json detector"
        _check_keys(raw, set(cls.__dataclass_fields__), where)
        arch = _require(raw, "arch", where)
        if arch not in DETECTOR_ARCHS:
            raise BundleError(f"{where}: arch {arch!r} is not supported; expected one of {DETECTOR_ARCHS}")
        kw: dict[str, Any] = {"arch": arch}
        for key in ("input_width_px", "input_height_px"):
            kw[key] = _num(_require(raw, key, where), f"{where}.{key}", lo=32, hi=16384, integer=True)
        kw["score_threshold"] = _num(raw.get("score_threshold", 0.5), f"{where}.score_threshold", lo=0, hi=1)
        kw["nms_threshold"] = _num(raw.get("nms_threshold", 0.5), f"{where}.nms_threshold", lo=0.05, hi=1)
        for key in ("rpn_pre_nms_top_n", "rpn_post_nms_top_n", "detections_per_img"):
            if key in raw:
                kw[key] = _num(raw[key], f"{where}.{key}", lo=1, hi=100000, integer=True)
        if "zoom_out_factors" in raw:
            factors = raw["zoom_out_factors"]
            if not isinstance(factors, list | tuple) or len(factors) > 4:
                raise BundleError(f"{where}.zoom_out_factors: expected a list of at most 4 numbers, got {factors!r}")
            kw["zoom_out_factors"] = tuple(_num(f, f"{where}.zoom_out_factors", lo=1.01, hi=8) for f in factors)
        if "content_crop" in raw:
            mode = raw["content_crop"]
            if mode not in CONTENT_CROP_MODES:
                raise BundleError(f"{where}.content_crop: expected one of {CONTENT_CROP_MODES}, got {mode!r}")
            kw["content_crop"] = mode
        if "second_look" in raw:
            if not isinstance(raw["second_look"], bool):
                raise BundleError(f"{where}.second_look: expected true or false, got {raw['second_look']!r}")
            kw["second_look"] = raw["second_look"]
        return cls(**kw)


@dataclass(frozen=True)
class RegionModelConfig:
    """The landmark (or, for the diaphysis, mask) model of one region type.

    Attributes
    ----------
    region : str
        One of ``REGIONS``.
    method : str
        ``"sgr"`` (segmentation-guided regression, the paper's method), ``"segmentation"`` (centroid of the
        thresholded map), ``"regression"`` (direct coordinates) or, for the diaphysis, ``"mask"``.
    depth : int
        VGG depth of the encoders, 11 or 16.
    base_width : int
        Channels of the first VGG block (64 in VGG; smaller for light models).
    input_size_px : int
        Side of the square crop fed to the model (multiple of 32).
    in_channels : int
        Image channels (the grey crop is replicated; 3 as in the paper for ImageNet-style encoders).
    landmark_ids : tuple of str
        Output channel ``i`` / coordinate pair ``i`` is landmark ``landmark_ids[i]`` (empty for ``"mask"``).
    margin : float
        The ROI box is grown by this fraction of its larger side on every side, then made square.
    mask_radius_px : float
        Radius of the circular training masks, in crop pixels (paper: 15 px at 512).
    regressor_hidden : int
        Width of the hidden fully connected layer of the regressor.
    mirror_left : bool
        Left-leg crops are mirrored so every model sees a right leg (medial = +x in the crop).
    """

    region: str
    method: str
    depth: int = 11
    base_width: int = 16
    input_size_px: int = 128
    in_channels: int = 1
    landmark_ids: tuple[str, ...] = ()
    margin: float = 0.1
    mask_radius_px: float = 4.0
    regressor_hidden: int = 256
    mirror_left: bool = True

    @property
    def n_landmarks(self) -> int:
        return len(self.landmark_ids)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["landmark_ids"] = list(self.landmark_ids)
        return d

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], region: str) -> RegionModelConfig:
        where = f"bundle.json regions.{region}"
        _check_keys(raw, set(cls.__dataclass_fields__), where)
        if raw.get("region", region) != region:
            raise BundleError(f"{where}: region field {raw.get('region')!r} does not match its key {region!r}")
        method = _require(raw, "method", where)
        expected_methods = (MASK_METHOD,) if region == "diaphysis" else LANDMARK_METHODS
        if method not in expected_methods:
            raise BundleError(f"{where}: method {method!r} is not valid here; expected one of {expected_methods}")
        depth = _num(raw.get("depth", 11), f"{where}.depth", integer=True)
        if depth not in VGG_DEPTHS:
            raise BundleError(f"{where}: depth {depth} is not supported; expected 11 or 16")
        size = _num(raw.get("input_size_px", 128), f"{where}.input_size_px", lo=32, hi=2048, integer=True)
        if size % 32:
            raise BundleError(f"{where}: input_size_px {size} must be a multiple of 32 (five 2x poolings)")
        ids = tuple(raw.get("landmark_ids", ()))
        expected_ids = () if method == MASK_METHOD else REGION_LANDMARKS[region]
        if method != MASK_METHOD and tuple(sorted(ids)) != tuple(sorted(expected_ids)):
            raise BundleError(
                f"{where}: landmark_ids {list(ids)} do not match the {region} landmarks {list(expected_ids)}"
            )
        return cls(
            region=region,
            method=method,
            depth=depth,
            base_width=_num(raw.get("base_width", 16), f"{where}.base_width", lo=1, hi=512, integer=True),
            input_size_px=size,
            in_channels=_num(raw.get("in_channels", 1), f"{where}.in_channels", lo=1, hi=3, integer=True),
            landmark_ids=ids,
            margin=_num(raw.get("margin", 0.1), f"{where}.margin", lo=0, hi=2),
            mask_radius_px=_num(raw.get("mask_radius_px", 4.0), f"{where}.mask_radius_px", lo=0.5, hi=512),
            regressor_hidden=_num(raw.get("regressor_hidden", 256), f"{where}.regressor_hidden", lo=1, hi=65536,
                                  integer=True),
            mirror_left=bool(raw.get("mirror_left", True)),
        )


def default_region_config(region: str, *, method: str = "sgr", depth: int = 11, base_width: int = 16,
                          input_size_px: int = 128, in_channels: int = 1, regressor_hidden: int = 256,
                          mask_radius_px: float | None = None, margin: float = 0.1) -> RegionModelConfig:
    """A region config with the schema's landmark ids (``method`` is forced to ``"mask"`` for the diaphysis).

    ``mask_radius_px`` defaults to the paper's 15 px at 512 px, scaled to ``input_size_px``.
    """
    is_mask = region == "diaphysis"
    return RegionModelConfig(
        region=region,
        method=MASK_METHOD if is_mask else method,
        depth=depth,
        base_width=base_width,
        input_size_px=input_size_px,
        in_channels=in_channels,
        landmark_ids=() if is_mask else REGION_LANDMARKS[region],
        margin=margin,
        mask_radius_px=mask_radius_px if mask_radius_px is not None else max(1.0, 15.0 * input_size_px / 512.0),
        regressor_hidden=regressor_hidden,
    )


@dataclass(frozen=True)
class BundleConfig:
    """Everything ``bundle.json`` says about a bundle."""

    name: str
    version: str
    detector: DetectorConfig
    regions: dict[str, RegionModelConfig]
    intensity: IntensityConfig = field(default_factory=IntensityConfig)
    training_data_fingerprint: str = ""
    format_version: int = BUNDLE_FORMAT_VERSION
    created_utc: str = ""
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the content of ``bundle.json``)."""
        return {
            "format_version": self.format_version,
            "name": self.name,
            "version": self.version,
            "created_utc": self.created_utc,
            "training_data_fingerprint": self.training_data_fingerprint,
            "notes": self.notes,
            "intensity": asdict(self.intensity),
            "detector": asdict(self.detector),
            "regions": {r: self.regions[r].to_dict() for r in REGIONS if r in self.regions},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BundleConfig:
        """Parse and validate ``bundle.json``.

        Raises
        ------
        BundleError
            Naming the key that is missing, unknown or out of range, or a format version this code cannot read.
        """
        if not isinstance(raw, Mapping):
            raise BundleError("bundle.json must hold a JSON object")
        allowed = {"format_version", "name", "version", "created_utc", "training_data_fingerprint", "notes",
                   "intensity", "detector", "regions"}
        _check_keys(raw, allowed, "bundle.json")
        fmt = _require(raw, "format_version", "bundle.json")
        if fmt != BUNDLE_FORMAT_VERSION:
            raise BundleError(
                f"bundle.json: format_version {fmt!r} is not supported by this code (expects {BUNDLE_FORMAT_VERSION})"
            )
        regions_raw = _require(raw, "regions", "bundle.json")
        if not isinstance(regions_raw, Mapping):
            raise BundleError("bundle.json: 'regions' must be an object of region -> model config")
        unknown = [r for r in regions_raw if r not in REGIONS]
        if unknown:
            raise BundleError(f"bundle.json: unknown region {unknown[0]!r}; expected {REGIONS}")
        missing = [r for r in REGIONS if r not in regions_raw]
        if missing:
            raise BundleError(f"bundle.json: no model for region(s) {', '.join(missing)}")
        det_raw = _require(raw, "detector", "bundle.json")
        if not isinstance(det_raw, Mapping):
            raise BundleError("bundle.json: 'detector' must be an object")
        for r in REGIONS:
            if not isinstance(regions_raw[r], Mapping):
                raise BundleError(f"bundle.json: regions.{r} must be an object")
        intensity_raw = raw.get("intensity", {})
        if not isinstance(intensity_raw, Mapping):
            raise BundleError("bundle.json: 'intensity' must be an object")
        return cls(
            name=str(_require(raw, "name", "bundle.json")),
            version=str(_require(raw, "version", "bundle.json")),
            detector=DetectorConfig.from_dict(det_raw),
            regions={r: RegionModelConfig.from_dict(regions_raw[r], r) for r in REGIONS},
            intensity=IntensityConfig.from_dict(intensity_raw),
            training_data_fingerprint=str(raw.get("training_data_fingerprint", "")),
            format_version=fmt,
            created_utc=str(raw.get("created_utc", "")),
            notes=str(raw.get("notes", "")),
        )


PAPER_DETECTOR_INPUT_PX: tuple[int, int] = (444, 1333)
"""Width, height at which the paper's detector sees the image. The paper resamples the radiograph to
1400×4200 and trains torchvision's Faster R-CNN, whose default transform (``min_size=800, max_size=1333``,
kept by the paper's reference code) shrinks it by ``min(800/1400, 1333/4200)`` to 444×1333 before the
backbone: the network never sees 1400×4200. Running ResNet-50-FPN on the full 1400×4200 cost 12× the MACs
(1115 GMAC) for no accuracy the paper measured (docs/PIPELINE.md, "Speed")."""


def paper_config(name: str = "sgr-paper", version: str = "0") -> BundleConfig:
    """The paper's configuration: ResNet-50-FPN at 444×1333 (the paper's 1400×4200 after torchvision's default
    resize, :data:`PAPER_DETECTOR_INPUT_PX`), SGR with VGG-16 encoders at 512 px, 3 channels."""
    det_w, det_h = PAPER_DETECTOR_INPUT_PX
    return BundleConfig(
        name=name,
        version=version,
        detector=DetectorConfig(arch="resnet50_fpn", input_width_px=det_w, input_height_px=det_h,
                                rpn_pre_nms_top_n=1000, rpn_post_nms_top_n=1000, detections_per_img=100),
        regions={r: default_region_config(r, depth=16, base_width=64, input_size_px=512, in_channels=3,
                                          regressor_hidden=1024)
                 for r in REGIONS},
    )


def lite_config(name: str = "sgr-lite", version: str = "0") -> BundleConfig:
    """Light configuration for CPUs: MobileNetV3-FPN at 512×1536, SGR with narrow VGG-11 encoders at 128 px."""
    return BundleConfig(
        name=name,
        version=version,
        detector=DetectorConfig(arch="mobilenet_v3_fpn", input_width_px=512, input_height_px=1536),
        regions={r: default_region_config(r, depth=11, base_width=16, input_size_px=128, in_channels=1,
                                          regressor_hidden=256)
                 for r in REGIONS},
    )
