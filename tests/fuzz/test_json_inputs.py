"""Bad landmark JSON through every reader: ``measure`` (file and stdin), the case loader, ``report`` and
``export-csv``. Each input: exit status, one line naming the problem, no traceback, bounded time and memory;
good input gives strict JSON (no NaN tokens)."""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import pytest

from llm_viewer.core.casefile import Case, CaseFileError, load_case
from llm_viewer.core.measurement import MeasurementError, measure_document

from .conftest import assert_clear_error, run_cli, strict_loads

LM = "femoral_head"


def _set(path: tuple, value):
    def edit(doc):
        d = doc
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return edit


def _del(path: tuple):
    def edit(doc):
        d = doc
        for k in path[:-1]:
            d = d[k]
        del d[path[-1]]
    return edit


# (id, edit of the example document, words the one-line error must contain)
DOC_CASES = [
    ("coord-1e308", _set(("legs", "right", "landmarks", LM), [1e308, 1180.0]), ["right leg", LM]),
    ("coord-neg-1e308", _set(("legs", "left", "landmarks", LM), [-1e308, 1.0]), ["left leg", LM]),
    ("coord-1e6-plus", _set(("legs", "right", "landmarks", LM), [1e6 + 1, 1.0]), ["right leg", LM]),
    ("coord-string", _set(("legs", "right", "landmarks", LM), ["1012.5", 1180.0]), ["right leg", LM]),
    ("coord-bool", _set(("legs", "right", "landmarks", LM), [True, 1180.0]), ["right leg", LM]),
    ("coord-three", _set(("legs", "right", "landmarks", LM), [1.0, 2.0, 3.0]), ["right leg", LM]),
    ("coord-one", _set(("legs", "right", "landmarks", LM), [1.0]), ["right leg", LM]),
    ("coord-object", _set(("legs", "right", "landmarks", LM), {"x": 1, "y": 2}), ["right leg", LM]),
    ("coord-null", _set(("legs", "right", "landmarks", LM), None), ["right leg", LM, "null"]),
    ("coord-nested", _set(("legs", "right", "landmarks", LM), [[1.0], [2.0]]), ["right leg", LM]),
    ("landmark-unknown", _set(("legs", "right", "landmarks", "kneecap"), [1, 2]), ["unknown landmark", "kneecap"]),
    ("landmarks-list", _set(("legs", "right", "landmarks"), [[1, 2]]), ["right leg", "landmarks"]),
    ("landmarks-missing", _del(("legs", "right", "landmarks")), ["right leg", "landmarks"]),
    ("leg-unknown", _set(("legs", "middle"), {"landmarks": {}}), ["unknown leg", "middle"]),
    ("leg-string", _set(("legs", "right"), "oops"), ["legs.right"]),
    ("legs-list", _set(("legs",), [1, 2]), ["legs"]),
    ("legs-empty", _set(("legs",), {}), ["legs"]),
    ("legs-missing", _del(("legs",)), ["legs"]),
    ("spacing-1e300", _set(("pixel_spacing_mm",), [1e300, 1e300]), ["pixel_spacing_mm"]),
    ("spacing-negative", _set(("pixel_spacing_mm",), [-0.1, 0.1]), ["pixel_spacing_mm"]),
    ("spacing-tiny", _set(("pixel_spacing_mm",), [1e-300, 1e-300]), ["pixel_spacing_mm"]),
    ("spacing-string", _set(("pixel_spacing_mm",), ["0.1", "0.1"]), ["pixel_spacing_mm"]),
    ("spacing-scalar", _set(("pixel_spacing_mm",), 0.143), ["pixel_spacing_mm"]),
    ("spacing-one", _set(("pixel_spacing_mm",), [0.143]), ["pixel_spacing_mm"]),
    ("spacing-bool", _set(("pixel_spacing_mm",), [True, True]), ["pixel_spacing_mm"]),
    ("spacing-missing", _del(("pixel_spacing_mm",)), ["pixel_spacing_mm"]),
    ("version-99", _set(("format_version",), 99), ["newer llm-viewer", "99"]),
    ("version-string", _set(("format_version",), "1"), ["format_version", "'1'"]),
    ("version-bool", _set(("format_version",), True), ["format_version"]),
    ("version-float", _set(("format_version",), 1.5), ["format_version"]),
    ("version-zero", _set(("format_version",), 0), ["format_version"]),
    ("format-other", _set(("format",), "something-else"), ["not an llm-viewer case file"]),
    ("provenance-oops", _set(("legs", "right", "provenance"), "oops"), ["right leg", "provenance"]),
    ("provenance-entry-oops", _set(("legs", "right", "provenance"), {LM: "oops"}), ["right leg", "provenance", LM]),
    ("provenance-source-oops", _set(("legs", "right", "provenance"), {LM: {"source": "oops"}}),
     ["right leg", "provenance", "source"]),
    ("provenance-original-string", _set(("legs", "right", "provenance"), {LM: {"source": "model", "original": "x"}}),
     ["right leg", "provenance", "original"]),
    ("provenance-unknown-landmark", _set(("legs", "right", "provenance"), {"kneecap": {"source": "model"}}),
     ["right leg", "kneecap"]),
    ("review-status", _set(("review",), {"status": "maybe"}), ["review.status"]),
    ("review-string", _set(("review",), "approved"), ["review"]),
    ("image-path-number", _set(("image",), {"path": 5}), ["image"]),
    ("image-string", _set(("image",), "x.png"), ["image"]),
    ("history-object", _set(("history",), {"a": 1}), ["history"]),
    ("coincident", lambda d: d["legs"]["right"]["landmarks"].update(
        knee_center=d["legs"]["right"]["landmarks"][LM]), ["right leg"]),
]

# (id, raw bytes, words)
RAW_CASES = [
    ("nested-100000", b"[" * 100_000 + b"]" * 100_000, ["nested"]),
    ("nested-objects", b'{"a":' * 5000 + b"1" + b"}" * 5000, ["nested"]),
    ("int-5000-digits", b'{"pixel_spacing_mm": null, "legs": {"right": {"landmarks": {"femoral_head": ['
     + b"9" * 5000 + b", 1]}}}}", ["too many digits"]),
    ("nan-token", b'{"pixel_spacing_mm": [NaN, 0.1], "legs": {}}', ["nan"]),
    ("infinity-token", b'{"pixel_spacing_mm": [Infinity, 0.1], "legs": {}}', ["infinity"]),
    ("float-overflow", b'{"pixel_spacing_mm": [1e999, 0.1], "legs": {}}', ["overflows"]),
    ("empty", b"", ["empty"]),
    ("whitespace", b"  \n\t ", ["empty"]),
    ("not-json", b"{not json", ["not valid json"]),
    ("truncated", b'{"legs": {"right": ', ["not valid json"]),
    ("top-level-list", b"[1, 2]", ["json object"]),
    ("top-level-string", b'"hello"', ["json object"]),
    ("png-bytes", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", ["not a text file"]),
    ("pdf-bytes", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", ["not a text file"]),
    ("utf16", json.dumps({"legs": {}}).encode("utf-16"), ["not a text file"]),
    ("nul-bytes", b"\x00" * 100, ["not valid json"]),
]


def _write(tmp_path: Path, doc_or_bytes) -> Path:
    p = tmp_path / "in.json"
    p.write_bytes(doc_or_bytes if isinstance(doc_or_bytes, bytes) else json.dumps(doc_or_bytes).encode())
    return p


@pytest.mark.parametrize("name,edit,words", DOC_CASES, ids=[c[0] for c in DOC_CASES])
def test_measure_rejects_bad_documents(tmp_path, example, name, edit, words):
    doc = copy.deepcopy(example)
    edit(doc)
    run = run_cli(["measure", str(_write(tmp_path, doc))], timeout_s=10)
    assert_clear_error(run, *words)
    assert run.out == "", "nothing on stdout for a rejected document"


@pytest.mark.parametrize("name,edit,words", [c for c in DOC_CASES if c[0] not in (
    "landmarks-missing", "legs-empty", "legs-missing", "spacing-missing", "coord-null",
    "coincident")], ids=lambda v: v if isinstance(v, str) else "")
def test_case_loader_rejects_the_same_documents(tmp_path, example, name, edit, words):
    """One validation: every document ``measure`` rejects as malformed, the case loader rejects too."""
    doc = copy.deepcopy(example)
    edit(doc)
    p = tmp_path / "x.case.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(CaseFileError) as exc:
        load_case(p)
    msg = str(exc.value)
    assert "\n" not in msg and all(w.lower() in msg.lower() for w in words if w != "missing"), msg


def test_a_missing_landmark_is_measured_not_rejected(tmp_path, example):
    """Partial input gives what it allows (docs/ALIGNMENT.md): without the left medial malleolus the left leg
    still gets every metric that does not need it, and the ones that do are null with the reason."""
    doc = copy.deepcopy(example)
    del doc["legs"]["left"]["landmarks"]["malleolus_medial"]
    run = run_cli(["measure", str(_write(tmp_path, doc))], timeout_s=10)
    assert run.rc == 0, run.err
    left = json.loads(run.out)["legs"]["left"]
    assert left["metrics"]["hka_deg"] is None and left["metrics"]["mldfa_deg"] is not None
    assert "malleolus_medial" in json.dumps(left["unmeasured"]["hka_deg"])


@pytest.mark.parametrize("name,data,words", RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_measure_rejects_bad_bytes_file_and_stdin(tmp_path, name, data, words):
    assert_clear_error(run_cli(["measure", str(_write(tmp_path, data))], timeout_s=10), *words)
    assert_clear_error(run_cli(["measure", "-"], stdin=data, timeout_s=10), *words)


@pytest.mark.parametrize("path,words", [
    ("/dev/zero", ["larger than"]),
    ("/nonexistent/x.json", ["no such file"]),
    (".", ["folder"]),
])
def test_measure_special_paths_end_quickly(path, words):
    run = run_cli(["measure", path], timeout_s=15)
    assert_clear_error(run, *words)
    assert run.seconds < 10


def test_measure_huge_sparse_file_is_refused_by_size(tmp_path):
    p = tmp_path / "huge.json"
    with open(p, "wb") as fh:
        fh.truncate(4 * 1024 ** 3)  # 4 GiB sparse file: must not be read in full
    run = run_cli(["measure", str(p)], timeout_s=15)
    assert_clear_error(run, "larger than")


def test_good_document_gives_strict_json_and_unknown_spacing_nulls(tmp_path, example):
    run = run_cli(["measure", str(_write(tmp_path, example))], timeout_s=10)
    assert run.rc == 0, run.err
    out = strict_loads(run.out)
    for leg in out["legs"].values():
        assert all(v is None or not isinstance(v, float) or math.isfinite(v) for v in leg["metrics"].values())
    example["pixel_spacing_mm"] = [0, 0]
    out = strict_loads(run_cli(["measure", str(_write(tmp_path, example))]).out)
    assert out["pixel_spacing_mm"] is None and out["legs"]["right"]["metrics"]["mad_mm"] is None


@pytest.mark.parametrize("name,edit", [
    ("provenance-oops", _set(("legs", "right", "provenance"), "oops")),
    ("coord-1e308", _set(("legs", "right", "landmarks", LM), [1e308, 1.0])),
    ("version-string", _set(("format_version",), "1")),
])
def test_report_and_export_csv_skip_bad_cases_with_a_line(tmp_path, example, name, edit):
    doc = copy.deepcopy(example)
    edit(doc)
    p = tmp_path / "bad.case.json"
    p.write_text(json.dumps(doc))
    run = run_cli(["report", str(p), "--out", str(tmp_path / "r.pdf")], timeout_s=30)
    assert_clear_error(run, "skipped", "bad.case.json")
    run = run_cli(["export-csv", str(p), "--out", str(tmp_path / "x.csv")], timeout_s=30)
    assert "Traceback" not in run.err and "internal error" not in run.err and "bad.case.json" in run.err
    assert run.rc != 0
    if (tmp_path / "x.csv").exists():
        assert "nan" not in (tmp_path / "x.csv").read_text().lower()


# ------------------------------------------------------------------------------------------------ report image
def _case_with_image(tmp_path: Path, example: dict, image_bytes: bytes | None, sha: str | None = None) -> Path:
    import hashlib

    doc = copy.deepcopy(example)
    img = tmp_path / "img.png"
    if image_bytes is not None:
        img.write_bytes(image_bytes)
    doc["image"] = {"path": "img.png", "sha256": sha or (hashlib.sha256(image_bytes).hexdigest()
                                                         if image_bytes is not None else None)}
    p = tmp_path / "c.case.json"
    p.write_text(json.dumps(doc))
    return p


@pytest.mark.parametrize("name,image,sha", [
    ("missing", None, None),
    ("wrong-sha", b"\x89PNG\r\n\x1a\nxx", "0" * 64),
    ("not-an-image", b"%PDF-1.4 not an image", None),
])
def test_report_without_a_usable_image_exits_1_unless_allowed(tmp_path, example, name, image, sha):
    case = _case_with_image(tmp_path, example, image, sha)
    run = run_cli(["report", str(case), "--out", str(tmp_path / "r.pdf")], timeout_s=60)
    assert_clear_error(run, "allow-missing-image", rc=1)
    run = run_cli(["report", str(case), "--out", str(tmp_path / "r2.pdf"), "--allow-missing-image"], timeout_s=60)
    assert run.rc == 0 and "Traceback" not in run.err and (tmp_path / "r2.pdf").is_file()


# ------------------------------------------------------------------------------------------------ properties
def _json_values():
    from hypothesis import strategies as st

    scalars = (st.none() | st.booleans() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30)
               | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8))
    return st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                                     max_size=3), max_leaves=8)


_PATHS = [("pixel_spacing_mm",), ("pixel_spacing_mm", 0), ("legs",), ("legs", "right"),
          ("legs", "right", "landmarks"), ("legs", "right", "landmarks", LM), ("legs", "right", "landmarks", LM, 0),
          ("legs", "left", "landmarks", "knee_center", 1), ("legs", "right", "provenance"), ("format_version",),
          ("format",), ("review",), ("review", "status"), ("image",), ("history",), ("study",)]


def _mutate(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    d = doc
    for k in path[:-1]:
        if isinstance(d, dict):
            d = d.setdefault(k, {})
        elif isinstance(d, list) and isinstance(k, int) and k < len(d):
            d = d[k]
        else:
            return doc
    if isinstance(d, dict) or (isinstance(d, list) and isinstance(path[-1], int) and path[-1] < len(d)):
        d[path[-1]] = value
    return doc


def test_property_measure_and_case_loader_accept_and_reject_alike(example):
    """Any value anywhere: ``measure_document`` returns finite metrics that dump as strict JSON, or raises
    MeasurementError; ``Case`` accepts or raises CaseFileError; nothing else ever escapes, and a document
    the case loader rejects is never measured."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.sampled_from(_PATHS), _json_values())
    def check(path, value):
        doc = _mutate(example, path, value)
        measured = case_ok = True
        try:
            result = measure_document(doc).as_dict()
            json.dumps(result, allow_nan=False)
        except MeasurementError as exc:
            measured = False
            assert "\n" not in str(exc)
        try:
            Case(doc, source="doc")
        except CaseFileError as exc:
            case_ok = False
            assert "\n" not in str(exc)
        if measured:
            assert case_ok, "measure accepted a document the case loader rejects"

    check()


def test_property_arbitrary_bytes_never_escape_the_json_reader(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from llm_viewer.core.schema import DocumentError, parse_json_bytes

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.binary(max_size=200) | st.text(alphabet='[]{}"\\,:0123456789.eE-+ntruefalsNIfiy ', max_size=200)
           .map(str.encode))
    def check(data):
        try:
            obj = parse_json_bytes(data, "x")
        except DocumentError as exc:
            assert "\n" not in str(exc)
            return
        assert isinstance(obj, dict)
        json.dumps(obj, allow_nan=False)  # whatever was accepted re-serialises as strict JSON

    check()


def test_deep_but_allowed_nesting_in_unknown_keys_still_saves(tmp_path, example):
    """Unknown keys are kept, so whatever the reader accepts must survive a save (deepcopy, strict dump)."""
    from llm_viewer.core.casefile import save_case
    from llm_viewer.core.schema import MAX_JSON_DEPTH

    nested = 1
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = [nested]
    example["extra"] = nested
    p = tmp_path / "deep.case.json"
    p.write_text(json.dumps(example))
    save_case(load_case(p), tmp_path / "out.case.json")
    assert os.path.getsize(tmp_path / "out.case.json") > 0
