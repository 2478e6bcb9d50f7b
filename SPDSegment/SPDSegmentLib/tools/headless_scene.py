"""A scene set up as Slicer sets it up at start-up, for running the bridge outside Slicer (slicer-core).

Without the segmentations logic registered on the scene no binary labelmap can be created
("Unable to construct empty representation type 'Binary labelmap'").
"""

from __future__ import annotations

import numpy as np

import slicer

from ..inference.volume import Volume
from ..bridge.volumes import RAS_TO_LPS, image_data_from_array, numpy_to_matrix


class HeadlessSlicer:
    """A scene with the colour, segmentations, markups and volumes logics registered."""

    def __init__(self):
        self.scene = slicer.vtkMRMLScene()
        self.app_logic = slicer.vtkSlicerApplicationLogic()
        self.app_logic.SetMRMLScene(self.scene)
        colors = self.app_logic.GetColorLogic()
        colors.SetMRMLScene(self.scene)
        colors.AddDefaultColorNodes()
        self.app_logic.SetModuleLogic("Colors", colors)
        self.logics = []
        for name, logic in (("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic()),
                            ("Markups", slicer.vtkSlicerMarkupsLogic()), ("Volumes", slicer.vtkSlicerVolumesLogic())):
            logic.SetMRMLScene(self.scene)
            logic.SetMRMLApplicationLogic(self.app_logic)
            self.app_logic.SetModuleLogic(name, logic)
            self.logics.append(logic)

    def add_volume(self, volume: Volume, name: str = "volume"):
        """A scalar volume node holding an engine :class:`Volume` (LPS geometry -> RAS)."""
        node = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        node.SetIJKToRASMatrix(numpy_to_matrix(RAS_TO_LPS @ volume.ijk_to_lps))
        node.SetAndObserveImageData(image_data_from_array(volume.array_kji))
        return node

    def add_curve(self, points_lps: np.ndarray, name: str = "centerline"):
        import vtk

        curve = self.scene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", name)
        for point in np.asarray(points_lps, float) * RAS_TO_LPS[:3, :3].diagonal():
            curve.AddControlPoint(vtk.vtkVector3d(*point))
        return curve
