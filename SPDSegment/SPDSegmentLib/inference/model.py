"""The SPD model (backbone + LoRA + saliency head + tuned decoder) and its adapter file.

An adapter is a ``.safetensors`` file holding only what SPD trains (LoRA tensors, the saliency head,
the mask decoder when it was tuned) and, in its metadata, the :class:`AdapterConfig` (τ, n,
preprocessing, prompt mode, backbone name and the SHA256 of the backbone weights). It never holds the
backbone's own weights.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import CheckpointError
from .backbones import Backbone, build_backbone, build_litemedsam, build_sam_vit
from .cpd import CpdConfig
from .io import atomic_output
from .lora import add_lora, load_lora_state_dict, lora_state_dict
from .model_spec import LITEMEDSAM, ModelSpec, parse_model_spec
from .options import PROMPT_MODES
from .saliency_head import SaliencyHead
from .slices import IntensityScaling

ADAPTER_FORMAT = "spdsegment-adapter/1"
VARIANTS = ("frozen", "sam_tuning", "local", "cpd", "spd")


ADAPTER_FIELD_TYPES = {"backbone": str, "image_size": int, "backbone_sha256": str, "variant": str, "lora_rank": int,
                       "lora_alpha": (int, float), "saliency": bool, "prompt_mode": str, "cpd": dict,
                       "box_margin_mm": (int, float), "cluster_mm": (int, float), "description": str}


@dataclass(frozen=True)
class AdapterConfig:
    """Everything needed to rebuild an SPD model around its backbone.

    Attributes:
        backbone: registry name (``litemedsam``, ``sam_vit_b`` ...).
        image_size: square model input side.
        backbone_sha256: SHA256 of the backbone weights the adapter was trained on ('' = random init).
        variant: ``frozen`` (no training), ``sam_tuning`` (decoder tuned on raw prompts), ``local``
            (+ saliency, local validation), ``cpd`` (+ neighbours), ``spd`` (+ PSC loss).
        lora_rank: 0 for no LoRA.
        saliency: the model has a saliency head.
        prompt_mode: ``points`` or ``boxes`` (one box per cluster of consensus points).
        cpd: CPD settings used at inference.
        intensity_percentiles: robust [0, 1] scaling of each volume.
        ct_window: (level, width) in Hounsfield units a CT is shown through instead of its percentiles, in
            training and wherever the adapter runs (:class:`IntensityScaling`); None: percentiles for CT too.
        box_margin_mm, cluster_mm: geometry of boxes made from points.
    """

    backbone: str = "litemedsam"
    image_size: int = 256
    backbone_sha256: str = ""
    variant: str = "frozen"
    lora_rank: int = 0
    lora_alpha: float = 4.0
    lora_targets: tuple[str, ...] = ("qkv",)
    saliency: bool = False
    prompt_mode: str = "boxes"
    cpd: CpdConfig = field(default_factory=lambda: CpdConfig(validate=False))
    intensity_percentiles: tuple[float, float] = (0.5, 99.5)
    ct_window: tuple[float, float] | None = None
    box_margin_mm: float = 10.0
    cluster_mm: float = 15.0
    description: str = ""

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}.")
        if self.prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt_mode must be one of {PROMPT_MODES}, got {self.prompt_mode!r}.")
        if self.cpd.validate and not self.saliency:
            raise ValueError("CPD validation needs a saliency head (saliency=True).")
        if self.ct_window is not None and not (len(self.ct_window) == 2 and self.ct_window[1] > 0):
            raise ValueError(f"ct_window must be (level, width) in Hounsfield units with a positive width, such as "
                             f"(40, 400) for soft tissue; got {self.ct_window!r}.")

    @property
    def intensity_scaling(self) -> IntensityScaling:
        return IntensityScaling(self.intensity_percentiles, self.ct_window)

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "adapter") -> "AdapterConfig":
        """The config an adapter's metadata holds, each field checked (a damaged or hand-edited file gets a
        :class:`CheckpointError` naming the field)."""
        fix = "Train the adapter again with 'spdsegment train', or copy the original file."
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError, RecursionError):
            raise CheckpointError(f"{source}: its 'config' metadata is not valid JSON. {fix}") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: its 'config' metadata is not an object. {fix}")
        known = {f.name: f for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for name, value in data.items():
            kind = ADAPTER_FIELD_TYPES.get(name)
            ok = kind is None or (isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool)))
            if name in ("lora_targets", "intensity_percentiles", "ct_window"):
                ok = (name == "ct_window" and value is None) or (
                    isinstance(value, list) and all(isinstance(v, str if name == "lora_targets" else (int, float))
                                                    for v in value))
            if not ok:
                raise CheckpointError(f"{source}: config field {name} is {value!r:.60}, which is not a "
                                      f"{getattr(kind, '__name__', 'list')}. {fix}")
        try:
            data["cpd"] = CpdConfig(**data.get("cpd", {}))
            for key in ("lora_targets", "intensity_percentiles", "ct_window"):
                if data.get(key) is not None:
                    data[key] = tuple(data[key])
            return cls(**data)
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{source}: its config does not hold ({str(error).splitlines()[0][:120]}). "
                                  f"{fix}") from None

    @classmethod
    def for_variant(cls, variant: str, backbone: Backbone, **overrides) -> "AdapterConfig":
        """The paper's settings for one step of the ablation."""
        trained_prior = variant in ("local", "cpd", "spd")
        cpd = CpdConfig(validate=trained_prior, neighbours=0 if variant == "local" else 2)
        base = dict(backbone=backbone.name, image_size=backbone.image_size,
                    backbone_sha256=backbone.checkpoint_sha256, variant=variant,
                    lora_rank=4 if trained_prior else 0, saliency=trained_prior,
                    prompt_mode="boxes" if variant == "frozen" and backbone.box_trained else "points", cpd=cpd)
        base.update(overrides)
        return cls(**base)


class SpdModel(nn.Module):
    """Backbone (with LoRA when configured) + optional saliency head."""

    def __init__(self, backbone: Backbone, config: AdapterConfig):
        super().__init__()
        self.backbone = backbone
        self.config = config
        if config.lora_rank > 0:
            add_lora(backbone.image_encoder, config.lora_rank, config.lora_alpha, config.lora_targets)
        self.saliency_head = SaliencyHead() if config.saliency else None
        for parameter in backbone.parameters():
            parameter.requires_grad = False
        self._base_decoder = {k: v.detach().clone() for k, v in backbone.mask_decoder.state_dict().items()}

    def reset_decoder(self) -> None:
        """Back to the backbone's own (untuned) mask decoder."""
        self.backbone.mask_decoder.load_state_dict(self._base_decoder)

    @property
    def decoder_tuned(self) -> bool:
        return any(not torch.equal(value.cpu(), self._base_decoder[key].cpu())
                   for key, value in self.backbone.mask_decoder.state_dict().items())

    def base_decoder(self) -> nn.Module:
        """The backbone's own (untuned) mask decoder: the model's decoder if it was not tuned, else a copy
        holding the original weights (made once, on the decoder's device)."""
        if not self.decoder_tuned:
            return self.backbone.mask_decoder
        if getattr(self, "_untuned_decoder", None) is None:
            untuned = copy.deepcopy(self.backbone.mask_decoder)
            untuned.load_state_dict(self._base_decoder)
            object.__setattr__(self, "_untuned_decoder", untuned.eval())  # not a submodule: never saved
        device = next(self.backbone.mask_decoder.parameters()).device
        return self._untuned_decoder.to(device)

    def saliency_logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.saliency_head is None:
            raise RuntimeError("This model has no saliency head (a frozen or SAM-Tuning model).")
        return self.saliency_head(embeddings)

    def adapter_tensors(self) -> dict[str, torch.Tensor]:
        tensors: dict[str, torch.Tensor] = {}
        if self.config.lora_rank > 0:
            tensors.update({f"lora.{k}": v for k, v in lora_state_dict(self.backbone.image_encoder).items()})
        if self.saliency_head is not None:
            tensors.update({f"saliency_head.{k}": v for k, v in self.saliency_head.state_dict().items()})
        for key, value in self.backbone.mask_decoder.state_dict().items():
            if not torch.equal(value.cpu(), self._base_decoder[key].cpu()):
                tensors[f"mask_decoder.{key}"] = value
        return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}

    def save_adapter(self, path: str | os.PathLike, force: bool = False) -> Path:
        from safetensors.torch import save_file

        with atomic_output(path, force) as tmp:
            save_file(self.adapter_tensors(), str(tmp),
                      metadata={"format": ADAPTER_FORMAT, "config": self.config.to_json()})
        return Path(path)

    def load_adapter_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        groups: dict[str, dict[str, torch.Tensor]] = {"lora": {}, "saliency_head": {}, "mask_decoder": {}}
        for key, value in tensors.items():
            group, _, name = key.partition(".")
            if group not in groups:
                raise CheckpointError(f"Unexpected tensor {key!r} in adapter.")
            groups[group][name] = value
        try:
            if self.config.lora_rank > 0:
                load_lora_state_dict(self.backbone.image_encoder, groups["lora"])
            if self.saliency_head is not None:
                self.saliency_head.load_state_dict(groups["saliency_head"], strict=True)
            if groups["mask_decoder"]:
                decoder_state = dict(self._base_decoder)
                decoder_state.update(groups["mask_decoder"])
                self.backbone.mask_decoder.load_state_dict(decoder_state, strict=True)
        except (RuntimeError, ValueError) as error:  # torch lists every mismatched tensor: keep the first
            first = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error)[:160])
            raise CheckpointError(f"The adapter's tensors do not fit its {self.config.backbone} backbone "
                                  f"({first[:160]}). Use an adapter written by 'spdsegment train' for this "
                                  "backbone.") from None


def read_adapter(path: str | os.PathLike) -> tuple[AdapterConfig, dict[str, torch.Tensor]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Adapter file not found: {path}.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(f"{path} is not a readable SPDSegment adapter (.safetensors): "
                              f"{str(error).splitlines()[0][:160]}. Train or copy it again.") from error
    if metadata.get("format") != ADAPTER_FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an SPDSegment adapter (no "
                              f"'{ADAPTER_FORMAT}' metadata). Pass an adapter written by 'spdsegment train'.")
    if "config" not in metadata:
        raise CheckpointError(f"{path} has no 'config' metadata, so it cannot be rebuilt. Train the adapter again "
                              "with 'spdsegment train', or copy the original file.")
    return AdapterConfig.from_json(metadata["config"], str(path)), tensors


def model_has_saliency(spec: ModelSpec | str) -> bool:
    """Whether the model ``spec`` names has a saliency head, read without building it."""
    spec = parse_model_spec(spec)
    return spec.is_adapter and read_adapter(spec.adapter)[0].saliency


def build_model(spec: ModelSpec | str = "default", check_backbone_hash: bool = True) -> SpdModel:
    """The model ``spec`` names (a :class:`ModelSpec`, or a name :func:`parse_model_spec` reads).

    A frozen backbone gets the frozen variant's settings; an adapter is rebuilt around its backbone (for a
    SAM backbone, ``spec.checkpoint``), whose weights must be the ones it was trained on (SHA256).
    """
    spec = parse_model_spec(spec)
    if not spec.is_adapter:
        backbone = build_backbone(spec)
        return SpdModel(backbone, AdapterConfig.for_variant("frozen", backbone)).eval()
    config, tensors = read_adapter(spec.adapter)
    if config.backbone == LITEMEDSAM:
        backbone = build_litemedsam(spec.checkpoint)
    elif not config.backbone_sha256:
        raise CheckpointError(f"Adapter {spec.adapter} was trained on randomly initialised {config.backbone} weights "
                              "(a check of the training path), so it cannot segment. Train on real weights "
                              f"({config.backbone}:/path/to/checkpoint.pth).")
    elif spec.checkpoint is None:
        raise CheckpointError(f"Adapter {spec.adapter} was trained on {config.backbone}; give that backbone's "
                              "checkpoint file too (--backbone-checkpoint, or Download/Import it in the panel).")
    else:
        backbone = build_sam_vit(config.backbone, spec.checkpoint, config.image_size)
    if check_backbone_hash and config.backbone_sha256 and backbone.checkpoint_sha256 != config.backbone_sha256:
        raise CheckpointError(f"Adapter {spec.adapter} was trained on {config.backbone} weights with SHA256 "
                              f"{config.backbone_sha256[:12]}…, but the backbone file given has "
                              f"{backbone.checkpoint_sha256[:12] or 'random weights'}…. Use the same backbone file.")
    spd = SpdModel(backbone, config)
    spd.load_adapter_tensors(tensors)
    return spd.eval()
