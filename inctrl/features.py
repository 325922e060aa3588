"""A feature cache: encode image files once with the frozen backbone and reuse the features.

The CLIP backbone is frozen and preprocessing has no augmentation, so an image's features
never change during training or evaluation. Encoding every image once (instead of once per
step, prompt draw or K) gives the same scores at a fraction of the cost.

Features are kept in fp32 by default, so scores from cached features equal ``model.score``
exactly. Storing the patch tokens in fp16 halves the memory (the tokens are nearly all of it)
but rounds them, which moves the scores by about the 1e-5 agreement the package promises;
fp16 is therefore opt-in (``dtype=torch.float16``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import atomic
from .backbone import ImageFeatures

CACHE_FORMAT = "inctrl-features/1"


def _key_path(path) -> str:
    return str(Path(path).resolve())


@dataclass
class CachedFeatures:
    """Backbone features of a list of image files; row ``i`` belongs to ``paths[i]``.

    Attributes:
        paths: the resolved image paths, without duplicates.
        features: their :class:`~inctrl.backbone.ImageFeatures`, on the CPU: ``embedding``
            [B, E] fp32 and ``tokens`` [L, B, N, D] (fp32, or fp16 when asked for).
        key: the :func:`cache_key` the features were stored under ("" if none).
    """

    paths: list[str]
    features: ImageFeatures
    key: str = ""

    def __post_init__(self) -> None:
        self._row = {p: i for i, p in enumerate(self.paths)}

    def __len__(self) -> int:
        return len(self.paths)

    def rows(self, paths: Sequence) -> torch.Tensor:
        """Row indices of ``paths`` (any order, repeats allowed).

        Args:
            paths: image paths; they are resolved before the look-up.

        Returns:
            [len(paths)] int64 row indices.

        Raises:
            KeyError: a path is not in the cache (the message names it).
        """
        out = []
        for p in paths:
            key = _key_path(p)
            if key not in self._row:
                raise KeyError(f"{p} is not in this feature cache")
            out.append(self._row[key])
        return torch.tensor(out, dtype=torch.long)

    def select(self, paths: Sequence) -> ImageFeatures:
        """The features of ``paths``, in that order, as fp32 (ready for scoring).

        Args:
            paths: image paths (any order, repeats allowed).

        Returns:
            :class:`~inctrl.backbone.ImageFeatures`: ``embedding`` [B, E] and ``tokens``
            [L, B, N, D], both fp32, B = ``len(paths)``.

        Raises:
            KeyError: a path is not in the cache.
        """
        feats = self.features[self.rows(paths)]
        return ImageFeatures(feats.embedding.float(), feats.tokens.float())


def cache_key(model, paths: Sequence, amp: bool = False, dtype: torch.dtype = torch.float32) -> str:
    """A hash of everything the features of ``paths`` depend on.

    The backbone (architecture, weights, taps, input size), the files (resolved path, size,
    modification time; their order does not matter) and the numeric settings.

    Args:
        model: the :class:`~inctrl.model.InCTRL` whose backbone encodes.
        paths: the image files; they must exist.
        amp: mixed precision (it counts only off the CPU, where it changes the features).
        dtype: the dtype the patch tokens are stored in.

    Returns:
        20 hex digits.
    """
    backbone = model.backbone
    digest = hashlib.sha256()
    head = {"format": CACHE_FORMAT, "model": backbone.spec.model_name, "taps": list(backbone.taps),
            "size": backbone.image_size, "weights": backbone.state_fingerprint(),
            "amp": bool(amp and model.device.type != "cpu"), "dtype": str(dtype)}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for p in sorted(_key_path(p) for p in paths):
        stat = os.stat(p)
        digest.update(f"{p}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def encode_paths(model, paths: Sequence, cache_dir: str | os.PathLike | None = None,
                 batch_size: int = 32, progress: bool = False, amp: bool = False,
                 dtype: torch.dtype = torch.float32) -> CachedFeatures:
    """Encode image files once (duplicates removed, order kept).

    With ``cache_dir`` the result is read from / written (atomically) to
    ``cache_dir/features-<key>.pt``, ``key`` from :func:`cache_key`, so a later call with
    the same backbone and unchanged files loads instead of encoding.

    Args:
        model: the :class:`~inctrl.model.InCTRL` whose backbone encodes.
        paths: image files.
        cache_dir: the folder of the on-disk cache; None keeps the features in memory only.
        batch_size: images per encoder forward.
        progress: show a progress bar.
        amp: mixed precision while encoding (see :func:`inctrl.device.autocast`).
        dtype: the dtype of the stored patch tokens; fp16 halves the memory but moves scores
            by about 1e-5 (see the module docstring).

    Returns:
        The :class:`CachedFeatures`, on the CPU.

    Raises:
        ValueError: ``paths`` is empty.
        FileNotFoundError: a path is not a file.
    """
    unique = list(dict.fromkeys(_key_path(p) for p in paths))
    if not unique:
        raise ValueError("no image paths to encode")
    for p in unique:
        if not Path(p).is_file():
            raise FileNotFoundError(f"image not found: {p}")
    key = cache_key(model, unique, amp, dtype)
    file = Path(cache_dir) / f"features-{key}.pt" if cache_dir is not None else None
    if file is not None and file.is_file():
        data = torch.load(file, map_location="cpu", weights_only=True)
        if data.get("format") == CACHE_FORMAT and sorted(data["paths"]) == sorted(unique):
            return CachedFeatures(list(data["paths"]), ImageFeatures(data["embedding"], data["tokens"]), key)
    feats = model.encode(unique, batch_size=batch_size, progress=progress, amp=amp)
    feats = ImageFeatures(feats.embedding.float().cpu(), feats.tokens.to("cpu", dtype))
    if file is not None:
        atomic.torch_save({"format": CACHE_FORMAT, "key": key, "paths": unique,
                           "embedding": feats.embedding, "tokens": feats.tokens}, file)
    return CachedFeatures(unique, feats, key)
