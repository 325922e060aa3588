"""Chapter 9's last study: InCTRL's heads trained on the world instead of the synthetic set.

The heads (the adapter psi, eta and the holistic head phi) learn what a residual looks like
from an auxiliary set. The book's first one was six synthetic categories
(:mod:`inctrl.data.synthetic`). This study drew one from the world instead
(:func:`~inctrl.data.world.make_world_aux`: one product of every pretraining family that
in-world validation does not use, with clear defects and exact masks), with the protocol of
the recipe study:

1. in-world validation (:func:`~inctrl.book.pretrain_checks.validation_table`, three head
   seeds) on the validation families, which this auxiliary set leaves out;
2. one look at the held-out targets (the book's offline experiment,
   :func:`~inctrl.book.offline_experiment.run_offline_elpv`, with this auxiliary set), once per
   head seed, so that the heads' own spread on ELPV is measured, beside the same run with the
   synthetic set (``synthetic_look``: the heads every stored backbone study used).

Validation chose the world-drawn set, and the book trains on it since. Neither ELPV nor the
held-out families are drawn from. Run ``python -m inctrl.book.heads_study --data data --out
runs/heads_study --weights inctrl/weights/inctrl-mini-vit-world.pt --record
inctrl/book/results/heads_world.json`` (v1).

The same study on the backbone the recipe study chose (``--weights
inctrl/weights/inctrl-mini-v2.pt --no-synthetic-look``, record ``heads_world_v2.json``) made the
choice between the two backbones again with these heads: it chose v2, the shipped default.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from .. import atomic
from ..backbone import MINI_WEIGHTS_FILE
from ..data.world import WORLD_AUX

#: The stored record of the study (``python -m inctrl.book.heads_study --record``).
HEADS_RECORD = Path(__file__).resolve().parent / "results" / "heads_world.json"
#: The study on the backbone the recipe study chose, mini v2 (``--no-synthetic-look``).
HEADS_V2_RECORD = HEADS_RECORD.with_name("heads_world_v2.json")


def head_seed_spread(rows) -> pd.DataFrame:
    """The heads' spread of a record's ``head_seeds`` rows.

    Args:
        rows: records with ``k``, ``score``, ``head_seed`` and ``auroc`` (the mean over draws).

    Returns:
        One row per K and score: ``auroc`` (the mean over head seeds) and ``spread`` (their
        standard deviation, ddof 0, as the recipe study's ``full spread (heads)``).
    """
    frame = pd.DataFrame(rows).groupby(["k", "score"], sort=False)["auroc"]
    return pd.DataFrame({"auroc": frame.mean(), "spread": frame.std(ddof=0)}).reset_index()


def main(argv=None) -> None:
    """``python -m inctrl.book.heads_study --data DIR --out DIR [--record FILE] [--weights FILE]``."""
    from ..pretrain import file_sha256
    from .analyses import versions
    from .offline_experiment import prepare_aux, run_offline_elpv
    from .pretrain_checks import HEAD_SEEDS, validation_table

    parser = argparse.ArgumentParser(prog="python -m inctrl.book.heads_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="the data folder")
    parser.add_argument("--out", default="outputs/heads_study", help="results folder")
    parser.add_argument("--weights", default=str(MINI_WEIGHTS_FILE), help="the mini backbone's weights")
    parser.add_argument("--record", help="write the tables, the command and the versions to this JSON file")
    parser.add_argument("--no-synthetic-look", action="store_true",
                        help="skip the run with the synthetic set (only the first study needed it)")
    args = parser.parse_args(argv)
    out, aux = Path(args.out), prepare_aux(args.data, "world", progress=True)
    validation = validation_table(args.weights, args.data, out / "validation", train_seeds=HEAD_SEEDS,
                                  aux_root=aux)
    print(f"in-world validation, heads trained on {aux}:\n{validation.to_string(index=False)}")
    looks = {seed: run_offline_elpv(args.data, out / ("look" if seed == HEAD_SEEDS[0] else f"look_s{seed}"),
                                    shots=(2, 4, 8), seeds=(0, 1, 2), profile="mini", device="cpu",
                                    weights=args.weights, aux=aux, train_seed=seed)
             for seed in HEAD_SEEDS}
    look = looks[HEAD_SEEDS[0]]
    # the same run with the book's first auxiliary set: what every stored backbone study used
    synthetic = None if args.no_synthetic_look else run_offline_elpv(
        args.data, out / "look_synthetic", shots=(2, 4, 8), seeds=(0, 1, 2), profile="mini", device="cpu",
        weights=args.weights, aux="synthetic", train_seed=HEAD_SEEDS[0])
    print(f"ELPV:\n{look.table.to_string(index=False)}")
    print(f"held-out world:\n{look.world_table.to_string(index=False)}")
    per_seed = {target: [{**row, "head_seed": seed} for seed, result in looks.items()
                         for row in getattr(result, table).to_dict(orient="records")]
                for target, table in (("ELPV", "table"), ("held-out world", "world_table"))}
    print(f"ELPV over head seeds {HEAD_SEEDS}:\n{head_seed_spread(per_seed['ELPV']).to_string(index=False)}")
    if args.record:
        given = argv if argv is not None else sys.argv[1:]
        atomic.write_json(args.record, {
            "command": "python -m inctrl.book.heads_study " + shlex.join(given),
            "versions": versions(), "weights_sha256": file_sha256(args.weights),
            "aux": {**WORLD_AUX, "families": list(WORLD_AUX["families"])},
            "validation": validation.to_dict(orient="records"),
            "ELPV": look.table.to_dict(orient="records"),
            "held-out world": look.world_table.to_dict(orient="records"),
            "head_seeds": per_seed,
            **({} if synthetic is None else {"synthetic_look": {
                "ELPV": synthetic.table.to_dict(orient="records"),
                "held-out world": synthetic.world_table.to_dict(orient="records")}})})


if __name__ == "__main__":
    main()
