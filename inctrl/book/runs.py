"""The trained models the chapters share: the offline run, real auxiliary data, checkpoints.

The offline run, training on a real auxiliary dataset, and finding a checkpoint (inctrl's
``train_k<K>/last.pt`` or the official ``<K>/checkpoint.pyth``).

Chapters 5, 6 and 7 share one ``experiment_dir``: chapter 5 trains (or loads) the run,
chapter 6 evaluates it, chapter 7 applies its model to new images. Chapter 3 runs before
chapter 5 in a build and needs trained heads too: :func:`book_run` trains the same run with
chapter 5's settings (:data:`BOOK_RUN`), so whichever chapter comes first trains it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BOOK_RUN", "TrainedRun", "book_run", "find_checkpoint", "nearest_checkpoint",
           "offline_run", "train_per_k", "trained_or_fresh"]


def offline_run(data_dir, experiment_dir, *, shots: Sequence[int], seeds: Sequence[int], epochs: int,
                steps_per_epoch: int, profile: str, device="auto", pretrained: bool = True,
                weights: str | None = None, progress: bool = True, aux="world"):
    """:func:`inctrl.book.offline_experiment.run_offline_elpv`, cached in ``experiment_dir``.

    A cached run whose checkpoints no longer load with this package version is recomputed.

    Args:
        data_dir: the data folder (ELPV and the auxiliary data are prepared there).
        experiment_dir: the run folder shared by chapters 5, 6 and 7.
        shots: the K values, one model each.
        seeds: the prompt-draw seeds of the evaluation.
        epochs: training epochs per model.
        steps_per_epoch: optimizer steps per epoch.
        profile: the backbone profile.
        device: where to compute.
        pretrained: False for random backbone weights.
        weights: a local backbone weights file.
        progress: show progress bars.
        aux: the auxiliary set (``"world"``, ``"synthetic"`` or a canonical dataset folder).

    Returns:
        The :class:`~inctrl.book.offline_experiment.OfflineELPVResult`.
    """
    from ..checkpoint import CheckpointError, load
    from .offline_experiment import run_offline_elpv

    def run(force: bool):
        return run_offline_elpv(data_dir, experiment_dir, shots=tuple(shots), seeds=tuple(seeds),
                                epochs=epochs, steps_per_epoch=steps_per_epoch, profile=profile,
                                device=device, pretrained=pretrained, weights=weights, force=force,
                                progress=progress, aux=aux)

    result = run(False)
    try:
        for k in shots:
            load(Path(result.paths[f"train_k{k}"]) / "last.pt", device="cpu")
    except CheckpointError:
        result = run(True)
    return result


#: Chapter 5's offline run as the book builds it: the defaults of its parameters cell (a test
#: keeps the two equal), so that chapter 3 and chapter 5 share one cached run.
BOOK_RUN = {"shots": (2, 4, 8), "seeds": (0, 1, 2), "epochs": 10, "steps_per_epoch": 100,
            "aux": "world"}


def book_run(data_dir, experiment_dir, *, profile: str, device="auto", pretrained: bool = True,
             weights: str | None = None, progress: bool = True, **changes):
    """Chapter 5's offline run (:func:`offline_run` with :data:`BOOK_RUN`), trained or loaded.

    Args:
        data_dir: the data folder.
        experiment_dir: the run folder shared with chapter 5.
        profile, device, pretrained, weights, progress: as for :func:`offline_run`.
        **changes: settings that differ from :data:`BOOK_RUN` (as changed in chapter 5).

    Returns:
        The :class:`~inctrl.book.offline_experiment.OfflineELPVResult`.

    Raises:
        ValueError: a change names no setting of the run.
    """
    unknown = sorted(set(changes) - set(BOOK_RUN))
    if unknown:
        raise ValueError(f"unknown run setting(s) {', '.join(unknown)}; "
                         f"use {', '.join(BOOK_RUN)}")
    return offline_run(data_dir, experiment_dir, **{**BOOK_RUN, **changes}, profile=profile,
                       device=device, pretrained=pretrained, weights=weights, progress=progress)


@dataclass
class TrainedRun:
    """One trained model per K.

    Attributes:
        dirs: K -> the run folder holding ``last.pt``, ``epoch_<n>.pt`` and ``loss_log.csv``.
        seconds: the wall time per phase (``"train_k<K>"`` -> seconds).
        cached: whether it was loaded rather than trained.
    """

    dirs: dict[int, Path]
    seconds: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    def checkpoint(self, k: int) -> Path:
        """The final checkpoint (``last.pt``) of the model for K = ``k``."""
        return self.dirs[k] / "last.pt"


def train_per_k(aux_root, experiment_dir, *, shots: Sequence[int], epochs: int, steps_per_epoch: int,
                profile: str, device="auto", pretrained: bool = True, weights: str | None = None,
                amp: bool = False) -> TrainedRun:
    """The paper protocol on a real auxiliary dataset (e.g. MVTec AD): one model per K.

    Each model trains in ``experiment_dir/train_k<K>``, resuming an interrupted run; the
    features are cached once in ``experiment_dir/feature-cache``.

    Args:
        aux_root: the canonical auxiliary dataset root.
        experiment_dir: the run folder.
        shots: the K values.
        epochs: training epochs per model.
        steps_per_epoch: optimizer steps per epoch.
        profile: the backbone profile.
        device: where to train.
        pretrained: False for random backbone weights.
        weights: a local backbone weights file.
        amp: mixed precision.

    Returns:
        The :class:`TrainedRun`.
    """
    from ..train import train

    run = TrainedRun({})
    for k in shots:
        result = train([aux_root], Path(experiment_dir) / f"train_k{k}", shots=k, epochs=epochs,
                       steps_per_epoch=steps_per_epoch, profile=profile, device=device,
                       pretrained=pretrained, weights=weights, amp=amp, resume=True,
                       cache_dir=Path(experiment_dir) / "feature-cache")
        run.dirs[k], run.seconds[f"train_k{k}"] = Path(result.out_dir), result.seconds
    return run


def find_checkpoint(folder, k: int) -> Path:
    """The checkpoint for K = ``k`` in ``folder``.

    Args:
        folder: a folder of official or inctrl checkpoints.
        k: K.

    Returns:
        The official ``<k>/checkpoint.pyth``, else inctrl's ``train_k<k>/last.pt``.

    Raises:
        FileNotFoundError: neither exists.
    """
    folder = Path(folder)
    for candidate in (folder / str(k) / "checkpoint.pyth", folder / f"train_k{k}" / "last.pt"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no checkpoint for K={k} in {folder.name} (expected {k}/checkpoint.pyth "
                            f"or train_k{k}/last.pt)")


def _trained_k(checkpoint: Path) -> int | None:
    """The K of a checkpoint in an inctrl run's ``train_k<K>`` folder, else None."""
    suffix = checkpoint.parent.name.removeprefix("train_k")
    return int(suffix) if suffix != checkpoint.parent.name and suffix.isdigit() else None


def nearest_checkpoint(experiment_dir, shots: int) -> Path | None:
    """The ``train_k<K>/last.pt`` of ``experiment_dir`` whose K is closest to ``shots``.

    Args:
        experiment_dir: the run folder.
        shots: the K wanted.

    Returns:
        The checkpoint (the smaller K on a tie), or None when nothing was trained there.
    """
    found = {_trained_k(path): path for path in Path(experiment_dir).glob("train_k*/last.pt")}
    found.pop(None, None)
    if not found:
        return None
    return found[min(found, key=lambda k: (abs(k - shots), k))]


def trained_or_fresh(checkpoint, experiment_dir, shots: int, *, profile: str, device="auto",
                     pretrained: bool = True, weights: str | None = None):
    """The model a chapter applies to new images.

    ``checkpoint`` when given, else the offline run's model with K nearest to ``shots``
    (:func:`nearest_checkpoint`); a fresh model of ``profile`` (untrained heads) when there
    is none or it does not load with this package version.

    Args:
        checkpoint: a checkpoint to use, or None.
        experiment_dir: the run folder to look in when ``checkpoint`` is None (None: a fresh
            model).
        shots: the K wanted.
        profile: the profile of a fresh model.
        device: where the model goes.
        pretrained: False for random backbone weights (fresh model).
        weights: a local backbone weights file (fresh model).

    Returns:
        ``(model, checkpoint path or None, label)``; the label names the profile and, for a
        trained model, the K its heads were trained with (an inctrl run's ``train_k<K>``) or
        the checkpoint's file name.
    """
    from ..checkpoint import CheckpointError, load
    from .notebook import load_model, profile_label

    path = (Path(checkpoint) if checkpoint is not None else
            nearest_checkpoint(experiment_dir, shots) if experiment_dir is not None else None)
    if path is not None:
        try:
            model = load(path, device=device)
        except CheckpointError:
            path = None
    if path is None:
        model = load_model(profile, device, pretrained=pretrained, weights=weights)
        label = profile_label(model.config.profile, model.config.pretrained is not None, weights)
        return model, None, f"{label}, untrained heads"
    backbone = model.config.pretrained  # as stored in the checkpoint (None: random weights)
    label = profile_label(model.config.profile, pretrained=backbone is not None,
                          weights=backbone if backbone and Path(str(backbone)).suffix else None)
    trained_k = _trained_k(path)
    heads = f"heads trained with K = {trained_k}" if trained_k else f"heads of {path.name}"
    return model, path, f"{label}, {heads}"
