"""The frozen CLIP backbone: an open_clip ViT with taps on intermediate blocks (book/equations.md §1).

Three profiles ship with the package:

* ``"paper"`` - open_clip ``ViT-B-16-plus-240`` with the ``laion400m_e32`` weights, as in the
  paper (downloaded by open_clip, or read from a local file);
* ``"tiny"`` - a small ViT registered with open_clip under ``inctrl-tiny-vit``, randomly
  initialised from a fixed seed. It keeps the paper's geometry (240 px input, 16 px patches,
  a 15x15 grid, 640-d embedding) so every head has its published shape, and runs on a laptop
  CPU with nothing to download. Its numbers are *not* the paper's;
* ``"mini"`` - the offline default: a small open_clip CLIP (``inctrl-mini-vit``, same
  geometry) pretrained by the project on its procedural world (``inctrl pretrain``), with
  its weights shipped in the package (fp16, SHA-256 checked at load). Features that mean
  something, with nothing to download; still not the paper's numbers. The weights are v2 (v1
  continued on its last block, ``weights/inctrl-mini-v2.json``); v1 ships as v2's start.
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
from torch import nn
from torchvision import transforms

from .frame import model_frame

TINY_MODEL = "inctrl-tiny-vit"
MINI_MODEL = "inctrl-mini-vit"
for _name in (TINY_MODEL, MINI_MODEL):
    open_clip.add_model_config(Path(__file__).with_name(f"{_name}.json"))

# OpenAI CLIP normalisation, used by the official preprocessing.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Blocks 7, 9 and 11 (counted from 1) of the 12-block paper backbone.
PAPER_TAPS = (7, 9, 11)
# The mini profile's weights (`inctrl pretrain` + export_weights): v2, and v1 that v2's recipes start from.
MINI_WEIGHTS = "inctrl-world"
MINI_WEIGHTS_FILE = Path(__file__).with_name("weights") / "inctrl-mini-v2.pt"
MINI_WEIGHTS_SHA256 = "5d99b3f7267d232d0812c4fb0c36a9a22de95bd45cb4db30eccd5b6f254b9549"
MINI_V1_WEIGHTS_FILE = Path(__file__).with_name("weights") / "inctrl-mini-vit-world.pt"
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
    "mini": BackboneSpec(MINI_MODEL, MINI_WEIGHTS, None, seed=0),
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
def _quiet_open_clip():
    # open_clip warns on every random initialisation; that is what we asked for.
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _shipped_mini_weights() -> dict[str, torch.Tensor]:
    """The mini profile's weights from the package, after checking their SHA-256."""
    path = MINI_WEIGHTS_FILE
    if not path.is_file():
        raise WeightsUnavailableError(f"the mini profile's weights are missing from the package ({path}); "
                                      "reinstall inctrl, or recreate them with 'inctrl pretrain'")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MINI_WEIGHTS_SHA256:
        raise WeightsUnavailableError(f"{path} is damaged (SHA-256 {digest[:12]}... instead of "
                                      f"{MINI_WEIGHTS_SHA256[:12]}...): reinstall inctrl (a git checkout "
                                      "without the weights file, e.g. an LFS pointer, shows this too)")
    return torch.load(path, map_location="cpu", weights_only=True)


def _create_clip(spec: BackboneSpec) -> nn.Module:
    """Build the open_clip model on the CPU; random weights come from ``spec.seed``."""
    if spec.model_cfg is not None:  # an architecture given by its config, not by a registered name
        if spec.pretrained is not None:
            raise ValueError(f"{spec.model_name} is built from its config: its weights come from the "
                             "checkpoint that described it, not from a tag or file")
        with torch.random.fork_rng(devices=[]), _quiet_open_clip():
            torch.manual_seed(spec.seed)
            return open_clip.CLIP(**spec.model_cfg)
    if spec.model_name not in open_clip.list_models():
        raise ValueError(f"open_clip has no model called {spec.model_name!r}")
    if spec.pretrained is None or spec.pretrained == MINI_WEIGHTS:
        with torch.random.fork_rng(devices=[]), _quiet_open_clip():
            torch.manual_seed(spec.seed)
            model = open_clip.create_model(spec.model_name, pretrained=None)
        if spec.pretrained == MINI_WEIGHTS:
            model.load_state_dict({k: v.float() for k, v in _shipped_mini_weights().items()})
        return model
    looks_like_file = os.sep in spec.pretrained or Path(spec.pretrained).suffix != ""
    if looks_like_file and not Path(spec.pretrained).is_file():
        raise WeightsUnavailableError(f"CLIP weights file not found: {spec.pretrained}")
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
        self.clip = clip if clip is not None else _create_clip(spec)
        self.clip.requires_grad_(False)
        self.clip.eval()
        visual = self.clip.visual
        if not hasattr(visual, "transformer") or not hasattr(visual, "conv1"):
            raise ValueError(f"{spec.model_name} is not an open_clip ViT: InCTRL needs patch tokens")
        depth = len(visual.transformer.resblocks)
        taps = spec.taps or default_taps(depth)
        if not all(1 <= t <= depth for t in taps):
            raise ValueError(f"taps {taps} are outside the {depth} blocks of {spec.model_name}")
        self.taps = tuple(taps)
        self.image_size = int(visual.image_size[0])
        self.grid = tuple(int(g) for g in visual.grid_size)
        self.embed_dim = int(visual.output_dim)
        self.tokenizer = (open_clip.get_tokenizer(spec.model_name) if spec.model_cfg is None else
                          open_clip.tokenizer.SimpleTokenizer(
                              context_length=self.clip.positional_embedding.shape[0]))
        self.transform = transforms.Compose([
            *model_frame(self.image_size).transforms,  # the one geometry (inctrl.frame)
            transforms.ToTensor(),
            transforms.Normalize(CLIP_MEAN, CLIP_STD),
        ])

    @property
    def n_patches(self) -> int:
        """N, the number of patches of one image (h * w)."""
        return self.grid[0] * self.grid[1]

    @property
    def device(self) -> torch.device:
        """The device of the encoder's weights."""
        return self.clip.visual.conv1.weight.device

    def similarity_budget(self, batch: int) -> int:
        """The largest patch-similarity block to compute at once for ``batch`` queries.

        The block is the size of one MLP activation of the encoder for that batch, so
        scoring never needs much more memory than the encoder forward itself (and large
        batches still get large, fast products). On the CPU it is also capped at 2^22
        elements (16 MB in fp32), so the block stays in the cache while ``amax`` reduces
        it: a larger block would be written to main memory and read back, which is slower
        and gains nothing.

        Args:
            batch: B, the number of queries scored together.

        Returns:
            The number of elements of one block (at least 2^16).
        """
        mlp = self.clip.visual.transformer.resblocks[0].mlp.c_fc.out_features
        budget = max(2**16, batch * (self.n_patches + 1) * mlp)
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
        blocks = self.clip.visual.transformer.resblocks
        batch_first = getattr(self.clip.visual.transformer, "batch_first", True)
        taken: list[torch.Tensor] = []

        def keep(_module, _inputs, output):
            taken.append(output if batch_first else output.transpose(0, 1))

        handles = [blocks[t - 1].register_forward_hook(keep) for t in self.taps]
        try:
            embedding = self.clip.visual(pixels)
        finally:
            for handle in handles:
                handle.remove()
        tokens = torch.stack([t[:, 1:, :] for t in taken])  # [L, B, N, D], class token dropped
        return ImageFeatures(embedding, tokens)

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

