"""Training InCTRL on an auxiliary labelled dataset (book/equations.md §6).

AdamW (lr 1e-3, betas (0.9, 0.999), weight decay 0.01, no schedule, no clipping), epochs x
steps of 8 normal + 8 anomalous queries, K prompts per query re-drawn every step from the
normal images of the query's category, loss FL(s) + FL(s_i) (official focal form). Only the
adapter and the two heads train.

The backbone is frozen and there is no augmentation, so the features of every auxiliary
image are computed once (:mod:`inctrl.features`) and each step just gathers rows: the
scores are exactly those of re-encoding the images every step.

Files written to ``out_dir`` (all atomically):

* ``epoch_{n}.pt`` and ``last.pt`` - inctrl checkpoints (``inctrl.load(path)``), meta has
  epoch, step, loss and the training config;
* ``last_state.pt`` - the trained weights, the optimizer state, the sampler's RNG state and
  the loss history of the last finished epoch, so ``resume=True`` continues exactly where
  training stopped (kept out of the checkpoints, which stay small and loadable anywhere);
* ``loss_log.csv`` - one row per step: epoch, step, loss, loss_final, loss_image, lr, seconds;
* ``train_summary.json`` - config, per-epoch mean loss, timings, checkpoint paths.

``last_state.pt`` is written last and holds all that a resume reads (weights, optimizer,
sampler, loss history), so a stop between any two writes resumes from one consistent epoch;
the other files of a half-saved later epoch are put back to that epoch (the tests stop the
writer between every pair of writes).
A fresh run (``resume=False``) replaces the files of an earlier run in ``out_dir`` when
``overwrite=True`` (the default) and refuses them otherwise.

The run's configuration (:class:`TrainConfig`) and result (:class:`TrainResult`) are defined
in :mod:`inctrl.train_config`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .ablation import with_ablation
from .checkpoint import CheckpointError, load, load_checkpoint, load_trainable, read_torch_file
from .data.images import check_image_files
from .data.layout import CanonicalDataset
from .data.sampler import TrainingSampler
from .device import autocast, resolve_device
from .features import CachedFeatures, encode_paths
from .loss import inctrl_loss
from .pair_table import PAIR_TABLE_BYTES as PAIR_TABLE_BYTES  # re-exported: the old home
from .pair_table import PairTable, _use_pair_table
from .train_config import LOG_COLUMNS, TrainConfig, TrainResult
from .train_files import RUN_FILES as RUN_FILES
from .train_files import (
    STATE_KEYS,
    _check_out_dir,
    _read_log,
    _rewind,
    _save_epoch,
    _write_summary,
    run_files,
)


def auxiliary_samples(roots, categories=None) -> list:
    """All samples (every split) of one or several canonical auxiliary datasets.

    Args:
        roots: canonical dataset roots.
        categories: keep only these categories (each must exist in at least one root);
            None keeps all.

    Returns:
        The :class:`~inctrl.data.layout.Sample` list, root by root.

    Raises:
        ValueError: a category in ``categories`` is in none of the roots.
    """
    samples = []
    for root in roots:
        samples.extend(CanonicalDataset(root).samples())
    if categories is not None:
        wanted = set(categories)
        missing = sorted(wanted - {s.category for s in samples})
        if missing:
            found = sorted({s.category for s in samples})
            raise ValueError(f"categories {missing} are not in the auxiliary data {[str(r) for r in roots]} "
                             f"(it holds {found})")
        samples = [s for s in samples if s.category in wanted]
    return samples


def train(aux_roots, out_dir, shots: int = 2, epochs: int = 10, steps_per_epoch: int = 100, *,
          n_normal: int = 8, n_anomalous: int = 8, lr: float = 1e-3, weight_decay: float = 0.01,
          exclude_query: bool = False, loss_form: str = "official", profile: str = "tiny",
          device="auto", amp: bool = False, seed: int = 10, resume: bool = False,
          progress: bool = True, features: CachedFeatures | None = None,
          cache_dir=None, pair_table: bool | PairTable | None = None,
          pretrained: bool = True, weights: str | None = None,
          categories=None, image_loss_weight: float = 1.0, overwrite: bool = True) -> TrainResult:
    """Train InCTRL with K = ``shots`` on the auxiliary dataset(s) ``aux_roots``.

    Same seed and device -> identical weights. The files written to ``out_dir`` are listed
    in the module docstring.

    Args:
        aux_roots: canonical auxiliary dataset root(s).
        out_dir: the run folder.
        shots: K, prompts per query.
        epochs: epochs in total (with ``resume``, including those already done).
        steps_per_epoch: optimizer steps per epoch.
        n_normal: normal queries per step.
        n_anomalous: anomalous queries per step.
        lr: the AdamW learning rate.
        weight_decay: the AdamW weight decay.
        exclude_query: never use a normal query as one of its own prompts.
        loss_form: the focal form, ``"official"`` or ``"probability"``.
        profile: the frozen backbone ("tiny" offline, or "paper").
        device: where to train (see :func:`inctrl.device.resolve_device`).
        amp: mixed precision.
        seed: the seed of the initial heads and of the sampler.
        resume: continue from ``out_dir/last_state.pt`` up to ``epochs`` in total; gives
            exactly the weights of an uninterrupted run.
        progress: show a progress bar.
        features: a :class:`~inctrl.features.CachedFeatures` holding every auxiliary image,
            to avoid re-encoding when several models are trained on the same data.
        cache_dir: where the feature cache file lives (same purpose as ``features``).
        pair_table: see :func:`train_with_config`.
        pretrained: False gives the backbone random weights (no download), as in
            :func:`inctrl.load`.
        weights: a local open_clip weights file for the backbone, as in :func:`inctrl.load`.
        categories: train only on these categories of ``aux_roots`` (None: all), e.g. to
            hold one out and test on it.
        image_loss_weight: the weight of the image term in the loss (the method: 1).
        overwrite: without ``resume``, replace the files of an earlier run in ``out_dir``
            (True) or refuse them (False).

    Returns:
        The :class:`TrainResult`.

    Raises:
        ValueError: an invalid configuration, or a resume asked with other options than the
            run was trained with.
        FileExistsError: ``out_dir`` holds an earlier run and ``overwrite`` is False.
        NotADirectoryError: ``out_dir`` is a file.
        CheckpointError: a damaged or incomplete training state on resume.
    """
    config = TrainConfig(aux_roots, shots, epochs, steps_per_epoch, n_normal, n_anomalous, lr,
                         (0.9, 0.999), weight_decay, exclude_query, loss_form, profile, amp, seed,
                         pretrained, weights, categories, image_loss_weight=image_loss_weight)
    return train_with_config(config, out_dir, device=device, resume=resume, progress=progress,
                             features=features, cache_dir=cache_dir, pair_table=pair_table,
                             overwrite=overwrite)


def _read_state(state_file: Path, config: TrainConfig) -> dict:
    """The resume state, checked: complete, readable, and written by the same configuration."""
    state = read_torch_file(state_file, "training state")
    fix = "train again with overwrite=True (--overwrite) or into a new folder"
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{state_file} is not a complete training state (it lacks {missing}); {fix}")
    try:
        previous = TrainConfig(**json.loads(state["config"]))
        state["sampler"] = json.loads(state["sampler"])
        if "history" in state:  # states written before it held the history read loss_log.csv
            state["history"] = [dict(r) for r in json.loads(state["history"])]
        state["epoch"], state["seconds"] = int(state["epoch"]), float(state["seconds"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{state_file} holds a damaged training state ({error}); {fix}") from error
    differences = config.differences(previous)
    if differences:
        raise ValueError(f"cannot resume {state_file.parent}: it was trained with a different configuration "
                         f"({'; '.join(differences)}); give the same options to resume it, or train into "
                         "a new folder")
    return state


def _resume_model(state: dict, config: TrainConfig, state_file: Path, device):
    """The model of the state's epoch: its weights come from the state file itself."""
    if "trainable" not in state:  # written before the state held the weights
        return load_checkpoint(state_file.parent / f"epoch_{state['epoch']}.pt", device=device)
    model = with_ablation(load(config.profile, device=device, head_seed=config.seed,
                               pretrained=config.pretrained, weights=config.weights),
                          config.components, config.image_feature)
    if state.get("backbone_fingerprint") not in (None, model.backbone.state_fingerprint()):
        raise CheckpointError(f"{state_file}: the backbone weights differ from the ones this run was "
                              "trained with; use the same weights file to resume it")
    try:
        load_trainable(model, state["trainable"])
    except CheckpointError as error:
        raise CheckpointError(f"{state_file}: {error}") from error
    return model


def train_with_config(config: TrainConfig, out_dir, device="auto", resume: bool = False,
                      progress: bool = True, features: CachedFeatures | None = None,
                      cache_dir=None, pair_table: bool | PairTable | None = None,
                      overwrite: bool = True) -> TrainResult:
    """:func:`train` for a ready :class:`TrainConfig`.

    Args:
        config: the training configuration.
        out_dir: the run folder.
        device: where to train (see :func:`inctrl.device.resolve_device`).
        resume: continue from ``out_dir/last_state.pt`` (see :func:`train`).
        progress: show a progress bar.
        features: the cached features of every auxiliary image, or None to encode them.
        cache_dir: where the feature cache file lives.
        pair_table: see :class:`~inctrl.pair_table.PairTable`: True or False to use it or
            not, None to use it when it fits in :data:`PAIR_TABLE_BYTES`; a built table
            for these samples is reused as is.
        overwrite: replace (True) or refuse (False) an earlier run's files in ``out_dir``.

    Returns:
        The :class:`TrainResult`.

    Raises:
        ValueError: as :func:`train`.
        FileExistsError: as :func:`train`.
        NotADirectoryError: as :func:`train`.
        CheckpointError: as :func:`train`.
    """
    out_dir = Path(out_dir)
    device = resolve_device(device)
    state_file, last = out_dir / "last_state.pt", out_dir / "last.pt"
    state = _read_state(state_file, config) if resume and state_file.is_file() else None
    # resume without a state: at most a half-saved first epoch is there, replaced like a new run
    _check_out_dir(out_dir, overwrite or resume)
    samples = auxiliary_samples(config.aux_roots, config.categories)
    check_image_files(s.path for s in samples)  # a broken or tiny image fails now, not at some step
    sampler = TrainingSampler(samples, config.shots, config.n_normal, config.n_anomalous,
                              config.exclude_query, seed=config.seed)
    start_epoch, elapsed, history = 0, 0.0, []
    if state is not None:
        start_epoch, elapsed = state["epoch"], state["seconds"]
        history = state["history"] if "history" in state else \
            _read_log(out_dir / "loss_log.csv", start_epoch * config.steps_per_epoch)
        model = _resume_model(state, config, state_file, device)
        try:
            sampler.state = state["sampler"]
        except (TypeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{state_file}: damaged sampler state ({error})") from error
    else:
        model = with_ablation(load(config.profile, device=device, head_seed=config.seed,
                                   pretrained=config.pretrained, weights=config.weights),
                              config.components, config.image_feature)
    model.train()
    params = model.trainable_parameters()
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=config.betas,
                                  weight_decay=config.weight_decay)
    if state is not None:
        try:
            optimizer.load_state_dict(state["optimizer"])
        except (TypeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{state_file}: damaged optimizer state ({error})") from error
        _rewind(model, state, out_dir, history)
    checkpoints = [out_dir / f"epoch_{e}.pt" for e in range(1, start_epoch + 1)]

    if start_epoch < config.epochs:
        if features is None:
            features = encode_paths(model, [s.path for s in samples], cache_dir=cache_dir,
                                    progress=progress, amp=config.amp)
        rows = features.rows([s.path for s in samples])  # sample index -> cache row
        embedding = features.features.embedding.to(device)
        tokens = features.features.tokens.to(device)
        categories = sorted({s.category for s in samples})
        text = torch.stack([model.text_features(c) for c in categories])
        text_row = {c: i for i, c in enumerate(categories)}
        table = pair_table if isinstance(pair_table, PairTable) else (
            PairTable.build(samples, rows, tokens, progress) if _use_pair_table(pair_table, samples, tokens)
            else None)
        if state is None:  # checked above: an earlier run that may be replaced, now that all is ready
            for path in run_files(out_dir):
                path.unlink()
        torch.manual_seed(config.seed)  # nothing random uses torch today; keep it that way if added
        total = (config.epochs - start_epoch) * config.steps_per_epoch
        bar = tqdm(total=total, desc=f"training K={config.shots}", disable=not progress)
        t0 = time.perf_counter() - elapsed
        threads = torch.get_num_threads()
        # With the pair table a step is a few tiny matmuls: on a busy CPU, synchronising
        # threads for them costs more than it saves.
        step_threads = 1 if table is not None and device.type == "cpu" else threads
        # a model trained without s_i has no image term to weigh
        image_weight = config.image_loss_weight if "I" in config.components else 0.0
        try:
            for epoch in range(start_epoch + 1, config.epochs + 1):
                torch.set_num_threads(step_threads)
                for i in range(config.steps_per_epoch):
                    batch = sampler.batch()
                    q = rows[batch.query_index].to(device)
                    p = rows[batch.prompt_index].to(device)                       # [B, K]
                    cat_text = text[[text_row[c] for c in batch.categories]].to(device)  # [B, 2, E]
                    labels = batch.labels.to(device)
                    with autocast(device, config.amp):
                        if table is not None:
                            layer_maps = table.layer_maps(batch.query_index, batch.prompt_index)
                            out = model.forward_episodes(embedding[q].float(), embedding[p].float(),
                                                         cat_text, layer_maps=layer_maps)
                        else:
                            b, k = p.shape
                            prompt_tokens = tokens[:, p.reshape(-1)].float()
                            prompt_tokens = prompt_tokens.reshape(tokens.shape[0], b, k, *tokens.shape[2:])
                            out = model.forward_episodes(embedding[q].float(), embedding[p].float(),
                                                         cat_text, query_tokens=tokens[:, q].float(),
                                                         prompt_tokens=prompt_tokens)
                    loss, loss_final, loss_image = inctrl_loss(out, labels, config.loss_form, terms=True,
                                                               image_weight=image_weight)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    step = (epoch - 1) * config.steps_per_epoch + i + 1
                    history.append({"epoch": epoch, "step": step, "loss": loss.item(),
                                    "loss_final": loss_final.item(), "loss_image": loss_image.item(),
                                    "lr": optimizer.param_groups[0]["lr"],
                                    "seconds": round(time.perf_counter() - t0, 3)})
                    bar.update(1)
                    bar.set_postfix(epoch=epoch, loss=f"{loss.item():.4f}")
                elapsed = time.perf_counter() - t0
                torch.set_num_threads(threads)
                _save_epoch(model, optimizer, sampler, config, out_dir, epoch, history, elapsed)
                checkpoints.append(out_dir / f"epoch_{epoch}.pt")
        finally:
            torch.set_num_threads(threads)
            bar.close()
    model.eval()
    summary = _write_summary(config, out_dir, history, checkpoints, elapsed)
    return TrainResult(model, config, out_dir, last, checkpoints, out_dir / "loss_log.csv", summary,
                       history, elapsed)


__all__ = ["LOG_COLUMNS", "TrainConfig", "TrainResult", "auxiliary_samples", "train", "train_with_config"]
