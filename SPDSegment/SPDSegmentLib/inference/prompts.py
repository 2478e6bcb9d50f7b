"""Per-slice point prompts, and turning physical curves and point lists into them.

A :class:`Prompts` holds every point of a volume flat: the slice it lies on, its (x, y) slice-pixel
position (see :mod:`slices` for the frame) and whether it is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from ..errors import InputError
from .slices import ijk_to_slice_points, in_plane_spacing, pixels_per_cell, slice_points_to_ijk
from .volume import Volume


@dataclass
class Prompts:
    """Point prompts of a volume seen along one slicing axis.

    Attributes:
        slice_index: (N,) int slice of each point.
        xy: (N, 2) float (x, y) in slice pixels.
        positive: (N,) bool, True for foreground points.
        curve: (N,) int, the traced curve a point was sampled from (its index among the curves given), -1 for a
            clicked point (the default).
    """

    slice_index: np.ndarray
    xy: np.ndarray
    positive: np.ndarray
    curve: np.ndarray | None = None

    def __post_init__(self):
        self.slice_index = np.asarray(self.slice_index, int).reshape(-1)
        self.xy = np.asarray(self.xy, float).reshape(-1, 2)
        self.positive = np.asarray(self.positive, bool).reshape(-1)
        curve = np.full(len(self.slice_index), -1) if self.curve is None else self.curve
        self.curve = np.asarray(curve, int).reshape(-1)
        if not (len(self.slice_index) == len(self.xy) == len(self.positive) == len(self.curve)):
            raise ValueError("slice_index, xy, positive and curve must have the same length.")

    @classmethod
    def empty(cls) -> "Prompts":
        return cls(np.zeros(0, int), np.zeros((0, 2)), np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.slice_index)

    def on_slice(self, t: int, positive: bool | None = None) -> np.ndarray:
        """(M, 2) points on slice ``t`` (only positive or negative ones if asked)."""
        keep = self.slice_index == t
        if positive is not None:
            keep &= self.positive == positive
        return self.xy[keep]

    @property
    def slices(self) -> np.ndarray:
        return np.unique(self.slice_index)

    def __add__(self, other: "Prompts") -> "Prompts":
        return Prompts(np.concatenate([self.slice_index, other.slice_index]),
                       np.concatenate([self.xy, other.xy]), np.concatenate([self.positive, other.positive]),
                       np.concatenate([self.curve, other.curve]))

    def select(self, keep: np.ndarray) -> "Prompts":
        return Prompts(self.slice_index[keep], self.xy[keep], self.positive[keep], self.curve[keep])

    def to_lps(self, volume: Volume, axis: int) -> np.ndarray:
        """(N, 3) LPS positions of the points (for writing them back as markups)."""
        return volume.ijk_to_lps_points(slice_points_to_ijk(self.slice_index, self.xy, axis))


def resample_polyline(points: np.ndarray, step: float, spline: bool = False) -> np.ndarray:
    """Points every ``step`` mm along a polyline (or a chord-length cubic spline through its points)."""
    points = np.asarray(points, float).reshape(-1, 3)
    keep = np.r_[True, np.linalg.norm(np.diff(points, axis=0), axis=1) > 1e-9]
    points = points[keep]
    if len(points) < 2:
        raise InputError("A centerline needs at least two distinct points; add points to the curve.")
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    samples = np.linspace(0.0, chord[-1], max(2, int(np.ceil(chord[-1] / step)) + 1))
    if spline and len(points) >= 3:
        # Slicer draws a curve as a spline through its control points; follow it, not the polygon.
        dense = CubicSpline(chord, points, bc_type="natural")(np.linspace(0, chord[-1], 20 * len(samples)))
        return resample_polyline(dense, step, spline=False)
    return np.stack([np.interp(samples, chord, points[:, d]) for d in range(3)], axis=1)


def _inside(slice_index: np.ndarray, xy: np.ndarray, stack_shape: tuple[int, int, int]) -> np.ndarray:
    n_slices, height, width = stack_shape
    return ((slice_index >= 0) & (slice_index < n_slices) & (xy[:, 0] >= -0.5) & (xy[:, 0] <= width - 0.5)
            & (xy[:, 1] >= -0.5) & (xy[:, 1] <= height - 0.5))


def stack_shape(volume: Volume, axis: int) -> tuple[int, int, int]:
    """(S, H, W) of the slice stack along ``axis``, without touching the voxels."""
    shape = list(volume.array_kji.shape)
    slices = shape.pop(2 - axis)
    return slices, shape[0], shape[1]


def curve_to_prompts(curves_lps: list[np.ndarray] | np.ndarray, volume: Volume, axis: int,
                     spline: bool = True, step_mm: float | None = None,
                     max_points_per_slice: int = 8) -> Prompts:
    """Positive per-slice prompts where a centerline crosses each slice.

    The curve is resampled every ``step_mm`` (default: a quarter of the finest spacing) along its arc
    length, each sample goes to the slice it is nearest to, and a slice keeps at most
    ``max_points_per_slice`` samples in distinct pixels (in distinct cells of
    :data:`.slices.RULES_PIXEL_MM` on finer pixels), spread evenly along the curve.

    Raises:
        InputError: fewer than two points, or no part of the curve inside the volume.
    """
    if isinstance(curves_lps, np.ndarray):
        curves_lps = [curves_lps]
    step = step_mm or float(volume.spacing.min()) / 4.0
    resampled = [resample_polyline(c, step, spline) for c in curves_lps]
    samples = np.concatenate(resampled)
    sample_curve = np.concatenate([np.full(len(r), index) for index, r in enumerate(resampled)])
    t_float, xy = ijk_to_slice_points(volume.lps_to_ijk(samples), axis)
    t = np.rint(t_float).astype(int)
    inside = _inside(t, xy, stack_shape(volume, axis))
    if not inside.any():
        raise InputError("The centerline lies entirely outside the volume. Check that the curve was drawn on "
                         "this image (and that both use the same coordinate system).")
    t, xy, sample_curve = t[inside], xy[inside], sample_curve[inside]
    cell_px = pixels_per_cell(in_plane_spacing(volume, axis))
    kept_t, kept_xy, kept_curve = [], [], []
    for slice_t in np.unique(t):
        on_slice = xy[t == slice_t]
        _, first = np.unique(np.rint(on_slice / cell_px).astype(int), axis=0, return_index=True)
        first = np.sort(first)
        if len(first) > max_points_per_slice:
            first = first[np.linspace(0, len(first) - 1, max_points_per_slice).round().astype(int)]
        kept_t.append(np.full(len(first), slice_t))
        kept_xy.append(on_slice[first])
        kept_curve.append(sample_curve[t == slice_t][first])
    t, xy = np.concatenate(kept_t), np.concatenate(kept_xy)
    return Prompts(t, xy, np.ones(len(t), bool), np.concatenate(kept_curve))


def points_to_prompts(points_lps: np.ndarray, volume: Volume, axis: int, positive: bool = True) -> Prompts:
    """Each point goes to its nearest slice; points outside the volume are dropped.

    Raises:
        InputError: no point inside the volume.
    """
    points_lps = np.asarray(points_lps, float).reshape(-1, 3)
    if len(points_lps) == 0:
        return Prompts.empty()
    t_float, xy = ijk_to_slice_points(volume.lps_to_ijk(points_lps), axis)
    t = np.rint(t_float).astype(int)
    inside = _inside(t, xy, stack_shape(volume, axis))
    if not inside.any():
        raise InputError(f"None of the {len(points_lps)} {'positive' if positive else 'negative'} points lies "
                         "inside the volume; place them on this image.")
    return Prompts(t[inside], xy[inside], np.full(int(inside.sum()), positive))
