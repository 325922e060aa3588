"""The batches of pretraining: a function of (config, step) only, made here or in worker processes.

Making a batch (drawing the procedural photos, jittering them) costs a CPU about 0.3 s, more
than a GPU needs for the step itself. Because a batch depends on nothing but the recipe and
the step, :func:`step_batches` can hand the steps to ``workers`` processes and still give
exactly the batches of the single-process loop, so a resumed or faster run is the same run.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .backbone import CLIP_MEAN, CLIP_STD
from .data.world import world_batch, world_groups
from .pretrain_config import PretrainConfig


def training_batch(config: PretrainConfig, step: int, tokenizer, device):
    """The batch of ``step``: a function of (config, step) only.

    Args:
        config: the recipe (seed, batch kind, resolution schedule, jitter ...).
        step: the 0-based step.
        tokenizer: open_clip's tokenizer of ``config.model_name``.
        device: where the tensors go.

    Returns:
        ``(pixels, fraction, captions, tokens, defective)``: [B, 3, S, S] normalised photos (group
        after group, each group's prompts first and its query last), [G, N] the part of each
        query patch the defect mask covers, the B captions and their tokens, [G] bool: the query
        has a defect.
    """
    size, groups = config.resolution(step)
    if config.batch == "pairs":
        sets = world_batch(config.seed, step, groups, size, config.p_defect, config.families)
    else:
        sets = world_groups(config.seed, step, groups, size, config.shots, config.p_defect,
                            config.real_fraction, config.jitter, config.families)
    photos = [p for group in sets for p in group]
    pixels = torch.from_numpy(np.stack([p.image for p in photos])).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    masks = torch.from_numpy(np.stack([group[-1].mask for group in sets])).float()[:, None]
    fraction = F.avg_pool2d(masks, 16).flatten(1)  # [G, N]
    defective = torch.tensor([group[-1].defect is not None for group in sets])
    captions = [p.caption for p in photos]
    tokens = tokenizer(captions).to(device)
    return ((pixels - mean) / std).to(device), fraction.to(device), captions, tokens, defective.to(device)


def patch_masks(config: PretrainConfig, step: int, images: int, patches: int) -> torch.Tensor:
    """The masked patches of the ``pixel`` objective at ``step``: a function of (seed, step).

    Args:
        config: the recipe (its seed and ``mask_ratio``).
        step: the step.
        images: how many images are masked.
        patches: patches per image.

    Returns:
        [images, patches] bool, exactly ``round(mask_ratio * patches)`` (at least 1, at most
        ``patches - 1``) True per row.
    """
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    count = min(patches - 1, max(1, round(config.mask_ratio * patches)))
    order = torch.rand(images, patches, generator=generator).argsort(dim=1)
    return order < count


class _Steps(torch.utils.data.Dataset):
    """Steps ``start .. stop - 1`` as a dataset, so a DataLoader's workers can make them."""

    def __init__(self, config: PretrainConfig, start: int, stop: int, tokenizer):
        self.config, self.start, self.stop, self.tokenizer = config, start, stop, tokenizer

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int):
        return training_batch(self.config, self.start + index, self.tokenizer, "cpu")


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)  # the workers share the cores; one torch thread each


def step_batches(config: PretrainConfig, start: int, stop: int, tokenizer, device, workers: int = 0):
    """The batches of steps ``start .. stop - 1``, in order (see :func:`training_batch`).

    Args:
        config: the recipe.
        start: the first step.
        stop: one past the last step.
        tokenizer: open_clip's tokenizer of ``config.model_name``.
        device: where the tensors go.
        workers: processes that make batches ahead of the training loop (0: make each one
            when it is needed, in this process). The batches are the same either way.

    Returns:
        An iterator of ``training_batch(config, step, tokenizer, device)`` for each step.

    Raises:
        ValueError: ``workers < 0``.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers == 0:
        return (training_batch(config, step, tokenizer, device) for step in range(start, stop))
    loader = torch.utils.data.DataLoader(
        _Steps(config, start, stop, tokenizer), batch_size=None, num_workers=workers,
        prefetch_factor=4, worker_init_fn=_one_thread,
    )
    return ((pixels.to(device), fraction.to(device), captions, tokens.to(device), defective.to(device))
            for pixels, fraction, captions, tokens, defective in loader)
