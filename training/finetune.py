"""Freezing the early layers of a model for fine-tuning on a few cases (``--freeze-fraction``).

A frozen block keeps its weights (``requires_grad=False``: Adam skips parameters without a gradient, so the
optimiser's parameter list, and with it the checkpoint layout, stays the same) and its batch-norm running
statistics (momentum 0: a batch-norm layer in training mode still normalises with the batch, as the
trained model did, but no longer overwrites the statistics learnt on the large training set).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FreezeReport:
    """What :func:`freeze_early_layers` froze."""

    blocks_frozen: int
    blocks_total: int
    params_frozen: int
    params_total: int


def _block_lists(model: torch.nn.Module) -> list[list[torch.nn.Module]]:
    """The ordered early-to-late block lists of a model: every VGG encoder's ``features``, the detector's
    backbone body."""
    lists = []
    backbone = getattr(model, "backbone", None)
    body = getattr(backbone, "body", None) if backbone is not None else None
    if body is not None:
        lists.append(list(body.children()))
    for mod in model.modules():
        enc = getattr(mod, "encoder", None)
        feats = getattr(enc, "features", None) if enc is not None else None
        if isinstance(feats, torch.nn.Sequential):
            lists.append(list(feats.children()))
    return lists


def freeze_early_layers(model: torch.nn.Module, fraction: float) -> FreezeReport:
    """Freeze the first ``fraction`` of the blocks of every encoder (and of the detector's backbone).

    Parameters
    ----------
    model : torch.nn.Module
        A detector, landmark, diaphysis or refinement model of the pipeline.
    fraction : float
        In [0, 1]; 0 freezes nothing, 1 every encoder block (the decoders and heads always train).

    Raises
    ------
    ValueError
        ``fraction`` outside [0, 1].
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"freeze fraction {fraction} is outside [0, 1]")
    frozen_blocks = total_blocks = 0
    for blocks in _block_lists(model):
        with_params = [b for b in blocks if any(True for _ in b.parameters())]
        n = int(round(fraction * len(with_params)))
        total_blocks += len(with_params)
        frozen_blocks += n
        for b in with_params[:n]:
            for p in b.parameters():
                p.requires_grad_(False)
            for m in b.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.momentum = 0.0
    params = list(model.parameters())
    return FreezeReport(frozen_blocks, total_blocks, sum(p.numel() for p in params if not p.requires_grad),
                        sum(p.numel() for p in params))
