"""The pretraining recipe: :class:`PretrainConfig`, v1 (its defaults) and v2 (:meth:`PretrainConfig.v2`).

See :mod:`inctrl.pretrain` for what the objectives and batches are and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .backbone import MINI_MODEL
from .data.world_families import PRETRAIN_FAMILIES, VALIDATION_FAMILIES

OBJECTIVES = ("clip", "patch", "image", "pixel")
BATCHES = ("pairs", "groups")
INITS = ("", "mini-v1")
_AVAILABLE = "available: " + ", ".join(sorted(PRETRAIN_FAMILIES))  # the tail of the family errors
#: The SHA-256 of the v1 mini weights (fp16), the starting point of ``init="mini-v1"``.
V1_WEIGHTS_SHA256 = "0bd281df1e4af36e225b7b9c2ba0174f8257e8eed2d9885fd25e2784743f489a"


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
        objectives: a non-empty subset of :data:`OBJECTIVES` (v1: ``"clip"`` and ``"patch"``).
        patch_weight: the weight of the ``patch`` loss in the sum.
        p_defect: the probability that a query photo has a defect.
        batch: ``"pairs"`` (v1: :func:`~inctrl.data.world.world_batch`, one prompt per query)
            or ``"groups"`` (v2: :func:`~inctrl.data.world.world_groups`).
        shots: normal prompts per query in ``"groups"`` batches (1 with ``"pairs"``).
        real_fraction: in ``"groups"`` batches, the share of products that are real photographs.
        jitter: in ``"groups"`` batches, photometric jitter on every photo.
        image_weight: the weight of the ``image`` loss.
        pixel_weight: the weight of the ``pixel`` loss.
        mask_ratio: the share of patches masked in the ``pixel`` objective's forward pass,
            which sees the first prompt of every group (or pair).
        init: ``""``: start from random weights (seed ``seed``); ``"mini-v1"``: continue
            from the v1 mini weights (:data:`V1_WEIGHTS_SHA256`, checked).
        families: the procedural families this run draws products from; empty: every
            pretraining family. Leaving out :data:`~inctrl.data.world_families.VALIDATION_FAMILIES`
            makes in-world validation a test on families the run never saw.
        frozen_blocks: how many of the image tower's first blocks (with the patch and position
            embeddings) stay as they were: 0 trains them all.
        seed: the seed of the initial weights and of every batch.
        model_name: the open_clip model to pretrain.
        checkpoint_every: steps between checkpoints.
        extra: free-form notes kept with the configuration (a resume must match them too).

    Raises:
        ValueError: unknown or no objectives, ``steps < 1``, ``high_res_steps`` outside
            [0, steps], a ``low_res`` that is not a multiple of 16 of at least 32, an unknown
            ``batch``, ``"pairs"`` with v2 batch options, a ``mask_ratio`` outside (0, 1), a
            family that is not a pretraining family, or ``frozen_blocks < 0``.
    """

    steps: int = 2600
    high_res_steps: int = 300
    low_res: int = 128
    groups: int = 32  # (prompt, query) pairs per low-resolution batch
    high_res_groups: int = 12
    lr: float = 5e-4
    warmup: int = 100
    weight_decay: float = 0.05
    objectives: tuple[str, ...] = ("clip", "patch")
    patch_weight: float = 1.0
    p_defect: float = 0.5
    batch: str = "pairs"
    shots: int = 1
    real_fraction: float = 0.0
    jitter: bool = False
    image_weight: float = 1.0
    pixel_weight: float = 1.0
    mask_ratio: float = 0.4
    init: str = ""
    families: tuple[str, ...] = ()
    frozen_blocks: int = 0
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
        if self.batch not in BATCHES:
            raise ValueError(f"batch must be one of {BATCHES}, got {self.batch!r}")
        if self.batch == "pairs" and (self.shots != 1 or self.real_fraction or self.jitter):
            raise ValueError('shots, real_fraction and jitter need batch="groups" (pairs have one prompt)')
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.shots < 1 or not 0 < self.mask_ratio < 1:
            raise ValueError(f"need shots >= 1 and 0 < mask_ratio < 1, got {self.shots}, {self.mask_ratio}")
        self.families = tuple(sorted(set(self.families)))
        unknown = [f for f in self.families if f not in PRETRAIN_FAMILIES]
        if unknown:
            raise ValueError(f"families must be pretraining families, got {unknown}; {_AVAILABLE}")
        if self.frozen_blocks < 0:
            raise ValueError(f"frozen_blocks must be >= 0, got {self.frozen_blocks}")

    @classmethod
    def v2(cls, **overrides) -> PretrainConfig:
        """The v2 recipe: in-context groups of 2 prompts, all four objectives, real photos, jitter.

        It continues from the v1 weights rather than from random ones: v1 already spent its
        2600 steps on the image-caption and patch objectives, and a shared two-core CPU affords
        only several hundred more steps (5-30 s each), best spent on what v1 lacks. Batches of 12 groups (36
        photos) at 128 px, then 4 groups at 240 px for the last steps; a quarter of the
        products are real photographs; the pixel objective masks 40 % of the patches of the
        first prompt of each group. The peak learning rate is half v1's (a continuation).

        Args:
            **overrides: fields to change (e.g. ``objectives`` for the ablation).

        Returns:
            The configuration.
        """
        recipe = dict(
            steps=800, high_res_steps=80, groups=12, high_res_groups=4, lr=2.5e-4, warmup=50,
            objectives=OBJECTIVES, batch="groups", shots=2, real_fraction=0.25, jitter=True,
            init="mini-v1",
        )
        return cls(**{**recipe, **overrides})

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


def _without(objective: str, **overrides):
    def recipe(**given) -> PretrainConfig:
        kept = tuple(o for o in OBJECTIVES if o != objective)
        return PretrainConfig.v2(**{"objectives": kept, **overrides, **given})

    return recipe


#: The named recipes of ``inctrl pretrain --recipe``: v1, v2, and the v2 ablation's arms
#: (v2 less the pixel objective and the real photos: "+image"; v2 less the image objective:
#: "+texture"). Compare them at equal budgets with ``--until`` on in-world validation.
RECIPES = {
    "v1": PretrainConfig,
    "v2": PretrainConfig.v2,
    "v2-image": _without("pixel", real_fraction=0.0),
    "v2-texture": _without("image"),
}


def leaving_out(names) -> tuple[str, ...]:
    """The pretraining families other than ``names``: the ``families`` of a run that skips them.

    Args:
        names: pretraining family names.

    Returns:
        The others, sorted.

    Raises:
        ValueError: a name is not a pretraining family.
    """
    unknown = sorted(set(names) - set(PRETRAIN_FAMILIES))
    if unknown:
        raise ValueError(f"cannot leave out {unknown}: not pretraining families; {_AVAILABLE}")
    return tuple(sorted(set(PRETRAIN_FAMILIES) - set(names)))


#: The v2 arms' pretraining families when they are validated on families they never drew.
FAMILY_OUT = leaving_out(VALIDATION_FAMILIES)
