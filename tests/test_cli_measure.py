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


def test_measure_missing_landmark_is_a_clear_error(tmp_path, capsys, alignment_examples):
    ex = json.loads(json.dumps(alignment_examples[1]))
    del ex["legs"]["right"]["landmarks"]["malleolus_lateral"]
    p = _write(tmp_path, ex)
    assert main(["measure", str(p)]) == 2
    err = capsys.readouterr().err
    assert "right leg: landmark 'malleolus_lateral' is missing" in err and "Traceback" not in err


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
