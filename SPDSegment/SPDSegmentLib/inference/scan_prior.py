"""A prior fitted to the scan in hand: the segment the continuity route drew, as a pseudo-label, teaches a linear probe
on the encoder's embeddings which tissue the clicks point at, and the probe then finds the other limbs of it that the
clicks reach but the continuity check rejected (a colon's, clicked at random, one limb a slice).

1. **Probe** (:func:`fit_scan_probe`): logistic regression on the embedding cells of the encoded slices, the cells
   mostly inside the segment against those outside it, both classes weighted equally.
2. **Seeds** (:func:`limbs_the_clicks_point_at`): each positive click outside the segment that the probe scores at
   least ``PROBE_SCORE`` is decoded with the fitted box; its region seeds a limb if its mean score is as high, it does
   not touch the segment and it is at most ``LARGEST_LIMB_SEED`` times the segment's median cross-section.
3. **Limbs**: the seeds alone are carried slice by slice (:func:`.click_carrying.carry_cross_sections`); a carried
   limb joins the segment when clicks lie in it on ``LIMB_CONFIRMATIONS`` slices or more on which the segment holds
   no click. The probe learns a tissue, not an organ: a twin organ beside the target (the other kidney) holds stray
   clicks, but on slices whose true click the target holds.

Chosen on the development CT (docs/DEFAULT_MODEL.md, "a prior fitted to the scan in hand").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage

from .box_fitting import DecodeBoxes, box_around, region_holding
from .click_carrying import ClickCarrying, carry_cross_sections
from .cpd import nearest_pixels
from .prompts import Prompts

PROBE_STEPS = 200
PROBE_SCORE = 0.5
LARGEST_LIMB_SEED = 3.0
LIMB_CONFIRMATIONS = 2


def fit_scan_probe(embeddings: Sequence[torch.Tensor], cover: torch.Tensor, steps: int = PROBE_STEPS
                   ) -> torch.Tensor:
    """(N, 1, e, e) probabilities that each embedding cell holds the segment's tissue, from a linear probe fitted to
    ``cover`` ((N, e, e), the share of each cell inside the segment) on ``embeddings`` (N slices' (C, e, e)), on the
    embeddings' device. Seeded, and the caller's random state is left as it was. The cells' features are the one copy
    of the embeddings it makes (a few hundred MB a hundred slices)."""
    count, (channels, size) = len(embeddings), (embeddings[0].shape[0], embeddings[0].shape[-1])
    features = torch.cat([embedding.float().permute(1, 2, 0).reshape(-1, channels) for embedding in embeddings])
    features.sub_(features.mean(0)).div_(features.std(0) + 1e-6)
    cover = cover.reshape(-1).float().to(features.device)
    positive, negative = cover > 0.5, cover == 0
    if not positive.any() or not negative.any():
        return torch.full((count, 1, size, size), float(positive.any()), device=features.device)
    weight = torch.zeros_like(cover)
    weight[positive], weight[negative] = 0.5 / positive.sum(), 0.5 / negative.sum()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        probe = torch.nn.Linear(channels, 1).to(features.device)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.05, weight_decay=1e-4)
    with torch.enable_grad():
        for _ in range(steps):
            loss = (weight * torch.nn.functional.binary_cross_entropy_with_logits(
                probe(features)[:, 0], positive.float(), reduction="none")).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return torch.sigmoid(probe(features)[:, 0]).reshape(count, 1, size, size)


def limbs_the_clicks_point_at(masks: np.ndarray, scores: np.ndarray, image: np.ndarray, decode: DecodeBoxes,
                              clicks: Prompts, half_px: float, lower: int, upper: int, settings: ClickCarrying
                              ) -> tuple[np.ndarray, int, list[int]]:
    """``masks`` with the limbs the ``clicks`` outside them point at and the probe's ``scores`` ((S, H, W)) confirm,
    on slices ``lower``..``upper``; also how many limbs joined and the slices that were empty before."""
    columns, rows = nearest_pixels(clicks.xy, *masks.shape[1:])
    at = [(int(t), xy, (int(y), int(x))) for t, xy, x, y in zip(clicks.slice_index, clicks.xy, columns, rows)]
    outside = [(t, xy) for t, xy, (y, x) in at
               if lower <= t <= upper and not masks[t, y, x] and scores[t, y, x] >= PROBE_SCORE]
    areas = [area for t in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
             for area in np.bincount(ndimage.label(masks[t])[0].ravel())[1:]]
    if not outside or not areas:
        return masks, 0, []
    largest_px = LARGEST_LIMB_SEED * float(np.median(areas))
    seeds = np.zeros_like(masks, bool)
    decoded, _ = decode(np.array([t for t, _ in outside]), np.array([box_around(xy[None], half_px)
                                                                     for _, xy in outside]))
    for (t, xy), mask in zip(outside, decoded):
        region = region_holding(mask, xy[None])
        if (region.any() and region.sum() <= largest_px and not (region & (masks[t] | seeds[t])).any()
                and scores[t][region].mean() >= PROBE_SCORE):
            seeds[t] |= region
    if not seeds.any():
        return masks, 0, []
    carried, _, _ = carry_cross_sections(seeds, image, decode, lower, upper, settings)
    limbs, _ = ndimage.label(carried & ~masks, structure=np.ones((3, 3, 3), bool))
    held = {t for t, _, (y, x) in at if masks[t, y, x]}
    clicked: dict[int, set[int]] = {}
    for t, _, (y, x) in at:
        if limbs[t, y, x] and t not in held:
            clicked.setdefault(int(limbs[t, y, x]), set()).add(t)
    joined = [label for label, on in clicked.items() if len(on) >= LIMB_CONFIRMATIONS]
    if not joined:
        return masks, 0, []
    added = np.isin(limbs, joined)
    was_empty = ~masks.reshape(len(masks), -1).any(axis=1)
    gained = np.flatnonzero(added.reshape(len(added), -1).any(axis=1) & was_empty)
    return masks | added, len(joined), [int(t) for t in gained]
