"""Cross-sections the clicks of nearby slices share: the limbs of a structure that the segment misses but that the
clicks keep landing on more often than chance allows (a colon's other limbs, clicked at random one limb a slice,
which the continuity check rejects since the true clicks hop between limbs from slice to slice).

1. **Cross-sections** (:func:`closed_cross_sections`): each click is decoded by the backbone in square boxes of
   ``LADDER_MM`` half-sizes around it; its cross-section is the region holding it in the smallest box whose region
   stays off the box's border (none where no box closes it: fat, muscle, an organ wider than the largest box).
2. **Shared** (:func:`shared_cross_sections`): a prompted slice within ``WINDOW`` slices matches a click's
   cross-section R where one of its clicks' cross-sections overlaps R with IoU at least ``MIN_IOU``. By chance alone
   slice j holds a click in R with probability 1 - exp(-lambda_j |R|), lambda_j its clicks per pixel of tissue, so
   an organ or a muscle that stray clicks hit often is expected to match often. A click's cross-section is shared
   where at least ``MIN_MATCHES`` slices match and a Poisson count with the summed chances reaches that many with
   probability below ``ALPHA``.
3. **Joined** (:func:`join_shared_cross_sections`): a shared cross-section the segment does not touch joins it where
   at least ``MIN_MATCHES`` of the slices that matched it hold no click the segment holds. A slice whose true click
   the segment holds says nothing for another region on it (the scan prior's rule, :mod:`.scan_prior`): the
   neighbouring loops that stray clicks hit on such slices stay out.

Chosen on the development CT in slabs of 20 slices and the generated volumes (docs/DEFAULT_MODEL.md, "the
cross-sections the clicks share joined where the segment holds none of the matching slices' clicks").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .box_fitting import DecodeBoxes, box_around, region_holding
from .cpd import saliency_at
from .metrics import compute_iou
from .prompts import Prompts

LADDER_MM = (10.0, 20.0, 40.0, 60.0)
WINDOW = 3
MIN_IOU = 0.1
ALPHA = 0.02
MIN_MATCHES = 2
# normalised intensity above which a pixel counts as tissue, where stray clicks can land
TISSUE = 0.05


@dataclass
class SharedCrossSection:
    """One click's cross-section that nearby slices' clicks share.

    Attributes:
        slice_index: the click's slice.
        region: (H, W) bool cross-section.
        matched_slices: the prompted slices whose clicks matched it.
    """

    slice_index: int
    region: np.ndarray
    matched_slices: list[int] = field(default_factory=list)


def closed_within(region: np.ndarray, box: np.ndarray) -> bool:
    """Whether ``region`` is not empty and stays more than a pixel inside ``box`` (x0, y0, x1, y1) on every side."""
    ys, xs = np.nonzero(region)
    return bool(len(xs)) and xs.min() > box[0] + 1 and ys.min() > box[1] + 1 and xs.max() < box[2] - 1 \
        and ys.max() < box[3] - 1


def closed_cross_sections(clicks: Prompts, decode: DecodeBoxes, spacing_mm: float,
                          ladder_mm: tuple[float, ...] = LADDER_MM) -> list[np.ndarray | None]:
    """Per click, the decoded region holding it in the smallest box of ``ladder_mm`` half-sizes that closes it
    (None where none does)."""
    regions: list[np.ndarray | None] = [None] * len(clicks)
    for half_mm in sorted(ladder_mm):
        open_ = [i for i, region in enumerate(regions) if region is None]
        if not open_:
            break
        boxes = np.array([box_around(clicks.xy[i][None], half_mm / spacing_mm) for i in open_])
        masks, _ = decode(clicks.slice_index[open_], boxes)
        for i, mask, box in zip(open_, masks, boxes):
            region = region_holding(mask, clicks.xy[i][None])
            if closed_within(region, box):
                regions[i] = region
    return regions


def shared_cross_sections(clicks: Prompts, regions: list[np.ndarray | None], image: np.ndarray,
                          window: int = WINDOW, min_iou: float = MIN_IOU, alpha: float = ALPHA,
                          min_matches: int = MIN_MATCHES) -> list[SharedCrossSection]:
    """The clicks' ``regions`` (:func:`closed_cross_sections`) that the clicks of the prompted slices within
    ``window`` slices match more often than chance, given each slice's clicks per pixel of tissue in the (S, H, W)
    normalised ``image``."""
    on_slice = {int(t): np.flatnonzero(clicks.slice_index == t) for t in clicks.slices}
    tissue_px = {t: max(int((image[t] > TISSUE).sum()), 1) for t in on_slice}
    shared = []
    for i, region in enumerate(regions):
        if region is None:
            continue
        t, area = int(clicks.slice_index[i]), int(region.sum())
        matched, expected = [], 0.0
        for j in range(t - window, t + window + 1):
            if j == t or j not in on_slice:
                continue
            expected += 1.0 - np.exp(-len(on_slice[j]) / tissue_px[j] * area)
            if any(regions[k] is not None and compute_iou(region, regions[k]) >= min_iou for k in on_slice[j]):
                matched.append(j)
        if len(matched) >= min_matches and stats.poisson.sf(len(matched) - 1, expected) < alpha:
            shared.append(SharedCrossSection(t, region, matched))
    return shared


def slices_missing_their_clicks(masks: np.ndarray, clicks: Prompts) -> set[int]:
    """The slices of ``clicks`` none of whose clicks the (S, H, W) ``masks`` hold."""
    return {int(t) for t in clicks.slices if not saliency_at(masks[t], clicks.on_slice(t)).any()}


def join_shared_cross_sections(masks: np.ndarray, shared: list[SharedCrossSection], clicks: Prompts,
                               min_matches: int = MIN_MATCHES) -> tuple[np.ndarray, int]:
    """(S, H, W) ``masks`` with each ``shared`` cross-section they do not touch joined, where at least
    ``min_matches`` of the slices that matched it are slices none of whose ``clicks`` the masks hold; also how many
    joined."""
    missed = slices_missing_their_clicks(masks, clicks)
    joined = masks.copy()
    count = 0
    for cross_section in shared:
        t = cross_section.slice_index
        if not (masks[t] & cross_section.region).any() and \
                len(missed.intersection(cross_section.matched_slices)) >= min_matches:
            joined[t] |= cross_section.region
            count += 1
    return joined, count
