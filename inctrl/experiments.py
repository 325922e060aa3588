"""Ready-made experiments for the book.

:func:`run_offline_elpv` is the offline end-to-end benchmark: train the tiny profile on the
synthetic auxiliary set (the stand-in for MVTec AD), one model per K as in the paper, and
evaluate it on ELPV (the one benchmark that ships on PyPI) with several prompt draws per K,
reporting the full InCTRL score and each component alone from the same run.

The protocol is the paper's (10 epochs x 100 steps, batches of 8 + 8, 3 draws); only the
backbone (tiny, random) and the auxiliary data (synthetic) differ, so the numbers are a
demonstration of the pipeline and must not be compared with the paper's.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import __version__, atomic
from .checkpoint import load
from .data.converters import prepare_elpv
from .data.synthetic import make_synthetic_dataset
from .device import resolve_device
from .evaluate import component_table, evaluate
from .features import encode_paths
from .train import PatchTable, auxiliary_samples, train

RESULTS_VERSION = 1


@dataclass
class OfflineELPVResult:
    """What :func:`run_offline_elpv` returns.

    ``table``: one row per (k, score) with score in full / s_p / s_i / s_a and columns
    auroc, auroc_std, auprc, auprc_std (mean ± std over the prompt draws).
    ``draws``: one row per (k, seed) with every metric. ``paths``: results_json,
    results_csv, draws_csv, markdown, eval_dir and, per K, ``train_k{K}`` (folder with
    ``last.pt``, ``loss_log.csv``, ``train_summary.json``). ``seconds``: wall time per phase
    of the run that computed the results. ``cached``: True when loaded from ``out_dir``.
    """

    table: pd.DataFrame
    draws: pd.DataFrame
    paths: dict[str, Path]
    config: dict
    seconds: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    def loss_logs(self) -> dict[int, pd.DataFrame]:
        """{K: loss log DataFrame} of the training runs (for plots)."""
        return {int(k): pd.read_csv(self.paths[f"train_k{k}"] / "loss_log.csv") for k in self.config["shots"]}

    def markdown(self) -> str:
        return Path(self.paths["markdown"]).read_text()


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def run_offline_elpv(data_dir, out_dir, shots: Sequence[int] = (2, 4, 8), seeds: Sequence[int] = (0, 1, 2),
                     epochs: int = 10, steps_per_epoch: int = 100, profile: str = "tiny", device="auto",
                     force: bool = False, progress: bool = True, train_seed: int = 10,
                     synthetic_normal: int = 40, synthetic_anomalous: int = 20, *,
                     pretrained: bool = True, weights: str | None = None) -> OfflineELPVResult:
    """Train on synthetic data, evaluate on ELPV; cached in ``out_dir``.

    ``data_dir/elpv`` (from the elpv-dataset package) and ``data_dir/synthetic`` (6
    categories x (``synthetic_normal`` + ``synthetic_anomalous``) images, seed 0) are
    prepared when missing. One model per K (seed ``train_seed``, ``epochs`` x
    ``steps_per_epoch`` steps of 8 + 8 queries), each evaluated on ELPV with one prompt draw
    per seed in ``seeds``. A second call with the same configuration loads the stored
    results unless ``force``. For a quick smoke run: ``epochs=1, steps_per_epoch=5,
    seeds=(0,), shots=(2,)``.

    ``pretrained`` and ``weights`` pick the backbone weights as in :func:`inctrl.load`:
    ``profile="paper", pretrained=False`` runs the paper architecture with random weights
    (no download), ``weights="PATH"`` reads a local open_clip weights file.
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
              "synthetic_anomalous": int(synthetic_anomalous), "batch": [8, 8], "aux": "synthetic",
              "target": "elpv"}
    key = _config_hash(config)
    paths = {"results_json": out_dir / "results.json", "results_csv": out_dir / "results.csv",
             "draws_csv": out_dir / "results_draws.csv", "markdown": out_dir / "results.md",
             "eval_dir": out_dir / "eval"}
    paths.update({f"train_k{k}": out_dir / f"train_k{k}" for k in config["shots"]})
    if not force and paths["results_json"].is_file():
        stored = json.loads(paths["results_json"].read_text())
        if stored.get("config_hash") == key:
            return OfflineELPVResult(pd.read_csv(paths["results_csv"]), pd.read_csv(paths["draws_csv"]),
                                     paths, config, stored.get("seconds", {}), cached=True)

    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    elpv, synthetic = data_dir / "elpv", data_dir / "synthetic"
    if not elpv.exists():
        prepare_elpv(elpv, show_progress=progress)
    if not synthetic.exists():
        make_synthetic_dataset(synthetic, n_normal=synthetic_normal, n_anomalous=synthetic_anomalous,
                               seed=0, show_progress=progress)
    seconds["prepare"] = time.perf_counter() - t0

    t = time.perf_counter()
    samples = auxiliary_samples([synthetic])
    aux = encode_paths(encoder, [s.path for s in samples], progress=progress)
    table = PatchTable.build(samples, aux.rows([s.path for s in samples]), aux.features.tokens, progress)
    seconds["encode_aux"] = time.perf_counter() - t

    models = {}
    for k in config["shots"]:
        t = time.perf_counter()
        result = train([synthetic], paths[f"train_k{k}"], shots=k, epochs=epochs,
                       steps_per_epoch=steps_per_epoch, profile=profile, device=dev, seed=train_seed,
                       progress=progress, features=aux, pair_table=table, pretrained=pretrained,
                       weights=weights)
        models[k] = result.model
        seconds[f"train_k{k}"] = time.perf_counter() - t

    t = time.perf_counter()
    ev = evaluate(models, elpv, shots=config["shots"], seeds=config["seeds"], out_dir=paths["eval_dir"],
                  name="elpv", progress=progress, profile=profile)
    seconds["evaluate"] = time.perf_counter() - t
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
    return OfflineELPVResult(table_df, draws, paths, config, seconds, cached=False)
