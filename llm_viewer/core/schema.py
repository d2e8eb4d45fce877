"""One validation for every reader of landmark JSON: the case loader, ``measure``, the reports and the CSV.

:func:`parse_json_bytes` turns bytes into a JSON object with hard limits (size, nesting depth, number
length, no ``NaN``/``Infinity`` tokens); :func:`validate_landmark_document` checks the parsed object
against a JSON Schema (:data:`LANDMARK_DOCUMENT_SCHEMA`, checked by ``jsonschema``) and raises
:class:`DocumentError` with one line naming the key, leg or landmark at fault. Unknown keys are allowed
everywhere (a case file keeps what a newer version wrote); known keys must have the right type and range.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .landmarks import LANDMARK_IDS, MAX_COORD_PX, MAX_SPACING_MM, MIN_SPACING_MM, SIDES

MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest JSON document read (a case file is a few kB; ``analyze --json`` of a large batch a few MB)."""

MAX_JSON_DEPTH = 64
"""Deepest nesting accepted (a case file nests about 6 levels)."""


CASE_FORMAT = "llm-viewer-case"
CASE_VERSION = 1
REVIEW_STATUSES: tuple[str, ...] = ("new", "predicted", "corrected", "approved")
LANDMARK_SOURCES: tuple[str, ...] = ("model", "manual", "ground_truth", "imported")


class DocumentError(ValueError):
    """A JSON document is malformed; the message is one line naming the key / leg / landmark at fault."""


# ---------------------------------------------------------------------------------------------- parsing
def _reject_constant(name: str) -> Any:
    raise DocumentError(f"{name} is not a number JSON allows (non-finite values are not accepted)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DocumentError(f"the number {text[:40]} overflows (non-finite values are not accepted)")
    return value


_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS_RE = re.compile(r"[\[\]{}]")


def _depth(text: str, limit: int) -> int:
    """Deepest ``[``/``{`` nesting outside strings, stopping once past ``limit`` (linear, no recursion)."""
    if text.count("[") + text.count("{") <= limit:
        return 0
    depth = 0
    for ch in _BRACKETS_RE.findall(_STRING_RE.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > limit:
                return depth
        else:
            depth -= 1
    return 0


def parse_json_bytes(data: bytes, source: str) -> dict[str, Any]:
    """Parse a JSON object with limits; every failure is one :class:`DocumentError` line naming ``source``.

    Raises
    ------
    DocumentError
        Too large, empty, not UTF-8, not JSON, nested deeper than :data:`MAX_JSON_DEPTH`, a number with
        too many digits, ``NaN``/``Infinity``, or not an object at the top level.
    """
    if len(data) > MAX_JSON_BYTES:
        raise DocumentError(f"{source}: larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB; not a landmark document")
    if not data.strip():
        raise DocumentError(f"{source}: the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError(f"{source}: not a text file (is it an image? case files are JSON)") from None
    if _depth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise DocumentError(f"{source}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except DocumentError as exc:
        raise DocumentError(f"{source}: {exc}") from None
    except RecursionError:
        raise DocumentError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit conversion limit
        if "digits" in str(exc):
            raise DocumentError(f"{source}: a number in the file has too many digits") from None
        raise DocumentError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise DocumentError(f"{source}: expected a JSON object at the top level, got {type(obj).__name__}")
    return obj


# ---------------------------------------------------------------------------------------------- schema
_NUM = {"type": "number", "minimum": -MAX_COORD_PX, "maximum": MAX_COORD_PX}
_POINT_OR_NULL = {"type": ["array", "null"], "items": _NUM, "minItems": 2, "maxItems": 2}
_STR_OR_NULL = {"type": ["string", "null"]}
_NUM_OR_NULL = {"type": ["number", "null"], "minimum": -1e12, "maximum": 1e12}
_SPACING_VALUE = {"type": "number", "anyOf": [{"const": 0}, {"minimum": MIN_SPACING_MM, "maximum": MAX_SPACING_MM}]}
_SPACING = {"type": ["array", "null"], "items": _SPACING_VALUE, "minItems": 2, "maxItems": 2}
_PROVENANCE_ENTRY = {
    "type": ["object", "null"],
    "properties": {
        "source": {"enum": list(LANDMARK_SOURCES)},
        "predicted_by": {"enum": [*LANDMARK_SOURCES, None]},
        "model_id": _STR_OR_NULL,
        "score": _NUM_OR_NULL,
        "uncertainty_px": _NUM_OR_NULL,
        "original": _POINT_OR_NULL,
        "by": _STR_OR_NULL,
        "at": _STR_OR_NULL,
        "flagged": {"type": "boolean"},
    },
}
_LEG = {
    "type": "object",
    "properties": {
        "landmarks": {"type": ["object", "null"], "propertyNames": {"enum": list(LANDMARK_IDS)},
                      "additionalProperties": _POINT_OR_NULL},
        "provenance": {"type": ["object", "null"], "propertyNames": {"enum": list(LANDMARK_IDS)},
                       "additionalProperties": _PROVENANCE_ENTRY},
    },
}
_INT_PX = {"type": ["integer", "null"], "minimum": 1, "maximum": 10_000_000}
LANDMARK_DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "llm-viewer landmark document (case file, analyze output or the spec's minimal form)",
    "type": "object",
    "properties": {
        "format": {"const": CASE_FORMAT},
        "format_version": {"type": "integer", "minimum": 1, "maximum": CASE_VERSION},
        "pixel_spacing_mm": _SPACING,
        "spacing_source": _STR_OR_NULL,
        "legs": {"type": ["object", "null"], "propertyNames": {"enum": list(SIDES)}, "additionalProperties": _LEG},
        "image": {
            "type": ["object", "null"], "required": ["path"],
            "properties": {"path": {"type": "string", "minLength": 1, "maxLength": 4096},
                           "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-fA-F]{64}$"},
                           "size_bytes": {"type": ["integer", "null"], "minimum": 0},
                           "width_px": _INT_PX, "height_px": _INT_PX}},
        "review": {"type": ["object", "null"],
                   "properties": {"status": {"enum": list(REVIEW_STATUSES)}, "by": _STR_OR_NULL, "at": _STR_OR_NULL}},
        "history": {"type": ["array", "null"], "items": {"type": "object"}},
        "rois": {"type": ["array", "null"], "items": {"type": "object"}},
        "study": {"type": ["object", "null"]},
    },
}
"""JSON Schema (2020-12) of every landmark document llm-viewer reads."""


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(LANDMARK_DOCUMENT_SCHEMA)
    return Draft202012Validator(LANDMARK_DOCUMENT_SCHEMA)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _message(err: Any, doc: Mapping[str, Any]) -> str:
    """One readable line for a jsonschema error, naming the leg / landmark / key."""
    path = list(err.absolute_path)
    inst = err.instance
    top = path[0] if path else None
    if "propertyNames" in list(err.absolute_schema_path):  # reported at the parent; the bad name is the instance
        if not path:
            return f"unknown key {_short(inst)}"
        if path == ["legs"]:
            return f"unknown leg {_short(inst)}; expected 'right' or 'left'"
        if len(path) == 3 and path[0] == "legs" and path[2] in ("landmarks", "provenance"):
            where = "" if path[2] == "landmarks" else " in 'provenance'"
            return (f"{path[1]} leg: unknown landmark {_short(inst)}{where}; expected one of "
                    f"{', '.join(LANDMARK_IDS)}")
        return f"{'.'.join(map(str, path))}: unknown key {_short(inst)}"
    if path == ["legs"]:
        return f"'legs' must be an object keyed by 'right' / 'left', got {_short(inst)}"
    if top == "legs" and len(path) >= 2:
        side = path[1]
        if len(path) == 2:
            return f"legs.{side} must be an object, got {_short(inst)}"
        key = path[2]
        if key == "landmarks":
            if len(path) == 3:
                return f"{side} leg: 'landmarks' must be an object of landmark id -> [x, y], got {_short(inst)}"
            lm = path[3]
            value = doc["legs"][side]["landmarks"][lm]
            return (f"{side} leg: landmark {lm!r} must be [x, y], two finite numbers within ±{MAX_COORD_PX:g} px, "
                    f"got {_short(value)}")
        if key == "provenance":
            if len(path) == 3:
                return f"{side} leg: 'provenance' must be an object of landmark id -> details, got {_short(inst)}"
            lm = path[3]
            if len(path) == 4:
                return f"{side} leg: provenance of {lm!r} must be an object, got {_short(inst)}"
            field = path[4]
            if field == "source" or field == "predicted_by":
                return (f"{side} leg: provenance of {lm!r}: {field} must be one of {', '.join(LANDMARK_SOURCES)}, "
                        f"got {_short(inst)}")
            return f"{side} leg: provenance of {lm!r}: {field} is malformed ({_short(inst)})"
        return f"{side} leg: {'.'.join(map(str, path[2:]))} is malformed ({_short(inst)})"
    if top == "pixel_spacing_mm":
        return (f"pixel_spacing_mm must be [row_mm, column_mm] with each 0 (unknown) or between {MIN_SPACING_MM:g} "
                f"and {MAX_SPACING_MM:g} mm, or null; got {_short(doc.get('pixel_spacing_mm'))}")
    if top == "format":
        return f"not an llm-viewer case file (format {_short(inst)})"
    if top == "format_version":
        return f"format_version must be an integer from 1 to {CASE_VERSION}, got {_short(inst)}"
    if top == "review":
        if path[1:] == ["status"] or (len(path) == 1 and isinstance(inst, dict)):
            return f"review.status must be one of {', '.join(REVIEW_STATUSES)}, got {_short(inst)}"
        return f"review{'.' + '.'.join(map(str, path[1:])) if path[1:] else ''} is malformed ({_short(inst)})"
    if top == "image":
        if len(path) == 1:
            return f"'image' must be an object with a 'path' string, got {_short(inst)}"
        return f"image.{'.'.join(map(str, path[1:]))} is malformed ({_short(inst)})"
    if top in ("history", "rois"):
        return f"'{top}' must be a list of objects"
    if top is None:
        return "expected a JSON object"
    return f"{'.'.join(map(str, path))} is malformed ({_short(inst)})"


def validate_landmark_document(doc: Any) -> None:
    """Check a parsed landmark document against :data:`LANDMARK_DOCUMENT_SCHEMA`.

    Raises
    ------
    DocumentError
        One line naming the first problem (in document order), e.g. ``right leg: landmark 'femoral_head'
        must be [x, y] ...`` or ``format_version must be an integer from 1 to 1, got '1'``.
    """
    if not isinstance(doc, Mapping):
        raise DocumentError("expected a JSON object")
    version = doc.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > CASE_VERSION:
        raise DocumentError(
            f"written by a newer llm-viewer (case format {version}; this version reads up to {CASE_VERSION}). "
            "Update llm-viewer to open it; the file was not changed.")
    errors = list(_validator().iter_errors(doc))
    if not errors:
        return
    # deepest path first within the first top-level key in error: the most specific message
    errors.sort(key=lambda e: (list(map(str, e.absolute_path))[:1], -len(e.absolute_path)))
    raise DocumentError(_message(errors[0], doc))
