"""Resume repeats an uninterrupted run exactly; Ctrl+C is one line; fine-tuning defaults; frozen layers."""

from __future__ import annotations

import json

import pytest
import torch

from training import train
from training.finetune import freeze_early_layers
from training.presets import finetune_defaults, get_preset


def _argv(store, out, *extra):
    return ["--data", str(store), "--out", str(out), "--parts", "detector,knee", "--epochs", "3", "--max-steps", "2",
            "--batch-size", "1", "--train-splits", "train,val,test", "--val-split", "none", "--no-progress",
            "--threads", "1", "--seed", "3", *extra]


def _records(out):
    return [{k: v for k, v in json.loads(line).items() if k != "time_s"}
            for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_killed_and_resumed_run_repeats_an_uninterrupted_one(tiny_store, tmp_path, monkeypatch):
    whole, parts = tmp_path / "whole", tmp_path / "resumed"
    assert train.main(train.get_args_parser().parse_args(_argv(tiny_store, whole, "--cache-dir", str(tmp_path / "c")))) == 0

    real = train.train_one_epoch

    def dies_in_the_second_detector_epoch(*a, **kw):
        if kw.get("label", "").startswith("detector 2/"):
            def boom(step, n, loss):  # after one optimiser step that is never saved
                raise KeyboardInterrupt
            kw["on_step"] = boom
        return real(*a, **kw)

    monkeypatch.setattr(train, "train_one_epoch", dies_in_the_second_detector_epoch)
    with pytest.raises(KeyboardInterrupt):
        train.main(train.get_args_parser().parse_args(_argv(tiny_store, parts, "--cache-dir", str(tmp_path / "c"))))
    assert [(r["part"], r["epoch"]) for r in _records(parts)] == [("detector", 0)]
    monkeypatch.setattr(train, "train_one_epoch", real)
    assert train.main(train.get_args_parser().parse_args(_argv(tiny_store, parts, "--cache-dir", str(tmp_path / "c")))) == 0

    assert _records(parts) == _records(whole)  # every loss, lr and best epoch, to the last digit
    assert len(_records(whole)) == 6
    for part in ("detector", "knee"):
        for name in ("last.safetensors", "best.safetensors", "last_optim.safetensors"):
            a = (whole / "checkpoints" / part / name).read_bytes()
            assert a == (parts / "checkpoints" / part / name).read_bytes(), f"{part}/{name} differs"


def test_ctrl_c_prints_one_line_and_exits_130(tiny_store, tmp_path, monkeypatch, capsys):
    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train_one_epoch", interrupted)
    rc = train.cli(_argv(tiny_store, tmp_path / "m", "--parts", "knee", "--cache-dir", str(tmp_path / "c")))
    err = capsys.readouterr().err
    assert rc == 130
    assert err.strip().splitlines()[-1] == "interrupted; rerun the same command to resume"
    assert "Traceback" not in err


def test_init_from_uses_the_fine_tuning_rate_and_stops_early(tiny_store, tiny_bundle, tmp_path, monkeypatch):
    scores = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # validation only gets worse after the first epoch
    monkeypatch.setattr(train, "evaluate", lambda *a, **kw: {"val_loss": 0.0, "val_err_px": next(scores)})
    out = tmp_path / "ft"
    argv = ["--data", str(tiny_store), "--out", str(out), "--init-from", str(tiny_bundle), "--parts", "knee",
            "--max-steps", "1", "--batch-size", "2", "--train-splits", "train,val,test", "--val-split", "train",
            "--no-progress", "--threads", "1", "--patience", "2"]
    assert train.main(train.get_args_parser().parse_args(argv)) == 0
    recs = _records(out)
    ft = finetune_defaults()
    assert ft.lr < get_preset("lite").landmark.lr / 10
    assert recs[0]["lr"] == pytest.approx(ft.lr)  # not the preset's from-scratch 2e-3
    assert [r["epoch"] for r in recs] == [0, 1, 2]  # best at 0, two worse epochs, then stop (of 6)
    assert ft.epochs > 3
    # the rerun resumes into the stop: no further epoch
    assert train.main(train.get_args_parser().parse_args(argv)) == 0
    assert len(_records(out)) == 3


def test_freezing_keeps_early_weights_and_batch_norm_statistics():
    from training.train import build_part

    preset = get_preset("lite")
    _kind, model = build_part(preset, "knee")
    rep = freeze_early_layers(model, 0.5)
    assert 0 < rep.params_frozen < rep.params_total and rep.blocks_frozen * 2 in (rep.blocks_total - 1,
                                                                                  rep.blocks_total,
                                                                                  rep.blocks_total + 1)
    first_conv = model.unet.encoder.features[0]
    first_bn = next(m for m in model.unet.encoder.features if isinstance(m, torch.nn.BatchNorm2d))
    w0, rm0 = first_conv.weight.detach().clone(), first_bn.running_mean.clone()
    head = [p for p in model.parameters() if p.requires_grad]
    head0 = [p.detach().clone() for p in head]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    out = model(torch.randn(2, 1, 96, 96) * 3 + 1)
    (out.coords.sum() + out.seg_logits.mean()).backward()
    opt.step()
    assert torch.equal(first_conv.weight, w0) and torch.equal(first_bn.running_mean, rm0)
    assert any(not torch.equal(p, q) for p, q in zip(head, head0))
    _kind, det = build_part(preset, "detector")
    assert freeze_early_layers(det, 0.5).params_frozen > 0
    with pytest.raises(ValueError):
        freeze_early_layers(det, 1.5)
