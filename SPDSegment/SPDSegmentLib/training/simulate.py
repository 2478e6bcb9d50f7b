"""Seeded simulators of the noisy prompts SPD learns to distil.

- :func:`simulate_noisy_points`: the paper's protocol, 1 true positive + 2 to 5 random points per slice.
- :func:`simulate_clinician_centerline`: a centerline derived from a tubular label and perturbed the way
  clinicians' curves are wrong: stretches that drift onto a neighbouring structure, gaps, and jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..inference.prompts import Prompts
from ..inference.slices import in_plane_spacing, slice_points_to_ijk, to_stack
from ..inference.volume import Volume


def simulate_noisy_points(mask_kji: np.ndarray, axis: int, seed: int, random_points: tuple[int, int] = (2, 5),
                          region_kji: np.ndarray | None = None) -> Prompts:
    """Per slice holding the target: one point uniform over the target, plus k random points.

    Args:
        mask_kji: (K, J, I) bool target.
        axis: slicing IJK axis.
        seed: the same seed gives the same prompts; each slice draws from ``(seed, slice)``.
        random_points: inclusive range of k.
        region_kji: where random points may fall (for example the body); the whole slice if None.

    Returns:
        Positive prompts (all labelled positive, as in the paper).
    """
    stack = to_stack(np.asarray(mask_kji, bool), axis)
    region = None if region_kji is None else to_stack(np.asarray(region_kji, bool), axis)
    t_all, xy_all = [], []
    for t in np.flatnonzero(stack.reshape(len(stack), -1).any(axis=1)):
        rng = np.random.default_rng([seed, int(t)])
        ys, xs = np.nonzero(stack[t])
        pick = rng.integers(len(xs))
        points = [(xs[pick], ys[pick])]
        k = int(rng.integers(random_points[0], random_points[1] + 1))
        if region is not None and region[t].any():
            ry, rx = np.nonzero(region[t])
            chosen = rng.integers(len(rx), size=k)
            points += list(zip(rx[chosen], ry[chosen]))
        else:
            height, width = stack.shape[1:]
            points += list(zip(rng.integers(width, size=k), rng.integers(height, size=k)))
        t_all += [t] * len(points)
        xy_all += points
    if not t_all:
        return Prompts.empty()
    return Prompts(np.array(t_all), np.array(xy_all, float), np.ones(len(t_all), bool))


@dataclass(frozen=True)
class CenterlineNoise:
    """How a simulated clinician centerline goes wrong.

    Attributes:
        drift_fraction: share of slices on stretches that drift off the target.
        drift_mm: (min, max) distance from the target a drifting stretch lands at.
        gap_fraction: share of slices on stretches the curve skips.
        jitter_mm: standard deviation of in-plane jitter.
        stretch_slices: (min, max) length of one drifting or skipped stretch.
    """

    drift_fraction: float = 0.25
    drift_mm: tuple[float, float] = (8.0, 25.0)
    gap_fraction: float = 0.15
    jitter_mm: float = 1.5
    stretch_slices: tuple[int, int] = (2, 5)


def true_centerline(stack: np.ndarray, spacing_xy: tuple[float, float]) -> dict[int, np.ndarray]:
    """Per slice, the most interior pixel of the component that continues the previous slice's one."""
    centre: dict[int, np.ndarray] = {}
    previous = None
    for t in np.flatnonzero(stack.reshape(len(stack), -1).any(axis=1)):
        components, count = ndimage.label(stack[t])
        depth = ndimage.distance_transform_edt(stack[t], sampling=(spacing_xy[1], spacing_xy[0]))
        candidates = []
        for c in range(1, count + 1):
            inside = components == c
            y, x = np.unravel_index(np.argmax(np.where(inside, depth, -1)), inside.shape)
            candidates.append((np.array([x, y], float), int(inside.sum())))
        if previous is None:
            point = max(candidates, key=lambda c: c[1])[0]
        else:
            point = min(candidates, key=lambda c: np.linalg.norm((c[0] - previous) * spacing_xy))[0]
        centre[int(t)] = point
        previous = point
    return centre


def _stretches(slices: np.ndarray, fraction: float, lengths: tuple[int, int], rng) -> set[int]:
    chosen: set[int] = set()
    target = int(round(fraction * len(slices)))
    tries = 0
    while len(chosen) < target and tries < 100 and len(slices):
        tries += 1
        start = int(rng.integers(len(slices)))
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        chosen.update(int(s) for s in slices[start:start + length])
    return chosen


def simulate_clinician_centerline(mask_kji: np.ndarray, volume: Volume, axis: int, seed: int,
                                  noise: CenterlineNoise = CenterlineNoise(),
                                  neighbour_kji: np.ndarray | None = None) -> np.ndarray:
    """A clinician-like centerline of a tubular target, as (N, 3) LPS points in slice order.

    The true centerline (one point per slice) is perturbed: drifting stretches move onto
    ``neighbour_kji`` (a neighbouring structure) when given, else onto tissue ``drift_mm`` away from
    the target; gap stretches are skipped (the curve cuts straight across them); every point jitters.
    """
    rng = np.random.default_rng(seed)
    stack = to_stack(np.asarray(mask_kji, bool), axis)
    neighbour = None if neighbour_kji is None else to_stack(np.asarray(neighbour_kji, bool), axis)
    spacing_xy = in_plane_spacing(volume, axis)
    centre = true_centerline(stack, spacing_xy)
    if len(centre) < 2:
        raise ValueError("The target spans fewer than two slices; a centerline cannot be simulated.")
    slices = np.array(sorted(centre))
    drifting = _stretches(slices, noise.drift_fraction, noise.stretch_slices, rng)
    skipped = _stretches(slices, noise.gap_fraction, noise.stretch_slices, rng) - drifting
    skipped -= {int(slices[0]), int(slices[-1])}
    sampling = (spacing_xy[1], spacing_xy[0])
    t_out, xy_out = [], []
    for t in slices:
        if t in skipped:
            continue
        point = centre[t].copy()
        if t in drifting:
            distance = ndimage.distance_transform_edt(~stack[t], sampling=sampling)
            ring = (distance >= noise.drift_mm[0]) & (distance <= noise.drift_mm[1])
            if neighbour is not None and (neighbour[t] & ring).any():
                ring &= neighbour[t]
            if ring.any():
                ys, xs = np.nonzero(ring)
                # pixels at equal distances are many on a grid: a stable sort orders them the same on every CPU (the
                # default sort's order of ties depends on the SIMD instructions numpy finds)
                distance_mm = np.hypot((xs - point[0]) * spacing_xy[0], (ys - point[1]) * spacing_xy[1])
                nearest = np.argsort(distance_mm, kind="stable")
                pick = nearest[int(rng.integers(min(len(nearest), 10)))]
                point = np.array([xs[pick], ys[pick]], float)
        point += rng.normal(0.0, noise.jitter_mm, 2) / np.asarray(spacing_xy)
        t_out.append(t)
        xy_out.append(point)
    ijk = slice_points_to_ijk(np.array(t_out, float), np.array(xy_out), axis)
    return volume.ijk_to_lps_points(ijk)
