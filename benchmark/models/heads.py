"""Classification heads shared by 2D and 3D video networks."""

from __future__ import annotations

import torch
from torch import nn


class FrameAveragingHead(nn.Module):
    """Global spatial average pool -> dropout -> fc per time step -> logits averaged over time.

    This is the official implementation's head for every model: 2D networks apply it per frame
    (TSN consensus), 3D networks per remaining time step. Accepts ``(B, C, T, H, W)`` feature maps,
    or ``(B*T, C, H, W)`` with ``batch_size=B``.
    """

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, features: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        if features.dim() == 5:  # (B, C, T, H, W)
            batch_size = features.shape[0]
            per_step = features.mean(dim=(3, 4)).transpose(1, 2)  # (B, T, C)
        else:
            if batch_size is None:
                raise ValueError("FrameAveragingHead needs batch_size for (B*T, C, H, W) features")
            per_step = features.mean(dim=(2, 3)).view(batch_size, -1, features.shape[1])
        logits = self.fc(self.dropout(per_step))  # (B, T, classes)
        return logits.mean(dim=1)

    def conv_macs(self, inputs, output) -> int:
        """The classifier is excluded from convention-(a) MACs, as in the official table."""
        return 0
