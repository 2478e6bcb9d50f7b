"""Inference-only rewrites of a backbone that keep its outputs, and the autocast precision to run it in.

- Conv + BatchNorm pairs folded into one convolution (TinyViT's ``Conv2d_BN``, via its own ``fuse``).
- segment-anything's ViT attention computed by ``F.scaled_dot_product_attention`` with the decomposed
  relative-position bias as its mask (fused kernels on CUDA instead of the explicit HW x HW softmax).
- The image encoder in channels-last memory order (faster oneDNN/cuDNN convolutions).

They change results only by float rounding (checked in ``Testing/test_fast_inference.py``). They make the
backbone inference-only: folded BatchNorms no longer train, so training code never calls them.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos

from ..errors import InputError
from .options import PRECISIONS


def fold_conv_batchnorm(module: nn.Module) -> int:
    """Replace every child with a ``fuse()`` returning a Conv2d (Conv + BN) by that conv; returns how many."""
    folded = 0
    for name, child in list(module.named_children()):
        fuse = getattr(child, "fuse", None)
        if callable(fuse) and isinstance(child, nn.Sequential) and isinstance(getattr(child, "bn", None),
                                                                              nn.BatchNorm2d):
            setattr(module, name, fuse())
            folded += 1
        else:
            folded += fold_conv_batchnorm(child)
    return folded


class SdpaAttention(Attention):
    """segment-anything's ViT attention, computed with ``scaled_dot_product_attention``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, heads, HW, C)
        bias = None
        if self.use_rel_pos:
            rel_h = get_rel_pos(height, height, self.rel_pos_h)
            rel_w = get_rel_pos(width, width, self.rel_pos_w)
            grid_q = q.reshape(batch, self.num_heads, height, width, -1)
            along_h = torch.einsum("bnhwc,hkc->bnhwk", grid_q, rel_h.to(q.dtype))
            along_w = torch.einsum("bnhwc,wkc->bnhwk", grid_q, rel_w.to(q.dtype))
            bias = (along_h[..., :, None] + along_w[..., None, :]).reshape(
                batch, self.num_heads, height * width, height * width)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        out = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
        return self.proj(out.reshape(batch, height, width, -1))


def use_sdpa_attention(module: nn.Module) -> int:
    """Switch segment-anything ViT attention blocks to :class:`SdpaAttention` (same weights); returns how many."""
    switched = 0
    for child in module.modules():
        if type(child) is Attention:
            child.__class__ = SdpaAttention
            switched += 1
    return switched


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``auto``: fp16 on CUDA, fp32 on the CPU and on MPS.

    fp16 kept the masks (DSC 0.9985 against fp32 on the 40-slice generated sample, emulated on the CPU);
    bf16 did not (DSC 0.967 there), so bf16 is opt-in only (docs/PERFORMANCE.md).
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if precision == "fp16" and device.type == "cpu":
        raise InputError("fp16 is for CUDA and MPS (it is emulated, and very slow, on the CPU); use fp32 or bf16 "
                         "there.")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
