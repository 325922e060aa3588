"""Checks of a pretrained backbone that choose nothing on the targets.

* :func:`prepare_world_validation`: the in-world *validation* set: families the backbone is
  pretrained on (held in), photographed with a fresh seed and faint defects. Choices between
  recipes (the v2 objective ablation) and between head-training options are made here, never
  on the held-out families, ELPV or the real-texture set. Runs made with ``inctrl pretrain
  --leave-out`` of :data:`VALIDATION_FAMILIES` never drew these families, and ``--family-out``
  makes the backbone check draw only them: validation on families new to the run.
* :func:`prepare_real_textures`: the held-out real-texture set: crops of the texture-like
  photographs that pretraining never sees (:data:`inctrl.data.photos.REAL_HELD_OUT_FAMILIES`),
  with the world's faint defects.
* :func:`patch_score_table`: the training-free patch score s_p (and the pixel AUROC of its map)
  of several backbones on a dataset, beside raw-pixel patch matching
  (:func:`inctrl.book.baselines.feature_free_baselines`).
* :func:`validation_table`: InCTRL's heads trained on an auxiliary set (by default the
  synthetic one, as every stored recipe study did), then every component on the in-world
  validation set: the ablation's measure.

Run ``python -m inctrl.book.pretrain_checks ablation --weights v1=... v2=... --data data`` to
compare backbones (weights files exported by ``inctrl pretrain``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .. import atomic
from ..checkpoint import load
from ..data.photos import REAL_HELD_OUT_FAMILIES
from ..data.world import make_world_dataset
from ..data.world_families import VALIDATION_FAMILIES
from ..eval_tables import component_table
from ..evaluate import evaluate
from ..features import encode_paths
from ..train import PairTable, auxiliary_samples, train
from .baselines import feature_free_baselines
from .offline_experiment import prepare_aux

VALIDATION_SEED = 1234
#: The heads' seeds of the ablation check: the spread over them is the heads' own.
HEAD_SEEDS = (10, 11, 12)


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


def prepare_real_textures(data_dir, progress: bool = False) -> Path:
    """``data_dir/real_textures``, made on first use.

    Args:
        data_dir: the data folder.
        progress: show a progress bar while making it.

    Returns:
        The dataset root: one category per held-out photograph, 40 normal + 28 faint defects.
    """
    root = Path(data_dir) / "real_textures"
    if not root.exists():
        make_world_dataset(root, families=list(REAL_HELD_OUT_FAMILIES), show_progress=progress)
    return root


def _model(weights: str | None):
    """The mini architecture with ``weights`` (a file), or with random weights (None)."""
    if weights is None:
        return load("mini", pretrained=False, device="cpu")
    return load("mini", weights=str(weights), device="cpu")


def residual_auroc(weights: str | None, batches: int = 20, seed: int = 99,
                   families: Sequence[str] = ()) -> dict:
    """The backbone's own in-context residuals on fresh groups of the pretraining world.

    No heads are trained: for each group of the v2 batches (K = 2 normal prompts and a query
    of the same product, jittered, a quarter of the products real photographs) the image
    residual |g(q) - mean g(p)| and the largest patch residual of Eq. 1-2 are read straight
    from the backbone. ``seed`` differs from the pretraining runs' (0), so these photos were
    never trained on, but their families and photographs were: this is in-world validation.

    Args:
        weights: a weights file of the mini architecture (fp16 or fp32), or None for random
            weights.
        batches: how many batches of groups (12 groups each at 128 px).
        seed: the seed of the batches.
        families: draw only these procedural families, and no real photographs (e.g.
            :data:`VALIDATION_FAMILIES`, for runs that left them out); empty: the v2 batches.

    Returns:
        ``{"queries", "defective", "image_residual", "patch_residual"}``: the counts and the
        AUROC of each residual for telling defective queries from normal ones.
    """
    import open_clip
    import torch
    from sklearn.metrics import roc_auc_score

    from ..backbone import default_taps
    from ..pretrain import PretrainConfig, build_clip, training_batch
    from ..pretrain_objectives import encode_tapped, group_patch_residual, image_residual

    only = {"families": tuple(families), "real_fraction": 0.0} if families else {}
    config = PretrainConfig.v2(seed=seed, **only)
    clip = build_clip(config.model_name)
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        clip.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    clip.eval()
    taps = default_taps(len(clip.visual.transformer.resblocks))
    tokenizer = open_clip.get_tokenizer(config.model_name)
    image, patch, defective = [], [], []
    with torch.no_grad():
        for step in range(batches):
            pixels, _, _, _, is_defective = training_batch(config, step, tokenizer, "cpu")
            g, tokens = encode_tapped(clip.visual, pixels, taps)
            image += image_residual(g, config.shots).tolist()
            patch += group_patch_residual(tokens, config.shots).amax(dim=1).tolist()
            defective += is_defective.tolist()
    return {"queries": len(defective), "defective": int(sum(defective)),
            "image_residual": float(roc_auc_score(defective, image)),
            "patch_residual": float(roc_auc_score(defective, patch))}


def patch_score_table(backbones: Mapping[str, str | None], root, shots: Sequence[int] = (2, 4, 8),
                      seeds: Sequence[int] = (0, 1, 2), cache_dir=None) -> pd.DataFrame:
    """s_p and its pixel AUROC per backbone and K, with raw-pixel patch matching beside them.

    s_p needs no training (Eq. 1-2 on the backbone's tokens), so fresh heads are enough.

    Args:
        backbones: label -> weights file of the mini architecture (None: random weights).
        root: a canonical dataset.
        shots: the K values.
        seeds: the prompt-draw seeds.
        cache_dir: where encoded features are cached.

    Returns:
        Rows: backbone, k, auroc (s_p, mean over draws), auroc_std, pixel_auroc; and the rows
        of ``"raw patches"`` (the feature-free baseline) in the same columns.
    """
    rows = []
    for label, weights in backbones.items():
        model = _model(weights)
        summary = evaluate(model, root, shots=shots, seeds=seeds, progress=False, cache_dir=cache_dir).summary
        for _, r in summary.iterrows():
            rows.append({"backbone": label, "k": int(r["k"]), "auroc": r["auroc_s_p"],
                         "auroc_std": r["auroc_s_p_std"], "pixel_auroc": r["pixel_auroc"]})
    raw = feature_free_baselines(root, shots, seeds)
    raw = raw[raw["baseline"] == "raw patches"].groupby("k")
    for k, g in raw:
        rows.append({"backbone": "raw patches", "k": int(k), "auroc": g["auroc"].mean(),
                     "auroc_std": g["auroc"].std(ddof=0), "pixel_auroc": g["pixel_auroc"].mean()})
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
    aux_root = prepare_aux(data_dir, "synthetic" if aux_root is None else aux_root)
    encoder = _model(weights)
    extra = {"weights": str(weights)} if weights is not None else {"pretrained": False}
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
        weights: the mini backbone's weights file (None: random weights).
        data_dir: the data folder (the auxiliary set and the validation set).
        out_dir: where the heads' runs and the feature cache go.
        shots: the K values, one model each.
        seeds: the prompt-draw seeds.
        train_seeds: the heads' seeds, one model per K and seed (their spread is the heads').
        train_options: other arguments of :func:`inctrl.train.train` (``epochs``,
            ``weight_decay`` ...), to compare ways of training the heads; None: the book's.
        aux_root: the auxiliary set the heads learn from (None: the book's, ``data_dir/synthetic``).

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


#: The stored record of the v2 recipe study (``python -m inctrl.book.pretrain_checks all --record``).
RECIPES_RECORD = Path(__file__).resolve().parent / "results" / "recipes.json"
#: The same study on families the runs never drew (``all --family-out``; arms made with
#: ``inctrl pretrain --leave-out`` of :data:`VALIDATION_FAMILIES`).
FAMILY_OUT_RECORD = RECIPES_RECORD.with_name("recipes_family_out.json")


def recipe_record(path=RECIPES_RECORD) -> dict:
    """The stored record of the recipe study: command, versions, SHA-256s and the three tables."""
    import json

    return json.loads(Path(path).read_text())


def recipe_summary(record: Mapping) -> pd.DataFrame:
    """One row per backbone of a recipe-study record, every number a mean over K.

    Args:
        record: :func:`recipe_record`.

    Returns:
        Indexed by backbone (in the record's order): ``image residual`` and ``patch residual``
        (the backbone alone, in-world), ``s_p``, ``s_i``, ``s_a`` and ``full`` (heads trained as in
        the book, on in-world validation), ``full spread (heads)`` (the standard deviation of
        the full score over the heads' seeds, when the record has several) and
        ``real textures s_p`` (held out). A last row,
        ``raw patches``, holds the feature-free baseline's real-texture s_p.
    """
    residuals = pd.DataFrame(record["residuals"]).set_index("backbone")
    ablation = pd.DataFrame(record["ablation"])
    heads = ablation.pivot_table(index="backbone", columns="score", values="auroc", aggfunc="mean")
    textures = pd.DataFrame(record["textures"]).groupby("backbone", sort=False)["auroc"].mean()
    order = list(residuals.index)
    table = pd.DataFrame({"image residual": residuals["image_residual"],
                          "patch residual": residuals["patch_residual"]}, index=order)
    for score in ("s_p", "s_i", "s_a", "full"):
        table[score] = heads[score].reindex(order)
    if "head_seed" in ablation:  # std over the heads' seeds of the full score, then mean over K
        full = ablation[ablation["score"] == "full"]
        table["full spread (heads)"] = full.groupby(["backbone", "k"])["auroc"].std(ddof=0).groupby(
            "backbone").mean().reindex(order)
    table["real textures s_p"] = textures.reindex(order)
    table.loc["raw patches"] = {"real textures s_p": textures["raw patches"]}
    return table


def preferred_backbone(summary: pd.DataFrame) -> str:
    """The backbone in-world validation chooses: the best mean full score of the trained heads.

    The full score is what InCTRL outputs, and in-world validation is the only place a choice
    may be made (the held-out families, ELPV and the real textures are looked at once, after).

    Args:
        summary: :func:`recipe_summary`.

    Returns:
        The backbone's name.
    """
    return str(summary["full"].dropna().idxmax())


def main(argv=None) -> None:
    """``python -m inctrl.book.pretrain_checks {ablation,textures,residuals,all} --weights NAME=FILE ...``."""
    parser = argparse.ArgumentParser(prog="python -m inctrl.book.pretrain_checks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check", choices=["ablation", "textures", "residuals", "all"],
                        help="ablation: every component on in-world validation; textures: s_p on the "
                             "held-out real textures beside raw-pixel patches; residuals: the backbone's "
                             "own image and patch residuals on fresh in-world groups; all: the three, "
                             "and a record of them (--record)")
    parser.add_argument("--weights", nargs="+", required=True,
                        help="NAME=FILE per backbone (FILE 'random' for random weights)")
    parser.add_argument("--data", default="data", help="the data folder")
    parser.add_argument("--out", default="outputs/pretrain_checks", help="results folder")
    parser.add_argument("--record", help="with 'all': also write the three tables, the command, the versions "
                                         "and each backbone's SHA-256 to this JSON file")
    parser.add_argument("--family-out", action="store_true",
                        help="the residuals check draws its groups from the validation families only: "
                             "for runs pretrained with --leave-out of those families")
    args = parser.parse_args(argv)
    if args.record and args.check != "all":
        parser.error(f"--record stores all three checks: run 'all', not {args.check!r}")
    backbones = {}
    for item in args.weights:
        name, _, file = item.partition("=")
        if not file:
            parser.error(f"--weights takes NAME=FILE, got {item!r}")
        backbones[name] = None if file == "random" else file
    out = Path(args.out)
    checks = ["residuals", "textures", "ablation"] if args.check == "all" else [args.check]
    families = VALIDATION_FAMILIES if args.family_out else ()
    tables = {check: _run_check(check, backbones, args.data, out, families) for check in checks}
    for check, table in tables.items():
        atomic.write_text(out / f"{check}.csv", table.to_csv(index=False))
        print(f"{check}:\n{table.to_string(index=False)}")
    if args.record:
        given = argv if argv is not None else sys.argv[1:]
        command = "python -m inctrl.book.pretrain_checks " + shlex.join(given)
        _add_to_record(args.record, tables, backbones, command)


def _add_to_record(path, tables: Mapping[str, pd.DataFrame], backbones: Mapping[str, str | None],
                   command: str) -> None:
    """Write ``tables`` into the record at ``path``, replacing the earlier rows of their backbones."""
    from ..pretrain import file_sha256
    from .analyses import versions

    record = recipe_record(path) if Path(path).exists() else {"commands": [], "sha256": {}}
    record["commands"].append(command)
    record["versions"] = versions()
    record["sha256"] |= {name: w and file_sha256(w) for name, w in backbones.items()}
    for check, table in tables.items():
        rows = table.to_dict(orient="records")
        names = {r["backbone"] for r in rows}
        record[check] = [r for r in record.get(check, []) if r["backbone"] not in names] + rows
    atomic.write_json(path, record)


def _run_check(check: str, backbones: Mapping[str, str | None], data_dir, out: Path,
               families: Sequence[str] = ()) -> pd.DataFrame:
    if check == "residuals":
        return pd.DataFrame([{"backbone": name, **residual_auroc(w, families=families)}
                             for name, w in backbones.items()])
    if check == "textures":
        return patch_score_table(backbones, prepare_real_textures(data_dir), cache_dir=out / "feature-cache")
    return pd.concat([validation_table(w, data_dir, out / name, train_seeds=HEAD_SEEDS).assign(backbone=name)
                      for name, w in backbones.items()])


if __name__ == "__main__":
    main()
