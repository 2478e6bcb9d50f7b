"""The continuity prior: where the target can be, read from the prompts themselves (no training).

A traced structure is continuous in 3D, so a prompt that lies on it has prompts near it on the
neighbouring slices, while a prompt that drifted onto another loop, or a stray click, does not. For slice
t and a pixel x, with ``K(x, j) = exp(-d(x, P_j)^2 / (2 sigma^2))`` the closeness of x to the nearest
positive prompt on slice j (d in mm, in plane):

    S_t(x) = max( mean_{j = t-n .. t-1} K(x, j),  mean_{j = t+1 .. t+n} K(x, j) )

Each side averages its n slices, so one stray prompt nearby is not enough; the better side counts, so the
ends of the structure and the edges of a gap in the curve keep their support. The prompts of slice t
itself never vouch for themselves. With tau = 0.5 and sigma = 10 mm a prompt is kept when, on every slice
of one side, a prompt lies within 11.8 mm. The map is 0 before the first and after the last slice holding
a positive prompt: the traced structure ends where the tracing ends.

The map is a saliency in [0, 1] like the learned one, so CPD, the audit and the overlay use it unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .prompts import Prompts

DEFAULT_SIGMA_MM = 10.0


def continuity_saliency(prompts: Prompts, stack_shape: tuple[int, int, int], spacing_xy: tuple[float, float],
                        neighbours: int = 2, sigma_mm: float = DEFAULT_SIGMA_MM) -> np.ndarray:
    """(S, H, W) float32 continuity prior of the positive ``prompts`` (see the module docstring).

    Args:
        stack_shape: (slices, height, width) of the slice stack the prompts are on.
        spacing_xy: in-plane pixel spacing (x, y) in mm.
        neighbours: n, the slices on each side that vouch for a prompt (at least 1).
    """
    n_slices, height, width = stack_shape
    neighbours = max(1, neighbours)
    positive = prompts.select(prompts.positive)
    closeness: dict[int, np.ndarray] = {}
    for t in positive.slices:
        free = np.ones((height, width), bool)
        xy = np.rint(positive.on_slice(t)).astype(int)
        free[np.clip(xy[:, 1], 0, height - 1), np.clip(xy[:, 0], 0, width - 1)] = False
        distance = ndimage.distance_transform_edt(free, sampling=(spacing_xy[1], spacing_xy[0]))
        closeness[int(t)] = np.exp(-distance ** 2 / (2.0 * sigma_mm ** 2)).astype(np.float32)
    saliency = np.zeros(stack_shape, np.float32)
    first, last = min(closeness, default=0), max(closeness, default=-1)
    near_prompts = {int(t + d) for t in closeness for d in range(-neighbours, neighbours + 1) if d}
    for t in sorted(s for s in near_prompts if first <= s <= last and 0 <= s < n_slices):
        sides = []
        for direction in (-1, 1):
            maps = [closeness[t + direction * d] for d in range(1, neighbours + 1) if t + direction * d in closeness]
            sides.append(np.sum(maps, axis=0) / neighbours if maps else None)
        present = [side for side in sides if side is not None]
        saliency[t] = np.maximum.reduce(present) if len(present) > 1 else present[0]
    return saliency
