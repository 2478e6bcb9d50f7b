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


def in_plane_spacing(volume: Volume, axis: int) -> tuple[float, float]:
    """(spacing along x, spacing along y) in mm on slices taken along ``axis``."""
    x_axis, y_axis = in_plane_axes(axis)
    return float(volume.spacing[x_axis]), float(volume.spacing[y_axis])


# CT is shown to the backbone through the abdominal soft-tissue window (level 40 HU, width 400), as MedSAM and
# LiteMedSAM's CT training images were prepared; MR and other images are scaled by robust percentiles, as theirs
# were. Scaled by percentiles, a CT's air stretches the scale so that soft tissue and a contrast-filled vessel
# differ by a tenth of it, and the box-trained decoder then fills its box (docs/DEFAULT_MODEL.md).
CT_WINDOW_HU = (-160.0, 240.0)
# A volume is taken for CT in Hounsfield units when at least 0.5 % of it is air or lung (below -500); MR
# intensities are not negative beyond noise, and the generated volumes are positive.
CT_AIR_HU = -500.0


def normalise_intensity(array: np.ndarray, low_percentile: float = 0.5,
                        high_percentile: float = 99.5) -> np.ndarray:
    """[0, 1] scaling on the whole volume (so neighbouring slices share one scale): CT through
    :data:`CT_WINDOW_HU`, anything else between its ``low_percentile`` and ``high_percentile``."""
    values = np.asarray(array, np.float32)
    air, low, high = np.percentile(values, [0.5, low_percentile, high_percentile])
    if air <= CT_AIR_HU:
        low, high = CT_WINDOW_HU
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


# A crop (a field cut around a vessel, say 18 cm) is shown to the backbone as part of a whole adult abdomen's or
# chest's field, the rest padded, so that its anatomy appears at the scale it has in the whole slices the backbone
# and the default's adapter were trained on. Filling the input with a crop doubles that scale, and the box-trained
# decoder then fills whatever box it gets (docs/DEFAULT_MODEL.md, the section on small fields of view).
CROP_FIELD_MM = 360.0
# A whole slice has background (air, or an MR's dark surround) around the body; a crop has tissue on most of its
# border. Border pixels brighter than BACKGROUND_LEVEL (after normalise_intensity) are tissue: 3-11 % of them on
# whole slices of the shared CT and MR and of generated volumes, over 80 % on the development crops (a chest crop's
# lungs read as background).
BACKGROUND_LEVEL = 0.1
CROP_TISSUE_FRACTION = 1 / 3


def tissue_fraction_on_border(stack: np.ndarray) -> float:
    """Fraction of the pixels one pixel in from the slices' edges (resampling can leave the outermost row at a
    padding value) that are brighter than the background, over the whole normalised (S, H, W) stack."""
    _, height, width = stack.shape
    inset = 1 if min(height, width) > 2 else 0
    ring = np.concatenate([stack[:, inset, :].ravel(), stack[:, height - 1 - inset, :].ravel(),
                           stack[:, :, inset].ravel(), stack[:, :, width - 1 - inset].ravel()])
    return float((ring > BACKGROUND_LEVEL).mean()) if ring.size else 0.0


def is_crop(stack: np.ndarray) -> bool:
    """Whether the normalised (S, H, W) stack is cut from inside a body rather than a whole cross-section."""
    return tissue_fraction_on_border(stack) >= CROP_TISSUE_FRACTION


@dataclass(frozen=True)
class ModelFrame:
    """Maps (H, W) slice pixels onto the backbone's square ``size`` input and back.

    The slice is scaled so that its longer *physical* side, or ``min_field_mm`` if that is longer, fills ``size``
    (pixels become square in mm, as the backbones were trained on), then padded at the bottom and right, as
    segment-anything does. :meth:`for_stack` sets ``min_field_mm`` for a crop.
    """

    height: int
    width: int
    size: int
    spacing_xy: tuple[float, float] = (1.0, 1.0)
    min_field_mm: float = 0.0

    @classmethod
    def for_stack(cls, stack: np.ndarray, size: int, spacing_xy: tuple[float, float]) -> "ModelFrame":
        """The frame for a normalised (S, H, W) stack: a crop is shown within a :data:`CROP_FIELD_MM` field."""
        _, height, width = stack.shape
        return cls(height, width, size, spacing_xy, CROP_FIELD_MM if is_crop(stack) else 0.0)

    @property
    def field_mm(self) -> float:
        """The physical width that fills the backbone's input."""
        return max(self.width * self.spacing_xy[0], self.height * self.spacing_xy[1], self.min_field_mm)

    @property
    def scaled_hw(self) -> tuple[int, int]:
        extent_y = self.height * self.spacing_xy[1]
        extent_x = self.width * self.spacing_xy[0]
        scale = self.size / self.field_mm
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
