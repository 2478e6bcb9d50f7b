"""Parts of the model exported as ONNX graphs, kept in the model store, and run by OpenVINO or ONNX Runtime: the
faster CPU paths of the image encoder (:mod:`.onnx_encoder`), the mask decoder (:mod:`.onnx_decoder`) and the saliency
head (:mod:`.onnx_saliency`); figures in docs/PERFORMANCE.md.

A graph is exported once per identity (what it computes: the weights' hashes, the input size), torch version (the
exporter), opset and export format, into ``<models_dir>/exported/<key>.onnx``, with ``<key>.json`` holding the
file's SHA256 and the identity. A file whose hash does not match (damaged, half-written, edited) is rebuilt, never
trusted; a new export removes the outdated exports of the same identity; a store that cannot be written to gets an
export held in memory for this run. Either runtime compiles the graph when it loads it, so nothing of a runtime's
version is kept.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InputError
from .home import models_dir
from .io import output_set, sha256_of_file

log = logging.getLogger(__name__)

OPSET = 18
EXPORTED_RUNTIMES = ("openvino", "onnx")
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


def first_installed(runtimes: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """The first of ``runtimes`` that can run here, and what is missing for those before it (each check imports a
    runtime, so the checks stop at the first that can)."""
    missing = []
    for runtime in runtimes:
        what = runtime_missing(runtime)
        if what is None:
            return runtime, missing
        missing.append(what)
    return None, missing


class OnnxRuntimeSession:
    """An exported graph on ONNX Runtime's CPU provider."""

    runtime = "onnx"

    def __init__(self, source: bytes | Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(source) if isinstance(source, Path) else source, options,
                                            providers=["CPUExecutionProvider"])

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, inputs)


class OpenVinoSession:
    """An exported graph on OpenVINO's CPU plugin, in fp32 (its default on CPUs with bf16 units would be bf16)."""

    runtime = "openvino"

    def __init__(self, source: bytes | Path, threads: int):
        import openvino

        core = openvino.Core()
        model = core.read_model(str(source) if isinstance(source, Path) else source)
        settings = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.request = core.compile_model(model, "CPU", settings).create_infer_request()

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self.request.infer(inputs)
        return [results[output].copy() for output in self.request.model_outputs]


SESSIONS = {"onnx": OnnxRuntimeSession, "openvino": OpenVinoSession}


class ExportedGraph:
    """A kept export loaded into one runtime; the encoder, the decoder and the saliency head wrap it in their callers'
    signatures.

    Attributes:
        session: the runtime's session (:class:`OnnxRuntimeSession` or :class:`OpenVinoSession`).
        runtime: ``onnx`` or ``openvino``.
        path: the exported file (None when it is held in memory).
        prepared_s: seconds spent exporting in this process (0.0 when a kept export was reused).
    """

    def __init__(self, session, path: Path | None, prepared_s: float):
        self.session = session
        self.runtime = session.runtime
        self.path = path
        self.prepared_s = prepared_s


def weights_identity(label: str, module: torch.nn.Module) -> str:
    """What an export of ``module`` computes: ``label``, then the SHA256 of its class and its weights."""
    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return f"{label}|{digest.hexdigest()}"


def export_key(identity: str, export_format: int) -> str:
    text = f"{identity}|torch {torch.__version__}|opset {OPSET}|format {export_format}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def kept_export(path: Path) -> bool:
    """True when ``path`` and its record exist and the file's SHA256 is the recorded one."""
    record = path.with_suffix(".json")
    if not (path.is_file() and record.is_file()):
        return False
    try:
        expected = json.loads(record.read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return sha256_of_file(path) == expected


def _identity_of(record: Path) -> str | None:
    data = json.loads(record.read_text(encoding="utf-8"))
    return data.get("identity", data.get("encoder_key"))  # records before the decoder was exported said encoder_key


def _remove_stale_exports(directory: Path, identity: str, kept: Path) -> None:
    """Delete the exports of the same identity made under another key (an older torch, opset or format): they are
    never loaded again, and an export of a large backbone takes gigabytes."""
    for record in directory.glob("*.json"):
        if record.with_suffix(".onnx") == kept:
            continue
        try:
            stale = _identity_of(record) == identity
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


def kept_or_new_export(identity: str, export_format: int, export: Callable[[], bytes],
                       directory: Path | None = None) -> tuple[bytes | Path, Path | None, float]:
    """The kept export of ``identity``, or a new one from ``export()`` (kept for next time when the store can be
    written).

    Returns:
        (what a runtime loads: the kept file's path or the bytes held in memory, the kept file or None, seconds
        spent exporting: 0.0 when a kept export was found).
    """
    directory = directory or models_dir() / "exported"
    path = directory / f"{export_key(identity, export_format)}.onnx"
    if kept_export(path):
        return path, path, 0.0
    if path.exists():
        log.warning("The kept ONNX export %s does not match its recorded hash; exporting it again.", path)
    started = time.perf_counter()
    data = export()
    prepared = time.perf_counter() - started
    record = {"sha256": hashlib.sha256(data).hexdigest(), "identity": identity, "opset": OPSET,
              "torch": torch.__version__}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with output_set(force=True) as outputs:
            outputs.add(path).write_bytes(data)
            outputs.add(path.with_suffix(".json")).write_text(json.dumps(record, indent=1), encoding="utf-8")
        _remove_stale_exports(directory, identity, path)
    except (OSError, InputError) as error:
        log.warning("Could not keep the ONNX export in %s (%s); it is held in memory for this run.", directory,
                    error)
        return data, None, prepared
    return path, path, prepared
