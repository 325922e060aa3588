"""The offline end-to-end experiment the book runs (chapters 5, 6 and the appendix).

:func:`run_offline_elpv` trains InCTRL's heads on an auxiliary set (the stand-in for MVTec AD;
by default the world-drawn one, :func:`~inctrl.data.world.make_world_aux`), one model per K as
in the paper, and evaluates them on ELPV (the one benchmark that ships on PyPI) and on the
in-world held-out families, with several prompt draws per K, reporting the full InCTRL score
and each component alone from the same run.

The protocol is the paper's (10 epochs x 100 steps, batches of 8 + 8, 3 draws); the backbone
(the offline profile) and the auxiliary data differ, so the numbers demonstrate the pipeline
and must not be compared with the paper's.

Backbone features of the auxiliary set and of the test images are cached in
``<out_dir>/feature-cache`` (files keyed by backbone and image files); chapter 6's ROC
section and :mod:`inctrl.book.runs` reuse that folder.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import __version__, atomic
from ..backbone import ImageFeatures
from ..checkpoint import load
from ..data.converters import prepare_elpv
from ..data.fewshot import PromptSet
from ..data.layout import CanonicalDataset
from ..data.synthetic import make_synthetic_dataset
from ..data.world import make_world_aux, make_world_dataset
from ..device import resolve_device
from ..evaluate import component_table, evaluate
from ..features import CachedFeatures, encode_paths
from ..train import PairTable, auxiliary_samples, train

RESULTS_VERSION = 2
FEATURE_CACHE = "feature-cache"
#: The in-world held-out target: its folder under the data folder and its name in tables.
WORLD = "world"
#: The auxiliary sets a run names (a canonical dataset's folder works too): the world-drawn
#: one (the book's, under ``world_aux``) and the six synthetic categories (under ``synthetic``).
AUX_SETS = {"world": "world_aux", "synthetic": "synthetic"}


def prepare_world(data_dir, progress: bool = False) -> Path:
    """The in-world held-out set, made on first use.

    Args:
        data_dir: the folder of the book's data; the set goes to ``data_dir/world``.
        progress: show a progress bar while making it.

    Returns:
        ``data_dir/world``: the held-out families (40 normal + 28 faint defects each, 240 px,
        seed 0), in the canonical layout.
    """
    root = Path(data_dir) / WORLD
    if not root.exists():
        make_world_dataset(root, show_progress=progress)
    return root


@dataclass
class ExperimentResult:
    """A cached experiment.

    Attributes:
        table: its summary table.
        draws: its per-draw rows.
        paths: the files and folders it wrote, by name.
        config: the configuration it was run with (its hash keys the cache).
        seconds: the wall time per phase of the run that computed the results.
        cached: True when loaded from the output folder rather than computed.
    """

    table: pd.DataFrame
    draws: pd.DataFrame
    paths: dict[str, Path]
    config: dict
    seconds: dict[str, float] = field(default_factory=dict)
    cached: bool = False


@dataclass
class OfflineELPVResult(ExperimentResult):
    """What :func:`run_offline_elpv` returns.

    Attributes:
        table: one row per (k, score) with score in full / s_p / s_i / s_a and columns
            auroc, auroc_std, auprc, auprc_std (mean ± std over the prompt draws).
        draws: one row per (k, seed) with every metric.
        paths: results_json, results_csv, draws_csv, markdown, eval_dir, feature_cache, the
            world's files and, per K, ``train_k{K}`` (folder with ``last.pt``,
            ``loss_log.csv``, ``train_summary.json``).
        config: the configuration of the run.
        seconds: wall time per phase of the run that computed the results.
        cached: True when loaded from ``out_dir``.
        world_table: the same models on the in-world held-out families: the component table.
        world_summary: the same, the summary with the pixel AUROC of the patch map.
    """

    world_table: pd.DataFrame | None = None
    world_summary: pd.DataFrame | None = None

    def loss_logs(self) -> dict[int, pd.DataFrame]:
        """The loss logs of the training runs (for plots).

        Returns:
            K -> the loss log DataFrame (one row per step).
        """
        return {int(k): pd.read_csv(self.paths[f"train_k{k}"] / "loss_log.csv") for k in self.config["shots"]}

    def markdown(self) -> str:
        """The ELPV evaluation's Markdown report (``results.md``)."""
        return Path(self.paths["markdown"]).read_text()


def config_hash(config: dict) -> str:
    """16 hex digits of the SHA-256 of ``config`` as sorted JSON: the key of a cached result."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def prepare_aux(data_dir, aux="world", synthetic_normal: int = 40, synthetic_anomalous: int = 20,
                progress: bool = False) -> Path:
    """The auxiliary set's root, prepared under ``data_dir`` only when missing.

    Args:
        data_dir: the data folder.
        aux: ``"world"`` (``data_dir/world_aux``, :func:`~inctrl.data.world.make_world_aux`),
            ``"synthetic"`` (``data_dir/synthetic``) or the folder of a canonical dataset.
        synthetic_normal: normal images per synthetic category (seed 0).
        synthetic_anomalous: anomalous images per synthetic category.
        progress: show a progress bar.

    Returns:
        The dataset root.

    Raises:
        ValueError: ``aux`` is neither a known name nor an existing folder.
    """
    if str(aux) not in AUX_SETS:
        if not Path(aux).is_dir():
            raise ValueError(f"aux must be one of {', '.join(AUX_SETS)} or a canonical dataset folder; "
                             f"{str(aux)!r} is neither")
        return Path(aux)
    root = Path(data_dir) / AUX_SETS[str(aux)]
    if not root.exists() and aux == "world":
        make_world_aux(root, show_progress=progress)
    elif not root.exists():
        make_synthetic_dataset(root, n_normal=synthetic_normal, n_anomalous=synthetic_anomalous, seed=0,
                               show_progress=progress)
    return root


def prepare_offline_data(data_dir: Path, synthetic_normal: int = 40, synthetic_anomalous: int = 20,
                         progress: bool = False, aux="world") -> tuple[Path, Path]:
    """``data_dir/elpv`` and the auxiliary set (:func:`prepare_aux`), each prepared only when missing.

    Args:
        data_dir: the data folder.
        synthetic_normal: normal images per synthetic category (seed 0).
        synthetic_anomalous: anomalous images per synthetic category.
        progress: show progress bars.
        aux: the auxiliary set, as in :func:`prepare_aux`.

    Returns:
        ``(elpv root, auxiliary root)``.

    Raises:
        ValueError: ``aux`` is neither a known name nor an existing folder.
    """
    elpv = Path(data_dir) / "elpv"
    if not elpv.exists():
        prepare_elpv(elpv, show_progress=progress)
    return elpv, prepare_aux(data_dir, aux, synthetic_normal, synthetic_anomalous, progress)


def aux_label(aux) -> str:
    """How a run's configuration names its auxiliary set: the name, or ``"folder <name>"``."""
    return str(aux) if str(aux) in AUX_SETS else f"folder {Path(aux).name}"


def _merge_features(a: CachedFeatures, b: CachedFeatures) -> CachedFeatures:
    """One CachedFeatures holding the rows of both (``b`` must not repeat a path of ``a``)."""
    return CachedFeatures(a.paths + b.paths, ImageFeatures.cat([a.features, b.features]))


def protocol_features(model, dataset: CanonicalDataset, shots: Sequence[int], seeds: Sequence[int],
                      cache_dir=None, progress: bool = False, batch_size: int = 64) -> CachedFeatures:
    """Backbone features of every test image of ``dataset`` and of its prompt draws.

    What :func:`~inctrl.evaluate.evaluate` encodes, for its ``features=``. The test images
    are cached in ``cache_dir`` on their own, so any K, seeds or experiment finds the same
    file; the few prompt images are encoded (and cached) beside them.

    Args:
        model: the model whose backbone encodes.
        dataset: the canonical dataset.
        shots: the K values of the prompt draws.
        seeds: the seeds of the prompt draws.
        cache_dir: the feature cache folder, or None for none.
        progress: show a progress bar (test images).
        batch_size: images per encoder forward.

    Returns:
        The :class:`~inctrl.features.CachedFeatures` of the test and prompt images.
    """
    tests = [s.path for c in dataset.categories for s in dataset.test_samples(c)]
    prompts = [p for c in dataset.categories for k in shots for seed in seeds
               for p in PromptSet.draw(dataset, c, int(k), int(seed)).resolve(dataset.root)]
    feats = encode_paths(model, tests, cache_dir=cache_dir, batch_size=batch_size, progress=progress)
    known = set(feats.paths)
    extra = list(dict.fromkeys(p for p in prompts if str(Path(p).resolve()) not in known))
    if not extra:
        return feats
    return _merge_features(feats, encode_paths(model, extra, cache_dir=cache_dir, batch_size=batch_size))


def run_offline_elpv(data_dir, out_dir, shots: Sequence[int] = (2, 4, 8), seeds: Sequence[int] = (0, 1, 2),
                     epochs: int = 10, steps_per_epoch: int = 100, profile: str = "tiny", device="auto",
                     force: bool = False, progress: bool = True, train_seed: int = 10,
                     synthetic_normal: int = 40, synthetic_anomalous: int = 20, *,
                     pretrained: bool = True, weights: str | None = None,
                     aux="world") -> OfflineELPVResult:
    """Train on the auxiliary set ``aux``, evaluate on ELPV; cached in ``out_dir``.

    ``data_dir/elpv`` (from the elpv-dataset package) and the auxiliary set (see
    :func:`prepare_offline_data`) are prepared when missing. One model per K (seed
    ``train_seed``, ``epochs`` x ``steps_per_epoch`` steps of 8 + 8 queries), each evaluated
    on ELPV with one prompt draw per seed in ``seeds``. A second call with the same
    configuration loads the stored results unless ``force``. For a quick smoke run:
    ``epochs=1, steps_per_epoch=5, seeds=(0,), shots=(2,)``.

    The same models are also evaluated on the in-world held-out families.

    Args:
        data_dir: the data folder.
        out_dir: the experiment folder (results, training runs, feature cache).
        shots: the K values, one model each.
        seeds: the prompt-draw seeds of the evaluation.
        epochs: training epochs per model.
        steps_per_epoch: optimizer steps per epoch.
        profile: the backbone profile.
        device: where to compute.
        force: recompute even when stored results match.
        progress: show progress bars.
        train_seed: the training seed of every model.
        synthetic_normal: normal images per synthetic category.
        synthetic_anomalous: anomalous images per synthetic category.
        pretrained: picks the backbone weights as in :func:`inctrl.load`:
            ``profile="paper", pretrained=False`` runs the paper architecture with random
            weights (no download).
        weights: ``"PATH"`` reads a local open_clip weights file, as in :func:`inctrl.load`.
        aux: the auxiliary set the heads learn from: ``"world"`` (17 families of the world, 40
            normal + 20 clear defects each), ``"synthetic"`` (6 categories x
            (``synthetic_normal`` + ``synthetic_anomalous``) images, seed 0) or the folder of a
            canonical dataset.

    Returns:
        The :class:`OfflineELPVResult`.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    dev = resolve_device(device)
    # the frozen backbone; identical in every K's model
    encoder = load(profile, device=dev, pretrained=pretrained, weights=weights)
    config = {"inctrl": __version__, "backbone": encoder.backbone.state_fingerprint(),
              "version": RESULTS_VERSION, "shots": [int(k) for k in shots], "seeds": [int(s) for s in seeds],
              "epochs": int(epochs), "steps_per_epoch": int(steps_per_epoch), "profile": profile,
              "pretrained": bool(pretrained),
              "device": dev.type, "train_seed": int(train_seed), "synthetic_normal": int(synthetic_normal),
              "synthetic_anomalous": int(synthetic_anomalous), "batch": [8, 8],
              "aux": aux_label(aux),
              "target": "elpv", "world": "held-out families, seed 0"}
    key = config_hash(config)
    paths = {"results_json": out_dir / "results.json", "results_csv": out_dir / "results.csv",
             "draws_csv": out_dir / "results_draws.csv", "markdown": out_dir / "results.md",
             "eval_dir": out_dir / "eval", "feature_cache": out_dir / FEATURE_CACHE,
             "world_csv": out_dir / "results_world.csv",
             "world_summary_csv": out_dir / "results_world_summary.csv",
             "world_eval_dir": out_dir / "eval_world"}
    paths.update({f"train_k{k}": out_dir / f"train_k{k}" for k in config["shots"]})
    if not force and paths["results_json"].is_file():
        stored = json.loads(paths["results_json"].read_text())
        if stored.get("config_hash") == key:
            return OfflineELPVResult(pd.read_csv(paths["results_csv"]), pd.read_csv(paths["draws_csv"]),
                                     paths, config, stored.get("seconds", {}), cached=True,
                                     world_table=pd.read_csv(paths["world_csv"]),
                                     world_summary=pd.read_csv(paths["world_summary_csv"]))

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    elpv, aux_root = prepare_offline_data(data_dir, synthetic_normal, synthetic_anomalous, progress, aux)
    seconds["prepare"] = time.perf_counter() - t0

    t = time.perf_counter()
    samples = auxiliary_samples([aux_root])
    aux = encode_paths(encoder, [s.path for s in samples], cache_dir=paths["feature_cache"],
                       progress=progress)
    table = PairTable.build(samples, aux.rows([s.path for s in samples]), aux.features.tokens, progress)
    seconds["encode_aux"] = time.perf_counter() - t

    models = {}
    for k in config["shots"]:
        t = time.perf_counter()
        result = train([aux_root], paths[f"train_k{k}"], shots=k, epochs=epochs,
                       steps_per_epoch=steps_per_epoch, profile=profile, device=dev, seed=train_seed,
                       progress=progress, features=aux, pair_table=table, pretrained=pretrained,
                       weights=weights)
        models[k] = result.model
        seconds[f"train_k{k}"] = time.perf_counter() - t

    t = time.perf_counter()
    elpv_features = protocol_features(encoder, CanonicalDataset(elpv, name="elpv"), config["shots"],
                                      config["seeds"], cache_dir=paths["feature_cache"], progress=progress)
    ev = evaluate(models, elpv, shots=config["shots"], seeds=config["seeds"], out_dir=paths["eval_dir"],
                  name="elpv", progress=progress, profile=profile, features=elpv_features)
    seconds["evaluate"] = time.perf_counter() - t

    t = time.perf_counter()
    world = prepare_world(data_dir, progress)
    world_features = protocol_features(encoder, CanonicalDataset(world, name="world"), config["shots"],
                                       config["seeds"], cache_dir=paths["feature_cache"], progress=progress)
    ev_world = evaluate(models, world, shots=config["shots"], seeds=config["seeds"],
                        out_dir=paths["world_eval_dir"], name="world", progress=progress, profile=profile,
                        features=world_features)
    world_table = component_table(ev_world.summary)
    atomic.write_text(paths["world_csv"], world_table.to_csv(index=False))
    atomic.write_text(paths["world_summary_csv"], ev_world.summary.to_csv(index=False))
    seconds["evaluate_world"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0

    table_df = component_table(ev.summary)
    draws = ev.draws.drop(columns=["category"])
    atomic.write_text(paths["results_csv"], table_df.to_csv(index=False))
    atomic.write_text(paths["draws_csv"], draws.to_csv(index=False))
    atomic.write_text(paths["markdown"], ev.markdown())
    seconds = {k: round(v, 2) for k, v in seconds.items()}
    # Written last: a results.json with this hash means every other file is complete.
    atomic.write_json(paths["results_json"], {"config": config, "config_hash": key, "seconds": seconds,
                                              "table": table_df.to_dict(orient="records")})
    return OfflineELPVResult(table_df, draws, paths, config, seconds, cached=False, world_table=world_table,
                             world_summary=ev_world.summary)
