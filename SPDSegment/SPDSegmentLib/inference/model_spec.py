"""What a model name means, parsed once: :func:`parse_model_spec` is the only place that reads the string.

Accepted (``--model`` of every command, ``--backbone`` of ``train`` and ``bench``, the Slicer panel):

- ``default``: the embedded SPD adapter (frozen LiteMedSAM if the package was installed without it);
- ``frozen`` or ``litemedsam``: LiteMedSAM with its bundled weights, no adapter; ``litemedsam:CKPT`` for
  other LiteMedSAM weights;
- ``sam_vit_b:CKPT`` (also ``_l``, ``_h``): a frozen segment-anything backbone from a checkpoint file;
  ``sam_vit_b:random`` builds the architecture with random weights (to check a training path or time it);
- a path to an adapter file (``.safetensors``) written by ``spdsegment train``; an adapter trained on a
  SAM backbone also needs that backbone's checkpoint (``backbone_checkpoint``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, InputError

LITEMEDSAM = "litemedsam"
SAM_VIT_NAMES = ("sam_vit_b", "sam_vit_l", "sam_vit_h")
BACKBONE_NAMES = (LITEMEDSAM,) + SAM_VIT_NAMES
DEFAULT_ADAPTER = Path(__file__).resolve().parent.parent / "models" / "spd_litemedsam_small_bowel.safetensors"
RANDOM_WEIGHTS = "random"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name.

    Attributes:
        adapter: the SPD adapter file, or None for a frozen backbone.
        backbone: registry name of the frozen backbone (None for an adapter: its file names it).
        checkpoint: backbone weights; None for LiteMedSAM's bundled weights; for an adapter of a SAM
            backbone, that backbone's checkpoint.
        random_weights: build the backbone architecture with random weights (never for real use).
        is_default: the embedded default adapter.
    """

    adapter: Path | None = None
    backbone: str | None = None
    checkpoint: Path | None = None
    random_weights: bool = False
    is_default: bool = False

    @classmethod
    def frozen_backbone(cls, name: str, checkpoint: str | os.PathLike | None = None) -> "ModelSpec":
        if name not in BACKBONE_NAMES:
            raise InputError(f"Unknown backbone {name!r}; choose one of {', '.join(BACKBONE_NAMES)}.")
        if name != LITEMEDSAM and checkpoint is None:
            raise InputError(f"{name} needs a checkpoint file: pass {name}:/path/to/checkpoint.pth (the official "
                             f"segment-anything weights, or MedSAM's), or {name}:random to check a training path "
                             "with random weights.")
        return cls(backbone=name, checkpoint=None if checkpoint is None else Path(checkpoint))

    @property
    def is_adapter(self) -> bool:
        return self.adapter is not None

    def __str__(self) -> str:
        if self.is_default:
            return "default"
        if self.adapter is not None:
            return str(self.adapter)
        if self.random_weights:
            return f"{self.backbone}:{RANDOM_WEIGHTS}"
        if self.backbone == LITEMEDSAM and self.checkpoint is None:
            return "frozen"
        return f"{self.backbone}:{self.checkpoint}"


def parse_model_spec(text: str | os.PathLike, backbone_checkpoint: str | os.PathLike | None = None,
                     missing_checkpoint: str = "error") -> ModelSpec:
    """Parse a model name (see the module docstring).

    Args:
        backbone_checkpoint: the SAM weights an adapter of a SAM backbone was trained on.
        missing_checkpoint: what a bare SAM name (``sam_vit_b``) means: ``error`` or ``random`` weights
            (``bench`` times the architecture without weights).

    Raises:
        InputError: an unknown name, a SAM backbone without a checkpoint, or a missing adapter file.
    """
    if isinstance(text, ModelSpec):
        return text
    text = str(text).strip()
    checkpoint = None if backbone_checkpoint in (None, "") else Path(backbone_checkpoint)
    if text == "default":
        if DEFAULT_ADAPTER.is_file():
            return ModelSpec(adapter=DEFAULT_ADAPTER, is_default=True)
        return ModelSpec(backbone=LITEMEDSAM)
    if Path(text).expanduser().is_file():
        return ModelSpec(adapter=Path(text).expanduser(), checkpoint=checkpoint)
    name, separator, weights = text.partition(":")
    name = name.strip().lower().replace("lite_medsam", LITEMEDSAM)
    if name == "frozen" and not separator:
        return ModelSpec(backbone=LITEMEDSAM)
    if name in BACKBONE_NAMES:
        if not separator and name in SAM_VIT_NAMES and missing_checkpoint == RANDOM_WEIGHTS:
            weights = RANDOM_WEIGHTS
        if weights == RANDOM_WEIGHTS:
            return ModelSpec(backbone=name, random_weights=True)
        return ModelSpec.frozen_backbone(name, weights or None)
    if text.endswith(".safetensors") or os.sep in text:
        raise CheckpointError(f"Adapter file not found: {text}. Check the path, or pass --model default.")
    raise InputError(f"Unknown model {text!r}: use default, frozen, a backbone ({', '.join(BACKBONE_NAMES)}, SAM "
                     "ones as NAME:CHECKPOINT) or the path of an adapter file (.safetensors).")
