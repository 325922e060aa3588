"""How the offline backbone was chosen and what it scores (the book's appendix).

The protocol keeps every choice off the targets:

* **in-world validation**: six families of the procedural world
  (:data:`~inctrl.data.world_families.VALIDATION_FAMILIES`), photographed with a fresh seed and
  faint defects (:func:`prepare_world_validation`). Neither the text tower's LiT training
  (:mod:`inctrl.lit`) nor the heads' auxiliary set draws from them. The taps
  (:func:`tap_table`, training-free s_p per set of trunk stages) and the choice between
  backbones (:func:`validation_table`, InCTRL's heads trained as in the book, three head
  seeds) are made here;
* **the targets**, looked at once the choice is made: ELPV and the held-out world families
  (:func:`~inctrl.book.offline_experiment.run_offline_elpv`, once per head seed).

``python -m inctrl.book.mini_study --data data --out runs/mini_study --record
inctrl/book/results/mini_v3.json`` runs it all (about 30 minutes on two CPU cores). The record
also carries the stored numbers of the earlier backbones v1 and v2 (ViTs pretrained from scratch
on the world; their code lives in the project's history), measured with the same protocol.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from .. import atomic
from ..backbone import MINI_TAPS, MINI_WEIGHTS_FILE, Backbone, ImageFeatures
from ..checkpoint import load
from ..data.world import WORLD_AUX, make_world_dataset
from ..data.world_families import VALIDATION_FAMILIES
from ..eval_tables import component_table
from ..evaluate import evaluate
from ..features import CachedFeatures, encode_paths
from ..train import PairTable, auxiliary_samples, train
from .offline_experiment import prepare_aux, run_offline_elpv

VALIDATION_SEED = 1234
#: The heads' seeds: the spread over them is the heads' own.
HEAD_SEEDS = (10, 11, 12)
#: The stored record (``--record``) the appendix reads.
MINI_RECORD = Path(__file__).resolve().parent / "results" / "mini_v3.json"
#: The earlier backbones' numbers with the same protocol (v1 and v2, small ViTs pretrained from scratch).
EARLIER_RECORD = MINI_RECORD.with_name("earlier_backbones.json")
#: The candidate stages of the tap choice: EfficientNet-Lite0's stages 2-5 (counted from 1) are the
#: ones whose maps pool exactly onto the 15 x 15 grid at 240 px (60, 30, 15 and 15 cells a side).
CANDIDATE_STAGES = (2, 3, 4, 5)


def prepare_world_validation(data_dir, progress: bool = False) -> Path:
    """``data_dir/world_validation``, made on first use.

    Args:
        data_dir: the data folder.
        progress: show a progress bar while making it.

    Returns:
        The dataset root: :data:`VALIDATION_FAMILIES`, 40 normal + 28 faint (0.5) defects each.
    """
    root = Path(data_dir) / "world_validation"
    if not root.exists():
        make_world_dataset(root, families=VALIDATION_FAMILIES, seed=VALIDATION_SEED, show_progress=progress)
    return root


def file_sha256(path) -> str:
    """The SHA-256 of a file, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model(weights: str | None, taps: Sequence[int] | None = None):
    """The mini profile with ``weights`` (a LiT text-tower file; None: the shipped one)."""
    model = load("mini", device="cpu", **({} if weights is None else {"weights": str(weights)}))
    if taps is not None and tuple(taps) != model.backbone.taps:  # the same weights, other stages tapped
        model.backbone = Backbone(replace(model.backbone.spec, taps=tuple(taps)), clip=model.backbone.clip)
    return model


def tap_table(root, stages: Sequence[int] = CANDIDATE_STAGES, shots: Sequence[int] = (2, 4, 8),
              seeds: Sequence[int] = (0, 1, 2), cache_dir=None) -> pd.DataFrame:
    """Training-free s_p (Eq. 1-2, no heads) for every non-empty set of up to three ``stages``.

    Every image is encoded once with all the candidate stages tapped; each set then reads its
    own layers of the same tokens.

    Args:
        root: a canonical dataset (the in-world validation set).
        stages: the candidate trunk stages (1-based).
        shots: the K values.
        seeds: the prompt-draw seeds.
        cache_dir: where the encoded features are cached.

    Returns:
        One row per set of stages and K: ``taps`` (e.g. ``"3, 4, 5"``), ``k``, ``auroc`` (s_p,
        the mean over draws) and ``auroc_std`` (their standard deviation).
    """
    model = _model(None, stages)
    paths = sorted(str(p) for p in Path(root).rglob("*.png") if "ground_truth" not in p.parts)
    feats = encode_paths(model, paths, cache_dir=cache_dir)
    rows = []
    for size in (1, 2, 3):
        for subset in itertools.combinations(stages, size):
            layers = [stages.index(s) for s in subset]
            subset_feats = CachedFeatures(feats.paths, ImageFeatures(feats.features.embedding,
                                                                     feats.features.tokens[layers]))
            summary = evaluate(model, root, shots=shots, seeds=seeds, features=subset_feats, pixel=False,
                               progress=False).summary
            rows += [{"taps": ", ".join(map(str, subset)), "k": int(r["k"]), "auroc": float(r["auroc_s_p"]),
                      "auroc_std": float(r["auroc_s_p_std"])} for _, r in summary.iterrows()]
    return pd.DataFrame(rows)


def trained_heads(weights: str | None, data_dir, out_dir, shots: Sequence[int] = (2, 4, 8),
                  train_seeds: Sequence[int] = (10,), train_options: Mapping | None = None, aux_root=None):
    """InCTRL's heads trained as in the book, one model per K, for each heads' seed in turn.

    The auxiliary set is encoded once (cached under ``out_dir/feature-cache``) and shared by
    every model. The arguments are :func:`validation_table`'s.

    Yields:
        ``(head_seed, {K: model})``.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    aux_root = prepare_aux(data_dir, "world" if aux_root is None else aux_root)
    encoder = _model(weights)
    extra = {"weights": str(weights)} if weights is not None else {}
    samples = auxiliary_samples([aux_root])
    aux = encode_paths(encoder, [s.path for s in samples], cache_dir=out_dir / "feature-cache")
    table = PairTable.build(samples, aux.rows([s.path for s in samples]), aux.features.tokens, False)
    for head_seed in train_seeds:
        yield head_seed, {k: train([aux_root], out_dir / f"train_k{k}_s{head_seed}", shots=k, profile="mini",
                                   device="cpu", seed=head_seed, progress=False, features=aux,
                                   pair_table=table, **extra, **(train_options or {})).model
                          for k in shots}


def validation_table(weights: str | None, data_dir, out_dir, shots: Sequence[int] = (2, 4, 8),
                     seeds: Sequence[int] = (0, 1, 2), train_seeds: Sequence[int] = (10,),
                     train_options: Mapping | None = None, aux_root=None) -> pd.DataFrame:
    """Every InCTRL component on the in-world validation set, heads trained as in the book.

    Args:
        weights: a LiT text-tower file for the mini profile (None: the shipped one).
        data_dir: the data folder (the auxiliary set and the validation set).
        out_dir: where the heads' runs and the feature cache go.
        shots: the K values, one model each.
        seeds: the prompt-draw seeds.
        train_seeds: the heads' seeds, one model per K and seed (their spread is the heads').
        train_options: other arguments of :func:`inctrl.train.train`; None: the book's.
        aux_root: the auxiliary set the heads learn from (None: the book's world-drawn set).

    Returns:
        :func:`inctrl.eval_tables.component_table` of the validation set (k, score, auroc ...)
        per heads' seed, in a ``head_seed`` column.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    tables, validation = [], prepare_world_validation(data_dir)
    heads = trained_heads(weights, data_dir, out_dir, shots, train_seeds, train_options, aux_root)
    for head_seed, models in heads:
        result = evaluate(models, validation, shots=shots, seeds=seeds,
                          progress=False, cache_dir=out_dir / "feature-cache")
        tables.append(component_table(result.summary).assign(head_seed=head_seed))
    return pd.concat(tables, ignore_index=True)


def head_seed_spread(rows) -> pd.DataFrame:
    """The mean and spread over head seeds of a record's per-seed rows.

    Args:
        rows: records with ``k``, ``score``, ``head_seed`` and ``auroc`` (the mean over draws).

    Returns:
        One row per K and score: ``auroc`` (the mean over head seeds) and ``spread`` (their
        standard deviation, ddof 0).
    """
    frame = pd.DataFrame(rows).groupby(["k", "score"], sort=False)["auroc"]
    return pd.DataFrame({"auroc": frame.mean(), "spread": frame.std(ddof=0)}).reset_index()


def record(path=MINI_RECORD) -> dict:
    """The stored study (:data:`MINI_RECORD`)."""
    return json.loads(Path(path).read_text())


def earlier_backbones(path=EARLIER_RECORD) -> dict:
    """The stored summaries of v1 and v2 (:data:`EARLIER_RECORD`)."""
    return json.loads(Path(path).read_text())


def tap_choice(rows, shipped: Sequence[int] = MINI_TAPS) -> dict:
    """The tap rule, fixed before the table was read: a set of stages replaces the shipped one
    only if its AUROC (mean over K) beats the shipped set's by more than the spread over draws.

    Args:
        rows: :func:`tap_table`'s rows (``taps``, ``k``, ``auroc``, ``auroc_std``).
        shipped: the stages the rule defends (the three of the first probe).

    Returns:
        ``best`` (its stages), ``best_auroc``, ``shipped_auroc`` (means over K), ``spread`` (the
        shipped set's mean standard deviation over draws) and ``replace`` (whether the rule
        takes the best set instead).
    """
    table = pd.DataFrame(rows).groupby("taps")[["auroc", "auroc_std"]].mean()
    key = ", ".join(map(str, shipped))
    best = str(table["auroc"].idxmax())
    gain = float(table.loc[best, "auroc"] - table.loc[key, "auroc"])
    return {"best": best, "best_auroc": float(table.loc[best, "auroc"]), "shipped": key,
            "shipped_auroc": float(table.loc[key, "auroc"]), "spread": float(table.loc[key, "auroc_std"]),
            "replace": gain > float(table.loc[key, "auroc_std"])}


#: The benchmark of v3 against v2's architecture, one interleaved CPU run (benchmarks/README.md).
SPEED_RESULTS = "benchmarks/results/mini_v3_vs_v2/*.json"


def speed_ratios(pattern: str = SPEED_RESULTS, repo_root=".") -> pd.Series:
    """v3's InCTRL queries per second over v2's, per (batch size, K), from the benchmark's files.

    Args:
        pattern: a glob of benchmark results files holding both profiles ``mini`` and ``mini-v2``.
        repo_root: the repository root (it holds ``benchmarks/``).

    Returns:
        The ratios indexed by (batch_size, shots); empty when no file matches.
    """
    from .speed import load_benchmarks

    rows, _ = load_benchmarks(pattern, repo_root)
    if rows.empty:
        return pd.Series(dtype=float)
    rows = rows[rows["method"] == "inctrl"]
    rate = rows.pivot_table(index=["batch_size", "shots"], columns="profile", values="queries_per_s")
    return rate["mini"] / rate["mini-v2"]


def means(rows) -> pd.DataFrame:
    """AUROC per K (rows) and score (columns), the mean over head seeds of a record's rows."""
    return pd.DataFrame(rows).groupby(["k", "score"])["auroc"].mean().unstack()


#: The marks the offline default was asked to reach: (target, score, K, goal); K None: every K,
#: against s_p.
TARGETS = (("ELPV", "full", 4, 0.85), ("ELPV", "full", None, "s_p"), ("held-out world", "full", 4, 0.90),
           ("held-out world", "s_i", 4, 0.75), ("ELPV", "s_a", 4, 0.5))


def target_marks(study: dict) -> pd.DataFrame:
    """Each mark of :data:`TARGETS` against the record's numbers (means over head seeds).

    Returns:
        One row per mark: ``mark`` (in words), ``value``, ``goal``, ``met`` and ``by`` (value -
        goal; for "full >= s_p at every K", the smallest difference over K).
    """
    rows = []
    for target, score, k, goal in TARGETS:
        table = means(study["head_seeds"][target])
        if goal == "s_p":
            gap = table[score] - table["s_p"]
            worst = gap.idxmin()
            rows.append({"mark": f"{target}: full ≥ s_p at every K (furthest at K = {worst})",
                         "value": float(table.loc[worst, score]),
                         "goal": float(table.loc[worst, "s_p"]), "by": float(gap.min())})
        else:
            words = "above chance" if goal == 0.5 else f"≥ {goal:.2f}"
            rows.append({"mark": f"{target}: {score} {words} at K = {k}", "value": float(table.loc[k, score]),
                         "goal": float(goal), "by": float(table.loc[k, score] - goal)})
    frame = pd.DataFrame(rows)
    frame["met"] = frame["by"] >= 0
    return frame


def main(argv=None) -> None:
    """``python -m inctrl.book.mini_study --data DIR --out DIR [--record FILE] [--weights FILE]``."""
    from .analyses import versions

    parser = argparse.ArgumentParser(prog="python -m inctrl.book.mini_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="the data folder")
    parser.add_argument("--out", default="outputs/mini_study", help="results folder")
    parser.add_argument("--weights", default=None, help="a LiT text-tower file (default: the shipped one)")
    parser.add_argument("--record", help="write the tables, the command and the versions to this JSON file")
    args = parser.parse_args(argv)
    out, aux = Path(args.out), prepare_aux(args.data, "world", progress=True)
    validation_root = prepare_world_validation(args.data, progress=True)
    taps = tap_table(validation_root, cache_dir=out / "tap-cache")
    print(f"training-free s_p on in-world validation per set of stages:\n"
          f"{taps.pivot(index='taps', columns='k', values='auroc').round(3).to_string()}")
    validation = validation_table(args.weights, args.data, out / "validation", train_seeds=HEAD_SEEDS,
                                  aux_root=aux)
    print(f"in-world validation, heads trained on {aux}:\n{validation.to_string(index=False)}")
    looks = {seed: run_offline_elpv(args.data, out / f"look_s{seed}", shots=(2, 4, 8), seeds=(0, 1, 2),
                                    profile="mini", device="cpu", weights=args.weights, aux=aux,
                                    train_seed=seed)
             for seed in HEAD_SEEDS}
    per_seed = {target: [{**row, "head_seed": seed} for seed, result in looks.items()
                         for row in getattr(result, table).to_dict(orient="records")]
                for target, table in (("ELPV", "table"), ("held-out world", "world_table"))}
    for target, rows in per_seed.items():
        print(f"{target} over head seeds {HEAD_SEEDS}:\n{head_seed_spread(rows).to_string(index=False)}")
    if args.record:
        given = argv if argv is not None else sys.argv[1:]
        weights = args.weights or MINI_WEIGHTS_FILE
        atomic.write_json(args.record, {
            "command": "python -m inctrl.book.mini_study " + shlex.join(given),
            "versions": versions(), "text_sha256": file_sha256(weights), "taps_shipped": list(MINI_TAPS),
            "aux": {**WORLD_AUX, "families": list(WORLD_AUX["families"])},
            "taps": taps.to_dict(orient="records"),
            "validation": validation.to_dict(orient="records"),
            "head_seeds": per_seed})


if __name__ == "__main__":
    main()
