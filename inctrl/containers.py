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

from .ablation import ALL_COMPONENTS, check_components, check_image_feature
from .backbone import BackboneSpec, profile_spec


@dataclass
class InCTRLConfig:
    """Everything needed to rebuild a model (stored in checkpoints).

    Attributes:
        profile: the named backbone profile (a key of :data:`inctrl.backbone.PROFILES`).
        model_name: the open_clip model (or this package's tiny ViT) to build.
        pretrained: an open_clip weights tag, a local weights file, or None for random
            weights drawn from ``backbone_seed``.
        taps: 1-based indices of the tapped blocks; None picks the paper's relative depths.
        backbone_seed: the seed of a randomly initialised backbone.
        head_seed: the seed of the initial adapter and head weights.
        model_cfg: the open_clip model config of an architecture that is not registered with
            open_clip (an imported official checkpoint of another geometry); None otherwise.
        components: the in-context signals the model fuses, letters of ``"TPI"`` (text
            prior, patch residuals, image residual); the method uses all three
            (:mod:`inctrl.ablation`; checkpoints written before it existed load with it).
        image_feature: what the image head reads: ``"residual"`` (the method), or the
            ablation's ``"concatenation"`` or ``"average"`` (:mod:`inctrl.ablation`).
    """

    profile: str = "tiny"
    model_name: str = "inctrl-tiny-vit"
    pretrained: str | None = None
    taps: tuple[int, ...] | None = None
    backbone_seed: int = 0
    head_seed: int = 0
    model_cfg: dict | None = None
    components: str = ALL_COMPONENTS
    image_feature: str = "residual"

    def __post_init__(self) -> None:
        self.components = check_components(self.components)
        self.image_feature = check_image_feature(self.image_feature)

    @classmethod
    def from_profile(cls, profile: str, pretrained: str | None | bool = True,
                     head_seed: int = 0) -> InCTRLConfig:
        """The configuration of a named profile.

        Args:
            profile: a key of :data:`inctrl.backbone.PROFILES`.
            pretrained: True for the profile's weights, False or None for random weights,
                a string for other weights (an open_clip tag or a local file).
            head_seed: the seed of the initial adapter and head weights.

        Returns:
            The InCTRLConfig.

        Raises:
            ValueError: ``profile`` is not a known profile.
        """
        spec = profile_spec(profile, pretrained=pretrained)
        return cls(profile, spec.model_name, spec.pretrained, spec.taps, spec.seed, head_seed)

    @property
    def backbone_spec(self) -> BackboneSpec:
        """The :class:`~inctrl.backbone.BackboneSpec` this configuration builds."""
        taps = tuple(self.taps) if self.taps is not None else None
        return BackboneSpec(self.model_name, self.pretrained, taps, self.backbone_seed, self.model_cfg)

    def to_dict(self) -> dict:
        """The fields as a plain dict (what checkpoints store)."""
        return asdict(self)


@dataclass
class PromptBank:
    """Everything InCTRL needs from the K normal prompts of one category, computed once.

    Attributes:
        name: the object name the text prior reads (``"metal nut"``, ``"solar cell"``).
        tokens: [L, K*N, D] the prompts' tapped patch tokens, L2-normalised, the patches of
            all K prompts pooled into one set per layer.
        embeddings: [K, E] g(p_k), fp32.
        prototype: [E] F_P (Eq. 3), with the adapter weights of the moment the bank was built.
        text: [2, E] t_n and t_a of ``name``.
        sources: where the prompts came from (file paths), when known.
    """

    name: str
    tokens: torch.Tensor
    embeddings: torch.Tensor
    prototype: torch.Tensor
    text: torch.Tensor
    sources: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        """K, the number of prompts."""
        return self.embeddings.shape[0]


@dataclass
class InCTRLOutput:
    """Scores and maps for a batch of queries; every intermediate of the paper is here.

    Attributes:
        score: [B] s(x), the final score (Eq. 8).
        image_score: [B] s_i, the image-level residual score (Eq. 5), in [0, 1].
        text_score: [B] s_a, the text prior (Eq. 6), in [0, 1].
        patch_score: [B] s_p = max M, in [0, 1].
        holistic_score: [B] phi(M+), in [0, 1].
        patch_map: [B, h, w] M, the patch distances averaged over layers (Eq. 2), in [0, 1].
        holistic_map: [B, h, w] M+ = M + s_i + s_a (Eq. 7).
        layer_maps: [B, L, h, w] M^l, the patch distances of each tapped layer (Eq. 1).
        image_size: the model's input size in pixels (the default size of
            :meth:`anomaly_map`).
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
        """B, the number of queries."""
        return self.score.shape[0]

    def anomaly_map(self, size: int | tuple[int, int] | None = None,
                    kind: str = "patch") -> torch.Tensor:
        """The patch map M or the holistic map M+, upsampled bilinearly.

        Args:
            size: the output size, an int for a square or ``(H, W)``; default the model's
                input size (``image_size``).
            kind: ``"patch"`` for M or ``"holistic"`` for M+.

        Returns:
            [B, H, W] float32 maps.

        Raises:
            ValueError: ``kind`` is neither ``"patch"`` nor ``"holistic"``.
        """
        maps = {"patch": self.patch_map, "holistic": self.holistic_map}
        if kind not in maps:
            raise ValueError(f"kind must be 'patch' or 'holistic', got {kind!r}")
        size = size or self.image_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        grid = maps[kind].float().unsqueeze(1)
        return F.interpolate(grid, size=size, mode="bilinear", align_corners=False).squeeze(1)

    def cpu(self) -> InCTRLOutput:
        """A copy with every tensor detached and on the CPU."""
        return self._map(lambda t: t.detach().cpu())

    def _map(self, fn) -> InCTRLOutput:
        values = {k: (fn(v) if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()}
        return InCTRLOutput(**values)

    @staticmethod
    def cat(parts: Sequence[InCTRLOutput]) -> InCTRLOutput:
        """Concatenate outputs along the query axis.

        Args:
            parts: outputs of the same model; the non-tensor fields are taken from the first.

        Returns:
            One InCTRLOutput of all their queries, in order.
        """
        first = parts[0]
        values = {k: (torch.cat([getattr(p, k) for p in parts]) if isinstance(v, torch.Tensor)
                      else v) for k, v in vars(first).items()}
        return InCTRLOutput(**values)

    def scores(self) -> dict[str, list[float]]:
        """The four scalar scores as plain lists (for tables and JSON).

        Returns:
            ``{"score", "patch_score", "image_score", "text_score"}`` -> B floats each.
        """
        return {name: getattr(self, name).detach().float().cpu().tolist()
                for name in ("score", "patch_score", "image_score", "text_score")}
