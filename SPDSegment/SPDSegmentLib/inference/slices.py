"""Volume <-> slice stack, and slice pixels <-> the backbone's square input.

A *stack* is the volume viewed along one IJK axis: ``stack[t]`` is slice ``t`` as an (H, W) image whose
columns (x) and rows (y) are the two remaining IJK axes in increasing order: slicing along K gives
x = i, y = j; along J gives x = i, y = k; along I gives x = j, y = k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .volume import Volume


def in_plane_axes(axis: int) -> tuple[int, int]:
    """IJK axes shown as (x, y) on a slice taken along ``axis``."""
    rest = [a for a in (0, 1, 2) if a != axis]
    return rest[0], rest[1]


def to_stack(array_kji: np.ndarray, axis: int) -> np.ndarray:
    """(K, J, I) -> (S, H, W) slices along IJK ``axis`` (a view, no copy)."""
    return np.moveaxis(array_kji, 2 - axis, 0)


def from_stack(stack: np.ndarray, axis: int) -> np.ndarray:
    """Inverse of :func:`to_stack`: (S, H, W) -> (K, J, I)."""
    return np.moveaxis(stack, 0, 2 - axis)


def ijk_to_slice_points(points_ijk: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) continuous (i, j, k) -> (slice index (N,) float, xy (N, 2) float)."""
    x_axis, y_axis = in_plane_axes(axis)
    pts = np.asarray(points_ijk, float).reshape(-1, 3)
    return pts[:, axis], pts[:, [x_axis, y_axis]]


def slice_points_to_ijk(slice_index: np.ndarray, xy: np.ndarray, axis: int) -> np.ndarray:
    x_axis, y_axis = in_plane_axes(axis)
    out = np.zeros((len(slice_index), 3))
    out[:, axis] = slice_index
    out[:, x_axis] = xy[:, 0]
    out[:, y_axis] = xy[:, 1]
    return out


# the pixel size the rules that count pixels were chosen at (the generated volumes, the 1.5 mm CT); on finer pixels
# they count cells of this size instead, so a 512 x 512 scan is prompted and de-duplicated as a 1.5 mm one would be
RULES_PIXEL_MM = 1.5


def pixels_per_cell(spacing_xy: tuple[float, float]) -> float:
    """Pixels across one cell of ``RULES_PIXEL_MM`` on slices of this in-plane spacing (x, y) in mm: 1 where the
    pixels are that size or coarser."""
    finest = min(spacing_xy)
    return RULES_PIXEL_MM / finest if finest < RULES_PIXEL_MM * (1 - 1e-6) else 1.0


def in_plane_spacing(volume: Volume, axis: int) -> tuple[float, float]:
    """(spacing along x, spacing along y) in mm on slices taken along ``axis``."""
    x_axis, y_axis = in_plane_axes(axis)
    return float(volume.spacing[x_axis]), float(volume.spacing[y_axis])


def normalise_intensity(array: np.ndarray, low_percentile: float = 0.5,
                        high_percentile: float = 99.5) -> np.ndarray:
    """Robust [0, 1] scaling on the whole volume (so neighbouring slices share one scale)."""
    values = np.asarray(array, np.float32)
    low, high = np.percentile(values, [low_percentile, high_percentile])
    return scale_between(values, low, high)


def scale_between(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """float32 ``values`` mapped linearly from [low, high] onto [0, 1] and clipped (all 0 where high <= low)."""
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


# A volume is taken for CT in Hounsfield units when at least 0.5 % of it is air or lung (below -500): MR intensities
# are not negative beyond noise, and the generated volumes are positive.
CT_AIR_HU = -500.0
CT_AIR_PERCENT = 0.5


def looks_like_hounsfield_ct(values: np.ndarray) -> bool:
    return float(np.percentile(np.asarray(values, np.float32), CT_AIR_PERCENT)) <= CT_AIR_HU


@dataclass(frozen=True)
class IntensityScaling:
    """How a volume's values become the backbone's [0, 1] input, on the whole volume at once.

    Attributes:
        percentiles: the robust percentiles scaled to 0 and 1.
        ct_window: (level, width) in Hounsfield units through which a CT (:func:`looks_like_hounsfield_ct`) is
            shown instead, as MedSAM and LiteMedSAM's CT training images were (40, 400: soft tissue); None scales
            CT by its percentiles too. Other images always take the percentiles.
    """

    percentiles: tuple[float, float] = (0.5, 99.5)
    ct_window: tuple[float, float] | None = None

    def scale(self, array: np.ndarray) -> np.ndarray:
        values = np.asarray(array, np.float32)
        if self.ct_window is not None and looks_like_hounsfield_ct(values):
            level, width = self.ct_window
            return scale_between(values, level - width / 2, level + width / 2)
        return normalise_intensity(values, *self.percentiles)


@dataclass(frozen=True)
class ModelFrame:
    """Maps (H, W) slice pixels onto the backbone's square ``size`` input and back.

    The slice is scaled so that its longer *physical* side fills ``size`` (pixels become square in mm,
    as the backbones were trained on), then padded at the bottom and right, as segment-anything does.
    """

    height: int
    width: int
    size: int
    spacing_xy: tuple[float, float] = (1.0, 1.0)

    @property
    def scaled_hw(self) -> tuple[int, int]:
        extent_y = self.height * self.spacing_xy[1]
        extent_x = self.width * self.spacing_xy[0]
        scale = self.size / max(extent_x, extent_y)
        return (max(1, min(self.size, int(round(extent_y * scale)))),
                max(1, min(self.size, int(round(extent_x * scale)))))

    def images_to_model(self, slices: torch.Tensor) -> torch.Tensor:
        """(B, H, W) float in [0, 1] -> (B, 3, size, size), resized and zero-padded."""
        h, w = self.scaled_hw
        resized = F.interpolate(slices[:, None].float(), size=(h, w), mode="bilinear", align_corners=False,
                                antialias=h < self.height or w < self.width)
        padded = F.pad(resized, (0, self.size - w, 0, self.size - h))
        return padded.expand(-1, 3, -1, -1).contiguous()

    def points_to_model(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) slice pixel (x, y) -> model-input pixel (x, y)."""
        h, w = self.scaled_hw
        return (np.asarray(xy, float) + 0.5) * np.array([w / self.width, h / self.height]) - 0.5

    def maps_to_slice(self, maps: torch.Tensor) -> torch.Tensor:
        """(B, C, m, m) maps over the square input (any resolution m) -> (B, C, H, W) on the slice."""
        m = maps.shape[-1]
        h, w = self.scaled_hw
        crop_h, crop_w = max(1, round(h * m / self.size)), max(1, round(w * m / self.size))
        cropped = maps[..., :crop_h, :crop_w]
        return F.interpolate(cropped, size=(self.height, self.width), mode="bilinear", align_corners=False)

    def masks_to_model(self, masks: torch.Tensor, resolution: int) -> torch.Tensor:
        """(B, H, W) {0, 1} slice masks -> (B, 1, resolution, resolution) float over the padded input."""
        h, w = self.scaled_hw
        rh, rw = max(1, round(h * resolution / self.size)), max(1, round(w * resolution / self.size))
        resized = F.interpolate(masks[:, None].float(), size=(rh, rw), mode="area")
        return F.pad(resized, (0, resolution - rw, 0, resolution - rh))
