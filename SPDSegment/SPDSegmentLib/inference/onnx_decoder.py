"""SAM's mask decoder exported as an ONNX graph and run by ONNX Runtime or OpenVINO: after the encoder, the rest of
a CPU run's time (every box the continuity route tries is one decoder pass; figures in docs/PERFORMANCE.md).

The export takes the prompt encoder's outputs, so points, boxes and their padding stay in torch (microseconds); it
is identified by the decoder's weights (the backbone's own decoder and an adapter's tuned one are two exports) and
kept as :mod:`.exported_graphs` describes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .exported_graphs import OPSET, SESSIONS, ExportedGraph, kept_or_new_export, weights_identity

EXPORT_FORMAT = 1  # bump when the exported graph changes for the same weights
INPUTS = ("image_embeddings", "image_pe", "sparse_prompt_embeddings", "dense_prompt_embeddings")


class _SingleMask(nn.Module):
    """The decoder with ``multimask_output=False``, the only way SPDSegment calls it."""

    def __init__(self, mask_decoder: nn.Module):
        super().__init__()
        self.mask_decoder = mask_decoder

    def forward(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings):
        return self.mask_decoder(image_embeddings=image_embeddings, image_pe=image_pe,
                                 sparse_prompt_embeddings=sparse_prompt_embeddings,
                                 dense_prompt_embeddings=dense_prompt_embeddings, multimask_output=False)


class ExportedDecoder(ExportedGraph):
    """Callable like the mask decoder it was exported from (keyword arguments, ``multimask_output=False``), on the
    CPU, running the exported graph on one runtime.

    One image per prompt set, as segment-anything's decoder takes them one image at a time: the batch of
    ``image_embeddings`` equals that of the prompts.
    """

    def __call__(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor, sparse_prompt_embeddings: torch.Tensor,
                 dense_prompt_embeddings: torch.Tensor, multimask_output: bool = False):
        if multimask_output:
            raise ValueError("The exported mask decoder returns one mask per prompt set (multimask_output=False).")
        if image_embeddings.shape[0] != sparse_prompt_embeddings.shape[0]:
            raise ValueError("The exported mask decoder takes one image per prompt set.")
        dense = dense_prompt_embeddings
        if dense.shape[0] > 1 and dense.stride(0) == 0:  # one "no mask" embedding expanded: the graph broadcasts it
            dense = dense[:1]
        values = (image_embeddings, image_pe, sparse_prompt_embeddings, dense)
        inputs = {name: np.ascontiguousarray(value.detach().to("cpu", torch.float32).numpy())
                  for name, value in zip(INPUTS, values)}
        masks, quality = self.session.run(inputs)
        return torch.from_numpy(masks), torch.from_numpy(quality)


def export_bytes(mask_decoder: nn.Module, embedding_size: int) -> bytes:
    """The decoder as an ONNX graph, any number of prompt sets and of prompt tokens (fp32, the CPU)."""
    module = _SingleMask(mask_decoder).eval()
    channels = mask_decoder.transformer_dim
    example = (torch.rand(1, channels, embedding_size, embedding_size),
               torch.rand(1, channels, embedding_size, embedding_size), torch.rand(1, 3, channels),
               torch.rand(1, channels, embedding_size, embedding_size))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, buffer, input_names=list(INPUTS), output_names=["masks", "iou"],
                          dynamic_axes={"image_embeddings": {0: "sets"}, "dense_prompt_embeddings": {0: "dense sets"},
                                        "sparse_prompt_embeddings": {0: "sets", 1: "tokens"}, "masks": {0: "sets"},
                                        "iou": {0: "sets"}},
                          opset_version=OPSET, dynamo=False)
    return buffer.getvalue()


def exported_decoder(mask_decoder: nn.Module, embedding_size: int, threads: int, runtime: str = "onnx",
                     directory: Path | None = None) -> ExportedDecoder:
    """The kept export of this decoder, or a new one (kept for next time when the store can be written), loaded into
    ``runtime`` (``onnx`` or ``openvino``)."""
    source, path, prepared = kept_or_new_export(weights_identity("mask decoder", mask_decoder), EXPORT_FORMAT,
                                                lambda: export_bytes(mask_decoder, embedding_size), directory)
    return ExportedDecoder(SESSIONS[runtime](source, threads), path, prepared)
