"""Render a slice view headless (no OpenGL): input, saliency as foreground, a segment as label outline, and
optionally points (the prompt audit) projected through the view's own XY -> RAS matrix.

Uses Slicer's own slice logic, so what it writes is what the Red view shows. Every node it adds
(slice view, temporary labelmap for the segment) is removed again; the scene is otherwise unchanged.
"""

from __future__ import annotations

import os

import numpy as np
import vtk
from vtk.util import numpy_support

import slicer


def render_slice(volume_node, path: str | os.PathLike | None = None, saliency_node=None, segmentation_node=None,
                 segment_id: str | None = None, slice_offset: float | None = None, size: int = 384,
                 saliency_opacity: float = 0.5, orientation: str = "Axial", points_ras: np.ndarray | None = None,
                 point_colors: np.ndarray | None = None, point_radius: int = 3) -> np.ndarray:
    """RGBA (size, size, 4) uint8 image of one slice; written as PNG when ``path`` is given.

    ``points_ras`` (N, 3) within half a voxel of the slice plane are drawn as discs of ``point_colors``
    (N, 3) uint8, where the view shows them.
    """
    scene = volume_node.GetScene()
    nodes_before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    slice_logic = slicer.vtkMRMLSliceLogic()
    slice_logic.SetMRMLScene(scene)
    application_logic = slicer.vtkSlicerApplicationLogic()
    application_logic.SetMRMLScene(scene)
    slice_logic.SetMRMLApplicationLogic(application_logic)
    slice_node = slice_logic.AddSliceNode("SPDRender")
    slice_node.SetOrientation(orientation)
    composite = slice_logic.GetSliceCompositeNode()
    composite.SetBackgroundVolumeID(volume_node.GetID())
    try:
        if saliency_node is not None:
            composite.SetForegroundVolumeID(saliency_node.GetID())
            composite.SetForegroundOpacity(saliency_opacity)
        if segmentation_node is not None and segment_id:
            label_node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "SPD render label")
            slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(segmentation_node, [segment_id],
                                                                               label_node, volume_node)
            label_node.CreateDefaultDisplayNodes()
            composite.SetLabelVolumeID(label_node.GetID())
            composite.SetLabelOpacity(1.0)
            slice_node.SetUseLabelOutline(True)
        slice_node.SetDimensions(size, size, 1)
        slice_logic.FitSliceToBackground(size, size)
        if slice_offset is not None:
            slice_logic.SetSliceOffset(slice_offset)
        producer = slice_logic.GetImageDataConnection().GetProducer()
        producer.Update()
        image = producer.GetOutput()
        if points_ras is not None and len(points_ras):
            _draw_points(image, slice_node, volume_node, np.asarray(points_ras, float), point_colors, point_radius)
        if path is not None:
            writer = vtk.vtkPNGWriter()
            writer.SetFileName(str(path))
            writer.SetInputData(image)
            writer.Write()
        width, height, _ = image.GetDimensions()
        pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
        return pixels[::-1].copy()
    finally:
        # the slice, composite and temporary label nodes (and their display nodes) go again
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in added:
            if node.GetID() not in nodes_before:
                scene.RemoveNode(node)


def _draw_points(image, slice_node, volume_node, points_ras: np.ndarray, colors, radius: int) -> None:
    """Paint discs into the rendered RGBA ``image`` at the points lying on the displayed slice."""
    xy_to_ras = np.array([[slice_node.GetXYToRAS().GetElement(r, c) for c in range(4)] for r in range(4)])
    xyz = (np.linalg.inv(xy_to_ras) @ np.c_[points_ras, np.ones(len(points_ras))].T).T[:, :3]
    thickness = float(min(volume_node.GetSpacing()))
    z_mm = np.abs(xyz[:, 2]) * np.linalg.norm(xy_to_ras[:3, 2])
    width, height, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    yy, xx = np.mgrid[:height, :width]
    for (x, y, _), z, color in zip(xyz, z_mm, colors):
        if z <= thickness / 2:
            disc = (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
            pixels[disc, :3] = color
    image.Modified()
