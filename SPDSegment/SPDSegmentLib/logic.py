"""``segment_nodes``: the whole SPD job on MRML nodes (Qt-free; runs in Slicer and on slicer-core).

Order of work, so that bad input and cancel never touch the scene:

1. check every input and read the nodes into engine arrays (raises :class:`InputError`);
2. run the engine (``cancel()`` is polled between batches; :class:`Cancelled` propagates);
3. write the segment, the saliency volume and the audit, all at the end.

    nodes = SegmentNodes(volumeNode, segmentationNode, curve=curveNode, segment_name="terminal ileum")
    result = segment_nodes(nodes, "default", InferenceOptions(tau=0.4))
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .bridge.markup_nodes import control_points_lps, curve_points_lps, fill_audit_node
from .bridge.overlay import fill_saliency_node
from .bridge.segmentation import SegmentSnapshot, show_in_3d, write_segment
from .bridge.volumes import volume_from_node
from .errors import InputError
from .inference.io import check_segment_name
from .inference.model import build_model
from .inference.model_spec import ModelSpec, parse_model_spec
from .inference.options import InferenceOptions
from .inference.predictor import Cancelled, Prediction, SpdPredictor
from .inference.prompts import Prompts, curve_to_prompts, points_to_prompts
from .inference.volume import Volume

__all__ = ["Cancelled", "InferenceOptions", "InputError", "SegmentJob", "SegmentNodes", "SegmentResult",
           "prepare_job", "run_job", "segment_nodes", "show_in_3d", "undo", "write_job"]
log = logging.getLogger(__name__)


@dataclass
class SegmentNodes:
    """The nodes one run reads and writes.

    Attributes:
        volume: input scalar volume (parent linear transforms honoured).
        segmentation: output; segment ``segment_name`` is added or replaced, other segments are untouched.
        curve: centerline (markups curve), optional if positive points are given.
        positive_points, negative_points: markups point lists, optional.
        saliency: scalar volume to receive the saliency map (on the input grid), optional.
        audit: point list to receive the prompt audit, optional.
        segment_name: name of the output segment.
    """

    volume: object
    segmentation: object
    curve: object = None
    positive_points: object = None
    negative_points: object = None
    saliency: object = None
    audit: object = None
    segment_name: str = "SPD"


@dataclass
class SegmentResult:
    """What :func:`segment_nodes` made.

    Attributes:
        segment_id: ID of the written segment.
        slices_processed: slices that got a mask.
        prompts_kept: the audit's prompts the segment holds (kept on their own slice, borrowed from a neighbour,
            joined by overlap).
        prompts_rejected: the others (rejected by the prior, or kept by it where the segment does not reach).
        seconds: wall time.
        device: where the engine ran.
        prior: which prior checked the prompts (``learned prior``, ``continuity prior`` or ``no prior``).
        notices: what the user should know about the run (the learned prior was overruled, a fall-back to
            the CPU).
        before: the output segment as it was before the run (:func:`undo` puts it back).
    """

    segment_id: str
    slices_processed: int
    prompts_kept: int
    prompts_rejected: int
    seconds: float
    device: str
    prior: str = ""
    notices: tuple[str, ...] = ()
    before: SegmentSnapshot | None = None


@dataclass
class SegmentJob:
    """Everything read from the scene for one run; the engine part needs no MRML access."""

    nodes: SegmentNodes
    volume: Volume
    axis: int
    prompts: Prompts
    model: ModelSpec
    options: InferenceOptions
    started: float = 0.0
    volume_key: tuple = ()


class _PredictorCache:
    """Keeps the last predictor with its encoded volume and decoded masks, so a re-run after a curve edit, or
    with another τ or n, skips the encoder (only CPD and the decoder requests the change altered run again).
    Options are passed per run and never stored in the model."""

    def __init__(self):
        self.key = None
        self.predictor: SpdPredictor | None = None

    def get(self, job: SegmentJob) -> SpdPredictor:
        key = (job.model, job.options.device, job.options.precision, job.volume_key, job.axis)
        if key != self.key or self.predictor is None:
            self.predictor = SpdPredictor(build_model(job.model), job.options)
            self.predictor.set_volume(job.volume, job.axis)
            self.key = key
        return self.predictor


_cache = _PredictorCache()


def _prompts(volume: Volume, axis: int, nodes: SegmentNodes) -> Prompts:
    prompts = Prompts.empty()
    if nodes.curve is not None and nodes.curve.GetNumberOfDefinedControlPoints() > 0:
        prompts = prompts + curve_to_prompts(curve_points_lps(nodes.curve), volume, axis, spline=False)
    for node, positive in ((nodes.positive_points, True), (nodes.negative_points, False)):
        if node is not None and node.GetNumberOfDefinedControlPoints() > 0:
            prompts = prompts + points_to_prompts(control_points_lps(node), volume, axis, positive)
    if not prompts.positive.any():
        raise InputError("No prompt lies on the volume: draw a centerline curve (at least two points) or place "
                         "positive points on the input volume.")
    return prompts


def prepare_job(nodes: SegmentNodes, model: ModelSpec | str = "default",
                options: InferenceOptions = InferenceOptions()) -> SegmentJob:
    """Check the inputs and read them from the scene (main thread). Raises :class:`InputError`."""
    started = time.perf_counter()
    if nodes.segmentation is None:
        raise InputError("Select or create an output segmentation.")
    check_segment_name(nodes.segment_name or "")
    spec = parse_model_spec(model)
    if nodes.saliency is not None and options.prior == "raw":
        raise InputError("The raw prior checks no prompt, so there is no saliency map; choose another prior or no "
                         "saliency volume.")
    volume = volume_from_node(nodes.volume)
    slicing_axis = volume.slicing_axis(options.axis)
    prompts = _prompts(volume, slicing_axis, nodes)
    # read here, on the main thread: the node's identity, voxel modification time and world geometry
    volume_key = (nodes.volume.GetID(), nodes.volume.GetImageData().GetMTime(),
                  tuple(np.round(volume.ijk_to_lps, 6).ravel()))
    return SegmentJob(nodes, volume, slicing_axis, prompts, spec, options, started, volume_key)


def run_job(job: SegmentJob, progress: Callable | None = None,
            cancel: Callable[[], bool] | None = None) -> tuple[Prediction, str]:
    """The engine part (safe on a worker thread: touches no node). Raises :class:`Cancelled` on cancel."""
    predictor = _cache.get(job)
    return predictor.predict(job.prompts, job.options, progress, cancel), str(predictor.device)


def write_job(job: SegmentJob, prediction: Prediction, device: str) -> SegmentResult:
    """Write the segment, saliency and audit into the scene (main thread), all at the end."""
    nodes = job.nodes
    before = SegmentSnapshot(nodes.segmentation, nodes.segment_name.strip())
    segment_id = write_segment(nodes.segmentation, nodes.volume, prediction.mask_kji,
                               nodes.segment_name.strip())
    audit = prediction.consensus.audit
    if nodes.saliency is not None:
        fill_saliency_node(nodes.saliency, nodes.volume, prediction.saliency_kji)
    if nodes.audit is not None:
        fill_audit_node(nodes.audit, audit.to_lps(job.volume, job.axis), audit.status,
                        audit.descriptions(prediction.prior.label))
        nodes.audit.SetAttribute("SPDSegment.Prior", prediction.prior.label)
    kept = int(audit.in_segment().sum())
    outcome = SegmentResult(segment_id, int(len(prediction.slices)), kept, len(audit.status) - kept,
                            time.perf_counter() - job.started, device, prediction.prior.label,
                            tuple(prediction.notices), before)
    log.info("SPDSegment: %s", outcome)
    return outcome


def segment_nodes(nodes: SegmentNodes, model: ModelSpec | str = "default",
                  options: InferenceOptions = InferenceOptions(), progress: Callable | None = None,
                  cancel: Callable[[], bool] | None = None) -> SegmentResult:
    """Segment ``nodes.volume`` from a centerline and/or points into ``nodes.segmentation``.

    Runs :func:`prepare_job`, :func:`run_job` and :func:`write_job` in turn; the Slicer panel calls the
    middle one on its worker thread.

    :param nodes: the input, prompt and output nodes.
    :param model: ``default``, ``frozen``, an adapter path or ``sam_vit_b:CHECKPOINT`` (or a parsed
        :class:`ModelSpec`).
    :param options: τ, n, prompt mode, axis, device, precision ... of this run (None fields keep the model's).
    :param progress: ``progress(done, total, stage)`` callable.
    :param cancel: polled between batches; when it returns True the scene is left exactly as it was.
    :raises InputError: bad input, before any node is modified.
    :raises Cancelled: ``cancel()`` became true.
    """
    job = prepare_job(nodes, model, options)
    prediction, used_device = run_job(job, progress, cancel)
    return write_job(job, prediction, used_device)


def undo(segmentation_node, result: SegmentResult) -> None:
    """Put the segment a run wrote back as it was before the run (bit-exact), or remove it if the run made it.
    Every other segment is left as it is."""
    if result.before is None:
        raise InputError("This result keeps no earlier state to go back to.")
    result.before.restore(segmentation_node, result.segment_id)
