"""The module's parameter node: every setting of the panel, saved with the scene."""

import enum
from pathlib import Path
from typing import Annotated

from slicer import (vtkMRMLMarkupsCurveNode, vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

# "model" keeps the adapter's own setting (InferenceOptions field None)
MODEL_SETTING = "model"


class ModelSource(enum.Enum):
    Default = "Embedded default"
    Adapter = "Adapter file"
    SamBackbone = "SAM backbone (ViT-B/L/H)"

    @staticmethod
    def label(source: "ModelSource") -> str:
        """What the parameter node's combo box shows (it shows the member name otherwise)."""
        return source.value


@parameterNodeWrapper
class SPDSegmentParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    centerline: vtkMRMLMarkupsCurveNode
    positivePoints: vtkMRMLMarkupsFiducialNode
    negativePoints: vtkMRMLMarkupsFiducialNode
    outputSegmentation: vtkMRMLSegmentationNode
    segmentName: str = "terminal ileum"
    modelSource: ModelSource = ModelSource.Default
    adapterPath: Path = Path()
    samBackbone: Annotated[str, Choice(["sam_vit_b", "sam_vit_l", "sam_vit_h"])] = "sam_vit_b"
    device: Annotated[str, Choice(["auto", "cuda", "mps", "cpu"])] = "auto"
    prior: Annotated[str, Choice(["auto", "learned", "none", "raw"])] = "auto"
    tau: Annotated[float, WithinRange(0.0, 0.99)] = 0.5
    neighbours: Annotated[int, WithinRange(0, 10)] = 2
    slicingAxis: Annotated[str, Choice(["auto", "axial", "coronal", "sagittal"])] = "auto"
    promptMode: Annotated[str, Choice([MODEL_SETTING, "points", "boxes"])] = MODEL_SETTING
    emptySlices: Annotated[str, Choice([MODEL_SETTING, "skip", "argmax"])] = MODEL_SETTING
    precision: Annotated[str, Choice(["auto", "fp32", "bf16", "fp16"])] = "auto"
    runtime: Annotated[str, Choice(["auto", "torch", "openvino", "onnx"])] = "auto"
    saliencyVolume: vtkMRMLScalarVolumeNode
    auditPoints: vtkMRMLMarkupsFiducialNode
    saliencyThreshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.1
    saliencyOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    autoRerun: bool = False
