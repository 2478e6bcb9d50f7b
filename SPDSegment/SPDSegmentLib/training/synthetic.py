"""A seeded generator of MR-enterography-like volumes with a terminal-ileum label.

An elliptical abdomen with fat and muscle texture, several bright fluid-filled small-bowel loops with
walls, a terminal ileum (thicker wall) running into a wider colon-like tube, a smooth bias field and
Rician-like noise. Geometry is coronal-like: thick slices (3 mm) along K, 1.5 mm in plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..inference.volume import Volume


@dataclass
class SyntheticCase:
    volume: Volume
    label_kji: np.ndarray       # terminal ileum
    neighbours_kji: np.ndarray  # other bowel loops and colon (where a drifting curve lands)


def _smooth_path(rng, start, n_points, step, shape, bend=0.35):
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    points = [np.asarray(start, float)]
    for _ in range(n_points):
        direction = direction + rng.normal(scale=bend, size=3)
        direction /= np.linalg.norm(direction)
        nxt = points[-1] + step * direction
        for axis in range(3):  # reflect at the borders so the loop stays inside
            low, high = 4.0, shape[axis] - 5.0
            if not low <= nxt[axis] <= high:
                direction[axis] *= -1
                nxt[axis] = np.clip(nxt[axis], low, high)
        points.append(nxt)
    return np.array(points)


def _tube(shape_kji, path_kji, radius_mm, spacing_kji):
    """Boolean tube of ``radius_mm`` around a path given in (k, j, i) voxel coordinates."""
    seeds = np.zeros(shape_kji, bool)
    dense = np.concatenate([np.linspace(a, b, 8, endpoint=False) for a, b in zip(path_kji[:-1], path_kji[1:])])
    index = np.clip(np.rint(dense).astype(int), 0, np.array(shape_kji) - 1)
    seeds[tuple(index.T)] = True
    return ndimage.distance_transform_edt(~seeds, sampling=spacing_kji) <= radius_mm


def abdomen_background(body: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fat and muscle texture inside ``body``, air outside (before the bowel is painted in)."""
    image = np.where(body, 0.35, 0.02).astype(np.float32)
    image += np.where(body, 0.06 * ndimage.gaussian_filter(rng.normal(size=body.shape), 2.0), 0.0).astype(np.float32)
    return image


def paint_enterography(image: np.ndarray, walls: np.ndarray, ileum_wall: np.ndarray, neighbours: np.ndarray,
                       colon: np.ndarray, ileum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MR-enterography-like intensities painted onto ``image`` (from :func:`abdomen_background`): bright fluid in the
    bowel, the terminal ileum's thickened enhancing wall, then a smooth bias field, blur and Rician-like noise.
    Returns the image scaled to 0-1000."""
    shape = image.shape
    j = np.arange(shape[1], dtype=np.float32)[:, None]  # in-plane only: the bias field is the same on every slice
    i = np.arange(shape[2], dtype=np.float32)[None, :]
    image = image.copy()
    image[walls | ileum_wall] = 0.55
    image[ileum_wall] = 0.62  # thickened, enhancing terminal-ileum wall
    image[neighbours] = 0.9
    image[colon] = 0.75
    image[ileum] = 0.95
    bias = 1.0 + 0.25 * np.sin(i / shape[2] * np.pi + rng.uniform(0, np.pi)) * np.cos(j / shape[1] * np.pi)
    image = ndimage.gaussian_filter(image * bias, 0.7)
    noise = rng.normal(scale=0.035, size=(2,) + shape)
    image = np.sqrt((image + noise[0]) ** 2 + noise[1] ** 2).astype(np.float32)
    return (image * 1000).astype(np.float32)


def generate_case(seed: int, shape_kji=(40, 160, 160), spacing_ijk=(1.5, 1.5, 3.0), n_loops: int = 6) -> SyntheticCase:
    rng = np.random.default_rng(seed)
    spacing_kji = tuple(spacing_ijk[::-1])
    k, j, i = np.indices(shape_kji, dtype=np.float32)
    centre = np.array(shape_kji) / 2.0
    body = ((j - centre[1]) / (0.46 * shape_kji[1])) ** 2 + ((i - centre[2]) / (0.48 * shape_kji[2])) ** 2 <= 1.0
    image = abdomen_background(body, rng)

    neighbours = np.zeros(shape_kji, bool)
    walls = np.zeros(shape_kji, bool)
    for _ in range(n_loops):
        start = [rng.uniform(6, s - 6) for s in shape_kji]
        path = _smooth_path(rng, start, 14, rng.uniform(2.5, 4.0), shape_kji)
        radius = rng.uniform(5.0, 8.0)
        lumen = _tube(shape_kji, path, radius, spacing_kji) & body
        walls |= _tube(shape_kji, path, radius + 1.5, spacing_kji) & body & ~lumen
        neighbours |= lumen
    colon_path = _smooth_path(rng, [shape_kji[0] * 0.5, shape_kji[1] * 0.7, shape_kji[2] * 0.75], 10, 4.0,
                              shape_kji, bend=0.15)
    colon = _tube(shape_kji, colon_path, 11.0, spacing_kji) & body
    ileum_path = _smooth_path(rng, colon_path[len(colon_path) // 2], 16, 3.0, shape_kji, bend=0.25)
    ileum = _tube(shape_kji, ileum_path, 6.0, spacing_kji) & body & ~colon
    ileum_wall = _tube(shape_kji, ileum_path, 10.0, spacing_kji) & body & ~ileum & ~colon
    neighbours = (neighbours | colon) & ~ileum

    image = paint_enterography(image, walls, ileum_wall, neighbours, colon, ileum, rng)
    volume = Volume(image, spacing_ijk, (-120.0, -120.0, -60.0), np.eye(3))
    return SyntheticCase(volume, ileum, neighbours)
