"""The saliency head (the learned prior) exported as an ONNX graph and run by ONNX Runtime or OpenVINO, beside the
exported encoder whose embeddings it reads; figures in docs/PERFORMANCE.md.

It is identified by the head's weights and kept as :mod:`.exported_graphs` describes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from .exported_graphs import OPSET, SESSIONS, ExportedGraph, kept_or_new_export, weights_identity
from .saliency_head import SaliencyHead

EXPORT_FORMAT = 1  # bump when the exported graph changes for the same weights


class ExportedSaliencyHead(ExportedGraph):
    """Callable like the saliency head it was exported from: (B, C, e, e) embeddings -> (B, 1, 2e, 2e) logits, on the
    CPU, running the exported graph on one runtime."""

    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(embeddings.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(self.session.run({"embeddings": array})[0])


def export_bytes(head: SaliencyHead, embedding_size: int) -> bytes:
    """The head as an ONNX graph for any number of slices (fp32, the CPU)."""
    example = torch.rand(2, head.in_channels, embedding_size, embedding_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(head.eval(), (example,), buffer, input_names=["embeddings"], output_names=["logits"],
                          dynamic_axes={"embeddings": {0: "slices"}, "logits": {0: "slices"}}, opset_version=OPSET,
                          dynamo=False)
    return buffer.getvalue()


def exported_saliency_head(head: SaliencyHead, embedding_size: int, threads: int, runtime: str = "onnx",
                           directory: Path | None = None) -> ExportedSaliencyHead:
    """The kept export of this head, or a new one (kept for next time when the store can be written), loaded into
    ``runtime`` (``onnx`` or ``openvino``)."""
    source, path, prepared = kept_or_new_export(weights_identity("saliency head", head), EXPORT_FORMAT,
                                                lambda: export_bytes(head, embedding_size), directory)
    return ExportedSaliencyHead(SESSIONS[runtime](source, threads), path, prepared)
