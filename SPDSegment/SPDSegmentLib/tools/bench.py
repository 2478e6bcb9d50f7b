"""``spdsegment bench``: the stock SAM loop against SPDSegment's path, in one process on one device.

- **stock**: what SAM plugins for Slicer do: for each slice, segment-anything's ``SamPredictor``
  ``set_image`` + ``predict`` in fp32, on a backbone without inference rewrites.
- **spd-fp32**: SPDSegment's predictor (saliency, CPD, decoder) without the fast path.
- **spd-fast**: the same with the fast path (folded Conv+BN, fused attention, channels-last, autocast,
  optional ``torch.compile``); its masks are compared with spd-fp32 (DSC).
- **spd-onnx**, **spd-openvino** (on the CPU, where ONNX Runtime or OpenVINO is installed): the same with the
  encoder and the mask decoder exported to ONNX and run by that runtime; **spd-auto** (where both are installed)
  is the default, ``--runtime auto``: the encoder on OpenVINO, the decoder on ONNX Runtime, each the faster
  measured. The exports are prepared before the timed runs (the first run of a model pays it once, see
  ``onnx_export_seconds``).
- **spd-rerun**: predicting again after every prompt moved by 1 pixel, from the embedding cache of the last
  path (every decoder request is new).
- **spd-edit**: then predicting again after the prompts of one slice, mid-curve, moved by 2 more pixels (a
  control point dragged): the predictor decodes again only the requests the edit changed.

The volume is a generated MR-enterography-like sample with ``--slices`` slices, prompted with one positive
point on every slice (``every-slice``, the worst case) or with the simulated clinician centerline on the
slices the terminal ileum spans (``centerline``). The stock loop runs on every prompted slice; SPDSegment
also encodes the n = 2 neighbours CPD consults. ms/slice is per prompted slice.

With LiteMedSAM, SPDSegment runs the embedded adapter as shipped (τ = 0.5: CPD may drop prompts or borrow
them onto neighbours), and the stock loop gets a box of ±``box_mm`` around each slice's first point, as
LiteMedSAM expects; both are scored against the sample's truth. On a SAM ViT (random weights unless a
checkpoint is given: timing only) both take point prompts and CPD runs with τ = 0, so it keeps every prompt.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from scipy import ndimage

from ..errors import InputError
from ..inference.backbones import build_backbone
from ..inference.cpd import CpdConfig
from ..inference.device import resolve_device
from ..inference.metrics import compute_dice
from ..inference.model import AdapterConfig, SpdModel, build_model
from ..inference.model_spec import LITEMEDSAM, RANDOM_WEIGHTS, ModelSpec, parse_model_spec
from ..inference.exported_graphs import runtime_missing
from ..inference.options import InferenceOptions
from ..inference.predictor import SpdPredictor
from ..inference.prompts import Prompts, curve_to_prompts
from ..inference.slices import ModelFrame, in_plane_spacing, normalise_intensity, to_stack
from ..training.simulate import simulate_clinician_centerline
from ..training.synthetic import generate_case

GENERATED_MATRIX = 160  # in-plane pixels of the generated sample (1.5 mm, a 240 mm field)


@dataclass
class Timing:
    path: str
    slices: int
    seconds: float
    peak_memory_mb: float
    dsc_vs_fp32: float | None = None
    dsc_vs_truth: float | None = None

    @property
    def ms_per_slice(self) -> float:
        return 1000.0 * self.seconds / max(1, self.slices)

    @property
    def slices_per_second(self) -> float:
        return self.slices / self.seconds if self.seconds > 0 else float("inf")


class PeakMemory:
    """Peak GPU memory allocated (CUDA) or peak resident set size of this process (CPU) inside ``measure``.

    On the CPU the figure includes what the process already held (libraries, models of earlier paths).
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_bytes = 0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * 4096

    @contextmanager
    def measure(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            yield
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated()
            return
        stop = threading.Event()
        peak = [self._rss()]

        def sample():
            while not stop.wait(0.005):
                peak[0] = max(peak[0], self._rss())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join()
            self.peak_bytes = max(peak[0], self._rss())


def bench_case(n_slices: int, seed: int = 2026, prompts: str = "every-slice", matrix: int | None = None):
    """A generated sample with ``n_slices`` slices and its prompts.

    Args:
        prompts: ``every-slice`` (one positive point on every slice, at the target where there is one) or
            ``centerline`` (the simulated clinician centerline, on the slices the terminal ileum spans).
        matrix: in-plane pixels of the sample (``GENERATED_MATRIX`` if None); another matrix resamples the same
            field and anatomy onto it (:func:`on_matrix`), and the centerline is the same curve in space.
    """
    case = generate_case(seed, shape_kji=(max(n_slices, 40), GENERATED_MATRIX, GENERATED_MATRIX))
    if n_slices < 40:  # the generator needs room for its loops; keep the slices through the target
        k0 = int(np.clip(np.flatnonzero(case.label_kji.any(axis=(1, 2))).mean() - n_slices / 2, 0, 40 - n_slices))
        volume = replace(case.volume, array_kji=case.volume.array_kji[k0:k0 + n_slices],
                         origin=case.volume.ijk_to_lps_points(np.array([[0.0, 0.0, k0]]))[0])
        case = replace(case, volume=volume, label_kji=case.label_kji[k0:k0 + n_slices],
                       neighbours_kji=case.neighbours_kji[k0:k0 + n_slices])
    curve = simulate_clinician_centerline(case.label_kji > 0, case.volume, 2, seed) if prompts == "centerline" else None
    if matrix is not None and matrix != GENERATED_MATRIX:
        case = on_matrix(case, matrix)
    if curve is not None:
        return case, curve_to_prompts([curve], case.volume, 2)
    if prompts != "every-slice":
        raise ValueError(f"bench prompts must be every-slice or centerline, got {prompts!r}.")
    stack = to_stack(case.label_kji, 2)
    xy = []
    for t in range(n_slices):
        ys, xs = np.nonzero(stack[t])
        xy.append((xs.mean(), ys.mean()) if len(xs) else (stack.shape[2] / 2, stack.shape[1] / 2))
    return case, Prompts(np.arange(n_slices), np.array(xy), np.ones(n_slices, bool))


def on_matrix(case, matrix: int):
    """``case`` resampled in plane onto ``matrix`` x ``matrix`` pixels over the same field (the image linearly, the
    label and neighbours by nearest neighbour): the same anatomy on a clinical matrix, as a 512 x 512 scan has."""
    height, width = case.label_kji.shape[1:]
    zoom = (1.0, matrix / height, matrix / width)

    def resampled(array: np.ndarray, order: int) -> np.ndarray:
        return ndimage.zoom(array, zoom, order=order, grid_mode=True, mode="nearest")

    volume = case.volume
    scale = np.array([width / matrix, height / matrix, 1.0])  # I, J, K
    first_centre = np.array([[(scale[0] - 1) / 2, (scale[1] - 1) / 2, 0.0]])  # in the old voxels
    volume = replace(volume, array_kji=resampled(volume.array_kji, 1), spacing=volume.spacing * scale,
                     origin=volume.ijk_to_lps_points(first_centre)[0])
    return replace(case, volume=volume, label_kji=resampled(case.label_kji, 0),
                   neighbours_kji=resampled(case.neighbours_kji, 0))


def _spd_model(spec: ModelSpec, image_size: int | None) -> SpdModel:
    """The embedded SPD adapter, as shipped, for LiteMedSAM. On a SAM ViT, a randomly initialised saliency
    head with τ = 0 (so CPD keeps every prompt) and point prompts, as the stock loop uses."""
    if spec.backbone == LITEMEDSAM:
        return build_model("default").eval()
    backbone = build_backbone(spec, image_size)
    config = AdapterConfig.for_variant("spd", backbone, lora_rank=0, cpd=CpdConfig(tau=0.0, neighbours=2),
                                       prompt_mode="points")
    return SpdModel(backbone, config).eval()


def run_stock(spec: ModelSpec, image_size: int | None, device: torch.device, case, prompts: Prompts,
              box_mm: float):
    """segment-anything's SamPredictor, one slice at a time, fp32. Returns (masks (S, H, W), seconds)."""
    from segment_anything import SamPredictor
    from segment_anything.modeling import Sam

    backbone = build_backbone(spec, image_size)
    sam = Sam(backbone.image_encoder, backbone.prompt_encoder, backbone.mask_decoder,
              pixel_mean=(backbone.pixel_mean.flatten() * 255).tolist(),
              pixel_std=(backbone.pixel_std.flatten() * 255).tolist()).to(device).eval()
    sam.image_encoder.img_size = backbone.image_size  # LiteMedSAM's TinyViT does not carry it
    predictor = SamPredictor(sam)
    volume = case.volume
    stack = to_stack(normalise_intensity(volume.array_kji), 2)
    frame = ModelFrame(*stack.shape[1:], backbone.image_size, in_plane_spacing(volume, 2))
    masks = np.zeros(stack.shape, np.uint8)
    half_box = box_mm / min(frame.spacing_xy)
    started = time.perf_counter()
    for t in prompts.slices:
        rgb = np.repeat((stack[t] * 255).astype(np.uint8)[..., None], 3, axis=2)
        predictor.set_image(rgb)
        x, y = prompts.on_slice(t, positive=True)[0]
        if backbone.box_trained:
            result, _, _ = predictor.predict(box=np.array([x - half_box, y - half_box, x + half_box, y + half_box]),
                                             multimask_output=False)
        else:
            result, _, _ = predictor.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]),
                                             multimask_output=False)
        masks[t] = result[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return masks, time.perf_counter() - started


def run_benchmark(backbone: str = "litemedsam", device: str = "auto", n_slices: int = 100,
                  image_size: int | None = None, precision: str = "auto", compile: bool = False,
                  batch_size: int | None = None, box_mm: float = 10.0, skip_stock: bool = False,
                  prompt_kind: str = "every-slice", only_path: str | None = None, matrix: int | None = None) -> dict:
    spec = parse_model_spec(backbone, missing_checkpoint=RANDOM_WEIGHTS)
    if spec.is_adapter:
        raise InputError(f"bench times a backbone; {backbone} is an adapter. Name its backbone instead.")
    torch_device = resolve_device(device)
    case, prompts = bench_case(n_slices, prompts=prompt_kind, matrix=matrix)
    n_prompted = len(prompts.slices)
    paths = [("spd-fp32", False, "fp32", "torch"), ("spd-fast", True, precision, "torch")]
    if torch_device.type == "cpu":
        # each runtime alone, then the default's mix of both: the re-runs below use the last
        installed = [runtime for runtime in ("onnx", "openvino") if runtime_missing(runtime) is None]
        paths += [(f"spd-{runtime}", True, "fp32", runtime) for runtime in installed]
        if len(installed) == 2:
            paths.append(("spd-auto", True, "fp32", "auto"))
    if only_path is not None:
        names = [name for name, *_ in paths]
        if only_path not in names:
            raise InputError(f"--path {only_path} is not one of this device's paths: {', '.join(names)}.")
        paths = [path for path in paths if path[0] == only_path]
    memory = PeakMemory(torch_device)
    results = {}
    timings: list[Timing] = []
    stock_masks = None
    if not skip_stock:
        with memory.measure():
            stock_masks, seconds = run_stock(spec, image_size, torch_device, case, prompts, box_mm)
        timings.append(Timing("stock", n_prompted, seconds, memory.peak_bytes / 2**20,
                              dsc_vs_truth=float(compute_dice(stock_masks, to_stack(case.label_kji > 0, 2)))))

    export_seconds = None
    for name, fast, path_precision, runtime in paths:
        options = InferenceOptions(device=torch_device.type, precision=path_precision, batch_size=batch_size,
                                   runtime=runtime)
        predictor = SpdPredictor(_spd_model(spec, image_size), options, fast=fast, compile=compile and fast)
        if compile and fast:  # compile outside the timed run, as a warm Slicer session would have it
            predictor.set_volume(case.volume, 2)
            predictor.predict(Prompts(prompts.slice_index[:2], prompts.xy[:2], prompts.positive[:2],
                                     prompts.curve[:2]))
        if runtime != "torch":  # exported once per model and kept, as a second Slicer run finds it
            export_seconds = predictor.prepare_exports() or export_seconds
        with memory.measure():
            predictor.set_volume(case.volume, 2)
            results[name] = predictor.predict(prompts)
        timings.append(Timing(name, n_prompted, results[name].seconds, memory.peak_bytes / 2**20,
                              dsc_vs_truth=float(compute_dice(results[name].mask_kji, case.label_kji > 0))))
        if fast and "spd-fp32" in results:
            timings[-1].dsc_vs_fp32 = float(compute_dice(results[name].mask_kji, results["spd-fp32"].mask_kji))
    edited = Prompts(prompts.slice_index, prompts.xy + 1.0, prompts.positive, prompts.curve)
    with memory.measure():
        rerun = predictor.predict(edited)
    timings.append(Timing("spd-rerun", n_prompted, rerun.seconds, memory.peak_bytes / 2**20))
    dragged = edited.slice_index == edited.slices[len(edited.slices) // 2]
    one_slice = Prompts(edited.slice_index, edited.xy + 2.0 * dragged[:, None], edited.positive, edited.curve)
    with memory.measure():
        edit = predictor.predict(one_slice)
    timings.append(Timing("spd-edit", n_prompted, edit.seconds, memory.peak_bytes / 2**20))
    report = {"device": torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda" else
              f"CPU, {torch.get_num_threads()} threads", "backbone": spec.backbone,
              "image_size": image_size or (256 if spec.backbone == LITEMEDSAM else 1024),
              "weights": "random" if spec.random_weights else ("bundled" if spec.checkpoint is None else "given"),
              "volume_slices": n_slices, "matrix": list(case.label_kji.shape[1:]),
              "spacing_mm": [round(float(v), 4) for v in case.volume.spacing],
              "prompted_slices": n_prompted, "prompts": prompt_kind,
              "precision": precision, "compile": compile, "onnx_export_seconds": export_seconds,
              "timings": [{**asdict(t), "ms_per_slice": t.ms_per_slice, "slices_per_second": t.slices_per_second}
                          for t in timings]}
    stock = next((t for t in timings if t.path == "stock"), None)
    if stock is not None:
        report["speedup_vs_stock"] = {t.path: stock.seconds / t.seconds for t in timings
                                      if t.path in ("spd-fast", "spd-onnx", "spd-openvino", "spd-auto")}
    return report


def format_report(report: dict) -> str:
    lines = [f"{report['backbone']} at {report['image_size']} ({report['weights']} weights), "
             f"{report['volume_slices']}-slice volume of {report['matrix'][1]} x {report['matrix'][0]} pixels "
             f"({report['spacing_mm'][0]:g} x {report['spacing_mm'][1]:g} x {report['spacing_mm'][2]:g} mm), "
             f"{report['prompted_slices']} prompted slices "
             f"({report['prompts']}), on {report['device']}; "
             f"precision {report['precision']}, compile {report['compile']}",
             f"{'path':<12} {'seconds':>8} {'ms/slice':>9} {'slices/s':>9} {'peak MB':>9} {'DSC vs fp32':>12} "
             f"{'DSC vs truth':>13}"]
    for t in report["timings"]:
        dsc = "" if t["dsc_vs_fp32"] is None else f"{t['dsc_vs_fp32']:.4f}"
        truth = "" if t["dsc_vs_truth"] is None else f"{t['dsc_vs_truth']:.3f}"
        lines.append(f"{t['path']:<12} {t['seconds']:>8.2f} {t['ms_per_slice']:>9.1f} "
                     f"{t['slices_per_second']:>9.2f} {t['peak_memory_mb']:>9.0f} {dsc:>12} {truth:>13}")
    for path, ratio in report.get("speedup_vs_stock", {}).items():
        lines.append(f"{path} vs stock: {ratio:.2f}x faster")
    if report.get("onnx_export_seconds"):
        lines.append(f"ONNX export (once per model, kept in the model store): {report['onnx_export_seconds']:.1f} s")
    return "\n".join(lines)


def report_json(report: dict) -> str:
    return json.dumps(report, indent=1)
