"""The SPDSegment panel: binds the parameter node to the .ui, runs the Qt-free logic on one worker thread.

Torch work always runs on the same worker thread (cuDNN caches are per thread) while the panel keeps
painting; Cancel is read on the main thread and handed to the worker through a thread-safe flag.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic, ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from .install import DependencyInstaller, InstallError, pythonProblem, torchProblem
from .parameters import MODEL_SETTING, ModelSource, SPDSegmentParameterNode

# one worker for every torch call of the session (SlicerNNInteractive keeps one too)
_worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="SPDSegment")


def runOnWorker(function, onTick=None):
    """Run ``function`` on the module's worker thread while the UI keeps painting; return or raise its outcome."""
    future = _worker.submit(function)
    while True:
        try:
            return future.result(timeout=0.05)
        except concurrent.futures.TimeoutError:
            if onTick is not None:
                onTick()
            slicer.app.processEvents()


class SPDSegmentLogic(ScriptedLoadableModuleLogic):
    """The parameter node, and the conversions from it to the Qt-free logic's inputs."""

    def getParameterNode(self) -> SPDSegmentParameterNode:
        return SPDSegmentParameterNode(super().getParameterNode())

    @staticmethod
    def modelSpec(parameterNode):
        """The :class:`ModelSpec` the panel's model rows name; backbones come from the model store."""
        from SPDSegmentLib import model_store
        from SPDSegmentLib.inference.model import read_adapter
        from SPDSegmentLib.inference.model_spec import LITEMEDSAM, ModelSpec, parse_model_spec

        source = parameterNode.modelSource
        if source == ModelSource.Default:
            return parse_model_spec("default")

        def storedBackbone(name):
            path = model_store.installed_path(name)
            if path is None:
                raise ValueError(_("{name} is not installed yet: pick it under 'SAM backbone' and use Download or "
                                   "Import first.").format(name=name))
            return path

        if source == ModelSource.Adapter:
            adapter = parameterNode.adapterPath
            if str(adapter) in ("", ".") or not adapter.is_file():
                raise ValueError(_("Choose an adapter file (.safetensors)."))
            backbone = read_adapter(adapter)[0].backbone
            checkpoint = None if backbone == LITEMEDSAM else storedBackbone(backbone)
            return ModelSpec(adapter=adapter, checkpoint=checkpoint)
        return ModelSpec.frozen_backbone(parameterNode.samBackbone, storedBackbone(parameterNode.samBackbone))

    @staticmethod
    def inferenceOptions(parameterNode):
        from SPDSegmentLib.inference.options import InferenceOptions

        def modelSetting(value):
            return None if value == MODEL_SETTING else value

        return InferenceOptions(prior=parameterNode.prior, tau=parameterNode.tau, neighbours=parameterNode.neighbours,
                                prompt_mode=modelSetting(parameterNode.promptMode),
                                empty_slices=modelSetting(parameterNode.emptySlices), axis=parameterNode.slicingAxis,
                                device=parameterNode.device, precision=parameterNode.precision,
                                runtime=parameterNode.runtime)

    @staticmethod
    def segmentNodes(parameterNode):
        from SPDSegmentLib.logic import SegmentNodes

        p = parameterNode
        return SegmentNodes(p.inputVolume, p.outputSegmentation, curve=p.centerline, positive_points=p.positivePoints,
                            negative_points=p.negativePoints, saliency=p.saliencyVolume, audit=p.auditPoints,
                            segment_name=p.segmentName)


class SPDSegmentWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.installer = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = False
        self._cancelRequested = threading.Event()
        self._observedCurve = None
        self._rerunTimer = None
        self._environmentProblem = None
        self._accelerated = None
        self._lastResult = None
        self._shortcuts = []

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SPDSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SPDSegmentLogic()
        self.installer = DependencyInstaller(self.resourcePath("requirements.txt"))

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
        self.ui.undoButton.connect("clicked(bool)", self.onUndo)
        self.ui.show3DButton.connect("clicked(bool)", self.onShow3D)
        self._installShortcuts()
        self.ui.saliencyThresholdSlider.connect("valueChanged(double)", self.onOverlayChanged)
        self.ui.saliencyOpacitySlider.connect("valueChanged(double)", self.onOverlayChanged)
        # never import torch here: a missing or broken torch is reported in the panel, which still opens
        self._environmentProblem = pythonProblem()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self._requestCancel()
        self._observeCurve(None)
        for shortcut in self._shortcuts:
            shortcut.setParent(None)
        self._shortcuts = []
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self._enableShortcuts(True)

    def exit(self) -> None:
        self._enableShortcuts(False)
        self._observeCurve(None)
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
        self.ui.applyButton.enabled = not missing and not self._environmentProblem
        self.ui.applyButton.toolTip = (self._environmentProblem or (_("Segment from the prompts") if not missing
                                       else _("Select {items}.").format(items=", ".join(missing))))

    def _updateModelRows(self, *args) -> None:
        source = self._parameterNode.modelSource if self._parameterNode else ModelSource.Default
        self.ui.adapterPathLineEdit.enabled = source == ModelSource.Adapter
        # an adapter trained on a SAM backbone takes that backbone from the store too
        samRows = source != ModelSource.Default
        for widget in (self.ui.samBackboneComboBox, self.ui.downloadModelButton, self.ui.importModelButton):
            widget.enabled = samRows

    def _acceleratorAvailable(self):
        """True/False once a usable torch is installed (read once), None before (never installs)."""
        if self._accelerated is None and torchProblem() is None:
            import torch

            from SPDSegmentLib.inference.device import mps_available

            self._accelerated = torch.cuda.is_available() or mps_available()
        return self._accelerated

    def _updateDeviceWarning(self) -> None:
        """A red line when the run would use the CPU, or when the Python environment cannot run at all."""
        device = self._parameterNode.device if self._parameterNode else "auto"
        message = self._environmentProblem
        accelerated = None if message else self._acceleratorAvailable()
        if accelerated is not None and (device == "cpu" or (device == "auto" and not accelerated)):
            message = _("Running on the CPU: expect about half a second per traced slice.")
        self.ui.deviceWarningLabel.visible = bool(message)
        self.ui.deviceWarningLabel.text = message or ""

    # ----- keyboard (active while the module is shown; every shortcut is in its button's tooltip)

    SHORTCUTS = (("Ctrl+Return", "onApplyButton"), ("Escape", "_requestCancel"), ("Ctrl+Shift+L", "onCreateCurve"),
                 ("Ctrl+Shift+P", "onPlacePositivePoint"), ("Ctrl+Shift+N", "onPlaceNegativePoint"),
                 ("Ctrl+Alt+Z", "onUndo"), ("Ctrl+Shift+3", "onShow3D"))

    def _installShortcuts(self) -> None:
        for keys, method in self.SHORTCUTS:
            shortcut = qt.QShortcut(qt.QKeySequence(keys), slicer.util.mainWindow())
            shortcut.setContext(qt.Qt.ApplicationShortcut)
            shortcut.connect("activated()", getattr(self, method))
            shortcut.setEnabled(False)
            self._shortcuts.append(shortcut)

    def _enableShortcuts(self, enabled: bool) -> None:
        for shortcut in self._shortcuts:
            shortcut.setEnabled(enabled)

    # ----- actions

    def onPlacePositivePoint(self) -> None:
        self._placePoint("positivePoints", _("SPD positive points"))

    def onPlaceNegativePoint(self) -> None:
        self._placePoint("negativePoints", _("SPD negative points"))

    def _placePoint(self, parameter: str, name: str) -> None:
        """Start placing points into the positive (or negative) point list, creating it first if needed."""
        node = getattr(self._parameterNode, parameter)
        if node is None:
            node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
            node.CreateDefaultDisplayNodes()
            setattr(self._parameterNode, parameter, node)
        markupsLogic = slicer.modules.markups.logic()
        markupsLogic.SetActiveList(node)
        markupsLogic.StartPlaceMode(True)

    def onUndo(self) -> None:
        if self._lastResult is None or self._running:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to undo the last result."), waitCursor=True):
            from SPDSegmentLib import logic as libLogic

            segmentation, result = self._lastResult
            libLogic.undo(segmentation, result)
            self._lastResult = None
            self.ui.undoButton.enabled = False
            self.ui.statusLabel.text = _("The last result was undone.")

    def onShow3D(self) -> None:
        p = self._parameterNode
        if not p or not p.outputSegmentation:
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to show the segmentation in 3D."), waitCursor=True):
            from SPDSegmentLib.bridge.segmentation import show_in_3d

            show_in_3d(p.outputSegmentation)

    def onCreateCurve(self) -> None:
        curve = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", _("TI centerline"))
        curve.CreateDefaultDisplayNodes()
        self._parameterNode.centerline = curve
        self.ui.centerlinePlaceWidget.setCurrentNode(curve)
        self.ui.centerlinePlaceWidget.setPlaceModeEnabled(True)

    def _ensureDependencies(self) -> None:
        """Install what is missing (after one confirmation); pip runs on the worker, its output in the panel."""
        lines = []

        def showLatest():
            if lines:
                self.ui.statusLabel.text = lines[-1][:160]

        self.installer.ensure(runInBackground=lambda function: runOnWorker(function, showLatest),
                              showLog=lines.append)
        self._accelerated = None  # torch may have just arrived

    def onInstallDependencies(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to install SPDSegment's Python packages."), waitCursor=False):
            self._ensureDependencies()
            self._updateDeviceWarning()
            slicer.util.infoDisplay(_("All SPDSegment dependencies are installed."))

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
            cancelled = threading.Event()

            def onTick():  # main thread: read the dialog here, hand the flag to the worker
                if dialog.wasCanceled:
                    cancelled.set()
                dialog.value = int(100 * done["bytes"] / max(done["total"], 1))
                dialog.labelText = f"{done['bytes'] / 1e6:.1f} MB / {done['total'] / 1e6:.1f} MB"

            try:
                result = runOnWorker(lambda: model_store.download(
                    name, progress=lambda d, t: done.update(bytes=d, total=t), cancel=cancelled.is_set), onTick)
            except model_store.DownloadCancelled:
                slicer.util.showStatusMessage(_("Download cancelled; nothing was kept."), 5000)
                return
            finally:
                dialog.close()
            slicer.util.infoDisplay(_("Model saved to {path}").format(path=result))

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
            try:
                self._ensureDependencies()
            except InstallError as error:
                self.ui.statusLabel.text = str(error)
                raise
            from SPDSegmentLib import logic as libLogic

            p = self._parameterNode
            job = libLogic.prepare_job(self.logic.segmentNodes(p), self.logic.modelSpec(p),
                                       self.logic.inferenceOptions(p))
            progress = {"done": 0, "total": 0, "stage": "", "started": time.monotonic()}

            def reportProgress(done, total, stage):
                if stage.value != progress["stage"]:
                    progress["started"] = time.monotonic()
                progress.update(done=done, total=total, stage=stage.value)

            self._setRunning(True)
            try:
                prediction, device = runOnWorker(
                    lambda: libLogic.run_job(job, reportProgress, self._cancelRequested.is_set),
                    onTick=lambda: self._showProgress(progress))
            except libLogic.Cancelled:
                self.ui.statusLabel.text = _("Cancelled; nothing was changed.")
                return
            finally:
                self._setRunning(False)
            with slicer.util.RenderBlocker():
                result = libLogic.write_job(job, prediction, device)
            self._lastResult = (p.outputSegmentation, result)
            self.ui.undoButton.enabled = True
            if p.saliencyVolume is not None:
                self.onOverlayChanged()
            self.ui.statusLabel.text = _(
                "{slices} slices segmented ({prior}); {kept} prompts in the segment, {rejected} rejected or left out; "
                "{seconds:.1f} s on "
                "{device}.").format(slices=result.slices_processed, prior=result.prior, kept=result.prompts_kept,
                                    rejected=result.prompts_rejected, seconds=result.seconds, device=result.device)
            if result.notices:
                self.ui.statusLabel.text += " " + " ".join(result.notices)

    def _showProgress(self, progress) -> None:
        total = max(progress["total"], 1)
        self.ui.progressBar.maximum = total
        self.ui.progressBar.value = progress["done"]
        elapsed = time.monotonic() - progress["started"]
        unit = "slices/s" if progress["stage"] == "encode" else "prompt sets/s"
        rate = f" ({progress['done'] / elapsed:.1f} {unit})" if progress["done"] and elapsed > 0 else ""
        self.ui.progressBar.format = f"{progress['stage']} %v / %m{rate}"

    def _setRunning(self, running: bool) -> None:
        self._running = running
        self._cancelRequested.clear()
        self.ui.progressBar.visible = running
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.applyButton.enabled = True
        if not running:
            self._checkCanApply()

    def _requestCancel(self) -> None:
        self._cancelRequested.set()

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
        events = (slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent,
                  slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent)
        if self._observedCurve is not None:
            for event in events:
                self.removeObserver(self._observedCurve, event, self._onCurveEdited)
        self._observedCurve = curve
        if curve is not None:
            for event in events:
                self.addObserver(curve, event, self._onCurveEdited)

    def _onCurveEdited(self, caller=None, event=None) -> None:
        if self._parameterNode and self._parameterNode.autoRerun and not self._running and self.ui.applyButton.enabled:
            self._rerunTimer.start()
