"""Training losses of the paper: ``L = α · DiceCE(maps) + MSE(coords)`` with α = 0.2 (Eq. 5).

Used by ``training/``; inference never imports this module (it pulls in MONAI).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .models import LandmarkModelOutput

SGR_ALPHA = 0.2
"""The paper's best weight of the segmentation term."""


def dice_ce_loss(seg_logits: torch.Tensor, target_masks: torch.Tensor) -> torch.Tensor:
    """Dice + binary cross-entropy on sigmoid maps (MONAI ``DiceCELoss(sigmoid=True)``, Isensee's sum).

    Parameters
    ----------
    seg_logits : Tensor
        ``(B, C, S, S)`` logits.
    target_masks : Tensor
        ``(B, C, S, S)`` binary masks (e.g. :func:`llm_viewer.pipeline.crop.circular_masks`).
    """
    from monai.losses import DiceCELoss

    return DiceCELoss(sigmoid=True)(seg_logits, target_masks.to(seg_logits.dtype))


def landmark_loss(output: LandmarkModelOutput, target_masks: torch.Tensor | None,
                  target_coords: torch.Tensor | None, alpha: float = SGR_ALPHA) -> torch.Tensor:
    """Loss of any landmark model, by what it outputs.

    SGR (maps and coordinates): ``alpha * DiceCE + MSE``; direct segmentation or a bone mask: ``DiceCE``;
    direct regression: ``MSE``. Coordinates are normalised (see ``models.py``), shape ``(B, n, 2)``.

    Raises
    ------
    ValueError
        When a target the output needs is missing.
    """
    total = None
    if output.seg_logits is not None:
        if target_masks is None:
            raise ValueError("this model outputs maps: target_masks are required")
        seg = dice_ce_loss(output.seg_logits, target_masks)
        total = seg if output.coords is None else alpha * seg
    if output.coords is not None:
        if target_coords is None:
            raise ValueError("this model outputs coordinates: target_coords are required")
        mse = F.mse_loss(output.coords, target_coords.to(output.coords.dtype))
        total = mse if total is None else total + mse
    if total is None:
        raise ValueError("model output holds neither maps nor coordinates")
    return total


def sgr_loss(output: LandmarkModelOutput, target_masks: torch.Tensor, target_coords: torch.Tensor,
             alpha: float = SGR_ALPHA) -> torch.Tensor:
    """The paper's SGR loss ``alpha * DiceCE + MSE`` (requires both outputs)."""
    if output.seg_logits is None or output.coords is None:
        raise ValueError("sgr_loss needs an SGR model output (maps and coordinates)")
    return landmark_loss(output, target_masks, target_coords, alpha)
