"""Distributed data parallel training on CPU: two gloo processes, one step, identical weights on both ranks."""

from __future__ import annotations

import json
import os
import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str, store: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from llm_viewer.pipeline.config import default_region_config
    from llm_viewer.pipeline.models import build_landmark_model
    from training import train
    from training.distributed import init_distributed
    from training.engine import train_one_epoch

    info = init_distributed("cpu")
    torch.manual_seed(0)  # same initial weights on both ranks (DDP also broadcasts rank 0's)
    model = build_landmark_model(default_region_config("knee", base_width=4, input_size_px=32))
    before = [p.detach().clone() for p in model.parameters()]
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    g = torch.Generator().manual_seed(100 + rank)  # different data on each rank
    x = torch.rand(2, 1, 32, 32, generator=g)
    masks = (torch.rand(2, 5, 32, 32, generator=g) > 0.95).float()
    coords = torch.rand(2, 5, 2, generator=g)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-2)
    stats = train_one_epoch("landmark", ddp, opt, [(x, masks, coords)], torch.device("cpu"), info=info,
                            progress=False)
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    moved = float(max((p.detach() - b).abs().max() for p, b in zip(model.parameters(), before)))
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"max_diff": float((gathered[0] - gathered[1]).abs().max()), "moved": moved,
                   "loss": stats["train_loss"]}, f)
    dist.barrier()
    # the training command itself under DDP (one step of a small part), rank 0 writing the checkpoint
    args = train.get_args_parser().parse_args(
        ["--data", store, "--out", os.path.join(out_dir, "model"), "--parts", "diaphysis", "--epochs", "1",
         "--max-steps", "1", "--batch-size", "1", "--train-splits", "train,val,test", "--val-split", "none",
         "--no-progress"])
    train.main(args)


def test_two_gloo_processes_keep_identical_weights(tiny_store, tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), str(tiny_store)), nprocs=2, join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["moved"] > 0 and r1["moved"] > 0  # a step was taken
    assert r0["max_diff"] == 0.0 and r1["max_diff"] == 0.0  # gradients were averaged: same weights
    assert r0["loss"] == r1["loss"]  # the logged loss is the mean over ranks
    log = (tmp_path / "model" / "log.jsonl").read_text().splitlines()
    assert len(log) == 1 and json.loads(log[0])["part"] == "diaphysis"
    assert (tmp_path / "model" / "checkpoints" / "diaphysis" / "best.safetensors").is_file()
