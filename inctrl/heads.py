"""The trainable parts of InCTRL: the adapter psi and the score heads eta and phi.

E is the joint embedding width, N the number of patches per image. The equations that use
them are in :mod:`inctrl.model`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Adapter(nn.Module):
    """psi of Eq. 3-4: Linear(E -> E/4, no bias) -> ReLU -> Linear(E/4 -> E, no bias) -> ReLU.

    Args:
        dim: E, the input and output width.
        hidden: the bottleneck width; default E // 4.
    """

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or dim // 4
        self.fc = nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.ReLU(),
                                nn.Linear(hidden, dim, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """psi(x) of every embedding.

        Args:
            x: [..., E] image embeddings.

        Returns:
            [..., E] adapted embeddings, non-negative (the last ReLU).
        """
        return self.fc(x)


class ScoreHead(nn.Module):
    """eta (Eq. 5) and phi (Eq. 8): Linear -> ReLU -> BN -> Linear -> ReLU -> BN -> Linear -> sigmoid.

    Attribute names follow the official code so its checkpoints map one to one; ``bn1`` is
    never used in ``forward`` but exists in the released weights.

    Args:
        dim: the input width: E for eta (the residual F_x), N for phi (the holistic map M+).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.bn1 = nn.BatchNorm1d(dim)  # unused, kept for checkpoint compatibility
        self.projection1 = nn.Linear(dim, 128)
        self.bn2 = nn.BatchNorm1d(128)
        self.projection2 = nn.Linear(128, 64)
        self.bn3 = nn.BatchNorm1d(64)
        self.projection3 = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The score of each row.

        Args:
            x: [B, dim] inputs (F_x [B, E] for eta, M+ [B, N] for phi).

        Returns:
            [B] scores in [0, 1].
        """
        x = self.bn2(F.relu(self.projection1(x)))
        x = self.bn3(F.relu(self.projection2(x)))
        return torch.sigmoid(self.projection3(x)).squeeze(-1)

