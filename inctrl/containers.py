"""The data InCTRL takes and returns: its configuration, a prompt bank and the scores.

Shapes used below: B queries, K prompts, L tapped layers, N = h*w patches per image,
D token width, E joint embedding width. :class:`~inctrl.model.InCTRL` builds and reads
them; they hold no computation of the paper's equations (those live in :mod:`inctrl.model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from .backbone import BackboneSpec, profile_spec

#: The one colormap of anomaly maps: the book's figures and the command line's heatmap PNGs.
ANOMALY_CMAP = "magma"


@dataclass
class InCTRLConfig:
    """Everything needed to rebuild a model (stored in checkpoints)."""

    profile: str = "tiny"
    model_name: str = "inctrl-tiny-vit"
    pretrained: str | None = None
    taps: tuple[int, ...] | None = None
    backbone_seed: int = 0
    head_seed: int = 0

    @classmethod
    def from_profile(cls, profile: str, pretrained: str | None | bool = True,
                     head_seed: int = 0) -> InCTRLConfig:
        spec = profile_spec(profile, pretrained=pretrained)
        return cls(profile, spec.model_name, spec.pretrained, spec.taps, spec.seed, head_seed)

    @property
    def backbone_spec(self) -> BackboneSpec:
        taps = tuple(self.taps) if self.taps is not None else None
        return BackboneSpec(self.model_name, self.pretrained, taps, self.backbone_seed)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PromptBank:
    """Everything InCTRL needs from the K normal prompts of one category, computed once.

    ``tokens`` [L, K*N, D]: the prompts' tapped patch tokens, L2-normalised and pooled.
    ``embeddings`` [K, E]: g(p_k). ``prototype`` [E]: F_P (Eq. 3) with the adapter
    weights of the moment the bank was built. ``text`` [2, E]: t_n and t_a of ``name``.
    """

    name: str
    tokens: torch.Tensor
    embeddings: torch.Tensor
    prototype: torch.Tensor
    text: torch.Tensor
    sources: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return self.embeddings.shape[0]


@dataclass
class InCTRLOutput:
    """Scores and maps for a batch of queries; every intermediate of the paper is here.

    ``score`` s(x) (Eq. 8), ``image_score`` s_i (Eq. 5), ``text_score`` s_a (Eq. 6),
    ``patch_score`` s_p = max M, ``patch_map`` M [B, h, w] (Eq. 2), ``layer_maps`` M^l
    [B, L, h, w] (Eq. 1), ``holistic_map`` M+ = M + s_i + s_a [B, h, w] (Eq. 7),
    ``holistic_score`` phi(M+).
    """

    score: torch.Tensor
    image_score: torch.Tensor
    text_score: torch.Tensor
    patch_score: torch.Tensor
    holistic_score: torch.Tensor
    patch_map: torch.Tensor
    holistic_map: torch.Tensor
    layer_maps: torch.Tensor
    image_size: int = 240

    def __len__(self) -> int:
        return self.score.shape[0]

    def anomaly_map(self, size: int | tuple[int, int] | None = None,
                    kind: str = "patch") -> torch.Tensor:
        """The patch map M (``kind="patch"``) or M+ (``"holistic"``) upsampled bilinearly to
        ``size`` (default: the model's input size) -> [B, H, W]."""
        maps = {"patch": self.patch_map, "holistic": self.holistic_map}
        if kind not in maps:
            raise ValueError(f"kind must be 'patch' or 'holistic', got {kind!r}")
        size = size or self.image_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        grid = maps[kind].float().unsqueeze(1)
        return F.interpolate(grid, size=size, mode="bilinear", align_corners=False).squeeze(1)

    def cpu(self) -> InCTRLOutput:
        return self._map(lambda t: t.detach().cpu())

    def _map(self, fn) -> InCTRLOutput:
        values = {k: (fn(v) if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()}
        return InCTRLOutput(**values)

    @staticmethod
    def cat(parts: Sequence[InCTRLOutput]) -> InCTRLOutput:
        first = parts[0]
        values = {k: (torch.cat([getattr(p, k) for p in parts]) if isinstance(v, torch.Tensor)
                      else v) for k, v in vars(first).items()}
        return InCTRLOutput(**values)

    def scores(self) -> dict[str, list[float]]:
        """The four scalar scores as plain lists (for tables and JSON)."""
        return {name: getattr(self, name).detach().float().cpu().tolist()
                for name in ("score", "patch_score", "image_score", "text_score")}
