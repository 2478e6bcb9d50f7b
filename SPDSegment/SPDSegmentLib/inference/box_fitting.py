"""Boxes that fit the structure, for a box-trained decoder fed with points that passed the continuity prior.

A box drawn around a prompt at a fixed size is too small for a wide bowel loop and too large for a thin
vessel. Here:

1. **Size per structure**: the kept prompt clusters are decoded, on a sample of slices, with boxes of
   several half-sizes; the decoder's own predicted IoU, averaged over the sample, picks the size (the
   smallest whose mean is within ``tolerance`` of the best, since larger boxes tend to swallow a
   neighbouring organ). Averaging along the structure steadies a choice that is noisy slice by slice.
2. **Every kept cluster** is decoded with that size; of each mask only the connected region holding the
   cluster's points is kept.
3. **One 3D cleanup** keeps the connected regions that hold kept prompts: the best-supported one (the
   structure) and others spanning several slices, unless they lie beside the structure on its own slices
   with far fewer prompts (a stretch of the curve that drifted onto a neighbouring loop), or, on a traced
   curve, with no prompt a learned prior accepts while it accepts some of the structure's.
4. **Growth by overlap**: a prompt the continuity prior rejected (its neighbours' prompts are far, as when
   random clicks fall on a wide or many-looped target) is decoded with the same box; its region joins the
   structure where most of it lies inside the structure's mask on the nearest segmented slice before or
   after it (up to ``gap_slices + 1`` slices away), since a target's cross-sections overlap from slice to
   slice and a distractor's do not. Repeated until nothing joins.
5. **Gaps** in the structure (slices between segmented slices, where the curve skipped, drifted or its
   prompts were rejected) get a box from the nearest segmented neighbour's mask; the result is kept only if
   it overlaps that neighbour's mask.

Every step takes a ``decode(slices, boxes) -> (masks (N, H, W) bool, predicted IoU (N,))`` callable, so it
runs on whichever decoder, device and batch size the predictor uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage
from scipy.cluster.hierarchy import fcluster, linkage

from .cpd import square_windows

DecodeBoxes = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

HALF_SIZES_MM = (6.0, 9.0, 12.0, 18.0, 24.0, 36.0, 48.0)


@dataclass(frozen=True)
class BoxFitting:
    """Settings of the fitted-box decoding (the defaults were chosen on the development cases listed in
    docs/DEFAULT_MODEL.md, never on the held-out ones).

    Attributes:
        half_sizes_mm: candidate box half-sizes around a prompt cluster.
        sample: how many clusters, spread along the structure, choose the size.
        tolerance: the smallest size whose mean predicted IoU is within this of the best wins.
        cluster_mm: prompts of one slice closer than this form one cluster (one box).
        gap_slices: longest run of empty slices between segmented ones that is filled.
        gap_min_dice: overlap with the neighbour's mask a filled slice needs.
        pad_px: margin around a neighbour's mask when its box is carried to a gap slice.
        grow_min_overlap: share of a rejected prompt's region that must lie inside the structure's mask on a
            neighbouring slice for the region to join the structure (so a region that swallowed more than
            the structure, at least 1 / this times its size, never joins).
        held_prompts_only: a size is chosen only if some mask of the sample holds its cluster's points (from every
            size if none does, :func:`choose_half_size`).
    """

    half_sizes_mm: tuple[float, ...] = HALF_SIZES_MM
    sample: int = 8
    tolerance: float = 0.05
    cluster_mm: float = 15.0
    gap_slices: int = 6
    gap_min_dice: float = 0.3
    pad_px: float = 2.0
    grow_min_overlap: float = 0.5
    held_prompts_only: bool = False


def cluster_points(points_xy: np.ndarray, radius_px: float) -> list[np.ndarray]:
    """Groups of points closer than ``radius_px`` to one another (single linkage)."""
    points_xy = np.asarray(points_xy, float).reshape(-1, 2)
    if len(points_xy) <= 1:
        return [points_xy] if len(points_xy) else []
    labels = fcluster(linkage(points_xy, method="single"), t=radius_px, criterion="distance")
    return [points_xy[labels == label] for label in np.unique(labels)]


def box_around(points_xy: np.ndarray, half_px: float) -> np.ndarray:
    """(x0, y0, x1, y1) bounding the points, grown by ``half_px`` on every side."""
    return np.array([points_xy[:, 0].min() - half_px, points_xy[:, 1].min() - half_px,
                     points_xy[:, 0].max() + half_px, points_xy[:, 1].max() + half_px])


def mask_box(mask: np.ndarray, pad_px: float) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min() - pad_px, ys.min() - pad_px, xs.max() + pad_px, ys.max() + pad_px], float)


def region_holding(mask: np.ndarray, points_xy: np.ndarray, reach_px: int = 0) -> np.ndarray:
    """The connected regions of a 2D ``mask`` that contain any of the points, or come within ``reach_px``
    pixels of one (a square window; empty if none does)."""
    regions, count = ndimage.label(mask)
    if count == 0:
        return np.zeros_like(mask, bool)
    ids = regions[square_windows(points_xy, reach_px, *mask.shape)]
    return np.isin(regions, ids[ids > 0])


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 0.0 if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)


@dataclass
class Candidate:
    """One box request: a cluster of kept prompts on one slice."""

    slice_index: int
    points_xy: np.ndarray


def size_sample(candidates: list[Candidate], fitting: BoxFitting) -> np.ndarray:
    """Indices of the ``fitting.sample`` candidates, spread along the structure, that choose the box size."""
    return np.unique(np.linspace(0, len(candidates) - 1, min(fitting.sample, len(candidates))).round().astype(int))


def choose_half_size(candidates: list[Candidate], decode: DecodeBoxes, spacing_mm: float,
                     fitting: BoxFitting) -> tuple[float, dict[float, float]]:
    """The box half-size (mm) for this structure, and the mean predicted IoU of every size it was chosen among.

    With ``fitting.held_prompts_only`` a size none of whose sampled masks holds its cluster's points is left out
    (unless no size's does): the IoU the decoder predicts is that of whatever it outlined, and a dark vessel's
    larger boxes on MR outline a brighter neighbour beside the click with a higher IoU than the vessel's own region
    (:func:`decode_candidates` keeps no region of such a mask). One mask of the sample that misses does not leave
    a size out: a thin vein's right size can miss one click on a slice where the vein is faint."""
    pick = size_sample(candidates, fitting)
    slices = np.array([candidates[i].slice_index for i in pick])
    scores, holding = {}, set()
    for half_mm in fitting.half_sizes_mm:
        boxes = np.array([box_around(candidates[i].points_xy, half_mm / spacing_mm) for i in pick])
        masks, iou = decode(slices, boxes)
        scores[half_mm] = float(np.mean(iou))
        if fitting.held_prompts_only and any(region_holding(mask, candidates[i].points_xy).any()
                                             for i, mask in zip(pick, masks)):
            holding.add(half_mm)
    if holding:
        scores = {half_mm: score for half_mm, score in scores.items() if half_mm in holding}
    return smallest_near_best(scores, fitting.tolerance), scores


def smallest_near_best(scores: dict[float, float], tolerance: float) -> float:
    """The smallest half-size whose mean predicted IoU in ``scores`` is within ``tolerance`` of the best."""
    best = max(scores.values())
    return min(h for h, score in scores.items() if score >= best - tolerance)


def decode_candidates(candidates: list[Candidate], decode: DecodeBoxes, half_px: float,
                      stack_shape: tuple[int, int, int]) -> np.ndarray:
    """(S, H, W) bool: for each candidate, the decoded region holding its points."""
    masks = np.zeros(stack_shape, bool)
    if not candidates:
        return masks
    slices = np.array([c.slice_index for c in candidates])
    decoded, _ = decode(slices, np.array([box_around(c.points_xy, half_px) for c in candidates]))
    for candidate, mask in zip(candidates, decoded):
        masks[candidate.slice_index] |= region_holding(mask, candidate.points_xy)
    return masks


def fill_gaps(masks: np.ndarray, decode: DecodeBoxes, fitting: BoxFitting) -> tuple[np.ndarray, list[int]]:
    """Masks with short runs of empty slices between segmented ones filled; also the slices filled."""
    segmented = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
    gaps = [t for a, b in zip(segmented, segmented[1:]) if 1 < b - a <= fitting.gap_slices + 1 for t in range(a + 1, b)]
    if not gaps:
        return masks, []
    sources = [int(segmented[np.argmin(np.abs(segmented - t))]) for t in gaps]
    decoded, _ = decode(np.array(gaps), np.array([mask_box(masks[s], fitting.pad_px) for s in sources]))
    filled = masks.copy()
    done = []
    for t, source, mask in zip(gaps, sources, decoded):
        if dice(mask, masks[source]) >= fitting.gap_min_dice:
            filled[t] = mask
            done.append(int(t))
    return filled, done


def keep_supported_regions(masks: np.ndarray, candidates: list[Candidate], min_share: float = 0.1,
                           rival_share: float = 0.5, vouched: np.ndarray | None = None) -> np.ndarray:
    """The 3D connected regions the kept prompts support (the first mask of :func:`settle_regions`)."""
    return settle_regions(masks, candidates, min_share, rival_share, vouched)[0]


def settle_regions(masks: np.ndarray, candidates: list[Candidate], min_share: float = 0.1, rival_share: float = 0.5,
                   vouched: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 3D connected regions the kept prompts support, and those left out only because ``vouched`` settled them.

    The best-supported region is the traced structure and always stays. Another region stays if it spans
    two slices or more and holds at least ``min_share`` of its prompts, except where it lies beside the
    structure, on the structure's own slices, with less than ``rival_share`` of its prompts: that is a
    stretch of the curve that drifted onto a neighbouring loop (the slices it leaves empty are gaps,
    filled from the structure by :func:`fill_gaps`).

    ``vouched`` (one bool per candidate: a learned prior accepts one of its points) settles the rivals that hold
    that many prompts: one holding no vouched candidate, while the structure holds one, is the drifted stretch,
    however many prompts it holds. The second mask holds those rivals (empty without ``vouched``).
    """
    regions, count = ndimage.label(masks, structure=np.ones((3, 3, 3), bool))
    if count <= 1:
        return masks, np.zeros_like(masks, bool)
    support = np.zeros(count + 1)
    support_vouched = np.zeros(count + 1)
    _, height, width = masks.shape
    for index, candidate in enumerate(candidates):
        xy = np.rint(candidate.points_xy).astype(int)
        ids = regions[candidate.slice_index, np.clip(xy[:, 1], 0, height - 1), np.clip(xy[:, 0], 0, width - 1)]
        support[np.unique(ids[ids > 0])] += 1
        if vouched is not None and vouched[index]:
            support_vouched[np.unique(ids[ids > 0])] += 1
    spans = [None] + [(box[0].start, box[0].stop) for box in ndimage.find_objects(regions)]
    main = int(np.argmax(support))
    keep, settled = [main], []
    for label in range(1, count + 1):
        if label == main or support[label] < min_share * support[main]:
            continue
        start, stop = spans[label]
        beside = start < spans[main][1] and stop > spans[main][0]
        rival = support[label] >= rival_share * support[main]
        if stop - start < 2 or (beside and not rival):
            continue
        if beside and support_vouched[label] == 0 and support_vouched[main] > 0:
            settled.append(label)
        else:
            keep.append(label)
    return np.isin(regions, keep), np.isin(regions, settled) if settled else np.zeros_like(masks, bool)


def grow_by_overlap(masks: np.ndarray, candidates: list[Candidate], decode: DecodeBoxes, half_px: float,
                    fitting: BoxFitting) -> tuple[np.ndarray, list[int]]:
    """Masks with the regions of ``candidates`` (prompts the structure did not keep) that overlap the
    structure on the nearest segmented slice before or after theirs (at most ``gap_slices + 1`` away, so
    clicks every few slices grow it too); also the slices that grew. Only candidates that near a segmented
    slice are decoded, so prompts far from the structure cost nothing."""
    grown = masks.copy()
    regions: dict[int, np.ndarray] = {}
    undecided = set(range(len(candidates)))
    grew: set[int] = set()
    n_slices = len(masks)
    reach = fitting.gap_slices + 1
    while undecided:
        segmented = np.flatnonzero(grown.reshape(n_slices, -1).any(axis=1))
        nearest = {i: _nearest_on_each_side(candidates[i].slice_index, segmented, reach) for i in undecided}
        frontier = [i for i in sorted(undecided) if nearest[i]]
        todo = [i for i in frontier if i not in regions]
        if todo:
            slices = np.array([candidates[i].slice_index for i in todo])
            decoded, _ = decode(slices, np.array([box_around(candidates[i].points_xy, half_px) for i in todo]))
            for i, mask in zip(todo, decoded):
                regions[i] = region_holding(mask, candidates[i].points_xy)
        joined = False
        for i in frontier:
            t, region = candidates[i].slice_index, regions[i]
            area = region.sum()
            if area == 0:
                undecided.discard(i)
                continue
            for j in nearest[i]:
                neighbour = grown[j]
                if (region & neighbour).sum() >= fitting.grow_min_overlap * area:
                    if (region & ~grown[t]).any():
                        grown[t] |= region
                        grew.add(int(t))
                        joined = True
                    undecided.discard(i)
                    break
        if not joined:
            break
    return grown, sorted(grew)


def _nearest_on_each_side(t: int, segmented: np.ndarray, reach: int) -> list[int]:
    """The segmented slices nearest to t before and after it (not t itself), each at most ``reach`` away."""
    before = segmented[(segmented < t) & (segmented >= t - reach)]
    after = segmented[(segmented > t) & (segmented <= t + reach)]
    return ([int(before[-1])] if len(before) else []) + ([int(after[0])] if len(after) else [])
