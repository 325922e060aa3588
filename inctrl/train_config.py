"""The configuration of a training run and what it produced (see :mod:`inctrl.train`).

:class:`TrainConfig` holds everything that determines the trained weights; it is stored in
a run's checkpoints and ``last_state.pt``, and a resume must ask for the same one (only the
epochs may grow; :data:`OPTIONS` names the command-line option of each field that differs).
:class:`TrainResult` is what :func:`~inctrl.train.train` returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .ablation import ALL_COMPONENTS, check_components, check_image_feature

#: The columns of a run's loss log (``loss_log.csv``, :attr:`TrainResult.history`).
LOG_COLUMNS = ("epoch", "step", "loss", "loss_final", "loss_image", "lr", "seconds")

#: TrainConfig field -> command-line option, to name what differs on a refused resume.
OPTIONS = {"aux_roots": "--aux", "shots": "--shots", "steps_per_epoch": "--steps", "seed": "--seed",
           "profile": "--profile", "amp": "--amp", "exclude_query": "--exclude-query",
           "pretrained": "--random-weights", "weights": "--weights"}


@dataclass
class TrainConfig:
    """Everything that determines the trained weights (besides the device).

    Configs saved before ``pretrained``, ``weights`` and ``categories`` existed load with
    their defaults, which is what those runs used.

    Attributes:
        aux_roots: the canonical auxiliary dataset roots (one path is accepted too).
        shots: K, prompts per query, at least 1.
        epochs: epochs in total, at least 1.
        steps_per_epoch: optimizer steps per epoch, at least 1.
        n_normal: normal queries per step.
        n_anomalous: anomalous queries per step.
        lr: the AdamW learning rate (no schedule).
        betas: the AdamW betas.
        weight_decay: the AdamW weight decay.
        exclude_query: never use a normal query as one of its own prompts (the official
            code does not exclude it).
        loss_form: the focal form, ``"official"`` or ``"probability"``
            (:func:`inctrl.loss.focal_loss`).
        profile: the frozen backbone (``"tiny"`` offline, or ``"paper"``).
        amp: mixed precision (:func:`inctrl.device.autocast`).
        seed: the seed of the initial heads and of the sampler.
        pretrained: picks the backbone weights of the ``profile`` as in :func:`inctrl.load`;
            False gives random weights (no download).
        weights: a local open_clip weights file that replaces the profile's, or None.
        categories: keep only these categories of the auxiliary roots, e.g. to hold one
            out (None: all of them; stored sorted, without repeats).
        components: the signals the model fuses and learns from, letters of ``"TPI"``
            (the method: all three; :mod:`inctrl.ablation`).
        image_feature: what the image head reads: ``"residual"`` (the method),
            ``"concatenation"`` or ``"average"`` (:mod:`inctrl.ablation`).
        image_loss_weight: the weight of the image term FL(s_i(x), y) in the loss (the
            method: 1; 0 trains s_i only through the final score).

    Raises:
        TypeError: ``categories`` is one string.
        ValueError: ``categories`` or ``aux_roots`` is empty, ``shots``, ``epochs`` or
            ``steps_per_epoch`` is below 1, or ``image_loss_weight`` is negative.
    """

    aux_roots: list[str]
    shots: int = 2
    epochs: int = 10
    steps_per_epoch: int = 100
    n_normal: int = 8
    n_anomalous: int = 8
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    exclude_query: bool = False
    loss_form: str = "official"
    profile: str = "tiny"
    amp: bool = False
    seed: int = 10
    pretrained: bool = True
    weights: str | None = None
    categories: list[str] | None = None
    components: str = ALL_COMPONENTS
    image_feature: str = "residual"
    image_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        self.aux_roots = [str(r) for r in ([self.aux_roots] if isinstance(self.aux_roots, (str, Path))
                                            else self.aux_roots)]
        if self.categories is not None:
            if isinstance(self.categories, str):
                raise TypeError("categories must be a list of category names, not one string")
            self.categories = sorted({str(c) for c in self.categories})
            if not self.categories:
                raise ValueError("categories is empty: give None to train on every category")
        self.betas = tuple(float(b) for b in self.betas)
        self.pretrained = bool(self.pretrained)
        self.weights = str(self.weights) if self.weights is not None else None
        self.components = check_components(self.components)
        self.image_feature = check_image_feature(self.image_feature)
        self.image_loss_weight = float(self.image_loss_weight)
        if not self.image_loss_weight >= 0:
            raise ValueError(f"image_loss_weight must be at least 0, got {self.image_loss_weight}")
        if not self.aux_roots:
            raise ValueError("training needs at least one auxiliary dataset root")
        for name in ("shots", "epochs", "steps_per_epoch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        """The fields as JSON-ready values (``betas`` as a list)."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    def same_run(self, other: TrainConfig) -> bool:
        """True when ``other`` trains the same weights (it may only ask for more epochs).

        Args:
            other: the configuration to compare with.

        Returns:
            True when :meth:`differences` finds nothing.
        """
        return not self.differences(other)

    def differences(self, other: TrainConfig) -> list[str]:
        """What ``other`` sets differently, besides the epochs.

        Paths compare resolved (``data/x/`` is ``/abs/data/x``).

        Args:
            other: the configuration to compare with.

        Returns:
            One ``"field (--option): other's value, not ours"`` per differing field (the
            option only for fields in :data:`OPTIONS`); empty when they train the same weights.
        """
        a, b = self._comparable(), other._comparable()
        return [f"{k}{f' ({OPTIONS[k]})' if k in OPTIONS else ''}: {getattr(other, k)!r}, not "
                f"{getattr(self, k)!r}" for k in a if k != "epochs" and a[k] != b[k]]

    def _comparable(self) -> dict:
        data = self.to_dict()
        data["aux_roots"] = [str(Path(r).expanduser().resolve()) for r in self.aux_roots]
        if self.weights is not None:
            data["weights"] = str(Path(self.weights).expanduser().resolve())
        return data


@dataclass
class TrainResult:
    """What :func:`~inctrl.train.train` produced.

    Attributes:
        model: the trained :class:`~inctrl.model.InCTRL`, in eval mode.
        config: the configuration it was trained with.
        out_dir: the run folder.
        checkpoint: ``out_dir/last.pt``.
        checkpoints: ``epoch_{n}.pt`` of every epoch, in order.
        log_csv: ``out_dir/loss_log.csv``.
        summary_json: ``out_dir/train_summary.json``.
        history: the loss-log rows (dicts with the :data:`LOG_COLUMNS`),
            one per step.
        seconds: the training time of all epochs, resumed runs included.
    """

    model: torch.nn.Module
    config: TrainConfig
    out_dir: Path
    checkpoint: Path
    checkpoints: list[Path]
    log_csv: Path
    summary_json: Path
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def dataframe(self):
        """The loss log as a pandas DataFrame (for plots), columns :data:`LOG_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame(self.history, columns=list(LOG_COLUMNS))


__all__ = ["OPTIONS", "TrainConfig", "TrainResult"]
