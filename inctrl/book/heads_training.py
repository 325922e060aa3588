"""Chapter 9: five other ways to train InCTRL's heads, judged on in-world validation.

On mini v2 the full score stays at or below s_p, on validation as on the targets, and the heads'
seeds spread on ELPV. Each arm changes one thing in how the heads train and is scored like the
book's heads (:func:`~inctrl.book.pretrain_checks.validation_table`: three head seeds, K = 2, 4, 8,
three prompt draws, the validation families):

* ``no image loss``: the loss is FL(s(x), y) alone, so s_i learns only through the final score;
* ``faint auxiliary defects``: the world-drawn auxiliary set with defects at strength 0.5, as
  faint as validation's, instead of 1.0;
* ``5 epochs``: half the training, a stand-in for stopping early;
* ``query never its own prompt``: the official sampling lets a normal query be one of its own
  prompts (about K/40 of the time here), a zero residual no target ever shows;
* ``probability focal loss``: the focal loss on probabilities instead of the official form.

The rule was fixed before any arm ran (:func:`adopted`): an arm replaces the book's training only
if its mean full score beats the book's by more than the spread over prompt draws. The held-out
targets are not looked at. No arm passed (record :data:`HEADS_TRAINING_RECORD`): the book and
the package keep the paper's training. Run ``python -m inctrl.book.heads_training --data data --out
outputs/heads_training --record inctrl/book/results/heads_training_v2.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from .. import atomic
from ..backbone import MINI_WEIGHTS_FILE
from ..data.world import WORLD_AUX, make_world_dataset

#: The stored record of the study on mini v2.
HEADS_TRAINING_RECORD = Path(__file__).resolve().parent / "results" / "heads_training_v2.json"
BOOK = "the book's"
#: Arm -> (what it passes to :func:`inctrl.train.train`, its auxiliary set: "world" or "faint").
ARMS = {
    BOOK: ({}, "world"),
    "no image loss": ({"image_loss_weight": 0.0}, "world"),
    "faint auxiliary defects": ({}, "faint"),
    "5 epochs": ({"epochs": 5}, "world"),
    "query never its own prompt": ({"exclude_query": True}, "world"),
    "probability focal loss": ({"loss_form": "probability"}, "world"),
}
#: The faint auxiliary set: the book's, with defects as faint as in-world validation's.
FAINT_AUX = {**WORLD_AUX, "strength": 0.5}


def prepare_faint_aux(data_dir) -> Path:
    """``data_dir/world_aux_faint`` (:data:`FAINT_AUX`), made on first use."""
    root = Path(data_dir) / "world_aux_faint"
    if not root.exists():
        make_world_dataset(root, **FAINT_AUX, show_progress=False)
    return root


def arm_summary(arms) -> pd.DataFrame:
    """One row per arm: mean AUROC per score, the heads' spread and the draws' spread.

    Args:
        arms: arm name -> rows of :func:`~inctrl.book.pretrain_checks.validation_table`.

    Returns:
        Columns ``full``, ``s_p``, ``s_i`` (mean over K, draws and head seeds), ``heads spread``
        (std over head seeds of the full score, ddof 0, mean over K) and ``draws spread`` (the
        full score's std over prompt draws, mean over K and seeds), indexed by arm.
    """
    rows = {}
    for name, table in arms.items():
        table = pd.DataFrame(table)
        full = table[table["score"] == "full"]
        means = table.groupby("score")["auroc"].mean()
        rows[name] = {"full": means["full"], "s_p": means["s_p"], "s_i": means["s_i"],
                      "heads spread": full.groupby("k")["auroc"].std(ddof=0).mean(),
                      "draws spread": full["auroc_std"].mean()}
    return pd.DataFrame(rows).T


def adopted(summary: pd.DataFrame) -> str | None:
    """The rule: the best arm whose full score beats the book's by more than the draws' spread.

    Args:
        summary: :func:`arm_summary`, with the row :data:`BOOK`.

    Returns:
        That arm's name, or None: the book's training stays.
    """
    bar = summary.loc[BOOK, "full"] + summary.loc[BOOK, "draws spread"]
    others = summary.drop(index=BOOK)
    better = others[others["full"] > bar]
    return None if better.empty else str(better["full"].idxmax())


def main(argv=None) -> None:
    """``python -m inctrl.book.heads_training --data DIR --out DIR [--record FILE] [--arms ...]``."""
    from ..pretrain import file_sha256
    from .analyses import versions
    from .offline_experiment import prepare_aux
    from .pretrain_checks import HEAD_SEEDS, validation_table

    parser = argparse.ArgumentParser(prog="python -m inctrl.book.heads_training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="the data folder")
    parser.add_argument("--out", default="outputs/heads_training", help="results folder")
    parser.add_argument("--weights", default=str(MINI_WEIGHTS_FILE), help="the mini backbone's weights")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS), metavar="ARM",
                        help=f"the arms to run (default: all of {', '.join(ARMS)})")
    parser.add_argument("--record", help="write the tables, the command and the versions to this JSON file")
    args = parser.parse_args(argv)
    aux = {"world": prepare_aux(args.data, "world"), "faint": None}
    tables = {}
    for name in args.arms:
        options, which = ARMS[name]
        if aux[which] is None:
            aux[which] = prepare_faint_aux(args.data)
        folder = Path(args.out) / name.replace(" ", "_").replace("'", "")
        tables[name] = validation_table(args.weights, args.data, folder, train_seeds=HEAD_SEEDS,
                                        train_options=options, aux_root=aux[which]).to_dict(orient="records")
        print(f"{name}: mean full {arm_summary({name: tables[name]}).loc[name, 'full']:.4f}", flush=True)
    summary = arm_summary(tables)
    print(summary.to_string(float_format="{:.4f}".format))
    if BOOK in tables:
        print(f"the rule adopts: {adopted(summary) or 'nothing (the book keeps its training)'}")
    if args.record:
        given = argv if argv is not None else sys.argv[1:]
        atomic.write_json(args.record, {
            "command": "python -m inctrl.book.heads_training " + shlex.join(given),
            "versions": versions(), "weights_sha256": file_sha256(args.weights),
            "arms": {name: {"options": ARMS[name][0], "aux": ARMS[name][1], "validation": tables[name]}
                     for name in tables}})


if __name__ == "__main__":
    main()
