"""The image encoder exported as an ONNX graph and run by OpenVINO or ONNX Runtime: most of a CPU run's time
(figures in docs/PERFORMANCE.md).

The export holds the intensity normalisation and the LoRA tensors; it is identified by the encoder key (backbone
weights, LoRA tensors, input size) and kept as :mod:`.exported_graphs` describes. The saliency head reads the
embeddings this returns in an export of its own (:mod:`.onnx_saliency`), so a new adapter's head needs no new encoder.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .exported_graphs import OPSET, SESSIONS, ExportedGraph, kept_or_new_export

EXPORT_FORMAT = 2  # bump when the exported graph changes for the same weights


class _Encode(nn.Module):
    """``backbone.encode`` as a module, so the export holds the normalisation too."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone.encode(images)


class ExportedEncoder(ExportedGraph):
    """Callable like ``backbone.encode``: (B, 3, S, S) float32 in [0, 1] -> (B, 256, e, e) on the CPU, running the
    exported graph on one runtime."""

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().to("cpu", torch.float32).numpy()
        # one image per call: TinyViT takes its batch size from len(x), which the export fixes at 1
        return torch.from_numpy(np.concatenate([self.session.run({"images": np.ascontiguousarray(image)})[0]
                                                for image in array[:, None]]))


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


def exported_encoder(backbone: nn.Module, image_size: int, encoder_key: str, threads: int, runtime: str = "onnx",
                     directory: Path | None = None) -> ExportedEncoder:
    """The kept export for this encoder, or a new one (kept for next time when the store can be written), loaded
    into ``runtime`` (``openvino`` or ``onnx``)."""
    source, path, prepared = kept_or_new_export(encoder_key, EXPORT_FORMAT, lambda: export_bytes(backbone, image_size),
                                                directory)
    return ExportedEncoder(SESSIONS[runtime](source, threads), path, prepared)
