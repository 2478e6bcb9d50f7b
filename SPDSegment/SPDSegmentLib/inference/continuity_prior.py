"""The continuity prior: where the target can be, read from the prompts themselves (no training).

A traced structure is continuous in 3D, so a prompt that lies on it has prompts near it on the
neighbouring prompted slices, while a prompt that drifted onto another loop, or a stray click, does not. For
slice t and a pixel x, with ``K(x, j) = exp(-d(x, P_j)^2 / (2 sigma^2))`` the closeness of x to the nearest
positive prompt on slice j (d in mm, in plane), and ``B_t`` / ``A_t`` the m prompted slices nearest to t
before / after it, each no farther than ``reach`` slices from the one before it (a longer skip ends the side):

    S_t(x) = max( top_n_{j in B_t} K(x, j) / n,  top_n_{j in A_t} K(x, j) / n )

where ``top_n`` sums the n largest values. Each side averages over n slices, so one stray prompt nearby is
not enough; the better side counts, so the ends of the structure and the edges of a gap in the curve keep
their support. The prompts of slice t itself never vouch for themselves. A curve prompts every slice, so its
sides are the slices next to t; clicks placed every few slices (a clinician clicking a long organ) are checked
against the clicked slices around them, skips of up to ``reach`` slices (by default the longest gap the fitted
boxes fill, plus one). With tau = 0.5 and sigma = 10 mm a prompt is kept when, on n of the m prompted slices of
one side, a prompt lies within 11.8 mm. The map is 0 before the first and after the last slice holding a
positive prompt: the traced structure ends where the tracing ends.

By default m = n: the n nearest prompted slices must all vouch. ``window`` = m / n > 1 is the wider check the
predictor falls back to when that finds no structure: on a structure with several cross-sections on a slice
(colon limbs, small-bowel loops) clicks that hop from one cross-section to the next leave the nearest slices
holding clicks on another limb. It is not the default because among many random clicks per slice (ten) it
lets chance pairs form structures (`docs/DEFAULT_MODEL.md`).

When the n nearest slices do find a structure, the prompts they rejected get one more check, among themselves
(:func:`cross_section_saliency`): clicks on another limb or loop every few slices agree with each other though
not with the structure the other clicks trace. A curve's own drifted stretch is left out of it: the curve says
which one structure it traces.

The map is a saliency in [0, 1] like the learned one, so CPD, the audit and the overlay use it unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .prompts import Prompts

DEFAULT_SIGMA_MM = 10.0
# a clicked slice is checked against clicked slices up to this far (BoxFitting.gap_slices + 1)
DEFAULT_REACH_SLICES = 7
# m / n of the wider check, when the n nearest prompted slices find no structure
WIDE_WINDOW = 3
# the check of prompts on other cross-sections, (most chance, n, window): chance is the expected number of stray
# clicks within the radius where closeness is 1/2 (sigma x sqrt(2 ln 2), 11.8 mm), per prompted slice, were the
# prompts spread evenly over the slice; where it is higher, more prompted slices must vouch (docs/DEFAULT_MODEL.md)
CROSS_SECTION_CHECKS = ((0.025, 3, WIDE_WINDOW), (np.inf, 6, 2))


def continuity_saliency(prompts: Prompts, stack_shape: tuple[int, int, int], spacing_xy: tuple[float, float],
                        neighbours: int = 2, sigma_mm: float = DEFAULT_SIGMA_MM,
                        reach: int = DEFAULT_REACH_SLICES, window: int = 1) -> np.ndarray:
    """(S, H, W) float32 continuity prior of the positive ``prompts`` (see the module docstring).

    Args:
        stack_shape: (slices, height, width) of the slice stack the prompts are on.
        spacing_xy: in-plane pixel spacing (x, y) in mm.
        neighbours: n, the prompted slices on each side that vouch for a prompt (at least 1).
        reach: the longest skip, in slices, between t and its vouching slices, and between those (at least 1).
        window: m / n, how many times n prompted slices each side looks at (at least 1; 1 needs the n nearest).
    """
    positive = prompts.select(prompts.positive)
    return combined_closeness(prompt_closeness(positive, stack_shape[1:], spacing_xy, sigma_mm), stack_shape,
                              neighbours, reach, window)


def prompt_closeness(positive: Prompts, slice_shape: tuple[int, int], spacing_xy: tuple[float, float],
                     sigma_mm: float = DEFAULT_SIGMA_MM) -> dict[int, np.ndarray]:
    """Per prompted slice, (H, W) float32: the Gaussian closeness (``sigma_mm``) of each pixel to the slice's
    nearest ``positive`` prompt."""
    height, width = slice_shape
    closeness: dict[int, np.ndarray] = {}
    for t in positive.slices:
        free = np.ones((height, width), bool)
        xy = np.rint(positive.on_slice(t)).astype(int)
        free[np.clip(xy[:, 1], 0, height - 1), np.clip(xy[:, 0], 0, width - 1)] = False
        distance = ndimage.distance_transform_edt(free, sampling=(spacing_xy[1], spacing_xy[0]))
        closeness[int(t)] = np.exp(-distance ** 2 / (2.0 * sigma_mm ** 2)).astype(np.float32)
    return closeness


def combined_closeness(closeness: dict[int, np.ndarray], stack_shape: tuple[int, int, int], neighbours: int = 2,
                       reach: int = DEFAULT_REACH_SLICES, window: int = 1) -> np.ndarray:
    """(S, H, W) float32: the prior S_t(x) of the module docstring from each prompted slice's ``closeness``
    (:func:`prompt_closeness`, or a trial's own), the other arguments those of :func:`continuity_saliency`."""
    n_slices = stack_shape[0]
    neighbours = max(1, neighbours)
    reach = max(1, reach)
    looked_at = slices_looked_at(neighbours, window)
    saliency = np.zeros(stack_shape, np.float32)
    prompted = np.array(sorted(closeness), int)
    first, last = (prompted[0], prompted[-1]) if len(prompted) else (0, -1)
    for t in range(max(first, 0), min(last, n_slices - 1) + 1):
        sides = (_chain(t, prompted[prompted < t][::-1], looked_at, reach),
                 _chain(t, prompted[prompted > t], looked_at, reach))
        present = [_top_sum([closeness[j] for j in side], neighbours) / neighbours for side in sides if side]
        if present:
            saliency[t] = np.maximum.reduce(present)
    return saliency


def slices_looked_at(neighbours: int, window: int) -> int:
    """m, the prompted slices each side of a slice looks at for its n = ``neighbours`` that must vouch."""
    return max(1, neighbours) * max(1, window)


def _top_sum(maps: list[np.ndarray], count: int) -> np.ndarray:
    """Per pixel, the sum of the ``count`` largest of ``maps``."""
    if len(maps) <= count:
        return np.sum(maps, axis=0)
    return np.partition(np.stack(maps), -count, axis=0)[-count:].sum(axis=0)


def _chain(t: int, nearest_first: np.ndarray, count: int, reach: int) -> list[int]:
    """Up to ``count`` of the prompted slices ``nearest_first`` (one side of t), each within ``reach`` slices of
    the one before it: a skip longer than that ends the structure on that side."""
    chain, previous = [], t
    for j in nearest_first[:count]:
        if abs(int(j) - previous) > reach:
            break
        chain.append(int(j))
        previous = int(j)
    return chain


def cross_section_saliency(positive: Prompts, kept: np.ndarray, stack_shape: tuple[int, int, int],
                           spacing_xy: tuple[float, float], reach: int = DEFAULT_REACH_SLICES) -> np.ndarray | None:
    """The continuity prior of the ``positive`` prompts the first check rejected (not ``kept``), among themselves.

    On a structure with several cross-sections on a slice (colon limbs, small-bowel loops), clicks that hop
    between them leave each cross-section's clicks on every few slices only, and the first check rejects those off
    the best-supported one. Such a prompt is kept when, among the m = window x n prompted slices nearest to it on
    one side that hold such prompts, the closeness of the n closest sums to over n / 2: with n = 3 (window 3),
    2 slices with a prompt right next to it; where the prompts lie so densely that chance pairs of stray clicks
    are many (:func:`chance_of_a_stray_neighbour`), n = 6 (window 2), 4 slices. Left out: rejected prompts
    sampled from a traced curve that kept prompts were sampled from too (a curve's stretch that drifted onto a
    neighbouring loop is a detour of the one structure it traces, not another cross-section). None where nothing
    is left to check.
    """
    rejected = positive.select(~kept & ~joined_by_path(positive, kept))
    if len(rejected) == 0:
        return None
    chance = chance_of_a_stray_neighbour(positive, stack_shape, spacing_xy)
    neighbours, window = next((n, w) for most, n, w in CROSS_SECTION_CHECKS if chance <= most)
    return continuity_saliency(rejected, stack_shape, spacing_xy, neighbours, reach=reach, window=window)


def chance_of_a_stray_neighbour(positive: Prompts, stack_shape: tuple[int, int, int],
                                spacing_xy: tuple[float, float], sigma_mm: float = DEFAULT_SIGMA_MM) -> float:
    """The expected number of ``positive`` prompts of one prompted slice (the median number) that would lie,
    by chance, near a point: within the radius where closeness falls to 1/2, were they spread evenly over the
    slice."""
    counts = np.unique(positive.slice_index, return_counts=True)[1]
    if len(counts) == 0:
        return 0.0
    radius_mm = sigma_mm * np.sqrt(2.0 * np.log(2.0))
    slice_mm2 = stack_shape[1] * stack_shape[2] * spacing_xy[0] * spacing_xy[1]
    return float(np.median(counts)) * np.pi * radius_mm ** 2 / slice_mm2


def joined_by_path(prompts: Prompts, kept: np.ndarray) -> np.ndarray:
    """(N,) bool: the prompts sampled from a traced curve that ``kept`` prompts were also sampled from."""
    traced = prompts.curve >= 0
    return traced & np.isin(prompts.curve, prompts.curve[kept & traced])
