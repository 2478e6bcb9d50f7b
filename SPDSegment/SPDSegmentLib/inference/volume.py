"""A 3D scalar volume and its physical geometry (LPS, as ITK and NIfTI/NRRD readers give it).

Arrays are indexed ``[k, j, i]`` (SimpleITK and Slicer's ``arrayFromVolume`` order); geometry is
given per IJK axis: ``spacing[0]`` is the spacing along I, ``direction[:, 0]`` the LPS direction of I.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AXIS_NAMES = {"sagittal": 0, "coronal": 1, "axial": 2}


@dataclass
class Volume:
    """Voxels plus the IJK -> LPS mapping.

    Attributes:
        array_kji: (K, J, I) voxel values.
        spacing: (3,) mm along I, J, K.
        origin: (3,) LPS position of voxel (0, 0, 0), mm.
        direction: (3, 3) columns are the LPS unit directions of I, J, K.
    """

    array_kji: np.ndarray
    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray

    def __post_init__(self):
        self.spacing = np.asarray(self.spacing, float).reshape(3)
        self.origin = np.asarray(self.origin, float).reshape(3)
        self.direction = np.asarray(self.direction, float).reshape(3, 3)
        if self.array_kji.ndim != 3:
            raise ValueError(f"A volume needs a 3D array, got shape {self.array_kji.shape}.")
        if np.any(self.spacing <= 0):
            raise ValueError(f"Voxel spacing must be positive, got {self.spacing.tolist()}.")

    @property
    def shape_ijk(self) -> tuple[int, int, int]:
        k, j, i = self.array_kji.shape
        return i, j, k

    @property
    def spacing_kji(self) -> tuple[float, float, float]:
        """mm along the array's axes (K, J, I), as the metrics and distance transforms on ``array_kji`` take it."""
        i, j, k = (float(s) for s in self.spacing)
        return k, j, i

    @property
    def ijk_to_lps(self) -> np.ndarray:
        """(4, 4) homogeneous matrix mapping continuous IJK indices to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction * self.spacing[None, :]
        m[:3, 3] = self.origin
        return m

    def lps_to_ijk(self, points_lps: np.ndarray) -> np.ndarray:
        """(N, 3) LPS mm -> (N, 3) continuous (i, j, k)."""
        pts = np.asarray(points_lps, float).reshape(-1, 3)
        linear = self.direction * self.spacing[None, :]
        return np.linalg.solve(linear, (pts - self.origin).T).T

    def ijk_to_lps_points(self, points_ijk: np.ndarray) -> np.ndarray:
        pts = np.asarray(points_ijk, float).reshape(-1, 3)
        return pts @ (self.direction * self.spacing[None, :]).T + self.origin

    def slicing_axis(self, axis: str | int = "auto") -> int:
        """The IJK axis to step through slice by slice.

        ``auto`` picks the axis with the largest spacing (the acquisition's slice direction: coronal
        for most MR enterography, axial for CT), ties broken by closeness to S. ``axial``, ``coronal``
        and ``sagittal`` pick the IJK axis whose direction is closest to S, A/P or L/R.
        """
        if isinstance(axis, (int, np.integer)):
            if axis not in (0, 1, 2):
                raise ValueError(f"Slicing axis index must be 0, 1 or 2, got {axis}.")
            return int(axis)
        if axis == "auto":
            largest = np.isclose(self.spacing, self.spacing.max(), rtol=1e-3)
            closeness_to_s = np.abs(self.direction[2, :])
            return int(np.argmax(np.where(largest, closeness_to_s + 1.0, closeness_to_s - 1.0)))
        if axis not in AXIS_NAMES:
            raise ValueError(f"Slicing axis must be auto, axial, coronal or sagittal, got {axis!r}.")
        return int(np.argmax(np.abs(self.direction[AXIS_NAMES[axis], :])))
