"""Which torch device a run uses: ``auto`` takes CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from ..errors import InputError


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() else "cpu")
    if device not in ("cpu", "cuda", "mps"):
        raise InputError(f"device must be auto, cpu, cuda or mps, got {device!r}.")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("The CUDA device asked for is not available (no NVIDIA GPU, or a CPU-only torch); use "
                         "device cpu or auto.")
    if device == "mps" and not mps_available():
        raise InputError("Apple's MPS device asked for is not available (not a Mac with Apple silicon, or torch "
                         "without MPS); use device cpu or auto.")
    return torch.device(device)
