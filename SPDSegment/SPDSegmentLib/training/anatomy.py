"""MR-enterography-like volumes on real human bowel shapes.

:mod:`.synthetic` draws its bowel as random tubes; here the bowel is a real one: a Gut Cell Atlas model's
small-intestine (or ileum) surface, voxelised at 1 mm, with its midline path from the ileocaecal valve, and its
colon (the layout of ``../shared/data/gca``). The terminal ileum is the part of the small bowel whose nearest
midline point lies within ``length_mm`` of the valve along the path (:func:`bowel_stretch`); the rest of the small
bowel and the colon are its neighbours. The volume is cropped around the terminal ileum, resampled to
MR-enterography-like voxels (thick coronal slices) and painted with :func:`.synthetic.paint_enterography`, so the
intensities are the generator's and only the anatomy is real.

The shapes: Gut Cell Atlas 3D models (Comparative-Pathology/GCA-Models), CC BY 4.0. Anything rendered from them
carries that attribution (:data:`ATTRIBUTION`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..inference.volume import Volume
from .synthetic import SyntheticCase, abdomen_background, paint_enterography

ATTRIBUTION = "Gut Cell Atlas 3D models (Comparative-Pathology/GCA-Models), CC BY 4.0"
# the small-bowel file of each model folder, most complete first (whole small intestine, ileum, terminal ileum)
SMALL_BOWEL_NAMES = ("small_intestine", "ileum", "terminal_ileum")
# wall thickness: an ordinary loop's, and the thickened, enhancing wall of an inflamed terminal ileum
LOOP_WALL_MM = 1.5
ILEUM_WALL_MM = 4.0


@dataclass
class BowelShape:
    """One model: binary masks on 1 mm grids (``(z, y, x)`` arrays with their origins in mm) and the small bowel's
    midline, ``(N, 3)`` x, y, z in mm from the ileocaecal valve."""

    name: str
    small_bowel: np.ndarray
    small_bowel_origin: np.ndarray
    path_mm: np.ndarray
    colon: np.ndarray | None = None
    colon_origin: np.ndarray | None = None


def read_bowel_shape(folder: str | Path) -> BowelShape:
    """The small bowel (the most complete one the folder holds), its midline and the colon of a model folder."""
    import SimpleITK as sitk

    folder = Path(folder)

    def read_mask(stem: str) -> tuple[np.ndarray, np.ndarray]:
        image = sitk.ReadImage(str(folder / f"{stem}_mask_1mm.nii.gz"))
        if not np.allclose(image.GetSpacing(), 1.0) or not np.allclose(image.GetDirection(), np.eye(3).ravel()):
            raise ValueError(f"{folder / stem}_mask_1mm.nii.gz: expected a 1 mm grid with identity direction.")
        return sitk.GetArrayFromImage(image).astype(bool), np.array(image.GetOrigin(), float)

    stem = next((s for s in SMALL_BOWEL_NAMES if (folder / f"{s}_mask_1mm.nii.gz").exists()), None)
    if stem is None:
        raise FileNotFoundError(f"{folder}: no small-bowel mask ({', '.join(SMALL_BOWEL_NAMES)}_mask_1mm.nii.gz).")
    small_bowel, origin = read_mask(stem)
    path = np.loadtxt(folder / f"{stem}_path_mm.csv", delimiter=",", comments="#", ndmin=2)
    colon, colon_origin = (read_mask("large_intestine") if (folder / "large_intestine_mask_1mm.nii.gz").exists()
                           else (None, None))
    return BowelShape(folder.name, small_bowel, origin, path, colon, colon_origin)


def _arc_length(path_mm: np.ndarray) -> np.ndarray:
    """Distance along the path from its first point to each point, mm."""
    return np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(path_mm, axis=0), axis=1))]


def bowel_stretch(small_bowel: np.ndarray, origin: np.ndarray, path_mm: np.ndarray, start_mm: float,
                  end_mm: float) -> np.ndarray:
    """The voxels of ``small_bowel`` (1 mm, ``(z, y, x)``) whose nearest midline point lies from ``start_mm`` to
    ``end_mm`` from the path's first point (the ileocaecal valve), measured along the path; from 0 it is the
    terminal ileum."""
    arc = _arc_length(path_mm)
    zyx = np.argwhere(small_bowel)
    _, nearest = cKDTree(path_mm).query(zyx[:, ::-1] + origin)
    label = np.zeros_like(small_bowel)
    label[tuple(zyx[(arc[nearest] >= start_mm) & (arc[nearest] <= end_mm)].T)] = True
    return label


def traced_midline(path_mm: np.ndarray, length_mm: float, step_mm: float = 10.0, jitter_mm: float = 1.5,
                   seed: int = 0) -> np.ndarray:
    """A terminal-ileum centerline as a clinician places it in 3D: a control point every ``step_mm`` along the
    midline's first ``length_mm`` from the valve (its last point included), each moved by up to ``jitter_mm``
    (seeded); ``(N, 3)`` in the midline's frame, which is the rendered volume's LPS frame."""
    arc = _arc_length(path_mm)
    stations = np.r_[np.arange(0.0, min(length_mm, arc[-1]), step_mm), min(length_mm, arc[-1])]
    points = np.stack([np.interp(stations, arc, path_mm[:, axis]) for axis in range(3)], axis=1)
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=points.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return points + direction * rng.uniform(0.0, jitter_mm, size=(len(points), 1))


def _on_grid(mask: np.ndarray, origin: np.ndarray, grid_origin: np.ndarray, grid_shape: tuple) -> np.ndarray:
    """``mask`` (1 mm, origin in mm, x-y-z order) placed on another 1 mm grid; outside it, False."""
    out = np.zeros(grid_shape, bool)
    shift = np.rint((origin - grid_origin)[::-1]).astype(int)  # z, y, x
    src = tuple(slice(max(0, -s), min(m, g - s)) for s, m, g in zip(shift, mask.shape, grid_shape))
    dst = tuple(slice(max(0, s), max(0, s) + (sl.stop - sl.start)) for s, sl in zip(shift, src))
    if all(sl.stop > sl.start for sl in src):
        out[dst] = mask[src]
    return out


def _shell(mask: np.ndarray, thickness_mm: float) -> np.ndarray:
    """The band up to ``thickness_mm`` outside ``mask`` (1 mm grid)."""
    return ~mask & (ndimage.distance_transform_edt(~mask) <= thickness_mm)


def _resample(mask: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """A 1 mm mask on a coarser grid: the voxels at least half covered."""
    return ndimage.zoom(mask.astype(np.float32), [1.0 / s for s in spacing_zyx], order=1) > 0.5


def render_case(shape: BowelShape, seed: int, length_mm: float = 150.0, margin_mm: float = 50.0,
                spacing_ijk: tuple[float, float, float] = (1.5, 3.0, 1.5), start_mm: float = 0.0) -> SyntheticCase:
    """An MR-enterography-like volume of ``shape`` cropped to its terminal ileum (``length_mm`` from the valve) and
    ``margin_mm`` around it, on ``spacing_ijk`` (thick along y, the anterior-posterior axis: coronal slices), with the
    terminal ileum as label and the rest of the bowel as neighbours; ``seed`` draws the texture, bias and noise.
    From ``start_mm`` > 0 the label is the small bowel from ``start_mm`` to ``start_mm + length_mm`` instead (a
    stretch of ileum further up, painted as the terminal ileum is: training data of real calibre)."""
    rng = np.random.default_rng(seed)
    ileum_1mm = bowel_stretch(shape.small_bowel, shape.small_bowel_origin, shape.path_mm, start_mm,
                              start_mm + length_mm)
    zyx = np.argwhere(ileum_1mm)
    if not len(zyx):
        raise ValueError(f"{shape.name}: no small-bowel voxel lies {start_mm}-{start_mm + length_mm} mm from the "
                         "valve.")
    low = zyx.min(axis=0)[::-1] + shape.small_bowel_origin - margin_mm
    high = zyx.max(axis=0)[::-1] + shape.small_bowel_origin + margin_mm
    grid_shape = tuple(int(n) for n in np.ceil(high - low + 1)[::-1])
    small_bowel = _on_grid(shape.small_bowel, shape.small_bowel_origin, low, grid_shape)
    ileum = _on_grid(ileum_1mm, shape.small_bowel_origin, low, grid_shape)
    colon = (np.zeros(grid_shape, bool) if shape.colon is None
             else _on_grid(shape.colon, shape.colon_origin, low, grid_shape) & ~small_bowel)
    loops = small_bowel & ~ileum
    walls = _shell(small_bowel | colon, LOOP_WALL_MM)
    ileum_wall = _shell(ileum, ILEUM_WALL_MM) & ~small_bowel & ~colon

    spacing_zyx = tuple(spacing_ijk[::-1])
    ileum, loops, colon, walls, ileum_wall = (_resample(m, spacing_zyx) for m in (ileum, loops, colon, walls,
                                                                                  ileum_wall))
    loops &= ~ileum
    colon &= ~ileum
    image = abdomen_background(np.ones(ileum.shape, bool), rng)
    image = paint_enterography(image, walls, ileum_wall, loops | colon, colon, ileum, rng)
    return SyntheticCase(Volume(image, spacing_ijk, tuple(low), np.eye(3)), ileum, loops | colon)
