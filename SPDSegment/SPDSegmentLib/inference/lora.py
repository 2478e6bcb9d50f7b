"""LoRA on the image encoder's attention projections, through peft.

The encoder's base weights stay frozen; only the ``lora_A``/``lora_B`` matrices train. Both the
TinyViT (LiteMedSAM) and the ViT (SAM) encoders name their fused projection ``qkv``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model, set_peft_model_state_dict

DEFAULT_TARGETS = ("qkv",)


def add_lora(encoder: nn.Module, rank: int = 4, alpha: float | None = None,
             targets: tuple[str, ...] = DEFAULT_TARGETS) -> nn.Module:
    """Inject LoRA (rank ``rank``, scaling ``alpha / rank``) into ``encoder`` in place; freeze the rest."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be at least 1, got {rank}.")
    config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else rank, target_modules=list(targets),
                        lora_dropout=0.0, bias="none")
    inject_adapter_in_model(config, encoder)
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad = "lora_" in name
    return encoder


def lora_state_dict(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA tensors (keys without the adapter name, as peft saves them)."""
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(encoder).items()}


def load_lora_state_dict(encoder: nn.Module, state: dict[str, torch.Tensor]) -> None:
    result = set_peft_model_state_dict(encoder, state)
    missing_lora = [k for k in result.missing_keys if "lora_" in k]
    if missing_lora or result.unexpected_keys:
        raise ValueError(f"LoRA tensors do not fit this encoder: missing {missing_lora[:3]}, "
                         f"unexpected {list(result.unexpected_keys)[:3]}.")
