"""The argument parser of the ``inctrl`` command line (:mod:`inctrl.cli` runs the commands).

Each command's ``--help`` ends with examples (the ``*_EPILOG`` texts below).
"""

from __future__ import annotations

import argparse

PREPARE_EPILOG = """examples:
  inctrl prepare elpv --out data/elpv                      # from the elpv-dataset package
  inctrl prepare world-aux --out data/world_aux              # the offline auxiliary set
  inctrl prepare synthetic --out data/synthetic --seed 0
  inctrl prepare mvtec --raw ~/downloads/mvtec_anomaly_detection --out data/mvtec
  inctrl prepare visa --raw ~/downloads/VisA --out data/visa

--overwrite replaces a folder that inctrl prepared, never one holding other files (nor the
working directory, a folder above it, the home folder, or the folder a symlink points to).
--seed, --n-normal, --n-anomalous and --size apply to synthetic only.
"""
TRAIN_EPILOG = """examples:
  inctrl train --aux data/world_aux --out runs/k2 --shots 2
  inctrl train --aux data/mvtec --out runs/paper_k4 --shots 4 --profile paper --amp
  inctrl train --aux data/mvtec --out runs/paper_k4 --shots 4 --profile paper \\
               --weights ~/clip/open_clip_pytorch_model.bin     # local CLIP weights, no download
  inctrl train --aux data/synthetic --out runs/smoke --profile paper --random-weights
  inctrl train --aux data/synthetic --out runs/k2 --shots 2 --epochs 12 --resume
"""
EVAL_EPILOG = """examples:
  inctrl eval --checkpoint runs/k2/last.pt --data data/elpv --shots 2 --out results/elpv
  inctrl eval --checkpoint runs/k2/last.pt runs/k4/last.pt runs/k8/last.pt \\
              --data data/elpv --shots 2 4 8 --seeds 0 1 2 --out results/elpv
  inctrl eval --profile paper --weights ~/clip/open_clip_pytorch_model.bin \\
              --data data/elpv --shots 2 --out results/elpv_untrained
  inctrl eval --checkpoint runs/k2/last.pt --data data/elpv --shots 2 --out results/elpv_named \\
              --object-name "solar cell"     # the text prior reads "solar cell", not "elpv"

The text prior reads each category's own name (folder name, "_" read as a space) unless
--object-name gives one; eval.json and the CSV rows record the name used. An --out that
already holds results is refused unless --overwrite is given.
"""
DETECT_EPILOG = """examples:
  inctrl detect --checkpoint runs/k4/last.pt --normal good/ --query new/ --name screw \\
                --out results.csv --heatmaps heatmaps/
  inctrl detect --checkpoint runs/k4/last.pt --normal good/ --query new/ --name screw \\
                --shots 4 --threshold auto --out results.csv

--threshold auto: K prompts are drawn from the normal images (--shots, --seed) and the
threshold is the --percentile (default 99th) percentile of the scores of the remaining
(held-out) normal images. A query is anomalous iff score >= threshold.

--name (or --object-name) is the object the text prior reads; the CSV records it. An existing
--out (or heatmap) is refused unless --overwrite is given, which replaces a symlink itself,
never the file it points to.
"""


def _add_weights_options(parser: argparse.ArgumentParser) -> None:
    """--weights / --random-weights: where the backbone weights of --profile paper/mini come from."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--weights", metavar="PATH",
                       help="local open_clip weights file for --profile paper (or mini), or the local "
                       "copy of the weights a --checkpoint was trained on (no download)")
    group.add_argument("--random-weights", action="store_true",
                       help="--profile paper or mini with random backbone weights (no download; "
                       "numbers are not the paper's)")


def build_parser() -> argparse.ArgumentParser:
    """The ``inctrl`` parser: the commands prepare, train, eval and detect.

    Returns:
        The parser; its ``command`` is the chosen command's name.
    """
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="inctrl", description=
                                     "InCTRL generalist anomaly detection (Zhu & Pang, CVPR 2024).",
                                     formatter_class=fmt,
                                     epilog="run 'inctrl <command> --help' for examples")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="convert a dataset to the canonical layout",
                       epilog=PREPARE_EPILOG, formatter_class=fmt)
    p.add_argument("dataset", help="elpv, world-aux, synthetic, mvtec, visa, aitex, sdd, brainmri, "
                   "headct, mnist or cifar10")
    p.add_argument("--out", required=True, help="output folder (created; must be new or empty)")
    p.add_argument("--raw", help="raw download folder (optional for elpv and digits; world-aux and synthetic "
                   "take none)")
    p.add_argument("--seed", type=int, help="synthetic only: generator seed (default 0)")
    p.add_argument("--n-normal", type=int, help="synthetic only: normal images per category (default 80)")
    p.add_argument("--n-anomalous", type=int, help="synthetic only: anomalies per category (default 40)")
    p.add_argument("--size", type=int, help="synthetic only: image side in pixels (default 240)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an --out that inctrl prepared before (never a folder holding other files)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("train", help="train InCTRL on auxiliary dataset(s)", epilog=TRAIN_EPILOG,
                       formatter_class=fmt)
    p.add_argument("--aux", nargs="+", required=True, help="canonical auxiliary dataset root(s)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, loss log, summary")
    p.add_argument("--shots", type=int, default=2, help="K prompts per query (default 2)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps", type=int, default=100, help="steps per epoch (default 100)")
    p.add_argument("--seed", type=int, default=10, help="seed (official code: 10)")
    p.add_argument("--profile", default="mini", choices=["mini", "tiny", "paper"],
                   help="backbone (default mini: the shipped offline backbone)")
    _add_weights_options(p)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on a GPU")
    p.add_argument("--exclude-query", action="store_true", help="never use a query as its own prompt")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from OUT/last_state.pt")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the run in a non-empty --out (its checkpoints, state, log, summary)")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("eval", help="benchmark a model on a canonical dataset", epilog=EVAL_EPILOG,
                       formatter_class=fmt)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", nargs="+", help="one checkpoint, or one per --shots value")
    src.add_argument("--profile", choices=["mini", "tiny", "paper"], help="untrained heads (sanity check)")
    _add_weights_options(p)
    p.add_argument("--data", required=True, help="canonical dataset root")
    p.add_argument("--name", help="dataset name (default: folder name)")
    p.add_argument("--object-name", metavar="NAME", help="the object name the text prior reads for every "
                   "category, e.g. 'solar cell' (default: each category's own name)")
    p.add_argument("--shots", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="prompt-draw seeds")
    p.add_argument("--out", required=True, help="results folder")
    p.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-pixel", action="store_true", help="skip pixel AUROC")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("detect", help="score your own images against normal examples",
                       epilog=DETECT_EPILOG, formatter_class=fmt)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint")
    src.add_argument("--profile", choices=["mini", "tiny", "paper"], help="untrained heads")
    _add_weights_options(p)
    p.add_argument("--normal", nargs="+", required=True, help="normal images or folders")
    p.add_argument("--query", nargs="+", required=True, help="images or folders to score")
    p.add_argument("--name", "--object-name", dest="name", required=True,
                   help="object / category name the text prior reads, e.g. 'metal_nut' or 'solar cell'")
    p.add_argument("--out", required=True, help="CSV of scores")
    p.add_argument("--heatmaps", help="folder for PNG heatmap overlays")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out or heatmap files "
                   "(a symlink is replaced itself, its target left alone)")
    p.add_argument("--threshold", help="a number, or 'auto' (from held-out normal images)")
    p.add_argument("--percentile", type=float, default=99.0, help="for --threshold auto")
    p.add_argument("--shots", type=int, help="K prompts drawn from --normal (default: all, or "
                   "half of them up to 8 with --threshold auto)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompt draw")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")
    for command in sub.choices.values():  # also after the command; SUPPRESS keeps the global value
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error")
    return parser
