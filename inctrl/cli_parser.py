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
"""
TRAIN_EPILOG = """examples:
  inctrl train --aux data/world_aux --out runs/k2 --shots 2
  inctrl train --aux data/mvtec --out runs/paper_k4 --shots 4 --profile paper --amp
  inctrl train --aux data/mvtec --out runs/paper_k4 --shots 4 --profile paper \\
               --weights ~/clip/open_clip_pytorch_model.bin     # local CLIP weights, no download
  inctrl train --aux data/synthetic --out runs/smoke --profile paper --random-weights
  inctrl train --aux data/synthetic --out runs/k2 --shots 2 --epochs 12 --resume
"""
PRETRAIN_EPILOG = """examples:
  inctrl pretrain --out runs/mini                     # the recipe of v1, the first mini weights
  inctrl pretrain --out runs/mini --resume            # continue after an interruption
  inctrl pretrain --out runs/mini --device cuda --workers 12 --export mini.pt  # 12 batch processes
  inctrl pretrain --out runs/clip-only --objectives clip --steps 500 --high-res-steps 0
  inctrl pretrain --recipe v2 --out runs/mini_v2 --threads 2 --quiet   # all of the v2 recipe
  inctrl pretrain --recipe v2-image --steps 400 --high-res-steps 40 --lr 2.5e-4 --frozen-blocks 5 \\
      --leave-out knitted_fabric brushed_metal marble carpet screw capsule --out runs/v2 --export v2.pt
                                                      # the shipped mini weights, v2 (from v1)

--export writes the fp16 CLIP weights; use them with inctrl.load("mini", weights="mini.pt")
or --profile mini --weights mini.pt. An existing --export file is refused before training
starts unless --overwrite is given.
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
    """The ``inctrl`` parser: the commands prepare, train, pretrain, eval and detect.

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
    p.add_argument("--out", required=True, help="output folder (created; must be empty)")
    p.add_argument("--raw", help="raw download folder (not needed for elpv, digits, world-aux and synthetic)")
    p.add_argument("--seed", type=int, default=0, help="synthetic: generator seed")
    p.add_argument("--n-normal", type=int, default=80, help="synthetic: normal images per category")
    p.add_argument("--n-anomalous", type=int, default=40, help="synthetic: anomalies per category")
    p.add_argument("--size", type=int, default=240, help="synthetic: image side in pixels")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
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

    p = sub.add_parser("pretrain", help="pretrain the mini CLIP backbone on the procedural world",
                       epilog=PRETRAIN_EPILOG, formatter_class=fmt)
    p.add_argument("--out", required=True, help="run folder: last.pt (resumable), log.csv")
    p.add_argument("--recipe", choices=["v1", "v2", "v2-image", "v2-texture"], default="v1",
                   help="named recipe (default v1, the first weights; the shipped v2 is v2-image with "
                        "the options of inctrl/weights/inctrl-mini-v2.json); the options below override it")
    p.add_argument("--steps", type=int, help="all steps (v1: 2600)")
    p.add_argument("--until", type=int, help="stop after this many steps of the --steps schedule")
    p.add_argument("--high-res-steps", type=int, help="last steps at 240 px (v1: 300)")
    p.add_argument("--objectives", nargs="+", choices=["clip", "patch", "image", "pixel"],
                   help="v1: clip patch")
    p.add_argument("--low-res", type=int, help="image side of the low-resolution steps (v1: 128)")
    p.add_argument("--groups", type=int, help="(prompts, query) groups per low-resolution batch (v1: 32)")
    p.add_argument("--lr", type=float, help="peak learning rate (v1: 5e-4, v2: 2.5e-4)")
    p.add_argument("--leave-out", nargs="+", metavar="FAMILY",
                   help="pretraining families this run never draws (e.g. the validation families, "
                        "so that in-world validation sees families new to the run)")
    p.add_argument("--frozen-blocks", type=int,
                   help="keep the image tower's first N blocks (and its embeddings) as they are (default 0)")
    p.add_argument("--from-scratch", action="store_true",
                   help="start from random weights (the v2 recipes continue from the v1 weights)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes that make batches ahead of the steps (default 0: none); the run is "
                        "the same for any number")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--export", metavar="PATH", help="write the fp16 CLIP weights here at the end")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --export file (a symlink there is replaced itself)")
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
