"""``segment_nodes``: the whole SPD job on MRML nodes (Qt-free; runs in Slicer and on slicer-core).

Order of work, so that bad input and cancel never touch the scene:

1. check every input and read the nodes into engine arrays (raises :class:`InputError`);
2. run the engine (``cancel()`` is polled between batches; :class:`Cancelled` propagates);
3. write the segment, the saliency volume and the audit, all at the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .bridge.markups import control_points_lps, curve_points_lps, fill_audit_node
from .bridge.overlay import fill_saliency_node
from .bridge.segmentation import write_segment
from .bridge.volumes import volume_from_node
from .engine.io import InputError
from .engine.model import build_model, set_inference_options
from .engine.predictor import Cancelled, SpdPredictor
from .engine.prompts import Prompts, curve_to_prompts, points_to_prompts

__all__ = ["Cancelled", "InputError", "SegmentJob", "SegmentResult", "prepare_job", "run_job", "segment_nodes",
           "write_job"]
log = logging.getLogger(__name__)


@dataclass
class SegmentResult:
    """What :func:`segment_nodes` made.

    Attributes:
        segment_id: ID of the written segment.
        slices_processed: slices that got a mask.
        prompts_kept: prompts kept on their own slice or borrowed from a neighbour.
        prompts_rejected: prompts the saliency prior rejected.
        seconds: wall time.
        device: where the engine ran.
        notices: what the user should know about the run (for example a fall-back to the CPU).
    """

    segment_id: str
    slices_processed: int
    prompts_kept: int
    prompts_rejected: int
    seconds: float
    device: str
    notices: tuple[str, ...] = ()


class _PredictorCache:
    """Keeps the last predictor with its encoded volume, so a re-run after a curve edit, or with another τ
    or n, skips the encoder (only CPD and the decoder run again)."""

    def __init__(self):
        self.key = None
        self.predictor: SpdPredictor | None = None
        self.adapter_config = None

    def get(self, job: "SegmentJob") -> SpdPredictor:
        key = (job.model, job.device, job.volume_key, job.axis)
        if key != self.key or self.predictor is None:
            spd = build_model(job.model)
            self.adapter_config = spd.config
            self.predictor = SpdPredictor(spd, job.device)
            self.predictor.set_volume(job.volume, job.axis)
            self.key = key
        self.predictor.model.config = self.adapter_config  # options of an earlier run must not stick
        set_inference_options(self.predictor.model, **job.options)
        return self.predictor


_cache = _PredictorCache()


def _prompts(volume, axis, curveNode, pointsNode, negativePointsNode) -> Prompts:
    prompts = Prompts.empty()
    if curveNode is not None and curveNode.GetNumberOfDefinedControlPoints() > 0:
        prompts = prompts + curve_to_prompts(curve_points_lps(curveNode), volume, axis, spline=False)
    for node, positive in ((pointsNode, True), (negativePointsNode, False)):
        if node is not None and node.GetNumberOfDefinedControlPoints() > 0:
            prompts = prompts + points_to_prompts(control_points_lps(node), volume, axis, positive)
    if not prompts.positive.any():
        raise InputError("No prompt lies on the volume: draw a centerline curve (at least two points) or place "
                         "positive points on the input volume.")
    return prompts


@dataclass
class SegmentJob:
    """Everything read from the scene for one run; the engine part needs no MRML access."""

    volumeNode: object
    segmentationNode: object
    volume: object
    axis: int
    prompts: Prompts
    model: str
    device: str
    options: dict
    segmentName: str
    saliencyNode: object = None
    consensusNode: object = None
    started: float = 0.0
    volume_key: tuple = ()


def prepare_job(volumeNode, segmentationNode, curveNode=None, pointsNode=None, negativePointsNode=None,
                model: str = "default", device: str = "auto", segmentName: str = "SPD", saliencyNode=None,
                consensusNode=None, axis: str = "auto", tau: float | None = None,
                neighbours: int | None = None, promptMode: str | None = None) -> SegmentJob:
    """Check the inputs and read them from the scene (main thread). Raises :class:`InputError`."""
    started = time.perf_counter()
    if segmentationNode is None:
        raise InputError("Select or create an output segmentation.")
    if not segmentName or not segmentName.strip():
        raise InputError("Give the output segment a name.")
    volume = volume_from_node(volumeNode)
    slicing_axis = volume.slicing_axis(axis)
    prompts = _prompts(volume, slicing_axis, curveNode, pointsNode, negativePointsNode)
    # read here, on the main thread: the node's identity, voxel modification time and world geometry
    volume_key = (volumeNode.GetID(), volumeNode.GetImageData().GetMTime(),
                  tuple(np.round(volume.ijk_to_lps, 6).ravel()))
    return SegmentJob(volumeNode, segmentationNode, volume, slicing_axis, prompts, model, device,
                      {"tau": tau, "neighbours": neighbours, "prompt_mode": promptMode}, segmentName.strip(),
                      saliencyNode, consensusNode, started, volume_key)


def run_job(job: SegmentJob, progress: Callable | None = None, cancel: Callable[[], bool] | None = None):
    """The engine part (safe on a worker thread: touches no node). Raises :class:`Cancelled` on cancel."""
    predictor = _cache.get(job)
    if job.saliencyNode is not None and not predictor.config.saliency:
        raise InputError("This model has no saliency head (a frozen backbone); choose an SPD adapter or no "
                         "saliency output.")
    return predictor.predict(job.prompts, progress, cancel), str(predictor.device)


def write_job(job: SegmentJob, prediction, device: str) -> SegmentResult:
    """Write the segment, saliency and audit into the scene (main thread), all at the end."""
    segment_id = write_segment(job.segmentationNode, job.volumeNode, prediction.mask_kji, job.segmentName)
    audit = prediction.consensus.audit
    if job.saliencyNode is not None:
        fill_saliency_node(job.saliencyNode, job.volumeNode, prediction.saliency_kji)
    if job.consensusNode is not None:
        fill_audit_node(job.consensusNode, audit.to_lps(job.volume, job.axis), audit.status, audit.descriptions())
    kept = audit.count("kept-local") + audit.count("kept-neighbour")
    outcome = SegmentResult(segment_id, int(len(prediction.slices)), kept, audit.count("rejected"),
                            time.perf_counter() - job.started, device, tuple(prediction.notices))
    log.info("SPDSegment: %s", outcome)
    return outcome


def segment_nodes(volumeNode, segmentationNode, curveNode=None, pointsNode=None, model: str = "default",
                  device: str = "auto", segmentName: str = "SPD", saliencyNode=None, consensusNode=None,
                  progress: Callable | None = None, cancel: Callable[[], bool] | None = None,
                  negativePointsNode=None, axis: str = "auto", tau: float | None = None,
                  neighbours: int | None = None, promptMode: str | None = None) -> SegmentResult:
    """Segment ``volumeNode`` from a centerline and/or points into ``segmentationNode``.

    Runs :func:`prepare_job`, :func:`run_job` and :func:`write_job` in turn; the Slicer panel calls the
    middle one on a worker thread.

    :param volumeNode: input scalar volume (parent linear transforms honoured).
    :param segmentationNode: output; segment ``segmentName`` is added or replaced, others are untouched.
    :param curveNode: centerline (markups curve), optional if points are given.
    :param pointsNode: positive points (markups point list), optional.
    :param negativePointsNode: negative points, optional.
    :param model: ``default``, ``frozen``, an adapter path or ``sam_vit_b:CHECKPOINT``.
    :param device: ``auto``, ``cuda`` or ``cpu``.
    :param saliencyNode: scalar volume to receive the saliency map (on the input grid), optional.
    :param consensusNode: point list to receive the prompt audit, optional.
    :param progress: ``progress(done, total, stage)`` callable.
    :param cancel: polled between batches; when it returns True the scene is left exactly as it was.
    :param axis, tau, neighbours, promptMode: advanced settings (None keeps the model's); promptMode is
        ``points`` or ``boxes``.
    :raises InputError: bad input, before any node is modified.
    :raises Cancelled: ``cancel()`` became true.
    """
    job = prepare_job(volumeNode, segmentationNode, curveNode, pointsNode, negativePointsNode, model, device,
                      segmentName, saliencyNode, consensusNode, axis, tau, neighbours, promptMode)
    prediction, used_device = run_job(job, progress, cancel)
    return write_job(job, prediction, used_device)
