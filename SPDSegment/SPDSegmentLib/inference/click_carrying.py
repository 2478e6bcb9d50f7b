"""Clicks the continuity prior cannot check: decoded with a box size fitted to the structure, carried slice by slice.

A clinician who clicks a few points on an organ (one every few centimetres, or a couple on one slice) gives the
continuity prior too little to compare, and the run falls back to the prompts as given. Plain boxes around the
clicks then segment a patch of the clicked slices only (a liver at 0.5 % Dice). When nothing competes with the
clicks (:func:`clicks_to_carry`), they are taken as given and:

1. **Size**: one box half-size for the structure, chosen as for the fitted boxes by the clusters' mean predicted IoU
   (:func:`clicked_masks`), from sizes that go on to organs' (a click may lie in a liver 15 cm across) and of
   which some sampled mask holds its clicks (:func:`clicks_fitting`: on MR a dark vessel's or kidney's larger
   boxes outline a brighter neighbour beside the click, with a higher predicted IoU than the click's own region).
   One size for all the clicks, since a lone click's own IoU can favour a box around a neighbouring organ.
2. **Carrying**: each segmented slice's mask is carried to the next slice: the mask's box (grown by ``pad_px``) is
   decoded there, and the regions overlapping the mask are kept while they match it in shape (Dice at least
   ``min_dice``) and the clicked tissue in intensity (median within ``intensity_sds`` robust standard
   deviations of the clicked mask's) (:func:`carry_through_slices`). Past a structure's end what a box holds is
   another tissue or another shape. Between prompted slices the fronts run until they meet; beyond the first and
   last prompted slices at most as far as the structure is wide, and no farther than the clicks lie apart
   (:func:`reach_beyond`).

Clicks that do form a structure (every few slices, or on a few neighbouring slices) take the continuity route, whose
fitted boxes choose their size from the sizes of 1. and whose segment is then carried, as in 2., to the slices the
clicks leave unclicked (``SpdPredictor._carried_past_clicks``): the fitted boxes stop at 48 mm and at the outermost
clicked slices, an organ does not.

On the continuity route, prompts that compete and that no curve traced (random clicks) have the fitted structure's
cross-sections carried one by one (:func:`carry_cross_sections`), with the checks of 2. and no larger than 1.5 times
the structure's median cross-section, to the slices of the kept prompts where the segment holds nothing that overlaps
them: a structure with several cross-sections on a slice (a colon's limbs, small-bowel loops), clicked at random, has
clicks on each limb on some slices only, and the check against the neighbouring slices rejects many of them, so a
limb is segmented on a few slices of the many it runs through. A traced curve is not carried so: a cross-section
beside the one it traces is a neighbouring loop.

Chosen on the development CT's right kidney and liver, the one size for all on its vessels, the sizes whose masks hold
the clicks on the shared MR's structures (docs/DEFAULT_MODEL.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from .box_fitting import (HALF_SIZES_MM, BoxFitting, Candidate, DecodeBoxes, choose_half_size, cluster_points,
                          decode_candidates, dice, mask_box)
from .prompts import Prompts


# the least standard deviation of a clicked mask's intensities (on the 0-1 normalised slices) the intensity check
# scales: a mask of nearly uniform intensity would otherwise stop the carrying at the first slice's noise
INTENSITY_SD_FLOOR = 0.01
# a slice with more clusters of prompts than this holds prompts that compete (a target and distractors)
MAX_CLICK_CLUSTERS = 2
# a cross-section carried by :func:`carry_cross_sections` is at most this many times the median area of the
# structure's cross-sections (chosen on the development CT's colon and iliac artery, docs/DEFAULT_MODEL.md)
LARGEST_CARRIED_CROSS_SECTION = 1.5


@dataclass(frozen=True)
class ClickCarrying:
    """Settings of the clicks' decoding (chosen on development cases, docs/DEFAULT_MODEL.md).

    Attributes:
        half_sizes_mm: candidate box half-sizes around a click cluster.
        min_dice: a carried slice's mask must match the mask it was carried from at least this well.
        intensity_sds: and its median intensity must lie within this many robust standard deviations of the
            intensities inside the mask on the clicked slice the carrying started from.
        pad_px: margin around a mask when its box is carried to the next slice.
    """

    half_sizes_mm: tuple[float, ...] = HALF_SIZES_MM + (72.0, 96.0)
    min_dice: float = 0.5
    intensity_sds: float = 3.0
    pad_px: float = 2.0


def clicked_masks(candidates: list[Candidate], decode: DecodeBoxes, spacing_mm: float, stack_shape: tuple[int, ...],
                  fitting: BoxFitting, settings: ClickCarrying) -> tuple[np.ndarray, float, dict[float, float]]:
    """(S, H, W) bool: each click cluster's region, all decoded with the one box half-size the clusters' mean
    predicted IoU chooses from ``settings.half_sizes_mm`` (:func:`.box_fitting.choose_half_size`, with the fitted
    boxes' sample and tolerance, among the sizes whose masks hold the clicks); also that half-size (mm) and the mean
    predicted IoU of every size it was chosen among."""
    half_mm, scores = choose_half_size(candidates, decode, spacing_mm, clicks_fitting(fitting, settings))
    return decode_candidates(candidates, decode, half_mm / spacing_mm, stack_shape), half_mm, scores


def clicks_fitting(fitting: BoxFitting, settings: ClickCarrying) -> BoxFitting:
    """The fitted boxes' settings as clicks nothing competes with take them: the clicks' sizes, and only sizes some
    of whose masks hold their click (a click is a point the user put on the structure; on MR a dark vessel's or
    kidney's larger boxes outline a brighter neighbour beside the click, whose predicted IoU is higher than the
    click's own region's)."""
    return replace(fitting, half_sizes_mm=settings.half_sizes_mm, held_prompts_only=True)


def clicks_to_carry(prompts: Prompts, reach: int, cluster_px: float) -> bool:
    """Whether positive ``prompts`` that formed no structure are clicks to take as given: no prompted slice lies
    within ``reach`` slices of another (nothing to check them against), or no slice holds more than
    ``MAX_CLICK_CLUSTERS`` clusters of them (nothing on a slice competes with them; random clicks around a target
    give most slices several)."""
    slices = prompts.slices
    if len(slices) == 0:
        return False
    if (np.diff(slices) > reach).all():
        return True
    return all(len(cluster_points(prompts.on_slice(int(t)), cluster_px)) <= MAX_CLICK_CLUSTERS for t in slices)


def clicks_forming_a_structure_to_carry(prompts: Prompts, reach: int, cluster_px: float) -> bool:
    """Whether the continuity route's prompts take the clicks' box sizes and carrying: clicks that nothing competes
    with (:func:`clicks_to_carry` on the positive ``prompts``) and that no curve traced (a curve says where the
    structure it traces ends)."""
    positive = prompts.select(prompts.positive)
    return bool((positive.curve < 0).any()) and clicks_to_carry(positive, reach, cluster_px)


def overlapping_regions(mask: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The connected regions of ``mask`` that share a pixel with ``source``."""
    regions, count = ndimage.label(mask)
    if count == 0:
        return np.zeros_like(mask, bool)
    ids = np.unique(regions[source & mask])
    return np.isin(regions, ids[ids > 0])


def reach_beyond(masks: np.ndarray, prompted_slices: np.ndarray, spacing_mm: float, thickness_mm: float) -> int:
    """Slices the carrying may go past the first and last prompted slices: the widest extent of the structure's
    masks in the slice plane, in slices (a structure clicked once runs about as far as it is wide), and no more
    than the widest spacing of the prompted slices (clicks spread along a structure start and end about that
    near its ends)."""
    widest = 0
    for mask in masks[masks.reshape(len(masks), -1).any(axis=1)]:
        ys, xs = np.nonzero(mask)
        widest = max(widest, int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    beyond = int(np.ceil(widest * spacing_mm / thickness_mm))
    slices = np.unique(np.asarray(prompted_slices, int))
    return beyond if len(slices) < 2 else min(beyond, int(np.diff(slices).max()))


def robust_intensity(values: np.ndarray) -> tuple[float, float]:
    """Median and standard deviation (from the median absolute deviation) of a mask's intensities: a clicked mask
    that took in a rim of another tissue keeps the intensity of the tissue clicked."""
    median = float(np.median(values))
    return median, 1.4826 * float(np.median(np.abs(values - median)))


def intensity_matches(values: np.ndarray, reference: tuple[float, float], sds: float) -> bool:
    """Whether the median of ``values`` lies within ``sds`` robust standard deviations of the ``reference``."""
    median, sd = reference
    return abs(float(np.median(values)) - median) <= sds * max(sd, INTENSITY_SD_FLOOR)


def carry_through_slices(masks: np.ndarray, image: np.ndarray, decode: DecodeBoxes, lower: int, upper: int,
                         settings: ClickCarrying) -> tuple[np.ndarray, list[int]]:
    """``masks`` carried from every segmented slice to the empty slices of ``lower``..``upper`` (inclusive), front
    by front in both directions, while each carried mask matches its source in shape and the mask of the slice the
    front started from in intensity (``image``: the slice stack); also the slices carried to."""
    carried_masks = masks.copy()
    carried: list[int] = []
    origin = {int(t): int(t) for t in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))}
    reference = {t: robust_intensity(image[t][masks[t]]) for t in origin}
    stopped: set[tuple[int, int]] = set()  # (slice, direction) fronts that failed to match
    while True:
        segmented = carried_masks.reshape(len(carried_masks), -1).any(axis=1)
        fronts: dict[int, int] = {}  # empty slice -> the segmented slice it is carried from
        for t in np.flatnonzero(segmented):
            for step in (-1, 1):
                target = int(t) + step
                if lower <= target <= upper and not segmented[target] and (target, step) not in stopped:
                    fronts.setdefault(target, int(t))
        if not fronts:
            return carried_masks, sorted(carried)
        targets = sorted(fronts)
        boxes = np.array([mask_box(carried_masks[fronts[t]], settings.pad_px) for t in targets])
        decoded, _ = decode(np.array(targets), boxes)
        for t, mask in zip(targets, decoded):
            source = carried_masks[fronts[t]]
            region = carried_region(mask, source, image[t], reference[origin[fronts[t]]], np.inf, settings)
            if region is not None:
                carried_masks[t] = region
                carried.append(t)
                origin[t] = origin[fronts[t]]
            else:
                stopped.add((t, int(np.sign(t - fronts[t]))))


def carry_cross_sections(masks: np.ndarray, image: np.ndarray, decode: DecodeBoxes, lower: int, upper: int,
                         settings: ClickCarrying) -> tuple[np.ndarray, int, list[int]]:
    """``masks`` with every cross-section (a connected region of a slice's mask) carried to the neighbouring slices of
    ``lower``..``upper`` (inclusive) where the mask holds nothing that overlaps it, slice by slice in both directions,
    while each carried region matches the one before in shape, the cross-section it started from in intensity (the
    checks of :func:`carry_through_slices`) and is no larger than ``LARGEST_CARRIED_CROSS_SECTION`` times the median
    area of the cross-sections of ``masks``: a stray region carried along a larger tissue (a muscle beside an artery)
    grows from slice to slice within the shape check. Also how many regions were carried and the slices that were
    empty before."""
    carried_masks = masks.copy()
    # (slice to carry to, the region carried, step, intensity reference of the cross-section it started from)
    fronts = []
    areas: list[int] = []
    for t in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1)):
        regions, count = ndimage.label(masks[t])
        areas += list(np.bincount(regions.ravel())[1:])
        for label in range(1, count + 1):
            region = regions == label
            reference = robust_intensity(image[t][region])
            fronts += [(int(t) + step, region, step, reference) for step in (-1, 1)]
    largest_px = LARGEST_CARRIED_CROSS_SECTION * float(np.median(areas)) if areas else 0.0
    count, gained = 0, set()
    while True:
        fronts = [(t, source, step, reference) for t, source, step, reference in fronts
                  if lower <= t <= upper and not (carried_masks[t] & source).any()]
        if not fronts:
            return carried_masks, count, sorted(gained)
        decoded, _ = decode(np.array([t for t, *_ in fronts]),
                            np.array([mask_box(source, settings.pad_px) for _, source, *_ in fronts]))
        next_fronts = []
        for (t, source, step, reference), mask in zip(fronts, decoded):
            # an earlier front of this batch may have reached the slice's region since the fronts were chosen
            if (carried_masks[t] & source).any():
                continue
            region = carried_region(mask, source, image[t], reference, largest_px, settings)
            if region is None:
                continue
            if not carried_masks[t].any():
                gained.add(t)
            carried_masks[t] |= region
            count += 1
            next_fronts.append((t + step, region, step, reference))
        fronts = next_fronts


def carried_region(decoded: np.ndarray, source: np.ndarray, image: np.ndarray, reference: tuple[float, float],
                   largest_px: float, settings: ClickCarrying) -> np.ndarray | None:
    """The regions of a slice's ``decoded`` mask (the box of ``source``, the region carried from the slice before)
    that overlap ``source``, if they match it in shape, match the ``reference`` intensity on the slice's ``image``
    and are no larger than ``largest_px``; else None."""
    region = overlapping_regions(decoded, source)
    if (region.sum() > largest_px or dice(region, source) < settings.min_dice
            or not intensity_matches(image[region], reference, settings.intensity_sds)):
        return None
    return region
