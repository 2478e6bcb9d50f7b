"""How one run goes: :class:`InferenceOptions`, passed per call (as segment-anything's ``predict`` takes its
options), never written into the model.

An adapter carries its own τ, n, prompt mode and empty-slice rule (:class:`~.model.AdapterConfig`); an
option left at None keeps the adapter's value for that run only. The CLI, the Slicer parameter node, the
logic, ``evaluate`` and ``bench`` all build one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InputError
from .cpd import EMPTY_RULES, CpdConfig
from .prior_choice import PRIORS

PROMPT_MODES = ("points", "boxes")
AXES = ("auto", "axial", "coronal", "sagittal")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
RUNTIMES = ("auto", "torch", "openvino", "onnx")


@dataclass(frozen=True)
class InferenceOptions:
    """Settings of one run.

    Attributes:
        prior: ``auto`` (the learned prior where it agrees with the prompts, else the prompts checked against
            each other), ``learned``, ``none`` (no learned prior: prompts checked against each other) or ``raw``
            (every prompt as given: the frozen-backbone baseline); see :mod:`.prior_choice`.
        tau: saliency threshold τ in [0, 1) (None: the adapter's).
        neighbours: CPD neighbour slices n on each side, 0-10 (None: the adapter's).
        prompt_mode: ``points`` or ``boxes``, how consensus prompts reach the decoder (None: the adapter's).
        empty_slices: ``skip`` or ``argmax``, what a slice whose consensus is empty gets (None: the adapter's).
        axis: slicing axis, ``auto`` (largest spacing), ``axial``, ``coronal`` or ``sagittal``.
        device: ``auto`` (CUDA, then Apple MPS, then the CPU), ``cpu``, ``cuda`` or ``mps``.
        precision: ``auto`` (fp16 on CUDA, fp32 elsewhere), ``fp32``, ``bf16`` or ``fp16``.
        batch_size: slices per encoder call (None: chosen for the device).
        runtime: what runs the image encoder and the mask decoder: ``auto`` (on the CPU in fp32, the encoder on
            OpenVINO and the decoder on ONNX Runtime, or both on whichever is installed; torch elsewhere),
            ``torch``, ``openvino`` or ``onnx`` (both on that one).
    """

    prior: str = "auto"
    tau: float | None = None
    neighbours: int | None = None
    prompt_mode: str | None = None
    empty_slices: str | None = None
    axis: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None
    runtime: str = "auto"

    def __post_init__(self):
        if self.tau is not None and not 0.0 <= self.tau < 1.0:
            raise InputError(f"tau must be in [0, 1), got {self.tau}.")
        if self.neighbours is not None and not 0 <= self.neighbours <= 10:
            raise InputError(f"neighbours (n) must be between 0 and 10, got {self.neighbours}.")
        for name, value, allowed in (("prompt mode", self.prompt_mode, PROMPT_MODES),
                                     ("empty-slice rule", self.empty_slices, EMPTY_RULES)):
            if value is not None and value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")
        for name, value, allowed in (("prior", self.prior, PRIORS), ("axis", self.axis, AXES),
                                     ("device", self.device, DEVICES),
                                     ("precision", self.precision, PRECISIONS),
                                     ("runtime", self.runtime, RUNTIMES)):
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {self.batch_size}.")

    def cpd_config(self, adapter_cpd: CpdConfig) -> CpdConfig:
        """The adapter's CPD settings with this run's τ, n and empty-slice rule applied."""
        changes = {key: value for key, value in (("tau", self.tau), ("neighbours", self.neighbours),
                                                 ("empty", self.empty_slices)) if value is not None}
        return replace(adapter_cpd, **changes)

    def decoder_prompt_mode(self, adapter_prompt_mode: str) -> str:
        return self.prompt_mode or adapter_prompt_mode
