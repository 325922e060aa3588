"""Chapter 9: why the full score stays below s_p, read off the holistic head phi itself.

The final score is ``s(x) = (phi(M+) + s_p(x)) / 2``. On mini v2 it stays below s_p, on in-world
validation as on ELPV, however the heads are trained (:mod:`inctrl.book.heads_training`). The
half that is not s_p is phi(M+), and the book's tables never show it alone. This module scores
the book's heads (world-drawn auxiliary set, three head seeds, K = 2, 4, 8, three prompt draws)
and records, per target, the AUROC of:

* ``full``, ``s_p``, ``s_i``, ``s_a``: as in every table of the book;
* ``phi``: the holistic head's own score phi(M+);
* ``phi, cells shuffled``: phi of M+ with its 225 cells in a random order (a new order per
  image): if phi ranks images as well, it does not use where a cell lies;
* ``phi, flat map``: phi of M+ with every cell set to the map's mean: if phi ranks images as
  well, it reads the map's level, not its peaks;

and the rank correlation (Spearman) of phi with s_p over each category's test images. The probes
feed phi inputs it was not trained on; they say what phi responds to, and are not ways of
scoring. Nothing is chosen from them, so the targets are not tuned to.
Run ``python -m inctrl.book.fusion --data data --out outputs/fusion --record
inctrl/book/results/fusion_v2.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from .. import atomic
from ..backbone import MINI_WEIGHTS_FILE
from ..data.fewshot import PromptSet
from ..data.layout import CanonicalDataset
from ..evaluate import image_metrics
from ..features import encode_paths

#: The stored record of the study on mini v2.
FUSION_RECORD = Path(__file__).resolve().parent / "results" / "fusion_v2.json"
#: Score -> what it reads, as the record names them.
SCORES = ("full", "s_p", "phi", "s_i", "s_a", "phi, cells shuffled", "phi, flat map")
#: The probes: phi of a changed map.
PROBES = ("phi, cells shuffled", "phi, flat map")
#: How near phi's AUROC a probe must stay (mean over K) for phi to be said to read only the map's level.
LEVEL_TOLERANCE = 0.02


def probe_scores(model, out, generator: torch.Generator) -> dict[str, np.ndarray]:
    """Every score of :data:`SCORES` for one batch of scored queries.

    Args:
        model: the InCTRL model that scored them (its holistic head phi is probed).
        out: its :class:`~inctrl.containers.InCTRLOutput`.
        generator: draws the cells' order of ``phi, cells shuffled``.

    Returns:
        Score name -> [B] scores.
    """
    cells = out.holistic_map.flatten(1).float()                                    # M+ [B, N]
    order = torch.stack([torch.randperm(cells.shape[1], generator=generator) for _ in range(len(cells))])
    with torch.no_grad(), model._heads_in_eval_mode():
        shuffled = model.holistic_head(cells.gather(1, order))
        flat = model.holistic_head(cells.mean(dim=1, keepdim=True).expand_as(cells))
    return {"full": out.score, "s_p": out.patch_score, "phi": out.holistic_score, "s_i": out.image_score,
            "s_a": out.text_score, "phi, cells shuffled": shuffled, "phi, flat map": flat}


def fusion_rows(models, data_root, name: str, shots: Sequence[int], seeds: Sequence[int],
                cache_dir) -> list[dict]:
    """One row per (K, prompt draw, category, score): its AUROC, and phi's correlation with s_p.

    Args:
        models: {K: InCTRL model}, sharing one backbone.
        data_root: a dataset in the canonical layout.
        name: its name (the text prior reads each category's own name, as in
            :func:`~inctrl.evaluate.evaluate`).
        shots: the K values.
        seeds: the prompt-draw seeds.
        cache_dir: where the encoded features are cached.
    """
    dataset = CanonicalDataset(data_root, name=name)
    tests = {c: dataset.test_samples(c) for c in dataset.categories}
    draws = {(c, k, s): PromptSet.draw(dataset, c, k, s) for c in tests for k in shots for s in seeds}
    paths = [t.path for c in tests for t in tests[c]]
    paths += [p for d in draws.values() for p in d.resolve(dataset.root)]
    feats = encode_paths(models[shots[0]], paths, cache_dir=cache_dir, progress=False)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for (cat, k, seed), prompts in draws.items():
        model = models[k]
        bank = model.prompt_bank_from_features(feats.select(prompts.resolve(dataset.root)),
                                               dataset.object_name(cat))
        with torch.no_grad():
            out = model.score_features(feats.select([t.path for t in tests[cat]]), bank)
        labels = [t.label for t in tests[cat]]
        scores = {s: v.detach().numpy() for s, v in probe_scores(model, out, generator).items()}
        rho = float(spearmanr(scores["phi"], scores["s_p"]).statistic)
        rows += [{"target": name, "k": k, "seed": seed, "category": cat, "score": s,
                  "auroc": image_metrics(labels, v)["auroc"], "phi_sp_spearman": rho}
                 for s, v in scores.items()]
    return rows


def fusion_summary(rows) -> pd.DataFrame:
    """Mean AUROC per (target, score) over categories, K, draws and head seeds; phi-s_p correlation.

    Args:
        rows: :func:`fusion_rows` rows, with a ``head_seed`` column.

    Returns:
        Rows (target, K) with one column per score of :data:`SCORES` and ``spearman(phi, s_p)``;
        a K of ``"mean"`` holds the mean over K.
    """
    rows = pd.DataFrame(rows)
    auroc = rows.pivot_table(index=["target", "k"], columns="score", values="auroc", aggfunc="mean",
                             sort=False)[list(SCORES)]
    auroc["spearman(phi, s_p)"] = rows.groupby(["target", "k"], sort=False)["phi_sp_spearman"].mean()
    parts = []
    for target, by_k in auroc.groupby(level="target", sort=False):  # targets in the rows' order
        by_k = by_k.droplevel("target")
        by_k.index = by_k.index.astype(str)
        by_k.loc["mean"] = by_k.mean()
        parts.append(pd.concat({target: by_k}, names=["target", "k"]))
    return pd.concat(parts)


def reads_level(summary: pd.DataFrame) -> bool:
    """Whether phi reads only its map's level: on every target, both probes within
    :data:`LEVEL_TOLERANCE` of phi's own AUROC (mean over K).

    Args:
        summary: :func:`fusion_summary`.
    """
    means = summary.xs("mean", level="k")
    return bool(all((means[p] - means["phi"]).abs().max() <= LEVEL_TOLERANCE for p in PROBES))


def main(argv=None) -> None:
    """``python -m inctrl.book.fusion --data DIR --out DIR [--record FILE] [--targets ...]``."""
    from ..pretrain import file_sha256
    from .analyses import versions
    from .offline_experiment import prepare_aux, prepare_offline_data
    from .pretrain_checks import HEAD_SEEDS, prepare_world_validation, trained_heads

    parser = argparse.ArgumentParser(prog="python -m inctrl.book.fusion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="the data folder")
    parser.add_argument("--out", default="outputs/fusion", help="results folder (heads' runs, feature cache)")
    parser.add_argument("--weights", default=str(MINI_WEIGHTS_FILE), help="the mini backbone's weights")
    parser.add_argument("--targets", nargs="+", choices=("validation", "elpv"),
                        default=["validation", "elpv"], help="where to read phi (default: both)")
    parser.add_argument("--record", help="write the rows, the command and the versions to this JSON file")
    args = parser.parse_args(argv)
    shots, seeds, out = (2, 4, 8), (0, 1, 2), Path(args.out)
    roots = {"validation": lambda: prepare_world_validation(args.data),
             "elpv": lambda: prepare_offline_data(Path(args.data))[0]}
    targets = {t: roots[t]() for t in args.targets}
    rows = []
    for head_seed, models in trained_heads(args.weights, args.data, out, shots, HEAD_SEEDS,
                                           aux_root=prepare_aux(args.data, "world")):
        for target, root in targets.items():
            rows += [r | {"head_seed": head_seed}
                     for r in fusion_rows(models, root, target, shots, seeds, out / "feature-cache")]
        print(f"head seed {head_seed} done", flush=True)
    print(fusion_summary(rows).to_string(float_format="{:.3f}".format))
    if args.record:
        given = argv if argv is not None else sys.argv[1:]
        atomic.write_json(args.record, {"command": "python -m inctrl.book.fusion " + shlex.join(given),
                                        "versions": versions(), "weights_sha256": file_sha256(args.weights),
                                        "rows": rows})


if __name__ == "__main__":
    main()
