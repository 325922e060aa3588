"""LiT: train the mini profile's text tower against its locked ImageNet image tower.

LiT ("Locked-image Tuning", Zhai et al., CVPR 2022) keeps a pretrained image tower fixed and
trains only the text tower to match it. The mini profile's image tower is EfficientNet-Lite0
with ImageNet weights (:mod:`inctrl.trunk_weights`); nothing in it is trained here, so the patch
tokens and g(x) that InCTRL reads are ImageNet's. What LiT adds is the text side: InCTRL's text
prior s_a (Eq. 6) compares g(x) with the embeddings of "a photo of a flawless {name}" and
"a photo of a damaged {name}", and only a text tower trained against *this* image tower can
make that comparison mean something.

The recipe, on two CPU cores in minutes:

1. draw ``photos`` photos of the procedural world (:mod:`inctrl.data.world`) from the
   auxiliary families only (:data:`inctrl.data.world.AUX_FAMILIES`: never the validation
   families, the held-out families or any evaluation set), half of them with a defect, each
   with its caption ("a close-up photo of a silver brushed metal plate with a thin scratch.");
2. encode every photo once with the locked tower: g(x), the 1280-d pooled trunk features;
3. train the text tower, its projection and the logit scale with CLIP's contrastive loss
   (:func:`contrastive_loss`) on batches of (g(x), caption) pairs;
4. save everything but the image tower, in fp16 (:func:`train_text_tower`), with a log and a
   record of the command, the time and the SHA-256 of both files.

``python -m inctrl.lit --out runs/lit`` runs it; the package ships the result as the mini
profile's ``weights/inctrl-mini-v3-text.pt``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import atomic
from .backbone import (
    MINI_MODEL,
    MINI_WEIGHTS_FILE,
    Backbone,
    BackboneSpec,
    create_clip,
    profile_spec,
    quiet_open_clip,
)
from .data.world import AUX_FAMILIES, DEFECTS, Product, photo, photometric_jitter
from .paths import check_output_folder
from .trunk_weights import TRUNK_SHA256, load_trunk_weights

IMAGE_TOWER = "visual."
#: The shipped run's record and log, beside the weights (``MINI_WEIGHTS_FILE``).
SHIPPED_RECORD = MINI_WEIGHTS_FILE.with_suffix(".json")
SHIPPED_LOG = MINI_WEIGHTS_FILE.with_name(MINI_WEIGHTS_FILE.stem + "-log.csv")


@dataclass(frozen=True)
class LitConfig:
    """The LiT recipe of the mini text tower.

    Attributes:
        photos: world photos drawn and captioned (each encoded once).
        p_defect: the chance that a photo has a defect.
        steps: optimiser steps.
        batch: (photo, caption) pairs per step.
        lr: AdamW's peak learning rate (cosine decay after a linear warm-up).
        warmup: warm-up steps.
        weight_decay: AdamW's weight decay (not on gains, biases and the logit scale).
        size: the photos' side in pixels (the tower's input).
        seed: the seed of the photos, the initial text tower and the batches.
    """

    photos: int = 4000
    p_defect: float = 0.5
    steps: int = 1500
    batch: int = 128
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.1
    size: int = 240
    seed: int = 0

    def check(self) -> None:
        """Refuse values that cannot train.

        Raises:
            ValueError: a count below 1, ``p_defect`` outside [0, 1], or a learning rate or
                weight decay that is not finite and positive (decay: non-negative).
        """
        for name in ("photos", "steps", "batch", "size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch > self.photos:
            raise ValueError(f"batch ({self.batch}) cannot exceed photos ({self.photos})")
        if not 0 <= self.p_defect <= 1:
            raise ValueError(f"p_defect must be in [0, 1], got {self.p_defect}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be finite and positive, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be finite and non-negative, got {self.weight_decay}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be non-negative, got {self.warmup}")


def draw_photos(config: LitConfig, progress: bool = False) -> tuple[list[np.ndarray], list[str]]:
    """The captioned world photos of the recipe: images and captions, a function of the config.

    Photo ``i`` comes from its own generator ``[seed, i]``: a product of one of
    :data:`~inctrl.data.world.AUX_FAMILIES`, a defect of a random kind and strength with
    chance ``p_defect``, then camera-like jitter (:func:`~inctrl.data.world.photometric_jitter`).

    Args:
        config: the recipe.
        progress: show a progress bar.

    Returns:
        (images, captions): ``photos`` [S, S, 3] uint8 images and their captions.
    """
    kinds = sorted(DEFECTS)
    images, captions = [], []
    for i in tqdm(range(config.photos), desc="drawing world photos", disable=not progress, leave=False):
        rng = np.random.default_rng([config.seed, i])
        product = Product.draw(rng, AUX_FAMILIES)
        defect = kinds[int(rng.integers(len(kinds)))] if rng.random() < config.p_defect else None
        shot = photo(product, rng, config.size, defect, strength=float(rng.uniform(0.4, 1.0)))
        images.append(photometric_jitter(rng, shot.image))
        captions.append(shot.caption)
    return images, captions


def build_mini_clip(seed: int = 0) -> torch.nn.Module:
    """The mini CLIP with its ImageNet trunk loaded and a fresh text tower drawn from ``seed``."""
    clip = create_clip(BackboneSpec(MINI_MODEL, None, seed=seed))
    load_trunk_weights(clip.visual.trunk)
    return clip


@torch.no_grad()
def encode_photos(clip, images: list[np.ndarray], transform, batch: int = 64,
                  progress: bool = False) -> torch.Tensor:
    """g(x) of every photo, once, with the locked image tower.

    Args:
        clip: the mini CLIP.
        images: [S, S, 3] uint8 photos.
        transform: PIL image -> normalised tensor (the mini backbone's ``transform``).
        batch: photos per forward.
        progress: show a progress bar.

    Returns:
        [n, E] fp32 image embeddings.
    """
    from PIL import Image

    clip.visual.eval()
    parts = []
    steps = range(0, len(images), batch)
    for start in tqdm(steps, desc="encoding photos", disable=not progress, leave=False):
        pixels = torch.stack([transform(Image.fromarray(im)) for im in images[start:start + batch]])
        parts.append(clip.visual(pixels).float())
    return torch.cat(parts)


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, captions: list[str], scale: torch.Tensor):
    """CLIP's symmetric InfoNCE loss, where every pair of identical captions counts as positive.

    The world repeats captions (the same family, colour and defect), so one-hot targets would
    push apart photos that their captions call the same; the target spreads evenly over them.

    Args:
        image: [B, E] image embeddings (normalised here).
        text: [B, E] caption embeddings (normalised here).
        captions: the B captions.
        scale: the logit scale (CLIP's inverse temperature).

    Returns:
        The loss, a scalar tensor.
    """
    logits = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T
    index = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    ids = torch.tensor([index[c] for c in captions], device=logits.device)
    same = (ids[:, None] == ids[None, :]).float()
    target = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (-(target * logits.log_softmax(1)).sum(1).mean()
                  - (target * logits.log_softmax(0)).sum(0).mean())


def _photo_features(config: LitConfig, clip, cache: Path, progress: bool):
    """g(x) and captions of the recipe's photos: drawn and encoded once, then read from ``cache``.

    The cache is keyed by what the photos depend on (count, defect rate, size, seed), so a run
    with another learning rate or step count reuses them.
    """
    key = json.dumps({"photos": config.photos, "p_defect": config.p_defect, "size": config.size,
                      "seed": config.seed, "trunk_sha256": TRUNK_SHA256}, sort_keys=True)
    if cache.is_file():
        stored = torch.load(cache, map_location="cpu", weights_only=True)
        if stored.get("key") == key:
            return stored["image"], stored["captions"], {"draw": 0.0, "encode": 0.0}
    seconds = {}
    t = time.perf_counter()
    images, captions = draw_photos(config, progress)
    seconds["draw"] = time.perf_counter() - t
    transform = Backbone(profile_spec("mini", pretrained=False), clip=clip).transform
    t = time.perf_counter()
    image = encode_photos(clip, images, transform, progress=progress)
    seconds["encode"] = time.perf_counter() - t
    atomic.torch_save({"key": key, "image": image, "captions": captions}, cache)
    return image, captions, seconds


def text_part(clip) -> dict[str, torch.Tensor]:
    """What LiT trains: every tensor of the CLIP model outside the image tower, in fp16."""
    return {k: v.detach().half().clone() for k, v in clip.state_dict().items()
            if not k.startswith(IMAGE_TOWER)}


def _learning_rate(config: LitConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    done = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.5 * config.lr * (1 + math.cos(math.pi * done))


def train_text_tower(config: LitConfig, out: str | Path, progress: bool = True,
                     command: str | None = None) -> dict:
    """Run the LiT recipe and write ``out/text.pt``, ``out/log.csv`` and ``out/record.json``.

    The photos' features are kept in ``out/features.pt`` and reused by a later run with the same
    photos.

    Args:
        config: the recipe.
        out: the run's folder (created; files in it are replaced atomically).
        progress: show progress bars.
        command: the command line to record (default: this process's).

    Returns:
        The record: the config, the families, the final loss, the seconds per phase and the
        SHA-256 of the trunk and of ``text.pt``.
    """
    config.check()
    out = check_output_folder(out, what="the LiT run's folder")  # never ".", home, or above the cwd
    out.mkdir(parents=True, exist_ok=True)
    clip = build_mini_clip(config.seed)
    image, captions, seconds = _photo_features(config, clip, out / "features.pt", progress)

    trainable = [p for n, p in clip.named_parameters() if not n.startswith(IMAGE_TOWER)]
    for p in trainable:
        p.requires_grad_(True)
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    tokenizer = _tokenizer()
    tokens = tokenizer(captions)
    rows = []
    t = time.perf_counter()
    clip.train()
    clip.visual.eval()  # locked: its BatchNorm statistics stay ImageNet's
    for step in tqdm(range(config.steps), desc="LiT text tower", disable=not progress):
        pick = torch.randperm(len(captions), generator=generator)[:config.batch]
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(config, step)
        text = clip.encode_text(tokens[pick])
        loss = contrastive_loss(image[pick], text, [captions[i] for i in pick], clip.logit_scale.exp())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            clip.logit_scale.clamp_(0, math.log(100))
        rows.append({"step": step, "lr": optimiser.param_groups[0]["lr"], "loss": loss.item(),
                     "logit_scale": clip.logit_scale.detach().exp().item()})
        if not math.isfinite(rows[-1]["loss"]):
            raise FloatingPointError(f"the LiT loss is not finite at step {step}: lower the learning rate "
                                     f"(--lr, now {config.lr})")
    seconds["train"] = time.perf_counter() - t
    clip.eval()

    weights = out / "text.pt"
    atomic.torch_save(text_part(clip), weights)
    log = io.StringIO()
    writer = csv.DictWriter(log, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(out / "log.csv", log.getvalue())
    tail = rows[-min(50, len(rows)):]
    record = {
        "recipe": "LiT: ImageNet EfficientNet-Lite0 locked, text tower trained on world captions",
        "command": command or shlex.join(["python", "-m", "inctrl.lit", *sys.argv[1:]]),
        "config": asdict(config),
        "model": MINI_MODEL,
        "families": list(AUX_FAMILIES),
        "distinct_captions": len(set(captions)),
        "final_loss": sum(r["loss"] for r in tail) / len(tail),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "torch_threads": torch.get_num_threads(),
        "trunk_sha256": TRUNK_SHA256,
        "text_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    atomic.write_json(out / "record.json", record)
    return record


def shipped_record() -> dict:
    """The record of the LiT run whose text tower ships as the mini profile's."""
    return json.loads(SHIPPED_RECORD.read_text())


def shipped_log():
    """The shipped run's log as a DataFrame (step, lr, loss, logit_scale)."""
    import pandas as pd

    return pd.read_csv(SHIPPED_LOG)


def _tokenizer():
    import open_clip

    with quiet_open_clip():
        return open_clip.get_tokenizer(MINI_MODEL)


def main(argv=None) -> None:
    """``python -m inctrl.lit --out DIR``: train the mini text tower (LiT) and write its files."""
    defaults = LitConfig()
    parser = argparse.ArgumentParser(prog="python -m inctrl.lit", description=main.__doc__)
    parser.add_argument("--out", required=True, help="the run's folder (text.pt, log.csv, record.json)")
    for name in ("photos", "steps", "batch", "warmup", "size", "seed"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    for name in ("lr", "weight_decay", "p_defect"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float,
                            default=getattr(defaults, name))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = vars(parser.parse_args(argv))
    out, threads = args.pop("out"), args.pop("threads")
    if threads is not None:
        if threads < 1:
            parser.error(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    config = LitConfig(**args)
    try:
        config.check()
    except ValueError as error:
        parser.error(str(error))
    try:
        record = train_text_tower(config, out)
    except (ValueError, OSError) as error:  # a refused --out: one line, no traceback
        parser.exit(1, f"python -m inctrl.lit: error: {error}\n")
    print(json.dumps({k: record[k] for k in ("final_loss", "seconds", "text_sha256")}))


if __name__ == "__main__":
    main()
