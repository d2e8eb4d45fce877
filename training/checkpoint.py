"""Training checkpoints as safetensors + JSON (never pickled): model, Adam state, epoch, best score.

Layout per part (``MODELDIR/checkpoints/<part>/``)::

    last.safetensors        model state dict after the last finished epoch
    last_optim.safetensors  optimiser tensors, keys ``state.<param index>.<name>``
    last.json               {"epoch", "best_score", "best_epoch", "param_groups", "state_scalars"}
    best.safetensors        model state dict of the best validation score (what goes into the bundle)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def save_checkpoint(folder: Path, model_state: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
                    meta: dict[str, Any], *, best: bool) -> None:
    """Write the last-epoch checkpoint (and the best weights when ``best``)."""
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_save(model_state, folder / "last.safetensors")
    opt = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in opt["state"].items():
        for name, v in st.items():
            if torch.is_tensor(v):
                tensors[f"state.{idx}.{name}"] = v
            else:
                scalars[f"state.{idx}.{name}"] = v
    if not tensors:
        tensors["empty"] = torch.zeros(1)
    _atomic_save(tensors, folder / "last_optim.safetensors")
    if best:
        _atomic_save(model_state, folder / "best.safetensors")
    doc = dict(meta)
    doc["param_groups"] = opt["param_groups"]
    doc["state_scalars"] = scalars
    tmp = folder / ".last.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "last.json")


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Restore model and optimiser from ``folder``; returns the JSON metadata or ``None`` when absent."""
    meta_path = folder / "last.json"
    if not meta_path.is_file() or not (folder / "last.safetensors").is_file():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model.load_state_dict(load_file(str(folder / "last.safetensors")), strict=True)
    tensors = load_file(str(folder / "last_optim.safetensors"))
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key == "empty":
            continue
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = v
    for key, v in meta.get("state_scalars", {}).items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return meta


def load_best(folder: Path) -> dict[str, torch.Tensor] | None:
    """The best weights of a part, or ``None`` if it has not finished an epoch yet."""
    path = folder / "best.safetensors"
    return load_file(str(path)) if path.is_file() else None
