"""Fast-loading and runtime settings: batch-norm folding, no random init at load, threads, lean imports,
the paper detector size, the prefetching iterator. Behaviour only: no timings are asserted."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from llm_viewer.core.landmarks import REGIONS
from llm_viewer.pipeline import runtime
from llm_viewer.pipeline.bundle import load_bundle, save_bundle
from llm_viewer.pipeline.config import PAPER_DETECTOR_INPUT_PX, lite_config, paper_config
from llm_viewer.pipeline.engine import InferenceEngine
from llm_viewer.pipeline.models import build_detector, build_landmark_model, fold_batchnorm, skip_random_init
from llm_viewer.pipeline.prefetch import prefetch_images

from .conftest import tiny_config, two_leg_boxes

ROOT = Path(__file__).resolve().parents[2]


def _randomize_bn(model: nn.Module, seed: int = 0, spread: float = 1.0) -> None:
    """Trained-looking batch-norm statistics (the defaults, mean 0 and variance 1, would fold to nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5 * spread)
                m.running_var.copy_(1 + (torch.rand(n, generator=g) * 2 - 0.8) * spread)
                m.weight.copy_(1 + torch.randn(n, generator=g) * spread)
                m.bias.copy_(torch.randn(n, generator=g) * spread)


@pytest.mark.parametrize("method", ["sgr", "segmentation", "regression"])
def test_folded_landmark_model_gives_the_same_output(method):
    torch.manual_seed(0)
    cfg = tiny_config(method=method).regions["knee"]
    model = build_landmark_model(cfg)
    _randomize_bn(model)
    model.eval()
    x = torch.rand(2, cfg.in_channels, cfg.input_size_px, cfg.input_size_px)
    with torch.no_grad():
        before = model(x)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert fold_batchnorm(model) == n_bn > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        after = model(x)
    for a, b in ((before.seg_logits, after.seg_logits), (before.coords, after.coords)):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


def test_folded_resnet_and_mobilenet_features_are_unchanged():
    torch.manual_seed(0)
    for arch in ("mobilenet_v3_fpn", "resnet50_fpn"):
        det = build_detector(tiny_config().detector.__class__(arch=arch, input_width_px=64, input_height_px=128))
        _randomize_bn(det, spread=0.2)  # deep stacks of random statistics would overflow
        det.eval()
        x = torch.rand(1, 3, 128, 64)
        with torch.no_grad():
            before = det.backbone(x)
        assert fold_batchnorm(det) > 0
        assert not any(isinstance(m, nn.BatchNorm2d) for m in det.modules()), arch
        with torch.no_grad():
            after = det.backbone(x)
        for k in before:
            scale = float(before[k].abs().max())
            assert scale > 1e-3, (arch, k)  # the features are not vanishing (the comparison means something)
            assert float((after[k] - before[k]).abs().max()) <= 1e-4 * max(1.0, scale), (arch, k)


def test_fold_refuses_a_model_in_training_mode():
    model = build_landmark_model(tiny_config().regions["hip"]).train()
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(model)


def test_skip_random_init_disables_and_restores_torch_init():
    original = nn.init.kaiming_uniform_
    with skip_random_init():
        assert nn.init.kaiming_uniform_ is not original
        lin = nn.Linear(4, 4)
        w = lin.weight.detach().clone()
        assert nn.init.kaiming_uniform_(lin.weight) is lin.weight
        assert torch.equal(lin.weight, w)  # a no-op
    assert nn.init.kaiming_uniform_ is original


@pytest.fixture(scope="module")
def saved_bundle(tmp_path_factory):
    torch.manual_seed(1)
    cfg = tiny_config()
    det = build_detector(cfg.detector)
    models = {r: build_landmark_model(cfg.regions[r]) for r in REGIONS}
    for m in models.values():
        _randomize_bn(m)
    path = tmp_path_factory.mktemp("speed") / "bundle"
    save_bundle(path, cfg, {"detector": det.state_dict(), **{r: m.state_dict() for r, m in models.items()}})
    return path


def test_from_bundle_runs_no_random_init_and_matches_unfolded_models(saved_bundle, monkeypatch, leg_image):
    calls = []
    real = nn.init.kaiming_uniform_

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(nn.init, "kaiming_uniform_", counting)
    fast = InferenceEngine.from_bundle(saved_bundle, device="cpu")
    assert calls == []  # built without random initialisation
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.region_models["knee"].modules())
    plain = InferenceEngine.from_bundle(saved_bundle, device="cpu", fold_bn=False)
    assert any(isinstance(m, nn.BatchNorm2d) for m in plain.region_models["knee"].modules())
    InferenceEngine.from_config(tiny_config(), device="cpu")
    assert calls  # the normal build does initialise (the counter works)
    dets = two_leg_boxes()
    a = plain.analyze(leg_image, detections=dets, side_cues=False)
    b = fast.analyze(leg_image, detections=dets, side_cues=False)
    for side, leg in a.legs.items():
        for lm, p in leg.landmarks.items():
            q = b.legs[side].landmarks[lm]
            assert abs(p.x_px - q.x_px) < 1e-2 and abs(p.y_px - q.y_px) < 1e-2, (side, lm)


def test_choose_threads_respects_overrides(monkeypatch):
    assert runtime.choose_threads(4, {"LLM_VIEWER_THREADS": "3"}) == runtime.ThreadChoice(3, "LLM_VIEWER_THREADS")
    assert runtime.choose_threads(4, {"OMP_NUM_THREADS": "4"}).source == "OMP_NUM_THREADS"
    assert runtime.choose_threads(4, {"OMP_NUM_THREADS": "4"}).n_threads == 4
    monkeypatch.setattr(runtime, "usable_cpus", lambda: 2)
    assert runtime.choose_threads(8, {}) == runtime.ThreadChoice(2, "cpus")  # affinity caps torch's default
    assert runtime.choose_threads(1, {}) == runtime.ThreadChoice(1, "cpus")
    for bad in ("0", "-2", "two"):
        with pytest.raises(ValueError, match="LLM_VIEWER_THREADS"):
            runtime.choose_threads(4, {"LLM_VIEWER_THREADS": bad})


def _run_py(code: str, env_extra: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_package_import_sets_a_passive_openmp_wait_policy_unless_set():
    code = "import llm_viewer, os; print(os.environ['OMP_WAIT_POLICY'])"
    assert _run_py(code, {}, drop=("OMP_WAIT_POLICY",)) == "PASSIVE"
    assert _run_py(code, {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"


def test_configure_threads_sets_torch_from_the_environment():
    code = ("import torch; from llm_viewer.pipeline.runtime import configure_threads; "
            "c = configure_threads(); print(c.n_threads, c.source, torch.get_num_threads())")
    assert _run_py(code, {"LLM_VIEWER_THREADS": "1"}) == "1 LLM_VIEWER_THREADS 1"


def test_detection_imports_without_dynamo_and_dynamo_still_works_later():
    code = ("import sys, torch; from llm_viewer.pipeline.runtime import import_detection; d = import_detection(); "
            "ok = 'torch._dynamo' not in sys.modules and hasattr(d, 'fasterrcnn_resnet50_fpn'); "
            "import torch._dynamo; print(ok, hasattr(torch._dynamo, 'optimize'), "
            "sys.modules['torchvision.ops.roi_align'].is_compile_supported('cpu'))")
    assert _run_py(code, {}) == "True True True"


def test_paper_detector_runs_at_the_reference_size_and_lite_bundle_is_unchanged():
    det = paper_config().detector
    assert (det.input_width_px, det.input_height_px) == PAPER_DETECTOR_INPUT_PX == (444, 1333)
    model = build_detector(det)
    assert model.transform.min_size == (444,) and model.transform.max_size == 1333  # no second resize
    shipped = load_bundle(None).config.detector
    assert (shipped.arch, shipped.input_width_px, shipped.input_height_px) == ("mobilenet_v3_fpn", 256, 768)
    assert (lite_config().detector.input_width_px, lite_config().detector.input_height_px) == (512, 1536)


def test_autocast_is_off_on_cpu(tiny_engine):
    assert tiny_engine.autocast_dtype is None


def test_prefetch_yields_in_order_and_loads_ahead(tmp_path):
    paths = [tmp_path / f"{i}.img" for i in range(5)]
    loaded = {p: threading.Event() for p in paths}

    def loader(p):
        loaded[p].set()
        return p.stem

    got = []
    for item in prefetch_images(paths, loader, ahead=1):
        i = int(item.image)
        if i + 1 < len(paths):  # the next file is read while this one is being used
            assert loaded[paths[i + 1]].wait(10)
        if i + 2 < len(paths):
            assert not loaded[paths[i + 2]].is_set()  # only one ahead
        got.append((item.path, item.image, item.ok))
    assert got == [(p, p.stem, True) for p in paths]
    assert [i.image for i in prefetch_images(paths, loader, ahead=0)] == ["0", "1", "2", "3", "4"]


def test_prefetch_reports_expected_errors_and_raises_others_with_the_file_named(tmp_path):
    def loader(p):
        if p.name == "bad":
            raise ValueError("not an image")
        if p.name == "boom":
            raise RuntimeError("disk on fire")
        return 1

    items = list(prefetch_images([tmp_path / "a", tmp_path / "bad", tmp_path / "c"], loader))
    assert [(i.path.name, i.ok, i.error) for i in items] == [("a", True, None), ("bad", False, "not an image"),
                                                             ("c", True, None)]
    with pytest.raises(RuntimeError, match="disk on fire") as info:
        list(prefetch_images([tmp_path / "a", tmp_path / "boom"], loader))
    assert any("boom" in n for n in info.value.__notes__)
    with pytest.raises(ValueError, match="ahead"):
        list(prefetch_images([], loader, ahead=-1))


def test_analyze_rejects_a_malformed_thread_count(tmp_path, monkeypatch, capsys):
    from llm_viewer.cli import main

    img = tmp_path / "a.png"
    import cv2

    cv2.imwrite(str(img), np.zeros((64, 32), np.uint8))
    monkeypatch.setenv("LLM_VIEWER_THREADS", "many")
    assert main(["analyze", str(img), "--device", "cpu"]) == 2
    assert "LLM_VIEWER_THREADS" in capsys.readouterr().err


def test_coordinates_stay_float32_under_bfloat16_autocast():
    torch.manual_seed(0)
    cfg = tiny_config().regions["knee"]
    model = build_landmark_model(cfg).eval()
    x = torch.rand(1, cfg.in_channels, cfg.input_size_px, cfg.input_size_px)
    with torch.inference_mode(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.seg_logits.dtype == torch.bfloat16  # the convolutions did run in reduced precision
    assert out.coords.dtype == torch.float32  # the head did not (1/256 of a crop would be 2 px at 512 px)
