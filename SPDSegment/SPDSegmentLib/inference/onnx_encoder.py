"""The image encoder exported as an ONNX graph and run by OpenVINO or ONNX Runtime: the faster CPU paths
(figures in docs/PERFORMANCE.md).

The encoder (intensity normalisation, LoRA and all) is exported once per encoder key (backbone weights, LoRA
tensors, input size), torch version (the exporter) and export format, into ``<models_dir>/exported/<key>.onnx``,
with ``<key>.json`` holding the file's SHA256. A file whose hash does not match (damaged, half-written, edited) is
rebuilt, never trusted; a new export removes the same encoder's outdated ones; a store that cannot be written to
gets an export held in memory for this run. Either runtime compiles the graph when it loads it, so nothing of a
runtime's version is kept.

Only the encoder runs here: it is most of a CPU run's time. The saliency head and the mask decoder stay in
torch, on the embeddings this returns.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import InputError
from .home import models_dir
from .io import output_set, sha256_of_file

log = logging.getLogger(__name__)

EXPORT_FORMAT = 2  # bump when the exported graph changes for the same weights
OPSET = 18


EXPORTED_RUNTIMES = ("openvino", "onnx")  # the order ``auto`` tries them in: OpenVINO measured faster
RUNTIME_NAMES = {"openvino": "OpenVINO", "onnx": "ONNX Runtime"}
RUNTIME_PACKAGES = {"openvino": "openvino", "onnx": "onnxruntime"}  # the module and the pip package


def runtime_missing(runtime: str) -> str | None:
    """None when ``runtime`` (``openvino`` or ``onnx``) imports and the exporter's ``onnx`` package is installed,
    else what is missing.

    ``onnx`` is only looked up, not imported: importing it takes most of a second, and only an export needs it.
    """
    module = RUNTIME_PACKAGES[runtime]
    try:
        importlib.import_module(module)
    except ImportError as error:
        return f"{error.name or module} is not installed"
    if importlib.util.find_spec("onnx") is None:
        return "onnx is not installed"
    return None


class _Encode(nn.Module):
    """``backbone.encode`` as a module, so the export holds the normalisation too."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.encode(images)


class ExportedEncoder:
    """Callable like ``backbone.encode``: (B, 3, S, S) float32 in [0, 1] -> (B, 256, e, e) on the CPU, running the
    exported graph on one runtime (the subclasses).

    Attributes:
        runtime: ``onnx`` or ``openvino``.
        path: the exported file (None when it is held in memory).
        prepared_s: seconds spent exporting in this process (0.0 when a kept export was reused).
    """

    runtime = ""

    def __init__(self, path: Path | None, prepared_s: float):
        self.path = path
        self.prepared_s = prepared_s

    def _run(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().to("cpu", torch.float32).numpy()
        # one image per call: TinyViT takes its batch size from len(x), which the export fixes at 1
        return torch.from_numpy(np.concatenate([self._run(np.ascontiguousarray(image)) for image in array[:, None]]))


class OnnxRuntimeEncoder(ExportedEncoder):
    runtime = "onnx"

    def __init__(self, model_bytes_or_path: bytes | Path, threads: int, path: Path | None, prepared_s: float):
        import onnxruntime as ort

        super().__init__(path, prepared_s)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = str(model_bytes_or_path) if isinstance(model_bytes_or_path, Path) else model_bytes_or_path
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    def _run(self, image: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"images": image})[0]


class OpenVinoEncoder(ExportedEncoder):
    """On OpenVINO's CPU plugin, in fp32 (its default on CPUs with bf16 units would be bf16)."""

    runtime = "openvino"

    def __init__(self, model_bytes_or_path: bytes | Path, threads: int, path: Path | None, prepared_s: float):
        import openvino

        super().__init__(path, prepared_s)
        core = openvino.Core()
        model = core.read_model(str(model_bytes_or_path) if isinstance(model_bytes_or_path, Path)
                                else model_bytes_or_path)
        settings = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.request = core.compile_model(model, "CPU", settings).create_infer_request()

    def _run(self, image: np.ndarray) -> np.ndarray:
        return self.request.infer({0: image})[0].copy()


_RUNNERS = {"onnx": OnnxRuntimeEncoder, "openvino": OpenVinoEncoder}


def export_key(encoder_key: str) -> str:
    text = f"{encoder_key}|torch {torch.__version__}|opset {OPSET}|format {EXPORT_FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def export_bytes(backbone: nn.Module, image_size: int) -> bytes:
    """The encoder as an ONNX graph for one image at a time (fp32, the CPU)."""
    module = _Encode(backbone).eval()
    example = torch.rand(1, 3, image_size, image_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, input_names=["images"], output_names=["embeddings"],
                          opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def _kept_export(path: Path) -> bool:
    """True when ``path`` and its record exist and the file's SHA256 is the recorded one."""
    record = path.with_suffix(".json")
    if not (path.is_file() and record.is_file()):
        return False
    try:
        expected = json.loads(record.read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return sha256_of_file(path) == expected


def _remove_stale_exports(directory: Path, encoder_key: str, kept: Path) -> None:
    """Delete the exports of the same encoder made under another key (an older torch, opset or format): they are
    never loaded again, and an export of a large backbone takes gigabytes."""
    for record in directory.glob("*.json"):
        if record.with_suffix(".onnx") == kept:
            continue
        try:
            stale = json.loads(record.read_text(encoding="utf-8")).get("encoder_key") == encoder_key
        except (OSError, ValueError, AttributeError):
            continue
        if stale:
            try:
                record.with_suffix(".onnx").unlink(missing_ok=True)
                record.unlink(missing_ok=True)
            except OSError as error:
                log.warning("Could not remove the outdated ONNX export %s (%s).", record.with_suffix(".onnx"), error)
                continue
            log.info("Removed the outdated ONNX export %s.", record.with_suffix(".onnx"))


def exported_encoder(backbone: nn.Module, image_size: int, encoder_key: str, threads: int, runtime: str = "onnx",
                     directory: Path | None = None) -> ExportedEncoder:
    """The kept export for this encoder, or a new one (kept for next time when the store can be written), loaded
    into ``runtime`` (``openvino`` or ``onnx``)."""
    runner = _RUNNERS[runtime]
    directory = directory or models_dir() / "exported"
    path = directory / f"{export_key(encoder_key)}.onnx"
    if _kept_export(path):
        return runner(path, threads, path, 0.0)
    if path.exists():
        log.warning("The kept ONNX export %s does not match its recorded hash; exporting it again.", path)
    started = time.perf_counter()
    data = export_bytes(backbone, image_size)
    prepared = time.perf_counter() - started
    record = {"sha256": hashlib.sha256(data).hexdigest(), "encoder_key": encoder_key, "opset": OPSET,
              "torch": torch.__version__}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with output_set(force=True) as outputs:
            outputs.add(path).write_bytes(data)
            outputs.add(path.with_suffix(".json")).write_text(json.dumps(record, indent=1), encoding="utf-8")
        _remove_stale_exports(directory, encoder_key, path)
    except (OSError, InputError) as error:
        log.warning("Could not keep the ONNX export in %s (%s); it is held in memory for this run.", directory,
                    error)
        return runner(data, threads, None, prepared)
    return runner(path, threads, path, prepared)
