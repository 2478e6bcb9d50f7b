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
from dataclasses import dataclass, field

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
SEED_REFUSALS = ("empty", "larger than the cap", "touching the segment", "scored low")


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


@dataclass(frozen=True)
class LimbRules:
    """When a click outside the segment seeds a limb and when the limb joins (the module's constants by default;
    docs/scan_prior_trials.py varies them).

    Attributes:
        probe_score: the least probe score of a seeding click's pixel and of its region's mean.
        largest_seed: the largest seed region, in the segment's median cross-sections.
        confirmations: the fewest slices whose clicks lie in a carried limb for it to join.
        exclusive: count only the slices on which the segment holds no click.
    """

    probe_score: float = PROBE_SCORE
    largest_seed: float = LARGEST_LIMB_SEED
    confirmations: int = LIMB_CONFIRMATIONS
    exclusive: bool = True


@dataclass
class ScanLimbs:
    """What :func:`limbs_the_clicks_point_at` found.

    Attributes:
        masks: the segment with the limbs that joined.
        gained: the slices that were empty before a limb joined them.
        scored: how many clicks outside the segment the probe scored at least ``probe_score``.
        refused: why the other regions of those clicks seeded no limb (empty, larger than the cap, touching the
            segment or a seed taken before, scored low), with counts.
        limbs: (S, H, W) labels of the carried limbs, 0 elsewhere.
        confirming: each limb's label and the slices whose clicks confirm it.
        joined_labels: the labels of the limbs that joined.
    """

    masks: np.ndarray
    gained: list[int] = field(default_factory=list)
    scored: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    limbs: np.ndarray | None = None
    confirming: dict[int, set[int]] = field(default_factory=dict)
    joined_labels: list[int] = field(default_factory=list)

    @property
    def joined(self) -> int:
        """How many limbs joined."""
        return len(self.joined_labels)


def limbs_the_clicks_point_at(masks: np.ndarray, scores: np.ndarray, image: np.ndarray, decode: DecodeBoxes,
                              clicks: Prompts, half_px: float, lower: int, upper: int, settings: ClickCarrying,
                              rules: LimbRules = LimbRules()) -> ScanLimbs:
    """``masks`` with the limbs the ``clicks`` outside them point at and the probe's ``scores`` ((S, H, W)) confirm,
    on slices ``lower``..``upper``, and what was refused and carried on the way."""
    columns, rows = nearest_pixels(clicks.xy, *masks.shape[1:])
    at = [(int(t), xy, (int(y), int(x))) for t, xy, x, y in zip(clicks.slice_index, clicks.xy, columns, rows)]
    outside = [(t, xy) for t, xy, (y, x) in at
               if lower <= t <= upper and not masks[t, y, x] and scores[t, y, x] >= rules.probe_score]
    areas = [area for t in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
             for area in np.bincount(ndimage.label(masks[t])[0].ravel())[1:]]
    found = ScanLimbs(masks, scored=len(outside))
    if not outside or not areas:
        return found
    largest_px = rules.largest_seed * float(np.median(areas))
    seeds = np.zeros_like(masks, bool)
    decoded, _ = decode(np.array([t for t, _ in outside]), np.array([box_around(xy[None], half_px)
                                                                     for _, xy in outside]))
    found.refused = dict.fromkeys(SEED_REFUSALS, 0)
    for (t, xy), mask in zip(outside, decoded):
        region = region_holding(mask, xy[None])
        why = ("empty" if not region.any() else "larger than the cap" if region.sum() > largest_px
               else "touching the segment" if (region & (masks[t] | seeds[t])).any()
               else "scored low" if scores[t][region].mean() < rules.probe_score else None)
        if why:
            found.refused[why] += 1
        else:
            seeds[t] |= region
    if not seeds.any():
        return found
    carried, _, _ = carry_cross_sections(seeds, image, decode, lower, upper, settings)
    found.limbs, _ = ndimage.label(carried & ~masks, structure=np.ones((3, 3, 3), bool))
    held = {t for t, _, (y, x) in at if masks[t, y, x]}
    for t, _, (y, x) in at:
        if found.limbs[t, y, x] and not (rules.exclusive and t in held):
            found.confirming.setdefault(int(found.limbs[t, y, x]), set()).add(t)
    found.joined_labels = [label for label, on in found.confirming.items() if len(on) >= rules.confirmations]
    if not found.joined_labels:
        return found
    added = np.isin(found.limbs, found.joined_labels)
    was_empty = ~masks.reshape(len(masks), -1).any(axis=1)
    found.masks = masks | added
    found.gained = [int(t) for t in np.flatnonzero(added.reshape(len(added), -1).any(axis=1) & was_empty)]
    return found
