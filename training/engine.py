"""``train_one_epoch`` and ``evaluate`` for every kind of model (torchvision references/detection style).

Kinds: ``"landmark"`` (SGR / segmentation / regression: the paper's loss ``α·DiceCE + MSE``),
``"mask"`` (diaphysis: DiceCE), ``"refine"`` (DiceCE on the channel of the patch's landmark) and
``"detector"`` (Faster R-CNN's own multi-task loss).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch

from llm_viewer.pipeline import decode
from llm_viewer.pipeline.losses import dice_ce_loss, landmark_loss

from .distributed import DistInfo, all_reduce_mean

_SINGLE = DistInfo()


class ProgressBar:
    """A one-line progress bar on stderr (rank 0 only); ``update(loss)`` per batch."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.n, self.start, self.loss = 0, time.monotonic(), float("nan")

    def update(self, loss: float) -> None:
        self.n += 1
        self.loss = loss if not math.isfinite(self.loss) else 0.9 * self.loss + 0.1 * loss
        if not self.enabled:
            return
        el = time.monotonic() - self.start
        eta = el / self.n * (self.total - self.n)
        fill = int(24 * self.n / max(1, self.total))
        sys.stderr.write(f"\r{self.label} [{'#' * fill}{'.' * (24 - fill)}] {self.n}/{self.total} "
                         f"loss {self.loss:.4f} {el:5.0f}s ETA {eta:4.0f}s")
        if self.n >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def compute_loss(kind: str, model: torch.nn.Module, batch, device: torch.device, alpha: float) -> torch.Tensor:
    """The training loss of one batch."""
    if kind == "detector":
        images, targets = batch
        images = [im.to(device) for im in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        losses = model(images, targets)
        return sum(losses.values())
    if kind == "refine":
        x, idx, mask, pt = batch
        logits = model(x.to(device))
        sel = logits[torch.arange(len(idx)), idx.to(device)]
        return dice_ce_loss(sel[:, None], mask[:, None].to(device)) + soft_argmax_l1(sel, pt.to(device))
    x, masks, coords = batch
    out = model(x.to(device))
    if kind == "mask":
        return landmark_loss(out, masks.to(device), None)
    return landmark_loss(out, masks.to(device) if out.seg_logits is not None else None,
                         coords.to(device) if out.coords is not None else None, alpha)


def soft_argmax_l1(logits: torch.Tensor, target_xy: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance (in units of the map side) between the soft-argmax of ``(B, S, S)`` logits and targets.

    An auxiliary term of the refinement loss: it pulls the map's mass onto the landmark from the first
    step, before the Dice term of a small disc has anything to work with.
    """
    b, h, w = logits.shape
    prob = torch.softmax(logits.float().flatten(1), dim=1).view(b, h, w)
    xs = torch.arange(w, dtype=prob.dtype, device=prob.device)
    ys = torch.arange(h, dtype=prob.dtype, device=prob.device)
    ex = (prob.sum(1) * xs).sum(1)
    ey = (prob.sum(2) * ys).sum(1)
    return ((ex - target_xy[:, 0]).abs() + (ey - target_xy[:, 1]).abs()).mean() / w


def train_one_epoch(kind: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: Iterable,
                    device: torch.device, *, alpha: float = 0.2, max_steps: int | None = None,
                    info: DistInfo = _SINGLE, label: str = "", progress: bool = True,
                    on_step: Callable[[int, int, float], None] | None = None) -> dict[str, float]:
    """One pass over ``loader``; returns ``{"train_loss", "steps"}`` averaged over ranks.

    ``on_step(step, n_steps, loss)`` is called after every batch (progress reports; it may raise to stop).
    """
    model.train()
    n_batches = len(loader) if max_steps is None else min(len(loader), max_steps)
    bar = ProgressBar(n_batches, label, progress and info.is_main)
    total, steps = 0.0, 0
    for batch in loader:
        if steps >= n_batches:
            break
        loss = compute_loss(kind, model, batch, device, alpha)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{label}: loss is {loss.item()} at step {steps}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        steps += 1
        bar.update(float(loss.detach()))
        if on_step is not None:
            on_step(steps, n_batches, float(loss.detach()))
    return all_reduce_mean({"train_loss": total / max(1, steps), "steps": float(steps)}, info)


@torch.no_grad()
def evaluate(kind: str, model: torch.nn.Module, loader: Iterable, device: torch.device, *, alpha: float = 0.2,
             max_steps: int | None = None, info: DistInfo = _SINGLE) -> dict[str, float]:
    """Validation loss and, for point models, the mean point error in model-input pixels (``val_err_px``).

    The detector's loss needs training mode; its batch-norm layers are kept in evaluation mode so that
    validation does not change their statistics.
    """
    net = _unwrap(model)
    if kind == "detector":
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    else:
        net.eval()
    losses, errs = [], []
    for step, batch in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        losses.append(float(compute_loss(kind, net, batch, device, alpha)))
        if kind == "landmark":
            x, _masks, coords = batch
            out = net(x.to(device))
            size = x.shape[-1]
            if out.coords is not None:
                pred = out.coords.float().cpu().numpy() * size
            else:
                prob = torch.sigmoid(out.seg_logits.float()).cpu().numpy()
                pred = np.array([[decode.map_peak(prob[b, i], 8.0)[1] + 0.5 for i in range(prob.shape[1])]
                                 for b in range(prob.shape[0])])
            errs.append(np.linalg.norm(pred - coords.numpy() * size, axis=-1).ravel())
        elif kind == "refine":
            x, idx, _mask, pt = batch
            prob = torch.sigmoid(net(x.to(device)).float()).cpu().numpy()
            for b in range(len(idx)):
                _, c = decode.map_peak(prob[b, int(idx[b])], 8.0)
                errs.append(np.array([np.linalg.norm(c - pt[b].numpy())]))
    net.train()
    out = {"val_loss": float(np.mean(losses)) if losses else float("nan")}
    if errs:
        out["val_err_px"] = float(np.mean(np.concatenate(errs)))
    return all_reduce_mean(out, info)
