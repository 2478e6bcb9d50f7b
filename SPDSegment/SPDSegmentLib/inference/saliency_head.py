"""The saliency head: image embeddings -> per-pixel logit that the target is there (stage 1)."""

from __future__ import annotations

import torch
import torch.nn as nn


class SaliencyHead(nn.Module):
    """Two 3x3 conv blocks, one 2x upsampling, a 1x1 output (about 0.4 M parameters).

    Input (B, C, e, e) embeddings; output (B, 1, 2e, 2e) logits over the padded square model input.
    """

    def __init__(self, in_channels: int = 256, hidden: int = 128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1), nn.GroupNorm(8, hidden), nn.GELU(),
            nn.Conv2d(hidden, hidden // 2, 3, padding=1), nn.GroupNorm(8, hidden // 2), nn.GELU(),
            nn.ConvTranspose2d(hidden // 2, hidden // 4, 2, stride=2), nn.GroupNorm(4, hidden // 4), nn.GELU(),
            nn.Conv2d(hidden // 4, 1, 1),
        )

    @property
    def in_channels(self) -> int:
        """C, the channels of the embeddings it takes."""
        return self.layers[0].in_channels

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)
