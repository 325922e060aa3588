"""Pretraining the offline ``mini`` backbone from scratch on the procedural world.

Pretrained CLIP weights cannot be downloaded everywhere the book is built, so the project
makes its own: a small open_clip CLIP (image and text towers, the paper's geometry: 240 px,
16 px patches, a 15 x 15 grid, a 640-d joint embedding) trained on :mod:`inctrl.data.world`
with objectives from :mod:`inctrl.pretrain_objectives`. The v1 recipe
(:class:`PretrainConfig`'s defaults) uses two:

* ``clip``: the image-caption contrastive loss of CLIP (symmetric InfoNCE; photos with the
  same caption are all positives), so g(x) and the text tower share a space and the text
  prior s_a means something;
* ``patch``: in-context defect supervision of the tapped tokens. Each batch is made of
  pairs (a normal photo of a product, a query photo of the same product, defective half of
  the time); the patch residual of Eq. 1-2 between them, M(j), is pushed up on the patches
  the defect mask covers and down elsewhere (balanced logistic loss on a learned affine of
  M). It shapes exactly the quantity InCTRL reads, and it cannot be satisfied by features
  that ignore the nuisance jitter between two photos of the same product.

The v2 recipe (:meth:`PretrainConfig.v2`, ``inctrl pretrain --recipe v2``) adds two more and
changes the batches:

* batches of in-context *groups* (K = ``shots`` normal prompts and one query of the same
  product, :func:`inctrl.data.world.world_groups`), as InCTRL is used; the patch residual
  takes each query patch's nearest patch among all K prompts;
* ``image``: the image-level twin of ``patch``: |g(q) - mean g(prompts)| must separate
  defective queries from normal ones, so the residual s_i reads carries the defect;
* ``pixel``: masked patch-pixel prediction: the tapped tokens of a photo with part of its
  patches masked must give back every patch's normalised pixels, so the tokens keep texture
  that no procedural family draws;
* a share of the products are crops of real photographs (:mod:`inctrl.data.photos`), and
  every photo gets independent photometric jitter (gamma, light, blur, noise), so global
  brightness alone stops being a cue.

Most steps run at a lower resolution (``low_res``, position embeddings interpolated) and the
last ``high_res_steps`` at 240 px. Batches are a function of (seed, step), checkpoints are
written atomically every ``checkpoint_every`` steps, and ``resume=True`` continues from one.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict
from pathlib import Path

import open_clip
import torch
from torch import nn
from tqdm.auto import tqdm

from . import atomic
from .backbone import MINI_MODEL
from .device import resolve_device
from .pretrain_batches import patch_masks, step_batches, training_batch  # noqa: F401  (re-exported)
from .pretrain_config import (  # noqa: F401  (re-exported)
    BATCHES,
    FAMILY_OUT,
    OBJECTIVES,
    RECIPES,
    V1_WEIGHTS_SHA256,
    PretrainConfig,
    leaving_out,
)
from .pretrain_objectives import (
    PixelDecoder,
    contrastive_loss,
    defect_loss,
    encode_tapped,
    freeze_front,
    group_patch_residual,
    image_defect_loss,
    image_residual,
    masked_pixel_loss,
    patch_pixels,
    patch_residual,
)


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


class PretrainHeads(nn.Module):
    """The small trainable parts of the ``pixel`` objective that are not in the CLIP model.

    Attributes:
        mask_token: [D] the embedding of a masked patch.
        decoder: the :class:`~inctrl.pretrain_objectives.PixelDecoder`.
    """

    def __init__(self, layers: int, width: int):
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(width))
        self.decoder = PixelDecoder(layers, width)


def _init_weights(init: str) -> dict:
    """The starting weights of ``init="mini-v1"`` (fp32), after checking their SHA-256."""
    from .backbone import MINI_V1_WEIGHTS_FILE

    if not MINI_V1_WEIGHTS_FILE.is_file() or file_sha256(MINI_V1_WEIGHTS_FILE) != V1_WEIGHTS_SHA256:
        raise ValueError(f'init="{init}" continues from the v1 mini weights (SHA-256 '
                         f"{V1_WEIGHTS_SHA256[:12]}...), but {MINI_V1_WEIGHTS_FILE} is missing or "
                         "holds other weights")
    weights = torch.load(MINI_V1_WEIGHTS_FILE, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}


def _heads(config: PretrainConfig, layers: int, width: int) -> PretrainHeads | None:
    if "pixel" not in config.objectives:
        return None  # v1: no extra parameters, so its optimizer and batches are unchanged
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        return PretrainHeads(layers, width)


def _pixel_loss(config: PretrainConfig, step: int, visual, heads: PretrainHeads, pixels, taps):
    """The ``pixel`` objective on the first prompt of every group, part of its patches masked."""
    shown = pixels[:: config.shots + 1]
    grid = shown.shape[-1] // 16
    masked = patch_masks(config, step, shown.shape[0], grid * grid).to(pixels.device)
    _, tapped = encode_tapped(visual, shown, taps, masked, heads.mask_token)
    return masked_pixel_loss(heads.decoder(tapped), patch_pixels(shown), masked)


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
    workers: int = 0,
) -> Path:
    """Pretrain a CLIP on the world into ``out_dir``.

    ``out_dir/last.pt`` holds the model, the defect head, the optimizer and the step (one
    file, written atomically, so a resumed run continues from a consistent state);
    ``out_dir/log.csv`` one row per step. Every fifth checkpoint and the last also export
    ``weights_step{n}.pt`` (for the ablation). Export the weights to ship with
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
        workers: processes that make the batches ahead of the steps (0: none); the batches,
            and so the run, are the same for any number (see :func:`step_batches`). On a GPU
            the batches, not the steps, set the pace: give it most of the CPU cores.

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
    clip = build_clip(config.model_name, config.seed)
    if config.init and not (resume and last.exists()):
        clip.load_state_dict(_init_weights(config.init))
    clip = clip.to(dev)
    freeze_front(clip.visual, config.frozen_blocks)
    affine = nn.Parameter(torch.tensor([0.1, math.log(20.0)], device=dev))
    taps = default_taps(len(clip.visual.transformer.resblocks))
    heads = _heads(config, len(taps), clip.visual.conv1.out_channels)
    heads = heads.to(dev) if heads is not None else None
    params = [p for p in clip.parameters() if p.requires_grad] + [affine]
    params += [] if heads is None else list(heads.parameters())
    optimizer = _optimizer(params, config)
    start, log = 0, []
    if resume and last.exists():
        state = torch.load(last, map_location=dev, weights_only=True)
        if state["config"] != _plain(config):
            raise ValueError(f"{last} was written by another configuration; use a new folder")
        clip.load_state_dict(state["clip"])
        with torch.no_grad():
            affine.copy_(state["affine"])
        if heads is not None:
            heads.load_state_dict(state["heads"])
        optimizer.load_state_dict(state["optimizer"])
        start, log = int(state["step"]), list(state["log"])
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
    started = time.perf_counter()
    batches = step_batches(config, start, stop, tokenizer, dev, workers)
    for step, (pixels, fraction, captions, tokens, defective) in zip(bar, batches):
        t0 = time.perf_counter()
        lr = config.learning_rate(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        image, tapped = encode_tapped(clip.visual, pixels, taps)
        row = {"step": step + 1, "lr": lr, "size": pixels.shape[-1]}
        loss = torch.zeros((), device=dev)
        if "clip" in config.objectives:
            scale = clip.logit_scale.exp().clamp(max=100)
            row["clip"] = contrastive_loss(image, clip.encode_text(tokens), captions, scale)
            loss = loss + row["clip"]
        if "patch" in config.objectives:
            residual = patch_residual(tapped) if config.batch == "pairs" else group_patch_residual(
                tapped, config.shots)
            row["patch"] = defect_loss(residual, fraction, affine)
            loss = loss + config.patch_weight * row["patch"]
        if "image" in config.objectives:
            distance = image_residual(image, config.shots)
            row["image"] = image_defect_loss(distance, defective)
            loss = loss + config.image_weight * row["image"]
        if "pixel" in config.objectives:
            row["pixel"] = _pixel_loss(config, step, clip.visual, heads, pixels, taps)
            loss = loss + config.pixel_weight * row["pixel"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        row = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in row.items()} | {
            "seconds": time.perf_counter() - t0
        }
        row["steps_per_s"] = (step + 1 - start) / (time.perf_counter() - started)  # since (re)start
        log.append(row)
        bar.set_postfix({k: f"{row[k]:.3f}" for k in OBJECTIVES if k in row})
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == stop:
            _save(last, clip, affine, heads, optimizer, step + 1, config, log)
            if not progress:  # a line per checkpoint for logs of background runs
                losses = " ".join(f"{k} {row[k]:.4f}" for k in OBJECTIVES if k in row)
                print(f"step {step + 1}/{stop} {losses} {row['steps_per_s']:.3f} steps/s", flush=True)
            if (step + 1) % (config.checkpoint_every * 5) == 0 or step + 1 == stop:  # for the ablation
                export_weights(last, out_dir / f"weights_step{step + 1}.pt")
    _write_log(out_dir / "log.csv", log)
    return last


def _plain(config: PretrainConfig) -> dict:
    d = asdict(config)
    d["objectives"] = list(d["objectives"])
    # Fields added after runs were made are left out at their defaults, so those runs resume.
    for name, default in (("families", ()), ("frozen_blocks", 0)):
        if d[name] == default:
            del d[name]
    if "families" in d:
        d["families"] = list(d["families"])
    return d


def _save(path: Path, clip, affine, heads, optimizer, step: int, config: PretrainConfig, log: list) -> None:
    state = {
        "clip": clip.state_dict(),
        "affine": affine.detach().cpu(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "config": _plain(config),
        "log": log,
    }
    if heads is not None:
        state["heads"] = heads.state_dict()
    atomic.torch_save(state, path)
    _write_log(path.parent / "log.csv", log)


def _write_log(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = [",".join(keys)] + [",".join("" if k not in r else f"{r[k]:.6g}" for k in keys) for r in rows]
    atomic.write_text(path, "\n".join(lines) + "\n")


def export_weights(checkpoint, out, follow_symlinks: bool = True) -> str:
    """Write the CLIP weights of a pretraining checkpoint as fp16 to ``out``.

    Args:
        checkpoint: a ``last.pt`` of :func:`pretrain`.
        out: the weights file to write (atomically).
        follow_symlinks: False replaces a symlink ``out`` itself, leaving its target alone.

    Returns:
        The SHA-256 of the written file, hex.
    """
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state["clip"].items()}
    atomic.torch_save(weights, out, follow_symlinks)
    return file_sha256(out)


def file_sha256(path) -> str:
    """The SHA-256 of a file, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
