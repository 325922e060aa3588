"""Chapter 9's last study: InCTRL's heads trained on the world instead of the synthetic set.

The heads (the adapter psi, eta and the holistic head phi) learn what a residual looks like
from an auxiliary set. The book's is six synthetic categories (:mod:`inctrl.data.synthetic`).
Here the auxiliary set is drawn from the world instead (:func:`prepare_world_aux`): one product
of every pretraining family that in-world validation does not use, with clear defects (strength
1.0) and exact masks. The study keeps the protocol of the recipe study:

1. in-world validation (:func:`~inctrl.book.pretrain_checks.validation_table`, three head
   seeds) on the validation families, which this auxiliary set leaves out;
2. one look at the held-out targets (the book's offline experiment,
   :func:`~inctrl.book.offline_experiment.run_offline_elpv`, with this auxiliary set).

Neither ELPV nor the held-out families are drawn from. Run
``python -m inctrl.book.heads_study --data data --out runs/heads_study --record
inctrl/book/results/heads_world.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .. import atomic
from ..backbone import MINI_WEIGHTS_FILE
from ..data.world import make_world_dataset
from ..pretrain_config import FAMILY_OUT

#: The seed of the world-drawn auxiliary set's products and photos (the validation set uses 1234).
WORLD_AUX_SEED = 77
#: The stored record of the study (``python -m inctrl.book.heads_study --record``).
HEADS_RECORD = Path(__file__).resolve().parent / "results" / "heads_world.json"


def prepare_world_aux(data_dir, progress: bool = False) -> Path:
    """``data_dir/world_aux``, made on first use.

    Args:
        data_dir: the data folder.
        progress: show a progress bar while making it.

    Returns:
        The dataset root: one category per family of
        :data:`~inctrl.pretrain_config.FAMILY_OUT` (the pretraining families less the
        validation ones), 40 normal and 20 clearly defective (strength 1.0) photos each, as many
        per category as the synthetic auxiliary set.
    """
    root = Path(data_dir) / "world_aux"
    if not root.exists():
        make_world_dataset(root, families=FAMILY_OUT, n_normal=40, n_anomalous=20, seed=WORLD_AUX_SEED,
                           strength=1.0, show_progress=progress)
    return root


def main(argv=None) -> None:
    """``python -m inctrl.book.heads_study --data DIR --out DIR [--record FILE] [--weights FILE]``."""
    from ..pretrain import file_sha256
    from .analyses import versions
    from .offline_experiment import run_offline_elpv
    from .pretrain_checks import HEAD_SEEDS, validation_table

    parser = argparse.ArgumentParser(prog="python -m inctrl.book.heads_study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="the data folder")
    parser.add_argument("--out", default="outputs/heads_study", help="results folder")
    parser.add_argument("--weights", default=str(MINI_WEIGHTS_FILE), help="the mini backbone's weights")
    parser.add_argument("--record", help="write the tables, the command and the versions to this JSON file")
    args = parser.parse_args(argv)
    out, aux = Path(args.out), prepare_world_aux(args.data, progress=True)
    validation = validation_table(args.weights, args.data, out / "validation", train_seeds=HEAD_SEEDS,
                                  aux_root=aux)
    print(f"in-world validation, heads trained on {aux}:\n{validation.to_string(index=False)}")
    look = run_offline_elpv(args.data, out / "look", shots=(2, 4, 8), seeds=(0, 1, 2), profile="mini",
                            device="cpu", weights=args.weights, aux_root=aux)
    print(f"ELPV:\n{look.table.to_string(index=False)}")
    print(f"held-out world:\n{look.world_table.to_string(index=False)}")
    if args.record:
        given = argv if argv is not None else sys.argv[1:]
        atomic.write_json(args.record, {
            "command": "python -m inctrl.book.heads_study " + shlex.join(given),
            "versions": versions(), "weights_sha256": file_sha256(args.weights),
            "aux": {"families": list(FAMILY_OUT), "seed": WORLD_AUX_SEED, "normal": 40, "anomalous": 20,
                    "strength": 1.0},
            "validation": validation.to_dict(orient="records"),
            "ELPV": look.table.to_dict(orient="records"),
            "held-out world": look.world_table.to_dict(orient="records")})


if __name__ == "__main__":
    main()
