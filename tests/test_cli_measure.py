"""``llm-viewer measure`` end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llm_viewer.cli import main


def _write(tmp_path, obj, name="case.json"):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


def test_measure_json_matches_spec_example(tmp_path, capsys, alignment_examples):
    ex = alignment_examples[2]
    p = _write(tmp_path, {"pixel_spacing_mm": ex["pixel_spacing_mm"], "legs": ex["legs"]})
    assert main(["measure", str(p)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"legs", "study"}
    for side in ("right", "left"):
        assert out["legs"][side]["landmarks"] == ex["legs"][side]["landmarks"]
        assert out["legs"][side]["metrics"]["hka_deg"] == pytest.approx(
            ex["expected"]["legs"][side]["metrics"]["hka_deg"], abs=1e-3)
    assert out["study"]["lld_mm"] == pytest.approx(ex["expected"]["study"]["lld_mm"], abs=1e-3)


def test_measure_table(tmp_path, capsys, alignment_examples):
    ex = alignment_examples[0]
    p = _write(tmp_path, ex)
    assert main(["measure", str(p), "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "HKA °" in out and "193.89" in out and "170.18" in out and "LLD" in out


def test_measure_leg_without_a_landmark_is_a_clear_error(tmp_path, capsys, alignment_examples):
    ex = json.loads(json.dumps(alignment_examples[1]))
    ex["legs"]["right"]["landmarks"] = {}
    p = _write(tmp_path, ex)
    assert main(["measure", str(p)]) == 2
    err = capsys.readouterr().err
    assert "right leg: no landmarks" in err and "Traceback" not in err
    ex["legs"]["right"]["landmarks"] = {"knee_center": None}
    assert main(["measure", str(_write(tmp_path, ex))]) == 2
    assert "right leg: landmark 'knee_center' must be [x, y], got null" in capsys.readouterr().err


def test_measure_without_diaphysis_center_returns_every_metric_but_fva(tmp_path, capsys, alignment_examples):
    """Issue 17's 'must show': the diaphysis box not found costs FVA and nothing else."""
    ex = alignment_examples[0]
    full = ex["expected"]["legs"]
    doc = json.loads(json.dumps({"pixel_spacing_mm": ex["pixel_spacing_mm"], "legs": ex["legs"]}))
    for side in ("right", "left"):
        del doc["legs"][side]["landmarks"]["diaphysis_center"]
    assert main(["measure", str(_write(tmp_path, doc))]) == 0
    out = json.loads(capsys.readouterr().out)
    for side in ("right", "left"):
        got = out["legs"][side]
        assert got["metrics"]["fva_deg"] is None
        assert got["unmeasured"] == {"fva_deg": ["diaphysis_center"]}
        for key, want in full[side]["metrics"].items():
            if key == "fva_deg":
                continue
            assert got["metrics"][key] is not None, key
            if isinstance(want, float):
                assert got["metrics"][key] == pytest.approx(want, abs=1e-3), key
            else:
                assert got["metrics"][key] == want, key
    assert out["study"]["lld_mm"] == pytest.approx(ex["expected"]["study"]["lld_mm"], abs=1e-3)
    assert out["study"]["unmeasured"] == {}
    # the table shows the reason where the number would be
    assert main(["measure", str(_write(tmp_path, doc)), "--format", "table"]) == 0
    fva_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("FVA"))
    assert fva_row.split()[2:] == ["needs", "diaphysis_center", "needs", "diaphysis_center"]


def test_measure_table_explains_long_reasons_below(tmp_path, capsys, alignment_examples):
    ex = json.loads(json.dumps(alignment_examples[0]))
    del ex["expected"]
    lms = ex["legs"]["left"]["landmarks"]
    for lm in ("femoral_head", "malleolus_lateral", "malleolus_medial"):
        del lms[lm]
    assert main(["measure", str(_write(tmp_path, ex)), "--format", "table"]) == 0
    out = capsys.readouterr().out
    hka_row = next(line for line in out.splitlines() if line.startswith("HKA"))
    assert hka_row.endswith("n/a (a)")
    assert "(a) not computed: needs femoral_head, malleolus_lateral, malleolus_medial" in out
    assert "needs left.leg_length_mm" in out


@pytest.mark.parametrize("content,needle", [
    (b"garbage{", "not valid JSON"),
    (b"", "empty"),
    (b'{"legs": {}}', "pixel_spacing_mm"),
    (b'{"pixel_spacing_mm": null, "legs": {}}', "'legs' is missing or empty"),
])
def test_measure_bad_files(tmp_path, capsys, content, needle):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    assert main(["measure", str(p)]) == 2
    assert needle in capsys.readouterr().err


def test_measure_subprocess_no_traceback_and_fast_imports(tmp_path):
    p = tmp_path / "missing.json"
    proc = subprocess.run([sys.executable, "-m", "llm_viewer", "measure", str(p)], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file" in proc.stderr and "Traceback" not in proc.stderr
    # measure must not import torch or Qt (start-up time)
    code = ("import sys; from llm_viewer.cli import build_parser; build_parser(); "
            "import llm_viewer.core.measurement, llm_viewer.commands.measure; "
            "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph', 'monai', 'cv2') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_measure_reads_stdin(alignment_examples):
    ex = alignment_examples[3]
    proc = subprocess.run([sys.executable, "-m", "llm_viewer", "measure", "-"], input=json.dumps(ex),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["pixel_spacing_mm"] is None and out["legs"]["left"]["metrics"]["mad_mm"] is None
