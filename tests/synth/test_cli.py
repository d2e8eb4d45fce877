"""``llm-viewer synth`` end to end on tiny images."""



from llm_viewer.cli import main
from llm_viewer.core.casefile import load_case
from llm_viewer.core.metrics import compute_leg_metrics
from llm_viewer.core.store import Store
from llm_viewer.synth.truth import mask_landmark


def test_synth_cli_writes_a_valid_store(tmp_path, capsys):
    out = tmp_path / "store"
    rc = main(["synth", "--count", "2", "--seed", "3", "--out", str(out), "--size", "small", "--no-progress"])
    assert rc == 0
    store = Store.open(out)
    entries = store.entries()
    assert [e.id for e in entries] == ["synth-3-000000", "synth-3-000001"]
    assert store.verify().is_ok
    for e in entries:
        case = load_case(store.case_path(e))
        assert case.resolve_image_path(store.case_path(e)) == store.image_path(e).resolve()
        synth = case.get("synthetic")
        for side in case.sides:
            lms = case.landmarks(side)
            m = compute_leg_metrics(lms, side, case.pixel_spacing_mm).as_dict()
            for k, v in synth["targets"][side].items():
                if k.endswith("_deg"):
                    assert abs(m[k] - v) < 0.05
            import cv2
            mask = cv2.imread(str(store.mask_path(e, f"diaphysis_{side}")), cv2.IMREAD_GRAYSCALE)
            d = lms["diaphysis_center"]
            assert mask_landmark(mask) == (d.x, d.y)
        assert {r["region"] for r in case.rois} == {"hip", "diaphysis", "knee", "ankle"}
    # re-running skips what exists, and the bytes are the same for the same seed
    first = (out / "manifest.jsonl").read_bytes()
    rc = main(["synth", "--count", "2", "--seed", "3", "--out", str(out), "--size", "small", "--no-progress"])
    assert rc == 0
    assert (out / "manifest.jsonl").read_bytes() == first
    out2 = tmp_path / "store2"
    assert main(["synth", "--count", "2", "--seed", "3", "--out", str(out2), "--size", "small", "--no-progress"]) == 0
    for e in entries:
        assert (out2 / e.image).read_bytes() == (out / e.image).read_bytes()
        assert (out2 / e.case).read_bytes() == (out / e.case).read_bytes()
    assert (out2 / "manifest.jsonl").read_bytes() == first


def test_synth_cli_rejects_bad_options(tmp_path, capsys):
    assert main(["synth", "--count", "0", "--out", str(tmp_path / "s")]) == 2
    assert "--count" in capsys.readouterr().err
    assert main(["synth", "--count", "1", "--out", str(tmp_path / "s"), "--height-px", "1024", "--spacing-mm", "0.2"]) == 2
    assert "field of view" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["synth", "--count", "1", "--out", str(tmp_path / "file")]) == 2
