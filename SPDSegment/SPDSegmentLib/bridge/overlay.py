"""The saliency map as a heat-coloured volume shown as the slice views' foreground."""

from __future__ import annotations

import numpy as np

from .volumes import fill_volume_like

HEAT_COLOR_NODES = ("vtkMRMLColorTableNodeFileInferno.txt", "vtkMRMLPETProceduralColorNodePET-Heat",
                    "vtkMRMLColorTableNodeIron")


def fill_saliency_node(saliency_node, volume_node, saliency_kji: np.ndarray, threshold: float = 0.1) -> None:
    """Saliency in [0, 1] on the input grid, heat colours, transparent below ``threshold``."""
    fill_volume_like(saliency_node, volume_node, np.clip(saliency_kji, 0.0, 1.0).astype(np.float32))
    fill_saliency_display(saliency_node, threshold)


def fill_saliency_display(saliency_node, threshold: float = 0.1) -> None:
    """Heat colour map over [0, 1], transparent below ``threshold``."""
    if saliency_node.GetDisplayNode() is None:
        saliency_node.CreateDefaultDisplayNodes()
    display = saliency_node.GetDisplayNode()
    if display is None:
        return
    scene = saliency_node.GetScene()
    for color_id in HEAT_COLOR_NODES:
        if scene is not None and scene.GetNodeByID(color_id) is not None:
            display.SetAndObserveColorNodeID(color_id)
            break
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(0.0, 1.0)
    display.SetApplyThreshold(True)
    display.SetLowerThreshold(threshold)
    display.SetUpperThreshold(1.0)


def show_as_foreground(volume_node, saliency_node, opacity: float = 0.5) -> None:
    """Every slice view: input as background, saliency as foreground at ``opacity``."""
    scene = volume_node.GetScene()
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")):
        composite = scene.GetNthNodeByClass(index, "vtkMRMLSliceCompositeNode")
        composite.SetBackgroundVolumeID(volume_node.GetID())
        composite.SetForegroundVolumeID(saliency_node.GetID())
        composite.SetForegroundOpacity(opacity)
