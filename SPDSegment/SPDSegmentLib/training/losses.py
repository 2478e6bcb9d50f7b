"""Losses of both SPD stages: Dice, focal (gamma = 2) and Pairwise Slice Consistency (PSC)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss averaged over the batch. logits, target: (B, 1, H, W); target in {0, 1}."""
    probs = torch.sigmoid(logits).flatten(1)
    target = target.flatten(1)
    intersection = (probs * target).sum(1)
    return (1.0 - (2.0 * intersection + eps) / (probs.sum(1) + target.sum(1) + eps)).mean()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float = 0.25) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al.), mean over pixels. With gamma = 0 and alpha = None it is BCE."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = torch.exp(-bce)
    loss = (1.0 - p_t) ** gamma * bce
    if alpha is not None:
        loss = loss * (alpha * target + (1.0 - alpha) * (1.0 - target))
    return loss.mean()


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0,
                      focal_weight: float = 20.0) -> torch.Tensor:
    """lambda_dice * Dice + lambda_focal * Focal (SAM's 1:20 weighting, since focal is small per pixel)."""
    return dice_weight * dice_loss(logits, target) + focal_weight * focal_loss(logits, target)


def _pair_dice_loss(a: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    a, b = a.flatten(1), b.flatten(1)
    denominator = a.sum(1) + b.sum(1)
    per_pair = 1.0 - 2.0 * (a * b).sum(1) / denominator.clamp_min(eps)
    return torch.where(denominator > eps, per_pair, torch.zeros_like(per_pair)).mean()


def psc_loss(probs: torch.Tensor, pairs: str = "next", eps: float = 1e-6) -> torch.Tensor:
    """Pairwise Slice Consistency over consecutive slices of one window.

    ``L(M_t, M_t') = 1 - 2 sum(M_t M_t') / (sum M_t + sum M_t')`` on soft probabilities, averaged over pairs.

    Args:
        probs: (T, 1, H, W) probabilities of T consecutive slices.
        pairs: which neighbour each slice is pulled towards: ``next`` (t+1, the paper's choice),
            ``previous`` (t-1) or ``both``. The neighbour acts as the reference (its gradient is stopped),
            so the choices give the same value but pull different slices.

    Returns:
        0 for identical binary masks, 1 for disjoint non-empty ones; a pair of empty masks counts 0.
    """
    if pairs not in ("next", "previous", "both"):
        raise ValueError(f"pairs must be next, previous or both, got {pairs!r}.")
    if len(probs) < 2:
        return probs.sum() * 0.0
    terms = []
    if pairs in ("next", "both"):
        terms.append(_pair_dice_loss(probs[:-1], probs[1:].detach(), eps))
    if pairs in ("previous", "both"):
        terms.append(_pair_dice_loss(probs[1:], probs[:-1].detach(), eps))
    return torch.stack(terms).mean()
