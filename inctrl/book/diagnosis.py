"""The training diagnosis of chapter 6: does training make the full score beat s_p?

:func:`run_training_diagnosis` trains one model longer on the auxiliary categories minus one
held out and measures each component after several epochs on the training categories
(in-sample), on the held-out category and on ELPV. It caches features like
:func:`~inctrl.book.offline_experiment.run_offline_elpv`; pointing its ``cache_dir`` at that
experiment's ``feature-cache`` reuses what it encoded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import __version__, atomic
from ..checkpoint import load
from ..data.fewshot import PromptSet
from ..data.layout import CanonicalDataset
from ..device import resolve_device
from ..evaluate import COMPONENTS, image_metrics, mean_std
from ..features import CachedFeatures, encode_paths
from ..train import auxiliary_samples, train
from .offline_experiment import (
    FEATURE_CACHE,
    ExperimentResult,
    aux_label,
    config_hash,
    prepare_offline_data,
    protocol_features,
)

DIAGNOSIS_VERSION = 2

#: Scores measured by the diagnosis: the four of :data:`inctrl.evaluate.COMPONENTS` and the
#: holistic head alone, phi(M+) (the full score is (phi + s_p) / 2).
DIAGNOSIS_SCORES = {**COMPONENTS, "phi": "holistic_score"}

#: Splits of the diagnosis table, in order.
DIAGNOSIS_SPLITS = {
    "train": "training categories: mean over categories of the per-category AUROC (the protocol)",
    "train_pooled": "training categories: one AUROC over all their test images, each scored "
                    "against its own category's prompts (what training optimises)",
    "held_out": "the held-out auxiliary category (never seen in training)",
    "elpv": "ELPV (never seen in training)",
}


@dataclass
class TrainingDiagnosisResult(ExperimentResult):
    """What :func:`run_training_diagnosis` returns.

    Attributes:
        table: one row per (epoch, split, score), split in :data:`DIAGNOSIS_SPLITS` and
            score in :data:`DIAGNOSIS_SCORES`, with auroc, auroc_std, auprc, auprc_std
            (mean ± std over the prompt draws; per-category splits average their categories
            within each draw first), draws, categories, n_test (test images in the split)
            and constant (True when the score gives every test image of the split the same
            value in every draw, e.g. a saturated head: its AUROC is then 0.5 by
            construction).
        draws: one row per (epoch, split, category, seed, score) with auroc, auprc, n_test
            and constant (category ``"pooled"`` for train_pooled).
        paths: results_json, results_csv, draws_csv, train_dir (``epoch_N.pt``,
            ``loss_log.csv``), feature_cache.
        config: the configuration, with the training categories found at the time.
        seconds: wall time per phase of the run that computed the results.
        cached: True when loaded from ``out_dir``.
    """

    def loss_log(self) -> pd.DataFrame:
        """The training loss log (one row per step) up to the last evaluated epoch.

        Returns:
            The rows of ``loss_log.csv`` with ``epoch`` at most the last checkpoint.
        """
        log = pd.read_csv(self.paths["train_dir"] / "loss_log.csv")
        return log[log["epoch"] <= self.config["epochs"]]

    def pivot(self, metric: str = "auroc") -> pd.DataFrame:
        """One metric of the table, wide: rows (split, epoch), one column per score.

        Args:
            metric: a column of the table (``"auroc"``, ``"auprc"`` ...).

        Returns:
            The DataFrame, splits in the order of :data:`DIAGNOSIS_SPLITS` and scores in
            that of :data:`DIAGNOSIS_SCORES`.
        """
        wide = self.table.pivot_table(index=["split", "epoch"], columns="score", values=metric)
        order = [s for s in DIAGNOSIS_SPLITS if s in set(self.table["split"])]
        return wide.reindex(order, level="split")[[c for c in DIAGNOSIS_SCORES if c in wide]]


@dataclass
class _EvalSet:
    """One (split, category, prompt draw) of the diagnosis with everything the heads need.

    The patch distances M^l do not depend on the trained weights, so they are computed once.
    """

    split: str
    category: str
    seed: int
    labels: np.ndarray
    embedding: torch.Tensor          # [B, E] query embeddings
    layer_maps: torch.Tensor         # [B, L, N]
    prompt_embedding: torch.Tensor   # [1, K, E]
    text: torch.Tensor               # [1, 2, E]


def _eval_sets(model, split: str, dataset: CanonicalDataset, categories: Sequence[str], shots: int,
               seeds: Sequence[int], feats: CachedFeatures, device) -> list[_EvalSet]:
    sets = []
    for cat in categories:
        tests = dataset.test_samples(cat)
        query = feats.select([s.path for s in tests])
        for seed in seeds:
            prompts = PromptSet.draw(dataset, cat, shots, int(seed)).resolve(dataset.root)
            bank = model.prompt_bank_from_features(feats.select(prompts), dataset.object_name(cat))
            maps = []
            for i in range(0, len(query), 64):
                out = model.score_features(query[i:i + 64], bank)
                maps.append(out.layer_maps.flatten(2).to(device))
            sets.append(_EvalSet(split, cat, int(seed), np.array([s.label for s in tests]),
                                 query.embedding.to(device), torch.cat(maps),
                                 bank.embeddings.unsqueeze(0).to(device), bank.text.unsqueeze(0).to(device)))
    return sets


@torch.no_grad()
def _score_sets(model, sets: list[_EvalSet]) -> list[dict[str, np.ndarray]]:
    """Every score of every set with ``model``'s heads (eval mode), from the stored M^l."""
    model.eval()
    out = []
    for s in sets:
        res = model.forward_episodes(s.embedding, s.prompt_embedding, s.text, layer_maps=s.layer_maps)
        out.append({name: getattr(res, attr).float().cpu().numpy()
                    for name, attr in DIAGNOSIS_SCORES.items()})
    return out


def _metric_row(epoch, split, category, seed, score, labels, values) -> dict:
    return {"epoch": epoch, "split": split, "category": category, "seed": seed, "score": score,
            **image_metrics(labels, values), "n_test": len(labels), "constant": bool(np.ptp(values) == 0)}


def _diagnosis_rows(epoch: int, sets: list[_EvalSet], scores: list[dict[str, np.ndarray]]) -> list[dict]:
    rows = []
    for s, sc in zip(sets, scores):
        for name, values in sc.items():
            rows.append(_metric_row(epoch, s.split, s.category, s.seed, name, s.labels, values))
    # pooled over the training categories: per draw, every category against its own prompts
    train_sets = [(s, sc) for s, sc in zip(sets, scores) if s.split == "train"]
    for seed in sorted({s.seed for s, _ in train_sets}):
        part = [(s, sc) for s, sc in train_sets if s.seed == seed]
        labels = np.concatenate([s.labels for s, _ in part])
        for name in DIAGNOSIS_SCORES:
            values = np.concatenate([sc[name] for _, sc in part])
            rows.append(_metric_row(epoch, "train_pooled", "pooled", seed, name, labels, values))
    return rows


def _diagnosis_table(draws: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (epoch, split, score), g in draws.groupby(["epoch", "split", "score"], sort=False):
        per_seed = g.groupby("seed")[["auroc", "auprc"]].mean()  # the split's figure of each draw
        row = {"epoch": int(epoch), "split": split, "score": score}
        for metric in ("auroc", "auprc"):
            row[metric], row[f"{metric}_std"] = mean_std(per_seed[metric])
        row.update(draws=len(per_seed), categories=g["category"].nunique(),
                   n_test=int(g[g["seed"] == g["seed"].iloc[0]]["n_test"].sum()),
                   constant=bool(g["constant"].all()))
        rows.append(row)
    table = pd.DataFrame(rows)
    order = {"split": list(DIAGNOSIS_SPLITS), "score": list(DIAGNOSIS_SCORES)}
    keys = table.assign(**{c: table[c].map({v: i for i, v in enumerate(o)}) for c, o in order.items()})
    return table.loc[keys.sort_values(["epoch", "split", "score"]).index].reset_index(drop=True)


def run_training_diagnosis(data_dir, out_dir, *, held_out: str = "leather", shots: int = 4,
                           checkpoints: Sequence[int] = (10, 20, 30), seeds: Sequence[int] = (0, 1, 2),
                           steps_per_epoch: int = 100, profile: str = "tiny", pretrained: bool = True,
                           weights: str | None = None, device="auto", train_seed: int = 10,
                           synthetic_normal: int = 40, synthetic_anomalous: int = 20, cache_dir=None,
                           force: bool = False, progress: bool = True,
                           aux="world") -> TrainingDiagnosisResult:
    """Does training make the full score beat s_p, and does that carry over? Cached in ``out_dir``.

    Trains ONE model with K = ``shots`` (seed ``train_seed``, ``steps_per_epoch`` steps of
    8 + 8 queries per epoch, the paper's optimiser) on the categories of the auxiliary set
    ``aux`` except ``held_out``, for ``max(checkpoints)`` epochs, and scores
    the checkpoint of every epoch in ``checkpoints`` on three splits (see
    :data:`DIAGNOSIS_SPLITS`): the training categories (in-sample: their test images were
    training queries; per-category protocol mean and pooled), the held-out category and
    ELPV (``data_dir/elpv``). Each split uses the protocol's prompt draws
    (:class:`~inctrl.data.fewshot.PromptSet`, one per seed in ``seeds``) and every score is
    measured alone: full, s_p, s_i, s_a and phi(M+) (:data:`DIAGNOSIS_SCORES`).

    Missing data are prepared as by :func:`~inctrl.book.offline_experiment.run_offline_elpv`
    (same auxiliary set), and
    nothing is written under ``data_dir`` otherwise: the category filter is applied by
    :func:`~inctrl.train.train`. Every image is encoded once (features cached in
    ``cache_dir``, default ``out_dir/feature-cache``; give the offline experiment's
    ``feature-cache`` to reuse its features) and the patch distances M^l, which no trained
    weight changes, are computed once per prompt draw and reused for every checkpoint; the
    checkpoints' heads then score from them (:meth:`~inctrl.model.InCTRL.forward_episodes`), which equals
    scoring with :func:`~inctrl.evaluate.evaluate` up to float rounding.

    Training lives in ``out_dir/train-<hash>`` and resumes: asking for later checkpoints
    continues the same run. A second call with the same configuration loads the stored
    results unless ``force`` (which also retrains). For a quick smoke run:
    ``checkpoints=(1, 2), steps_per_epoch=3, seeds=(0,), shots=2``.

    Args:
        data_dir: the data folder (the auxiliary set and ``elpv`` are prepared there when missing).
        out_dir: the diagnosis folder (results and the training run).
        held_out: the auxiliary category kept out of training.
        shots: K.
        checkpoints: the epochs to score; training runs to the largest.
        seeds: the prompt-draw seeds.
        steps_per_epoch: optimizer steps per epoch.
        profile: the backbone profile.
        pretrained: picks the backbone weights as in :func:`inctrl.load`.
        weights: a local open_clip weights file, as in :func:`inctrl.load`.
        device: where to compute.
        train_seed: the training seed.
        synthetic_normal: normal images per synthetic category.
        synthetic_anomalous: anomalous images per synthetic category.
        cache_dir: the feature cache folder; default ``out_dir/feature-cache``.
        force: recompute (and retrain) even when stored results match.
        progress: show progress bars.
        aux: the auxiliary set, as in :func:`~inctrl.book.offline_experiment.run_offline_elpv`.

    Returns:
        The :class:`TrainingDiagnosisResult`.

    Raises:
        ValueError: no checkpoint, a checkpoint below 1, no seed, or ``held_out`` not a
            category of the auxiliary set (or its only one).
        RuntimeError: a checkpoint file is missing after training (rerun with ``force``).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    checkpoints = sorted({int(c) for c in checkpoints})
    if not checkpoints or checkpoints[0] < 1:
        raise ValueError(f"checkpoints must be epochs >= 1, got {checkpoints}")
    if not seeds:
        raise ValueError("seeds must name at least one prompt draw")
    epochs = checkpoints[-1]
    dev = resolve_device(device)
    encoder = load(profile, device=dev, pretrained=pretrained, weights=weights)
    train_config = {"inctrl": __version__, "backbone": encoder.backbone.state_fingerprint(),
                    "profile": profile, "pretrained": bool(pretrained), "device": dev.type,
                    "held_out": str(held_out), "shots": int(shots), "steps_per_epoch": int(steps_per_epoch),
                    "train_seed": int(train_seed), "synthetic_normal": int(synthetic_normal),
                    "synthetic_anomalous": int(synthetic_anomalous), "batch": [8, 8], "aux": aux_label(aux)}
    config = {**train_config, "version": DIAGNOSIS_VERSION, "epochs": epochs, "checkpoints": checkpoints,
              "seeds": [int(s) for s in seeds], "target": "elpv"}
    key = config_hash(config)
    train_dir = out_dir / f"train-{config_hash(train_config)}"
    paths = {"results_json": out_dir / "results.json", "results_csv": out_dir / "results.csv",
             "draws_csv": out_dir / "results_draws.csv", "train_dir": train_dir,
             "feature_cache": Path(cache_dir) if cache_dir is not None else out_dir / FEATURE_CACHE}
    if not force and paths["results_json"].is_file():
        stored = json.loads(paths["results_json"].read_text())
        if stored.get("config_hash") == key:
            config.update(stored["config"])  # the training categories found at the time
            return TrainingDiagnosisResult(pd.read_csv(paths["results_csv"]), pd.read_csv(paths["draws_csv"]),
                                           paths, config, stored.get("seconds", {}), cached=True)

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    elpv_root, aux_root = prepare_offline_data(data_dir, synthetic_normal, synthetic_anomalous, progress, aux)
    aux_data = CanonicalDataset(aux_root)
    elpv_data = CanonicalDataset(elpv_root, name="elpv")
    if held_out not in aux_data.categories:
        raise ValueError(f"held_out={held_out!r} is not a category of {aux_root} "
                         f"({', '.join(aux_data.categories)})")
    train_categories = [c for c in aux_data.categories if c != held_out]
    if not train_categories:
        raise ValueError(f"{aux_root} has no category left to train on besides {held_out!r}")
    config["train_categories"] = train_categories
    seconds["prepare"] = time.perf_counter() - t0

    # every auxiliary image, held-out included, in one cached encode (the set the offline
    # experiment encodes, so a shared cache_dir finds it); ELPV's test images + prompts
    t = time.perf_counter()
    samples = auxiliary_samples([aux_root])
    aux = encode_paths(encoder, [s.path for s in samples], cache_dir=paths["feature_cache"],
                       progress=progress)
    elpv_feats = protocol_features(encoder, elpv_data, [shots], seeds, cache_dir=paths["feature_cache"],
                                   progress=progress)
    seconds["encode"] = time.perf_counter() - t

    t = time.perf_counter()
    files = [train_dir / f"epoch_{n}.pt" for n in checkpoints]
    if force or not all(f.is_file() for f in files):
        train([aux_root], train_dir, shots=shots, epochs=epochs, steps_per_epoch=steps_per_epoch,
              profile=profile, device=dev, seed=train_seed, resume=not force, progress=progress,
              features=aux, pretrained=pretrained, weights=weights, categories=train_categories)
    missing = [f.name for f in files if not f.is_file()]
    if missing:  # e.g. a longer run in train_dir whose epoch files were deleted
        raise RuntimeError(f"{train_dir} lacks {missing} after training; rerun with force=True")
    seconds["train"] = time.perf_counter() - t

    t = time.perf_counter()
    sets = (_eval_sets(encoder, "train", aux_data, train_categories, shots, seeds, aux, dev)
            + _eval_sets(encoder, "held_out", aux_data, [held_out], shots, seeds, aux, dev)
            + _eval_sets(encoder, "elpv", elpv_data, elpv_data.categories, shots, seeds, elpv_feats, dev))
    seconds["patch_maps"] = time.perf_counter() - t

    t = time.perf_counter()
    rows = []
    for epoch, file in zip(tqdm(checkpoints, desc="scoring checkpoints", disable=not progress), files):
        model = load(file, device=dev)
        rows += _diagnosis_rows(epoch, sets, _score_sets(model, sets))
    seconds["score"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0

    draws = pd.DataFrame(rows)
    table = _diagnosis_table(draws)
    atomic.write_text(paths["results_csv"], table.to_csv(index=False))
    atomic.write_text(paths["draws_csv"], draws.to_csv(index=False))
    seconds = {k: round(v, 2) for k, v in seconds.items()}
    # Written last: a results.json with this hash means every other file is complete.
    atomic.write_json(paths["results_json"], {"config": config, "config_hash": key, "seconds": seconds,
                                              "table": table.to_dict(orient="records")})
    return TrainingDiagnosisResult(table, draws, paths, config, seconds, cached=False)
