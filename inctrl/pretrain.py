"""Pretraining the offline ``mini`` backbone from scratch on the procedural world.

Pretrained CLIP weights cannot be downloaded everywhere the book is built, so the project
makes its own: a small open_clip CLIP (image and text towers, the paper's geometry: 240 px,
16 px patches, a 15 x 15 grid, a 640-d joint embedding) trained on :mod:`inctrl.data.world`
with two objectives (:mod:`inctrl.pretrain_objectives`):

* ``clip``: the image-caption contrastive loss of CLIP (symmetric InfoNCE; photos with the
  same caption are all positives), so g(x) and the text tower share a space and the text
  prior s_a means something;
* ``patch``: in-context defect supervision of the tapped tokens. Each batch is made of
  pairs (a normal photo of a product, a query photo of the same product, defective half of
  the time); the patch residual of Eq. 1-2 between them, M(j), is pushed up on the patches
  the defect mask covers and down elsewhere (balanced logistic loss on a learned affine of
  M). It shapes exactly the quantity InCTRL reads, and it cannot be satisfied by features
  that ignore the nuisance jitter between two photos of the same product.

Most steps run at a lower resolution (``low_res``, position embeddings interpolated) and the
last ``high_res_steps`` at 240 px. Batches are a function of (seed, step), checkpoints are
written atomically every ``checkpoint_every`` steps, and ``resume=True`` continues from one.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import atomic
from .backbone import CLIP_MEAN, CLIP_STD, MINI_MODEL
from .data.world import world_batch
from .device import resolve_device
from .pretrain_objectives import contrastive_loss, defect_loss, encode_tapped, patch_residual

OBJECTIVES = ("clip", "patch")


@dataclass
class PretrainConfig:
    """The pretraining recipe.

    Attributes:
        steps: every step of the schedule, low and high resolution together.
        high_res_steps: the last steps, run at 240 px; in [0, steps].
        low_res: the image side of the other steps: a multiple of 16 (the patch size), >= 32.
        groups: (prompt, query) pairs per low-resolution batch.
        high_res_groups: (prompt, query) pairs per 240 px batch.
        lr: the peak AdamW learning rate (see :meth:`learning_rate`).
        warmup: steps of linear warm-up.
        weight_decay: AdamW weight decay of the matrices (biases, norms and the defect affine
            have none).
        objectives: a non-empty subset of :data:`OBJECTIVES`, ``"clip"`` and ``"patch"``.
        patch_weight: the weight of the ``patch`` loss in the sum.
        p_defect: the probability that a query photo has a defect.
        seed: the seed of the initial weights and of every batch.
        model_name: the open_clip model to pretrain.
        checkpoint_every: steps between checkpoints.
        extra: free-form notes kept with the configuration (a resume must match them too).

    Raises:
        ValueError: unknown or no objectives, ``steps < 1``, ``high_res_steps`` outside
            [0, steps], or a ``low_res`` that is not a multiple of 16 of at least 32.
    """

    steps: int = 2600
    high_res_steps: int = 300
    low_res: int = 128
    groups: int = 32  # (prompt, query) pairs per low-resolution batch
    high_res_groups: int = 12
    lr: float = 5e-4
    warmup: int = 100
    weight_decay: float = 0.05
    objectives: tuple[str, ...] = OBJECTIVES
    patch_weight: float = 1.0
    p_defect: float = 0.5
    seed: int = 0
    model_name: str = MINI_MODEL
    checkpoint_every: int = 100
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.objectives = tuple(self.objectives)
        unknown = sorted(set(self.objectives) - set(OBJECTIVES))
        if unknown or not self.objectives:
            raise ValueError(f"objectives must be a non-empty subset of {OBJECTIVES}, got {self.objectives}")
        if self.steps < 1 or not 0 <= self.high_res_steps <= self.steps:
            raise ValueError(
                f"need steps >= 1 and 0 <= high_res_steps <= steps, got {self.steps}, {self.high_res_steps}"
            )
        if self.low_res % 16 or self.low_res < 32:
            raise ValueError(
                f"low_res must be a multiple of 16 (the patch size) and >= 32, got {self.low_res}"
            )

    def resolution(self, step: int) -> tuple[int, int]:
        """The image side and the batch size of a step.

        Args:
            step: 0-based step.

        Returns:
            ``(side, groups)``: 240 and ``high_res_groups`` for the last ``high_res_steps``
            steps, ``low_res`` and ``groups`` before.
        """
        if step >= self.steps - self.high_res_steps:
            return 240, self.high_res_groups
        return self.low_res, self.groups

    def learning_rate(self, step: int) -> float:
        """The learning rate of a step: linear warm-up, then cosine decay to 0.

        Args:
            step: 0-based step.

        Returns:
            The learning rate, at most ``lr``.
        """
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        t = (step - self.warmup) / max(1, self.steps - self.warmup)
        return 0.5 * self.lr * (1 + math.cos(math.pi * t))


def _batch(config: PretrainConfig, step: int, tokenizer, device):
    size, groups = config.resolution(step)
    pairs = world_batch(config.seed, step, groups, size, config.p_defect)
    photos = [p for pair in pairs for p in pair]
    pixels = torch.from_numpy(np.stack([p.image for p in photos])).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    masks = torch.from_numpy(np.stack([q.mask for _, q in pairs])).float()[:, None]
    fraction = F.avg_pool2d(masks, 16).flatten(1)  # [G, N]
    captions = [p.caption for p in photos]
    return ((pixels - mean) / std).to(device), fraction.to(device), captions, tokenizer(captions).to(device)


def build_clip(model_name: str = MINI_MODEL, seed: int = 0) -> nn.Module:
    """A randomly initialised open_clip model (the starting point of pretraining).

    The global torch RNG is left as it was.

    Args:
        model_name: the open_clip model.
        seed: the seed of the initial weights.

    Returns:
        The CLIP model, on the CPU.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return open_clip.create_model(model_name, pretrained=None)


def _optimizer(params, config: PretrainConfig):
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
    )


def pretrain(
    out_dir,
    config: PretrainConfig | None = None,
    *,
    device="auto",
    resume: bool = False,
    progress: bool = True,
    threads: int | None = None,
    until: int | None = None,
) -> Path:
    """Pretrain a CLIP on the world into ``out_dir``.

    ``out_dir/last.pt`` holds the model, the defect head, the optimizer and the step (one
    file, written atomically, so a resumed run continues from a consistent state);
    ``out_dir/log.csv`` one row per step. Every fifth checkpoint and the last also export
    ``weights_step{n}.pt`` (for the ablation). Export the shipped weights with
    :func:`export_weights`.

    Args:
        out_dir: the run folder.
        config: the recipe; None gives the default :class:`PretrainConfig`.
        device: where to train (see :func:`inctrl.device.resolve_device`).
        resume: continue from ``out_dir/last.pt``.
        progress: show a progress bar.
        threads: set torch's CPU threads to this many (None: leave them).
        until: stop after that many steps (the schedule is still the one of
            ``config.steps``), so a shorter run is an exact prefix of the full one: that is
            how the ablation compares objectives at equal budgets.

    Returns:
        The path of ``last.pt``.

    Raises:
        FileExistsError: ``last.pt`` exists and ``resume`` is False.
        ValueError: on resume, ``last.pt`` was written by another configuration.
    """
    config = config or PretrainConfig()
    out_dir = Path(out_dir)
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    from .backbone import default_taps

    last = out_dir / "last.pt"
    if not resume and last.exists():
        raise FileExistsError(
            f"{last} exists: pass resume=True (--resume) to continue it, or choose a new folder"
        )
    clip = build_clip(config.model_name, config.seed).to(dev)
    affine = nn.Parameter(torch.tensor([0.1, math.log(20.0)], device=dev))
    params = [p for p in clip.parameters()] + [affine]
    optimizer = _optimizer(params, config)
    start, log = 0, []
    if resume and last.exists():
        state = torch.load(last, map_location=dev, weights_only=True)
        if state["config"] != _plain(config):
            raise ValueError(f"{last} was written by another configuration; use a new folder")
        clip.load_state_dict(state["clip"])
        with torch.no_grad():
            affine.copy_(state["affine"])
        optimizer.load_state_dict(state["optimizer"])
        start, log = int(state["step"]), list(state["log"])
    taps = default_taps(len(clip.visual.transformer.resblocks))
    tokenizer = open_clip.get_tokenizer(config.model_name)
    clip.train()
    stop = min(config.steps, until or config.steps)
    bar = tqdm(
        range(start, stop),
        initial=start,
        total=stop,
        disable=not progress,
        desc="pretrain",
        dynamic_ncols=True,
    )
    for step in bar:
        t0 = time.perf_counter()
        lr = config.learning_rate(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        pixels, fraction, captions, tokens = _batch(config, step, tokenizer, dev)
        image, tapped = encode_tapped(clip.visual, pixels, taps)
        row = {"step": step + 1, "lr": lr, "size": pixels.shape[-1]}
        loss = torch.zeros((), device=dev)
        if "clip" in config.objectives:
            scale = clip.logit_scale.exp().clamp(max=100)
            row["clip"] = contrastive_loss(image, clip.encode_text(tokens), captions, scale)
            loss = loss + row["clip"]
        if "patch" in config.objectives:
            row["patch"] = defect_loss(patch_residual(tapped), fraction, affine)
            loss = loss + config.patch_weight * row["patch"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        row = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in row.items()} | {
            "seconds": time.perf_counter() - t0
        }
        log.append(row)
        bar.set_postfix({k: f"{row[k]:.3f}" for k in ("clip", "patch") if k in row})
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == stop:
            _save(last, clip, affine, optimizer, step + 1, config, log)
            if (step + 1) % (config.checkpoint_every * 5) == 0 or step + 1 == stop:  # for the ablation
                export_weights(last, out_dir / f"weights_step{step + 1}.pt")
    _write_log(out_dir / "log.csv", log)
    return last


def _plain(config: PretrainConfig) -> dict:
    d = asdict(config)
    d["objectives"] = list(d["objectives"])
    return d


def _save(path: Path, clip, affine, optimizer, step: int, config: PretrainConfig, log: list) -> None:
    atomic.torch_save(
        {
            "clip": clip.state_dict(),
            "affine": affine.detach().cpu(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": _plain(config),
            "log": log,
        },
        path,
    )
    _write_log(path.parent / "log.csv", log)


def _write_log(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = [",".join(keys)] + [",".join("" if k not in r else f"{r[k]:.6g}" for k in keys) for r in rows]
    atomic.write_text(path, "\n".join(lines) + "\n")


def export_weights(checkpoint, out) -> str:
    """Write the CLIP weights of a pretraining checkpoint as fp16 to ``out``.

    Args:
        checkpoint: a ``last.pt`` of :func:`pretrain`.
        out: the weights file to write (atomically).

    Returns:
        The SHA-256 of the written file, hex.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state["clip"].items()}
    atomic.torch_save(weights, out)
    return file_sha256(out)


def file_sha256(path) -> str:
    """The SHA-256 of a file, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
