"""SpdPredictor: SAM's predictor for volumes.

``set_volume`` normalises the volume; ``predict`` encodes the slices it needs (cached, so re-running after
a prompt edit skips the encoder), picks the prior that checks the prompts (:mod:`.prior_choice`), runs CPD
with it and decodes:

- learned prior: the adapter's saliency head, its decoder and prompt mode (the paper's SPD);
- continuity prior: the prompts checked against each other (:mod:`.continuity_prior`), then the backbone's own
  decoder with boxes fitted to the structure (:mod:`.box_fitting`); of competing prompts no curve traced, each
  cross-section is carried on to the neighbouring slices it misses (:meth:`_carried_cross_sections`). Under ``auto``,
  a region a traced curve ran along beside that structure is left out where the learned prior accepts none of its
  prompts and some of the structure's; the adapter's tuned decoder then draws each slice's outline within the
  structure if most of what it draws lies inside it (it sees the same structure), and segments the slices where both
  priors agree;
- raw: every prompt as given, one box per cluster (or points), nothing checked. Where the continuity route fell
  back to it and nothing competes with the clicks (a few, or far apart), one box size is fitted to the structure
  and the masks are carried slice by slice while they match (:mod:`.click_carrying`).

On the two prior routes the segment then settles the audit (:meth:`.cpd.Audit.settled`): a kept prompt it does not
reach is ``left-out``, a rejected one inside it ``joined``.

    predictor = SpdPredictor(build_model("default"), InferenceOptions(device="cpu"))
    predictor.set_volume(volume, axis="auto")
    result = predictor.predict(prompts)                               # masks, saliency, consensus audit
    stricter = predictor.predict(prompts, InferenceOptions(tau=0.7))  # per call; the adapter is unchanged
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Callable, NamedTuple

import numpy as np
import torch

from ..errors import InputError
from .box_fitting import (BoxFitting, Candidate, DecodeBoxes, choose_half_size, cluster_points, decode_candidates,
                          fill_gaps, grow_by_overlap, region_holding, settle_regions)
from .click_carrying import (ClickCarrying, carry_cross_sections, carry_through_slices, clicked_masks, clicks_fitting,
                             clicks_forming_a_structure_to_carry, clicks_to_carry, reach_beyond)
from .continuity_prior import WIDE_WINDOW, continuity_saliency, cross_section_saliency, slices_looked_at
from .cpd import REJECTED, Consensus, CpdConfig, distil_prompts, saliency_at, within_reach
from .decoder_prompts import prompt_boxes
from .device import resolve_device
from .fast_inference import autocast, resolve_precision
from .model import SpdModel
from .exported_graphs import EXPORTED_RUNTIMES, RUNTIME_NAMES, RUNTIME_PACKAGES, first_installed, runtime_missing
from .onnx_decoder import ExportedDecoder, exported_decoder
from .onnx_encoder import ExportedEncoder, exported_encoder
from .onnx_saliency import ExportedSaliencyHead, exported_saliency_head
from .options import InferenceOptions
from .prior_choice import CONTINUITY, LEARNED, RAW, PriorChoice, accepted_by, choose_prior, structure_found
from .prompts import Prompts
from .scan_prior import PROBE_STEPS, fit_scan_probe, limbs_the_clicks_point_at
from .slices import ModelFrame, from_stack, in_plane_spacing, pixels_per_cell, to_stack
from .volume import Volume

log = logging.getLogger(__name__)

TensorOrPair = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
# a learned-route region within this many pixels of a kept prompt holds it (a click on the region's edge); the audit
# counts as many 1.5 mm cells on finer pixels (SpdPredictor._audit_reach_px)
PROMPT_REACH_PX = 2
# the tuned decoder draws the continuity route's outline only if more than this share of its mask lies inside the
# structure the fitted boxes found: a decoder tuned on other scans spreads over other structures
TUNED_OUTLINE_MIN_INSIDE = 0.6
# said when the raw route carried a few clicks through the structure (:mod:`.click_carrying`)
CARRIED_CLICKS_NOTE = ("nothing competes with the clicks, so one box size was fitted to the structure and each mask "
                       "was carried from slice to slice while it matches the slice before")
# said when the continuity route carried the segment of clicks to slices they leave unclicked
CARRIED_PAST_CLICKS_NOTE = ("nothing competes with the clicks, so the segment was carried from slice to slice beyond "
                            "them while each slice matches the slice before")
# said when the continuity route carried the cross-sections of random clicks' structure to slices it missed them on
CARRIED_CROSS_SECTIONS_NOTE = ("some prompts compete, so each cross-section of the structure was carried to the "
                               "neighbouring slices where the segment missed it, while it matches the slice before")
SCAN_PRIOR_LIMBS_NOTE = ("a prior fitted to this scan, with the segment as its label, recognised the tissue at "
                         "clicks outside it, and the other limbs they point at on several slices joined the segment")
# decoded masks kept for re-runs on the same volume, at most this many bytes (the oldest go first)
DECODE_CACHE_BYTES = 256 * 2**20


class Stage(Enum):
    ENCODE = "encode"
    DECODE = "decode"


class Cancelled(Exception):
    """The caller's cancel() returned True; nothing was produced."""


ProgressFn = Callable[[int, int, Stage], None]
CancelFn = Callable[[], bool]


@dataclass
class Prediction:
    """What :meth:`SpdPredictor.predict` returns.

    Attributes:
        mask_kji: (K, J, I) uint8 mask on the input grid.
        saliency_kji: (K, J, I) float32 in [0, 1], the prior the prompts were checked against (learned or
            continuity; 0 where it was not computed), or None when nothing checked them (``raw``).
        consensus: CPD output (kept prompts and audit).
        slices: slice indices whose mask is not empty.
        seconds: wall time of ``predict``.
        prior: which prior checked the prompts, and why (:class:`PriorChoice`).
        filled_slices: slices without a kept prompt that were filled from a segmented neighbour.
        notices: what the user should know about how it ran (the prior was overruled, it fell back to the CPU).
    """

    mask_kji: np.ndarray
    saliency_kji: np.ndarray | None
    consensus: Consensus
    slices: np.ndarray
    seconds: float
    prior: PriorChoice = PriorChoice(RAW)
    filled_slices: tuple[int, ...] = ()
    notices: list[str] = field(default_factory=list)


class FittedStructure(NamedTuple):
    """What the continuity route's fitted boxes give (:meth:`SpdPredictor._fitted_boxes`).

    Attributes:
        masks: (S, H, W) bool slice-stack masks of the structure.
        filled: slices without a kept prompt filled from a segmented neighbour.
        drifted: (S, H, W) bool mask of the regions beside the structure that a learned prior settled as the curve's
            drift (empty where none was).
        half_mm: the box half-size fitted to the structure.
    """

    masks: np.ndarray
    filled: list[int]
    drifted: np.ndarray
    half_mm: float

    @property
    def drift_slices(self) -> tuple[int, ...]:
        """The slices of the ``drifted`` regions."""
        return tuple(int(t) for t in np.flatnonzero(self.drifted.reshape(len(self.drifted), -1).any(axis=1)))

    def without_drift(self, prompts: Prompts) -> Prompts:
        """``prompts`` less the positive ones within ``PROMPT_REACH_PX`` of the ``drifted`` regions: a stretch of the
        curve settled as drift is not the target, so a decoder that follows the prompts (the tuned outline) would
        spread onto that loop."""
        if not self.drifted.any():
            return prompts
        near_drift = within_reach(self.drifted, prompts.slice_index, prompts.xy, PROMPT_REACH_PX)
        return prompts.select(~prompts.positive | ~near_drift)


def outline_within(masks: np.ndarray, tuned: np.ndarray) -> tuple[np.ndarray | None, float, float]:
    """The fitted ``masks`` with every slice cut to what the ``tuned`` decoder's mask also holds, or None if over the
    volume no more than ``TUNED_OUTLINE_MIN_INSIDE`` of ``tuned`` lies inside ``masks``; also that share and the share
    of ``masks`` it covers. A slice where the two share nothing keeps its fitted mask."""
    both = tuned & masks
    inside = float(both.sum() / max(int(tuned.sum()), 1))
    cover = float(both.sum() / max(int(masks.sum()), 1))
    if inside <= TUNED_OUTLINE_MIN_INSIDE:
        return None, inside, cover
    cut = both.reshape(len(both), -1).any(axis=1)
    outlined = masks.copy()
    outlined[cut] = both[cut]
    return outlined, inside, cover


class SpdPredictor:
    """Args:
        model: the model; the predictor owns it from here (``fast`` rewrites it for inference only). Its
            adapter config is only read.
        options: the default settings of :meth:`predict`; the device and precision are fixed here (a run with
            another device or precision needs another predictor). The batch size defaults to 1 on the CPU; on
            CUDA 32 at 256 px, 4 at 1024 px, whose global attention holds a 4096 x 4096 bias per head and slice.
        fast: fold Conv+BN, fused attention, channels-last (same results to float rounding).
        compile: ``torch.compile`` the encoder (pays off on long volumes on CUDA).
        box_fitting: settings of the fitted boxes of the continuity route.
        click_carrying: settings of the raw route's decoding of a few clicks that nothing competes with.
    """

    def __init__(self, model: SpdModel, options: InferenceOptions = InferenceOptions(), fast: bool = True,
                 compile: bool = False, box_fitting: BoxFitting = BoxFitting(),
                 click_carrying: ClickCarrying = ClickCarrying()):
        self.options = options
        self.box_fitting = box_fitting
        self.click_carrying = click_carrying
        self.device = resolve_device(options.device)
        self.model = model.to(self.device).eval()
        self.batch_size = options.batch_size or self._default_batch_size()
        self.dtype = resolve_precision(options.precision, self.device)
        if fast:
            self.model.backbone.optimise_for_inference()
        self.notices: list[str] = []
        self._prepared_s = 0.0  # seconds spent exporting since the last run reported it
        self.runtime = self._resolve_runtime(options.runtime, fast and not compile)
        self.decoder_runtime = self._decoder_runtime(options.runtime)
        self.decode_batch_size = self._default_decode_batch_size()
        self._encoder = torch.compile(self.model.backbone.encode) if compile else self.model.backbone.encode
        self._exported_encoder: ExportedEncoder | None = None
        self._exported_decoders: dict[int, ExportedDecoder] = {}
        self._exported_saliency: ExportedSaliencyHead | None = None
        self.volume: Volume | None = None
        self.axis = 2
        self._stack: np.ndarray | None = None
        self._frame: ModelFrame | None = None
        self._embeddings: dict[int, torch.Tensor] = {}
        self._saliency: np.ndarray | None = None
        self._decoded: dict[tuple, tuple[np.ndarray, float]] = {}

    @property
    def config(self):
        return self.model.config

    def set_volume(self, volume: Volume, axis: str | int = "auto",
                   shared_embeddings: dict[int, torch.Tensor] | None = None) -> None:
        """Prepare ``volume`` (normalised and sliced along ``axis``); clears the embedding cache.

        Args:
            shared_embeddings: a dict of slice -> embedding to read from and fill, shared with other
                predictors whose encoder is the same (same :meth:`encoder_key`) on the same volume and axis.
        """
        self.volume = volume
        self.axis = volume.slicing_axis(axis)
        self._stack = to_stack(self.config.intensity_scaling.scale(volume.array_kji), self.axis)
        n_slices, height, width = self._stack.shape
        self._frame = ModelFrame(height, width, self.config.image_size, in_plane_spacing(volume, self.axis))
        self._embeddings = {} if shared_embeddings is None else shared_embeddings
        self._saliency = np.zeros(self._stack.shape, np.float32) if self.config.saliency else None
        self._salient_slices: set[int] = set()
        self._decoded = {}

    def _resolve_runtime(self, runtime: str, fast: bool) -> str:
        """``openvino`` or ``onnx`` (that runtime runs the exported encoder) or ``torch``; ``auto`` takes the first
        of OpenVINO and ONNX Runtime that is installed, on the CPU in fp32 (OpenVINO's encoder measured faster)."""
        if runtime == "torch" or (runtime == "auto" and not (fast and self.device.type == "cpu"
                                                             and self.dtype == torch.float32)):
            return "torch"
        if runtime != "auto":
            name = RUNTIME_NAMES[runtime]
            if self.device.type != "cpu" or self.dtype != torch.float32 or not fast:
                raise InputError(f"The {name} encoder runs on the CPU in fp32 only (and not with --compile): "
                                 f"use --device cpu --precision fp32, or --runtime torch.")
            missing = runtime_missing(runtime)
            if missing:
                raise InputError(f"--runtime {runtime} needs {name} ({missing}): pip install "
                                 f"{RUNTIME_PACKAGES[runtime]} onnx, or use --runtime torch.")
            return runtime
        found, missing = first_installed(EXPORTED_RUNTIMES)
        if found:
            return found
        self.notices.append(f"The encoder and decoder run in torch, slower on the CPU than on OpenVINO or ONNX "
                            f"Runtime ({'; '.join(sorted(set(missing)))}; pip install openvino onnx).")
        return "torch"

    def _decoder_runtime(self, runtime: str) -> str:
        """Where the mask decoder runs: where the encoder runs when a runtime was asked for; with ``auto``, ONNX
        Runtime where it is installed (its decoder measured faster than OpenVINO's), else the encoder's runtime."""
        if self.runtime == "torch" or runtime != "auto":
            return self.runtime
        return first_installed(("onnx", self.runtime))[0] or self.runtime

    def _default_decode_batch_size(self) -> int:
        if self.device.type != "cuda":
            # measured on 2 cores (docs/decoder_trials.py, docs/PERFORMANCE.md): two prompt sets at a time cost torch's
            # decoder least; ONNX Runtime's is a little faster in batches of 8, but holds about 0.5 GB more
            return 2
        return max(self.batch_size, 8)

    def _default_batch_size(self) -> int:
        if self.device.type != "cuda":
            return 1  # measured: one slice at a time is 7-25 % faster per slice than 2 or 4 on 2 cores
        return max(1, min(32, 4 * (1024 // self.config.image_size) ** 2))

    def encoder_key(self) -> str:
        """Equal for predictors whose encoders give identical embeddings (backbone weights, input, LoRA)."""
        import hashlib

        digest = hashlib.sha256(f"{self.model.backbone.name}|{self.model.backbone.checkpoint_sha256}|"
                                f"{self.config.image_size}|{self.config.intensity_percentiles}|{self.dtype}".encode())
        if self.config.ct_window is not None:  # a key without a window stays as before, so earlier exports are kept
            digest.update(f"|ct_window {self.config.ct_window}".encode())
        for key, tensor in sorted(self.model.adapter_tensors().items()):
            if key.startswith("lora."):
                digest.update(key.encode())
                digest.update(tensor.detach().float().cpu().numpy().tobytes())
        return digest.hexdigest()

    def _slices_around(self, prompts: Prompts, reach: int) -> np.ndarray:
        n_slices = len(self._stack)
        wanted = {int(t + d) for t in prompts.slices for d in range(-reach, reach + 1) if 0 <= t + d < n_slices}
        return np.array(sorted(wanted), int)

    @torch.no_grad()
    def encode(self, slices: np.ndarray, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> None:
        """Encode (and compute saliency for) the given slices not yet in the cache."""
        if self._stack is None:
            raise RuntimeError("Call set_volume(...) before encoding or predicting.")
        todo = [int(t) for t in slices if int(t) not in self._embeddings or
                (self.config.saliency and int(t) not in self._salient_slices)]
        done = 0
        while done < len(todo):
            if cancel is not None and cancel():
                raise Cancelled()
            batch = todo[done:done + self.batch_size]
            missing = [t for t in batch if t not in self._embeddings]
            if missing:
                encoded = self._with_memory_fallback(self._encode_slices, missing, "batch_size")
                for t, embedding in zip(missing, encoded):
                    self._embeddings[t] = embedding
            if self.config.saliency:
                embeddings = torch.stack([self._embeddings[t] for t in batch]).float()
                probabilities = torch.sigmoid(self._saliency_logits(embeddings))
                self._saliency[batch] = self._frame.maps_to_slice(probabilities)[:, 0].float().cpu().numpy()
                self._salient_slices.update(batch)
            done += len(batch)
            if progress is not None:
                progress(done, len(todo), Stage.ENCODE)

    @property
    def slice_count(self) -> int:
        """Slices of the volume along the slicing axis (0 before :meth:`set_volume`)."""
        return 0 if self._stack is None else len(self._stack)

    def model_inputs(self, slices: list[int]) -> torch.Tensor:
        """(B, 3, S, S) encoder inputs of these slices of the volume, on this predictor's device."""
        if self._stack is None:
            raise RuntimeError("Call set_volume(...) first.")
        return self._frame.images_to_model(torch.from_numpy(self._stack[slices]).to(self.device))

    def _encode_slices(self, slices: list[int]) -> torch.Tensor:
        images = self.model_inputs(slices)
        if self.runtime in EXPORTED_RUNTIMES:
            return self._exported()(images)
        with autocast(self.device, self.dtype):
            return self._encoder(images)

    def prepare_exports(self) -> float:
        """Export the encoder, the decoders and the saliency head now, if this predictor runs them on OpenVINO or ONNX
        Runtime; seconds spent exporting."""
        if self.runtime not in EXPORTED_RUNTIMES:
            return 0.0
        prepared = 0.0 if self._exported_encoder is not None else self._exported().prepared_s
        for decoder in {id(d): d for d in (self.model.backbone.mask_decoder, self.model.base_decoder())}.values():
            if id(decoder) not in self._exported_decoders:
                prepared += self._runtime_decoder(decoder).prepared_s
        if self.config.saliency and self._exported_saliency is None:
            prepared += self._runtime_saliency_head().prepared_s
        return prepared

    def _exported(self) -> ExportedEncoder:
        """The exported encoder on this predictor's runtime, exported on first use (and kept in the model store for
        later runs)."""
        if self._exported_encoder is None:
            name = RUNTIME_NAMES[self.runtime]
            log.info("Preparing the fast CPU encoder (%s)...", name)
            self._exported_encoder = exported_encoder(self.model.backbone, self.config.image_size, self.encoder_key(),
                                                      torch.get_num_threads(), self.runtime)
            self._prepared_s += self._exported_encoder.prepared_s
        return self._exported_encoder

    def _runtime_decoder(self, decoder):
        """``decoder`` as this predictor runs it: its export on the decoder's runtime, exported on first use (and
        kept in the model store), or the torch module itself."""
        if self.decoder_runtime not in EXPORTED_RUNTIMES:
            return decoder
        if id(decoder) not in self._exported_decoders:
            exported = exported_decoder(decoder, self.model.backbone.prompt_encoder.image_embedding_size[0],
                                        torch.get_num_threads(), self.decoder_runtime)
            self._prepared_s += exported.prepared_s
            self._exported_decoders[id(decoder)] = exported
        return self._exported_decoders[id(decoder)]

    def _runtime_saliency_head(self) -> ExportedSaliencyHead:
        """The saliency head's export on the encoder's runtime, exported on first use (and kept in the model store).
        It runs after every encoded slice: on ONNX Runtime beside an OpenVINO encoder the two thread pools slowed the
        encoder by more than the head's 9 ms a slice (docs/PERFORMANCE.md)."""
        if self._exported_saliency is None:
            size = self.model.backbone.prompt_encoder.image_embedding_size[0]
            self._exported_saliency = exported_saliency_head(self.model.saliency_head, size, torch.get_num_threads(),
                                                             self.runtime)
            self._prepared_s += self._exported_saliency.prepared_s
        return self._exported_saliency

    def _saliency_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.runtime in EXPORTED_RUNTIMES:
            return self._runtime_saliency_head()(embeddings)
        return self.model.saliency_logits(embeddings)

    def _prepared_notice(self) -> list[str]:
        """The first run of a model on this machine says that it exported the fast CPU path, and how long it took."""
        if not self._prepared_s:
            return []
        first = "encoder and saliency head" if self.config.saliency else "encoder"
        runtimes = (RUNTIME_NAMES[self.runtime] if self.decoder_runtime == self.runtime else
                    f"{first} on {RUNTIME_NAMES[self.runtime]}, decoder on {RUNTIME_NAMES[self.decoder_runtime]}")
        notice = (f"Prepared the fast CPU path ({runtimes}) in {self._prepared_s:.1f} s; it is kept for later runs of "
                  "this model.")
        self._prepared_s = 0.0
        return [notice]

    def _with_memory_fallback(self, run: Callable[[list], TensorOrPair], items: list, limit: str) -> TensorOrPair:
        """``run(items)``; out of memory, halve ``items`` and the batch-size attribute ``limit`` for later
        batches; on one item, go on on the CPU. An operation missing on Apple MPS also moves the run to the CPU."""
        try:
            return run(items)
        except NotImplementedError as error:
            if self.device.type != "mps":
                raise
            self.move_to_cpu(f"an operation is missing on Apple MPS ({str(error).splitlines()[0][:80]})")
            return run(items)
        except torch.OutOfMemoryError:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(items) > 1:
                half = len(items) // 2
                setattr(self, limit, min(getattr(self, limit), half))
                log.warning("Out of GPU memory with %d items at once; retrying %d at a time.", len(items), half)
                first = self._with_memory_fallback(run, items[:half], limit)
                second = self._with_memory_fallback(run, items[half:], limit)
                if isinstance(first, tuple):  # the decoder returns (logits, predicted IoU)
                    return tuple(torch.cat(pair) for pair in zip(first, second))
                return torch.cat([first, second])
            if self.device.type != "cuda":
                raise
            self.move_to_cpu("out of GPU memory even for one slice")
            return run(items)

    def move_to_cpu(self, reason: str) -> None:
        """Go on on the CPU (kept embeddings move along); the reason is kept in :attr:`notices`."""
        log.warning("Continuing on the CPU, which is slower: %s.", reason)
        advice = " Close other GPU programs or lower the batch size." if "memory" in reason else ""
        self.notices.append(f"Ran on the CPU: {reason}.{advice}")
        self.device = torch.device("cpu")
        self.model.to(self.device)
        self.dtype = torch.float32
        self._encoder = self.model.backbone.encode
        for t in list(self._embeddings):
            self._embeddings[t] = self._embeddings[t].to(self.device, torch.float32)
        self._decoded = {}

    def _requests(self, consensus: Consensus, prompt_mode: str, tau: float,
                  saliency: np.ndarray | None) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
        """(slice, points_xy, labels, box_xyxy) per decoder call of the learned and raw routes, in slice pixels."""
        requests = []
        spacing = min(self._frame.spacing_xy)
        for t in consensus.slices:
            positive = consensus.prompts.on_slice(t, positive=True)
            negative = consensus.prompts.on_slice(t, positive=False)
            if prompt_mode == "points":
                points = np.concatenate([positive, negative])
                labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
                requests.append((int(t), points, labels, None))
                continue
            for box in prompt_boxes(positive, None if saliency is None else saliency[t], tau,
                                    self.config.cluster_mm / spacing, self.config.box_margin_mm / spacing):
                requests.append((int(t), negative, np.zeros(len(negative)), box))
        return requests

    @torch.no_grad()
    def _decode(self, requests, decoder, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Masks (N, H, W) bool on the slice grid and predicted IoU (N,) of every request, in batches.

        A request this predictor decoded before on this volume (same slice, prompts and decoder) is not decoded
        again: a re-run after an edit of the curve decodes only what the edit changed.

        Padding points are tokens the decoder attends to, so no mask depends on the batch it lands in: point
        prompts without a box are all padded to the most points any of them has in this call, as training pads the
        slices of a window; a box and its points are never padded, as SAM takes them.
        """
        if cancel is not None and cancel():  # also when every request is read back
            raise Cancelled()
        pad_to = max((len(points) for _, points, _, box in requests if box is None), default=0)
        keys = [self._request_key(request, decoder, pad_to) for request in requests]
        found = {key: self._decoded[key] for key in keys if key in self._decoded}
        pending = {key: request for key, request in zip(keys, requests) if key not in found}

        def shape(key):
            _, points, _, box = pending[key]
            return (len(points), True) if box is not None else (pad_to, False)

        pending_keys = sorted(pending, key=shape)
        done = 0
        while done < len(pending_keys):
            if cancel is not None and cancel():
                raise Cancelled()
            batch_keys = [key for key in pending_keys[done:done + self.decode_batch_size]
                          if shape(key) == shape(pending_keys[done])]
            batch = [pending[key] for key in batch_keys]
            self.encode(np.unique([t for t, *_ in batch]), cancel=cancel)
            batch_logits, batch_quality = self._with_memory_fallback(
                lambda items: self._decode_batch(items, decoder, pad_to), batch, "decode_batch_size")
            masks = (self._frame.maps_to_slice(batch_logits)[:, 0] > 0).cpu().numpy()
            for key, mask, quality in zip(batch_keys, masks, batch_quality.cpu().numpy()):
                found[key] = (mask, float(quality))
            done += len(batch)
            if progress is not None:
                progress(len(requests) - len(pending_keys) + done, len(requests), Stage.DECODE)
        self._remember(pending_keys, found)
        if not requests:
            return np.zeros((0,) + self._stack.shape[1:], bool), np.zeros(0, np.float32)
        return np.stack([found[key][0] for key in keys]), np.array([found[key][1] for key in keys], np.float32)

    @staticmethod
    def _request_key(request, decoder, pad_to: int) -> tuple:
        t, points, labels, box = request
        return (int(t), None if decoder is None else id(decoder), np.asarray(points, np.float64).tobytes(),
                np.asarray(labels, np.float64).tobytes(),
                np.asarray(box, np.float64).tobytes() if box is not None else pad_to)

    def _remember(self, keys: list[tuple], decoded: dict[tuple, tuple[np.ndarray, float]]) -> None:
        """Keep newly decoded masks for later runs, dropping the oldest beyond ``DECODE_CACHE_BYTES``."""
        for key in keys:
            self._decoded[key] = decoded[key]
        held = sum(mask.nbytes for mask, _ in self._decoded.values())
        while held > DECODE_CACHE_BYTES and self._decoded:
            held -= self._decoded.pop(next(iter(self._decoded)))[0].nbytes

    def _decode_batch(self, batch, decoder, pad_to: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = torch.stack([self._embeddings[t] for t, *_ in batch]).float().to(self.device)
        longest = max(len(points) for _, points, _, _ in batch)
        if batch[0][3] is None:
            longest = max(longest, pad_to)
        points = labels = boxes = None
        if longest:
            points = np.zeros((len(batch), longest, 2), np.float32)
            labels = -np.ones((len(batch), longest), np.float32)
            for row, (_, xy, lab, _) in enumerate(batch):
                points[row, :len(xy)] = self._frame.points_to_model(xy)
                labels[row, :len(xy)] = lab
            points, labels = torch.from_numpy(points).to(self.device), torch.from_numpy(labels).to(self.device)
        if batch[0][3] is not None:
            corners = np.stack([box for *_, box in batch]).reshape(-1, 2, 2)
            boxes = torch.from_numpy(self._frame.points_to_model(corners).reshape(-1, 4).astype(np.float32))
            boxes = boxes.to(self.device)
        with autocast(self.device, self.dtype):
            logits, quality = self.model.backbone.decode(embeddings, points, labels, boxes, self._runtime_decoder(
                self.model.backbone.mask_decoder if decoder is None else decoder))
        return logits.float(), quality.float()

    def _union(self, requests, decoded: np.ndarray) -> np.ndarray:
        masks = np.zeros(self._stack.shape, bool)
        for (t, *_), mask in zip(requests, decoded):
            masks[t] |= mask
        return masks

    def _base_decoder_boxes(self, prompts: Prompts, progress: ProgressFn | None,
                            cancel: CancelFn | None) -> DecodeBoxes:
        """``decode(slices, boxes)`` with the backbone's own decoder, each box with the negative ``prompts`` of its
        slice (the fitted boxes' and the carried clicks' decoding)."""
        decoder = self.model.base_decoder()
        negatives = prompts.select(~prompts.positive)

        def decode(slices: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            negative = [negatives.on_slice(int(t)) for t in slices]
            requests = [(int(t), xy, np.zeros(len(xy)), box) for t, xy, box in zip(slices, negative, boxes)]
            return self._decode(requests, decoder, progress, cancel)

        return decode

    def _carried_clicks(self, prompts: Prompts, progress: ProgressFn | None,
                        cancel: CancelFn | None) -> tuple[np.ndarray, list[int]]:
        """The raw route's decoding of clicks nothing competes with (:mod:`.click_carrying`): one box size for
        the structure, fitted on the clicked slices, then each mask carried slice by slice; also the slices
        carried to."""
        spacing = min(self._frame.spacing_xy)
        decode = self._base_decoder_boxes(prompts, progress, cancel)
        positive = prompts.select(prompts.positive)
        masks, half_mm, scores = clicked_masks(self._clusters(positive), decode, spacing, self._stack.shape,
                                               self.box_fitting, self.click_carrying)
        log.info("Clicks' box half-size %.0f mm (mean predicted IoU by size: %s)", half_mm,
                 ", ".join(f"{h:.0f} mm {s:.2f}" for h, s in scores.items()))
        return self._carried(masks, positive.slices, decode)

    def _clusters(self, positive: Prompts) -> list[Candidate]:
        """One box request per cluster of the ``positive`` prompts on each slice (the fitted boxes' cluster radius)."""
        return [Candidate(int(t), points) for t in positive.slices
                for points in cluster_points(positive.on_slice(t), self._cluster_px())]

    def _carried(self, masks: np.ndarray, clicked_slices: np.ndarray, decode: DecodeBoxes
                 ) -> tuple[np.ndarray, list[int]]:
        """``masks`` carried slice by slice (:func:`.click_carrying.carry_through_slices`) to the empty slices
        between the ``clicked_slices`` and beyond them as far as :func:`.click_carrying.reach_beyond` allows;
        also the slices carried to."""
        beyond = reach_beyond(masks, clicked_slices, min(self._frame.spacing_xy),
                              float(self.volume.spacing[self.axis]))
        lower = max(0, int(clicked_slices.min()) - beyond)
        upper = min(len(masks) - 1, int(clicked_slices.max()) + beyond)
        return carry_through_slices(masks, self._stack, decode, lower, upper, self.click_carrying)

    def _fitted_boxes(self, consensus: Consensus, progress: ProgressFn | None, cancel: CancelFn | None,
                      learned: np.ndarray | None = None, tau: float = 0.5,
                      fitting: BoxFitting | None = None) -> FittedStructure:
        """The continuity route's decoding (:mod:`.box_fitting`) with the backbone's own decoder: the masks, the
        slices filled from a neighbour, and the region left out by the ``learned`` prior.

        ``fitting``: the fitted boxes' settings, if not the predictor's own (clicks nothing competes with take the
        carried clicks' sizes, which go on to organs', :func:`.click_carrying.clicks_fitting`).

        ``learned``: the learned prior's map where it was overruled for the volume and the prompts trace a curve;
        it settles which of two regions on the same slices the curve traces and which it drifted onto (the one
        whose prompts it accepts), since a curve traces one structure. Not for clicks: among those, a region
        beside the structure is another limb of it (a colon's) that a prior tuned on one tube need not know."""
        fitting = self.box_fitting if fitting is None else fitting
        spacing = min(self._frame.spacing_xy)
        decode = self._base_decoder_boxes(consensus.prompts, progress, cancel)
        candidates = self._clusters(consensus.prompts.select(consensus.prompts.positive))
        half_mm, scores = choose_half_size(candidates, decode, spacing, fitting)
        log.info("Fitted box half-size %.0f mm (mean predicted IoU by size: %s)", half_mm,
                 ", ".join(f"{h:.0f} mm {s:.2f}" for h, s in scores.items()))
        masks = decode_candidates(candidates, decode, half_mm / spacing, self._stack.shape)
        vouched = None if learned is None else np.array(
            [bool((saliency_at(learned[c.slice_index], c.points_xy) > tau).any()) for c in candidates])
        masks, drifted = settle_regions(masks, candidates, vouched=vouched)
        audit = consensus.audit
        rejected = audit.status == REJECTED
        others = [Candidate(int(t), xy[None]) for t, xy in zip(audit.slice_index[rejected], audit.xy[rejected])]
        masks, _ = grow_by_overlap(masks, others, decode, half_mm / spacing, fitting)
        masks, filled = fill_gaps(masks, decode, fitting)
        return FittedStructure(masks, filled, drifted, half_mm)

    def _learned_masks(self, consensus: Consensus, saliency: np.ndarray, tau: float, options: InferenceOptions,
                       progress: ProgressFn | None, cancel: CancelFn | None) -> np.ndarray:
        """The learned route's decoding: the consensus prompts through the adapter's decoder, in its prompt mode.
        Of each slice's mask only the regions at a kept prompt stay: a tuned decoder also lights up other
        structures that look like the target (other bowel loops), far from every prompt."""
        requests = self._requests(consensus, options.decoder_prompt_mode(self.config.prompt_mode), tau, saliency)
        masks = self._union(requests, self._decode(requests, None, progress, cancel)[0])
        for t in consensus.slices:
            masks[t] = region_holding(masks[t], consensus.prompts.on_slice(int(t), positive=True), PROMPT_REACH_PX)
        return masks

    def _tuned_masks(self, prompts: Prompts, prior_map: np.ndarray, checked: np.ndarray, slices: np.ndarray | tuple,
                     cpd: CpdConfig, options: InferenceOptions, progress: ProgressFn | None,
                     cancel: CancelFn | None) -> np.ndarray:
        """The learned route's decoding on ``slices`` only: CPD on ``prior_map``, neighbours included, over the
        prompts the ``checked`` map keeps (the continuity prior, widened where the route widened it), so a
        drifted prompt the learned prior happens to like never reaches the tuned decoder."""
        consistent = ~prompts.positive
        consistent[prompts.positive] = accepted_by(checked, prompts.select(prompts.positive), cpd.tau)
        consensus = distil_prompts(prompts.select(consistent), prior_map, cpd)
        on_slices = np.isin(consensus.prompts.slice_index, slices)
        consensus = replace(consensus, prompts=consensus.prompts.select(on_slices),
                            slices=consensus.slices[np.isin(consensus.slices, slices)])
        return self._learned_masks(consensus, prior_map, cpd.tau, options, progress, cancel)

    def _learned_on_agreed_slices(self, masks: np.ndarray, prompts: Prompts, learned: np.ndarray,
                                  checked: np.ndarray, slices: tuple[int, ...], cpd: CpdConfig,
                                  options: InferenceOptions, progress: ProgressFn | None,
                                  cancel: CancelFn | None) -> np.ndarray:
        """``masks`` with the learned route's mask (:meth:`_tuned_masks` on the learned prior) on ``slices``,
        where it segments something."""
        learned_masks = self._tuned_masks(prompts, learned, checked, slices, cpd, options, progress, cancel)
        combined = masks.copy()
        for t in slices:
            if learned_masks[t].any():
                combined[t] = learned_masks[t]
        return combined

    def _tuned_outline(self, masks: np.ndarray, prompts: Prompts, checked: np.ndarray, cpd: CpdConfig,
                       options: InferenceOptions, progress: ProgressFn | None,
                       cancel: CancelFn | None) -> tuple[np.ndarray | None, float, float]:
        """The fitted boxes' ``masks`` with every slice cut to the tuned decoder's mask of the prompts ``checked``
        keeps, or None if that decoder does not see the same structure; also the share of its mask inside ``masks``
        and the share of ``masks`` it covers.

        The backbone's decoder outlines what a box holds (a bowel loop with its wall, say); a decoder tuned on the
        target draws the target's own outline, as it was labelled. Where more than ``TUNED_OUTLINE_MIN_INSIDE`` of
        its mask, over the volume, lies inside the structure, it sees that structure, and each slice keeps what
        both masks hold; else (a decoder tuned on other scans spreads over other structures) nothing changes. A
        slice the tuned decoder leaves empty keeps its fitted mask. The share of ``masks`` it covers is reported, not
        used: a gate on it was tried and not adopted (docs/DEFAULT_MODEL.md).
        Not called on clicks nothing competes with (``predict``'s carried clicks): there the tuned decoder cut the
        development CT's clicked organs and vessels down to a patch (docs/DEFAULT_MODEL.md)."""
        segmented = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
        return outline_within(masks, self._tuned_masks(prompts, checked, checked, segmented, cpd, options, progress,
                                                       cancel))

    def _wider_continuity(self, prompts: Prompts, continuity: np.ndarray, cpd: CpdConfig,
                          choice: PriorChoice) -> tuple[np.ndarray, Consensus | None, PriorChoice]:
        """When too few prompts agree with their nearest prompted slices: the continuity prior with the wider
        check (n of the ``WIDE_WINDOW`` x n nearest), which keeps clicks that hop between the cross-sections of
        one structure. If that finds no structure either, the raw route (every prompt as given), whose saliency
        output stays the first map: it shows why."""
        wide = continuity_saliency(prompts, self._stack.shape, self._frame.spacing_xy, cpd.neighbours,
                                   reach=self.box_fitting.gap_slices + 1, window=WIDE_WINDOW)
        consensus = distil_prompts(prompts, wide, cpd)
        if structure_found(consensus.prompts, prompts):
            looked_at = slices_looked_at(cpd.neighbours, WIDE_WINDOW)
            return wide, consensus, choice.noted(
                f"too few prompts agree with the prompted slices next to them, so each was checked against the "
                f"{looked_at} prompted slices nearest to it on each side, as for a structure with several "
                "cross-sections on a slice")
        raw = choice.noted("the prompts do not form one continuous structure (too few agree with their neighbours), "
                           "so each was segmented as given")
        return continuity, None, PriorChoice(RAW, raw.reason, choice.agreement)

    def _as_given(self, prompts: Prompts, options: InferenceOptions, cpd: CpdConfig, choice: PriorChoice,
                  progress: ProgressFn | None, cancel: CancelFn | None
                  ) -> tuple[np.ndarray, list[int], Consensus, PriorChoice]:
        """The raw route: masks, slices carried to, the consensus (every prompt kept) and the choice, with a note
        when clicks were carried. Asked for (``--prior raw``): the model as it is. Fallen back to: a few clicks
        nothing competes with carried through the structure (:mod:`.click_carrying`); other prompts, and clicks whose
        boxes held none of them, the frozen baseline (the untuned decoder, with boxes on a box-trained backbone)."""
        fell_back = options.prior != "raw"
        consensus = distil_prompts(prompts, None, replace(cpd, validate=False))
        if fell_back and self._clicks_to_carry(prompts):
            masks, carried = self._carried_clicks(prompts, progress, cancel)
            if masks.any():
                return masks, carried, consensus, choice.noted(CARRIED_CLICKS_NOTE)
        mode = options.decoder_prompt_mode("boxes" if fell_back and self.model.backbone.box_trained
                                           else self.config.prompt_mode)
        requests = self._requests(consensus, mode, cpd.tau, None)
        decoder = self.model.base_decoder() if fell_back else None
        return self._union(requests, self._decode(requests, decoder, progress, cancel)[0]), [], consensus, choice

    def _carried_past_clicks(self, masks: np.ndarray, filled: list[int], prompts: Prompts, choice: PriorChoice,
                             half_mm: float, progress: ProgressFn | None, cancel: CancelFn | None
                             ) -> tuple[np.ndarray, list[int], PriorChoice]:
        """The continuity route's ``masks`` of clicks nothing competes with, carried to the slices the clicks leave
        unclicked (:meth:`_carried`), past the outermost clicked slices most of all: clicks placed every few slices
        leave the structure's ends unclicked, and a structure clicked on a few neighbouring slices (an organ, a
        lesion) runs on past them. The ``filled`` slices gain the slices carried to, and the choice's note says so.

        A click on a slice the carried segment still leaves empty (the check against the neighbouring slices rejected
        it, and the carrying stopped short of it) is the user's click on the structure all the same, as on the raw
        route: its region in a box of the fitted ``half_mm`` joins the segment, which is carried again from there
        (the MR aorta's lower clicks, docs/DEFAULT_MODEL.md)."""
        clicked = prompts.select(prompts.positive)
        decode = self._base_decoder_boxes(prompts, progress, cancel)
        masks, carried = self._carried(masks, clicked.slices, decode)
        left_out = [c for c in self._clusters(clicked) if not masks[c.slice_index].any()]
        seeds = decode_candidates(left_out, decode, half_mm / min(self._frame.spacing_xy), masks.shape)
        if seeds.any():
            masks, carried_from_seeds = self._carried(masks | seeds, clicked.slices, decode)
            carried = sorted(set(carried) | set(carried_from_seeds))
        if not carried:
            return masks, filled, choice
        return masks, sorted(set(filled) | set(carried)), choice.noted(f"{CARRIED_PAST_CLICKS_NOTE} ({len(carried)} "
                                                                        "slices)")

    def _carried_cross_sections(self, masks: np.ndarray, filled: list[int], consensus: Consensus, choice: PriorChoice,
                                progress: ProgressFn | None, cancel: CancelFn | None
                                ) -> tuple[np.ndarray, list[int], PriorChoice]:
        """The continuity route's ``masks`` of prompts no curve traced, among which some compete (clicks nothing
        competes with are carried whole, :meth:`_carried_past_clicks`), each cross-section carried to the slices of
        the kept prompts where it is missing (:func:`.click_carrying.carry_cross_sections`); the ``filled`` slices
        gain the empty slices carried to, and the choice's note says how many cross-sections were carried. Clicks on
        a structure with several cross-sections on a slice (a colon's limbs) reach each limb on a few slices only,
        since the check against the neighbouring slices rejects those that hop between limbs. A traced curve is not
        carried: it says which one structure it traces, and a cross-section beside it is a neighbouring loop."""
        kept = consensus.prompts.select(consensus.prompts.positive).slices
        decode = self._base_decoder_boxes(consensus.prompts, progress, cancel)
        masks, count, gained = carry_cross_sections(masks, self._stack, decode, int(kept.min()), int(kept.max()),
                                                    self.click_carrying)
        if not count:
            return masks, filled, choice
        return masks, sorted(set(filled) | set(gained)), choice.noted(
            f"{CARRIED_CROSS_SECTIONS_NOTE} ({count} {'cross-section' if count == 1 else 'cross-sections'}; "
            f"{len(gained)} {'slice' if len(gained) == 1 else 'slices'} that held nothing now hold one)")

    def _limbs_the_scan_confirms(self, masks: np.ndarray, filled: list[int], prompts: Prompts, consensus: Consensus,
                                 half_mm: float, choice: PriorChoice, progress: ProgressFn | None,
                                 cancel: CancelFn | None) -> tuple[np.ndarray, list[int], PriorChoice]:
        """The random clicks' ``masks`` with the other limbs of the structure that a prior fitted to this scan, with the
        segment as its label, confirms (:mod:`.scan_prior`); the ``filled`` slices gain the empty slices they reach,
        and the choice's note says how many limbs joined."""
        if not masks.any():
            return masks, filled, choice
        if cancel is not None and cancel():
            raise Cancelled()
        kept = consensus.prompts.select(consensus.prompts.positive).slices
        found = limbs_the_clicks_point_at(
            masks, self._scan_probe_scores(masks), self._stack,
            self._base_decoder_boxes(consensus.prompts, progress, cancel), prompts.select(prompts.positive),
            half_mm / min(self._frame.spacing_xy), int(kept.min()), int(kept.max()), self.click_carrying)
        if not found.joined:
            return masks, filled, choice
        return found.masks, sorted(set(filled) | set(found.gained)), choice.noted(
            f"{SCAN_PRIOR_LIMBS_NOTE} ({found.joined} {'limb' if found.joined == 1 else 'limbs'})")

    def _audit_reach_px(self) -> int:
        """How near the segment the audit counts a kept prompt as held, in pixels of this volume's slices:
        ``PROMPT_REACH_PX`` 1.5 mm cells, so that a prompt's verdict does not depend on the matrix. The masks' own
        2-pixel reaches (the learned route's regions, the drift's prompts) stay pixels: counted in cells too, they lost
        1 DSC point on the 0.75 mm development small bowel's centerline runs (docs/DEFAULT_MODEL.md)."""
        return int(round(PROMPT_REACH_PX * pixels_per_cell(self._frame.spacing_xy)))

    def _scan_probe_scores(self, masks: np.ndarray, steps: int = PROBE_STEPS) -> np.ndarray:
        """(S, H, W) scores of the probe fitted to ``masks`` on the encoded slices' embeddings
        (:func:`.scan_prior.fit_scan_probe`), 0 on the slices not encoded."""
        slices = sorted(self._embeddings)
        embeddings = [self._embeddings[t] for t in slices]
        cover = self._frame.masks_to_model(torch.from_numpy(masks[slices].astype(np.float32)),
                                           embeddings[0].shape[-1])[:, 0]
        scores = np.zeros(masks.shape, np.float32)
        probe = fit_scan_probe(embeddings, cover, steps).cpu()
        scores[slices] = self._frame.maps_to_slice(probe)[:, 0].float().numpy()
        return scores

    def _clicks_to_carry(self, prompts: Prompts) -> bool:
        """Whether prompts that formed no structure are clicks to take as given and carry (:mod:`.click_carrying`)."""
        return clicks_to_carry(prompts.select(prompts.positive), *self._click_scale())

    def _click_scale(self) -> tuple[int, float]:
        """The reach (slices) and the cluster radius (pixels) the clicks' checks use: the fitted boxes'."""
        return self.box_fitting.gap_slices + 1, self._cluster_px()

    def _cluster_px(self) -> float:
        """The fitted boxes' cluster radius in pixels of this volume's slices."""
        return self.box_fitting.cluster_mm / min(self._frame.spacing_xy)

    def _other_cross_sections(self, prompts: Prompts, continuity: np.ndarray, consensus: Consensus, cpd: CpdConfig,
                              choice: PriorChoice) -> tuple[np.ndarray, Consensus, PriorChoice]:
        """The continuity prior widened to the rejected prompts that form a structure among themselves
        (:func:`.continuity_prior.cross_section_saliency`): the other limbs of a colon or loops of a small bowel
        the user clicked on every few slices."""
        positive = prompts.select(prompts.positive)
        kept = accepted_by(continuity, positive, cpd.tau)
        other = cross_section_saliency(positive, kept, self._stack.shape, self._frame.spacing_xy,
                                       reach=self.box_fitting.gap_slices + 1)
        added = 0 if other is None else int((accepted_by(other, positive, cpd.tau) & ~kept).sum())
        if not added:
            return continuity, consensus, choice
        combined = np.maximum(continuity, other)
        return combined, distil_prompts(prompts, combined, cpd), choice.noted(
            f"{added} prompts that disagree with their nearest prompted slices agree among themselves (another "
            "cross-section of the structure on the same slices), so they were kept too")

    def _check_options(self, options: InferenceOptions) -> None:
        if options.device != self.options.device and resolve_device(options.device) != self.device:
            raise ValueError(f"This predictor runs on {self.device}; build another one for device {options.device}.")
        if options.precision != self.options.precision:
            raise ValueError(f"This predictor runs in precision {self.options.precision}; build another one for "
                             f"{options.precision}.")

    def predict(self, prompts: Prompts, options: InferenceOptions | None = None, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None) -> Prediction:
        """Encode what is missing, choose the prior, run CPD, decode; raise :class:`Cancelled` if ``cancel()``
        turns True.

        Args:
            options: this run's settings (default: the predictor's); None fields keep the adapter's.
        """
        if self._stack is None:
            raise RuntimeError("Call set_volume(...) before predict(...).")
        if len(prompts) == 0 or not prompts.positive.any():
            raise ValueError("No positive prompt lies on any slice; draw the centerline or points on this volume.")
        options = options or self.options
        self._check_options(options)
        if options.batch_size:
            self.batch_size = options.batch_size
            self.decode_batch_size = max(self.batch_size, self._default_decode_batch_size())
        started = time.perf_counter()
        cpd = options.cpd_config(self.config.cpd)
        # the de-duplication radius counts 1.5 mm cells on finer pixels, as the curve's prompts do
        cpd = replace(cpd, validate=True, dedup_px=cpd.dedup_px * pixels_per_cell(self._frame.spacing_xy))
        learned = None
        if self.config.saliency and options.prior in ("auto", "learned"):
            # choosing the prior reads the learned saliency at the prompts only; the slices next to them are encoded
            # when the learned route takes them (CPD borrows onto them), else only if the decoder needs them
            self.encode(self._slices_around(prompts, 0), progress, cancel)
            learned = self._saliency
        continuity = None
        if options.prior != "raw":
            continuity = continuity_saliency(prompts, self._stack.shape, self._frame.spacing_xy, cpd.neighbours,
                                             reach=self.box_fitting.gap_slices + 1)
        choice = choose_prior(options.prior, learned, continuity, prompts, cpd.tau)
        filled: list[int] = []
        if choice.route == LEARNED:
            self.encode(self._slices_around(prompts, cpd.neighbours), progress, cancel)
            saliency = learned.copy()
            for t in choice.overruled_slices:
                saliency[t] = continuity[t]
            consensus = distil_prompts(prompts, saliency, cpd)
            masks = self._learned_masks(consensus, saliency, cpd.tau, options, progress, cancel)
        else:
            # the continuity map stays the saliency output even when it was too thin to trust: it shows why
            saliency = continuity
            consensus = distil_prompts(prompts, continuity, cpd) if choice.route == CONTINUITY else None
            if consensus is not None and not structure_found(consensus.prompts, prompts):
                saliency, consensus, choice = self._wider_continuity(prompts, continuity, cpd, choice)
            elif consensus is not None:
                saliency, consensus, choice = self._other_cross_sections(prompts, continuity, consensus, cpd, choice)
            if choice.route == CONTINUITY:
                traced = bool((prompts.curve[prompts.positive] >= 0).all())
                # clicks nothing competes with (an organ clicked every few slices or on a few neighbouring ones): box
                # sizes that go on to organs', and the segment carried to the slices the clicks leave unclicked
                carry = clicks_forming_a_structure_to_carry(prompts, *self._click_scale())
                fitted = self._fitted_boxes(consensus, progress, cancel, learned if traced else None, cpd.tau,
                                            clicks_fitting(self.box_fitting, self.click_carrying) if carry else None)
                masks, filled = fitted.masks, fitted.filled
                choice = replace(choice, drift_slices=fitted.drift_slices)
                if carry:
                    masks, filled, choice = self._carried_past_clicks(masks, filled, prompts, choice,
                                                                      fitted.half_mm, progress, cancel)
                elif not traced:
                    masks, filled, choice = self._carried_cross_sections(masks, filled, consensus, choice, progress,
                                                                         cancel)
                    masks, filled, choice = self._limbs_the_scan_confirms(masks, filled, prompts, consensus,
                                                                          fitted.half_mm, choice, progress, cancel)
                # clicks nothing competes with were given as the structure, sized and carried as an organ: the
                # decoder tuned on a bowel's lumen cuts a clicked organ down to a patch, so it draws no outline there
                if learned is not None and self.model.decoder_tuned and not carry:
                    outlined, inside, cover = self._tuned_outline(masks, fitted.without_drift(prompts), saliency, cpd,
                                                                  options, progress, cancel)
                    choice = replace(choice, tuned_outline_inside=inside, tuned_outline_cover=cover,
                                     tuned_outline=outlined is not None)
                    masks = masks if outlined is None else outlined
                if choice.agreed_slices:
                    masks = self._learned_on_agreed_slices(masks, prompts, learned, saliency, choice.agreed_slices,
                                                           cpd, options, progress, cancel)
                if not masks.any():
                    # a box fitted to the structure can hold none of the prompts (the decoder's region beside each
                    # click in a box larger than the structure): segment them as given rather than return nothing
                    held_none = choice.noted("the boxes fitted to the structure held none of the prompts, so each "
                                             "was segmented as given")
                    choice = PriorChoice(RAW, held_none.reason, choice.agreement)
            if choice.route == RAW:
                masks, filled, consensus, choice = self._as_given(prompts, options, cpd, choice, progress, cancel)
        if choice.route != RAW:
            # the audit's last word: which prompts the segment holds (a prior's kept prompt it does not reach, a
            # rejected one it covers), whichever step decided it (the 3D check, the outline, the learned route)
            consensus = replace(consensus, audit=consensus.audit.settled(masks, self._audit_reach_px()))
        notices = list(self.notices) + self._prepared_notice() + (
            [f"{choice.reason[0].upper()}{choice.reason[1:]}."] if choice.reason else []) + (
            [note for note in (choice.outline_note, choice.drift_note) if note])
        seconds = time.perf_counter() - started
        audit = consensus.audit
        in_segment = int(audit.in_segment().sum())
        log.info("SPD (%s): %d slices segmented, %d prompts in the segment, %d not, %.1f s", choice.label,
                 int(masks.reshape(len(masks), -1).any(axis=1).sum()), in_segment, len(audit.status) - in_segment,
                 seconds)
        return Prediction(np.ascontiguousarray(from_stack(masks.astype(np.uint8), self.axis)),
                          None if saliency is None else from_stack(saliency, self.axis).copy(), consensus,
                          np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1)), seconds, choice, tuple(filled),
                          notices)
