"""Command line: ``inctrl`` / ``python -m inctrl`` with prepare, pretrain, train, eval and detect.

Every failure the user can cause (bad argument, missing folder, corrupt image, K larger
than the images available, unreadable checkpoint, unusable output path) ends with one line
``inctrl: error: ...`` on stderr naming the file or option and the fix, and exit status 1
(2 for a malformed command line, 130 for Ctrl-C); ``--debug`` shows the traceback instead.
Options and paths are checked before any work starts. Outputs are written atomically
(:mod:`inctrl.atomic`: a symlink is written through, a folder or FIFO is refused, new files
get the user's umask), and never inside the input folders.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
from pathlib import Path

EXIT_ERROR = 1  # runtime errors; argparse uses 2 for malformed command lines
EXIT_INTERRUPTED = 130

PREPARE_EPILOG = """examples:
  inctrl prepare elpv --out data/elpv                      # from the elpv-dataset package
  inctrl prepare synthetic --out data/synthetic --seed 0
  inctrl prepare mvtec --raw ~/downloads/mvtec_anomaly_detection --out data/mvtec
  inctrl prepare visa --raw ~/downloads/VisA --out data/visa
"""
TRAIN_EPILOG = """examples:
  inctrl train --aux data/synthetic --out runs/k2 --shots 2
  inctrl train --aux data/mvtec --out runs/paper_k4 --shots 4 --profile paper --amp
  inctrl train --aux data/mvtec --out runs/paper_k4 --shots 4 --profile paper \\
               --weights ~/clip/open_clip_pytorch_model.bin     # local CLIP weights, no download
  inctrl train --aux data/synthetic --out runs/smoke --profile paper --random-weights
  inctrl train --aux data/synthetic --out runs/k2 --shots 2 --epochs 12 --resume
"""
PRETRAIN_EPILOG = """examples:
  inctrl pretrain --out runs/mini                     # the recipe of the shipped mini weights
  inctrl pretrain --out runs/mini --resume            # continue after an interruption
  inctrl pretrain --out runs/mini --device cuda --export mini.pt
  inctrl pretrain --out runs/clip-only --objectives clip --steps 500 --high-res-steps 0

--export writes the fp16 CLIP weights; use them with inctrl.load("mini", weights="mini.pt")
or --profile mini --weights mini.pt.
"""
EVAL_EPILOG = """examples:
  inctrl eval --checkpoint runs/k2/last.pt --data data/elpv --shots 2 --out results/elpv
  inctrl eval --checkpoint runs/k2/last.pt runs/k4/last.pt runs/k8/last.pt \\
              --data data/elpv --shots 2 4 8 --seeds 0 1 2 --out results/elpv
  inctrl eval --profile paper --weights ~/clip/open_clip_pytorch_model.bin \\
              --data data/elpv --shots 2 --out results/elpv_untrained
"""
DETECT_EPILOG = """examples:
  inctrl detect --checkpoint runs/k4/last.pt --normal good/ --query new/ --name screw \\
                --out results.csv --heatmaps heatmaps/
  inctrl detect --checkpoint runs/k4/last.pt --normal good/ --query new/ --name screw \\
                --shots 4 --threshold auto --out results.csv

--threshold auto: K prompts are drawn from the normal images (--shots, --seed) and the
threshold is the --percentile (default 99th) percentile of the scores of the remaining
(held-out) normal images. A query is anomalous iff score >= threshold.
"""


class CLIError(Exception):
    """A user error detected by the command line itself."""


def _error_types() -> tuple[type[BaseException], ...]:
    from .backbone import WeightsUnavailableError
    from .checkpoint import CheckpointError
    from .data.images import ImageLoadError

    # OSError: missing, unreadable or unwritable files, a full disk ...
    return (CLIError, ValueError, OSError, CheckpointError, ImageLoadError, WeightsUnavailableError,
            ImportError, KeyError)


def _message(error: BaseException) -> str:
    """One line: the error's own words (an OSError's with its file name)."""
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    elif isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _add_weights_options(parser: argparse.ArgumentParser) -> None:
    """--weights / --random-weights: where the backbone weights of --profile paper/mini come from."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--weights", metavar="PATH",
                       help="local open_clip weights file for --profile paper (or mini), or the local "
                       "copy of the weights a --checkpoint was trained on (no download)")
    group.add_argument("--random-weights", action="store_true",
                       help="--profile paper or mini with random backbone weights (no download; "
                       "numbers are not the paper's)")


def _weights_kwargs(args) -> dict:
    """``pretrained`` / ``weights`` for inctrl.load and train, checked against --profile."""
    weights = getattr(args, "weights", None)
    random_weights = getattr(args, "random_weights", False)
    if not weights and not random_weights:
        return {"pretrained": True, "weights": None}
    option = "--weights" if weights else "--random-weights"
    if not getattr(args, "profile", None):
        if random_weights:
            raise CLIError("--random-weights applies to --profile paper, not to --checkpoint (a "
                           "checkpoint rebuilds its own backbone)")
    elif args.profile not in ("paper", "mini"):
        raise CLIError(f"{option} applies to --profile paper or mini only (the {args.profile} profile has "
                       "fixed random weights)")
    if weights and not Path(weights).expanduser().is_file():
        raise CLIError(f"--weights: no such file: {weights}")
    return {"pretrained": not random_weights,
            "weights": str(Path(weights).expanduser()) if weights else None}


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="inctrl", description=
                                     "InCTRL generalist anomaly detection (Zhu & Pang, CVPR 2024).",
                                     formatter_class=fmt,
                                     epilog="run 'inctrl <command> --help' for examples")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="convert a dataset to the canonical layout",
                       epilog=PREPARE_EPILOG, formatter_class=fmt)
    p.add_argument("dataset", help="elpv, synthetic, mvtec, visa, aitex, sdd, brainmri, headct, "
                   "mnist or cifar10")
    p.add_argument("--out", required=True, help="output folder (created; must be empty)")
    p.add_argument("--raw", help="raw download folder (not needed for elpv and synthetic)")
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
    p.add_argument("--steps", type=int, default=2600, help="all steps (default 2600)")
    p.add_argument("--high-res-steps", type=int, default=300, help="last steps at 240 px (default 300)")
    p.add_argument("--objectives", nargs="+", default=["clip", "patch"], choices=["clip", "patch"])
    p.add_argument("--low-res", type=int, default=128, help="image side of the low-resolution steps")
    p.add_argument("--groups", type=int, default=32, help="(prompt, query) pairs per low-resolution batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--export", metavar="PATH", help="write the fp16 CLIP weights here at the end")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("eval", help="benchmark a model on a canonical dataset", epilog=EVAL_EPILOG,
                       formatter_class=fmt)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", nargs="+", help="one checkpoint, or one per --shots value")
    src.add_argument("--profile", choices=["mini", "tiny", "paper"], help="untrained heads (sanity check)")
    _add_weights_options(p)
    p.add_argument("--data", required=True, help="canonical dataset root")
    p.add_argument("--name", help="dataset name (default: folder name)")
    p.add_argument("--shots", type=int, nargs="+", default=[2, 4, 8])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="prompt-draw seeds")
    p.add_argument("--out", required=True, help="results folder")
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
    p.add_argument("--name", required=True, help="object / category name, e.g. 'metal_nut'")
    p.add_argument("--out", required=True, help="CSV of scores")
    p.add_argument("--heatmaps", help="folder for PNG heatmap overlays")
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


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _refuse_inside(outputs, inputs) -> None:
    for out in outputs:
        for folder in inputs:
            folder = Path(folder)
            if not folder.exists():
                continue  # reported as missing by the command itself
            folder = folder if folder.is_dir() else folder.parent
            if out is not None and _inside(Path(out), folder):
                raise CLIError(f"refusing to write {out} inside the input folder {folder}")


def _expand(items) -> list[Path]:
    from .data.images import list_images

    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths.extend(list_images(path))
        elif path.is_file():
            paths.append(path)
        elif path.exists():  # a FIFO or a device: reading it would block or never end
            raise CLIError(f"{path} is neither an image file nor a folder")
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    return paths


# ---------------------------------------------------------------------------- checks
def _no_duplicates(paths: list[Path], option: str) -> None:
    """A normal image listed twice would count twice among the K prompts (or be held out
    and a prompt at once)."""
    seen = set()
    for path in paths:
        if path.resolve() in seen:
            raise CLIError(f"{option} lists {path} twice; give each image once")
        seen.add(path.resolve())


def _at_least_one(option: str, *values) -> None:
    for value in values:
        if value is not None and value < 1:
            raise CLIError(f"{option} must be at least 1, got {value}")


def _check_device(device: str) -> None:
    from .device import resolve_device

    try:
        resolve_device(device)
    except ValueError as error:
        raise CLIError(f"--device: {error}") from None


def _check_out_file(value: str, option: str) -> None:
    """An output file: a folder, a FIFO or a read-only file is refused, a symlink is written
    through to its target, and the folder it goes in must be creatable and writable."""
    from .atomic import output_target

    try:
        target = output_target(Path(value).expanduser())
    except (ValueError, PermissionError) as error:
        raise CLIError(f"{option} {error}") from None
    _check_writable(target.parent, option, value)


def _check_out_folder(value: str, option: str) -> None:
    """An output folder: it may exist (as a folder) or be created, and must be writable."""
    path = Path(value).expanduser()
    if path.is_symlink() and not path.exists():
        raise CLIError(f"{option} {value} is a broken symlink (to {os.readlink(path)}); create its "
                       "target or give another folder")
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {value} is a file, not a folder; give a folder path")
    _check_writable(path, option, value)


def _check_writable(folder: Path, option: str, value: str) -> None:
    """``folder``, or the first existing folder above it (the rest is created), takes new files."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CLIError(f"{option} {value}: {existing} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {value}: no permission to write in {existing}; choose another location")


def _check_checkpoints(paths) -> None:
    for path in paths or ():
        if not Path(path).expanduser().is_file():
            raise CLIError(f"--checkpoint {path}: no such file" if not Path(path).exists() else
                           f"--checkpoint {path} is not a checkpoint file")


def _threshold(value: str | None) -> float | None:
    """--threshold as a finite number (None for 'auto' or not given)."""
    if value is None or value == "auto":
        return None
    try:
        threshold = float(value)
    except ValueError:
        raise CLIError(f"--threshold must be a number or 'auto', got {value!r}") from None
    if not math.isfinite(threshold):  # NaN would flag nothing, inf everything or nothing
        raise CLIError(f"--threshold must be a finite number or 'auto', got {value!r}")
    return threshold


# ---------------------------------------------------------------------------- commands
def cmd_prepare(args) -> None:
    out = Path(args.out)
    _check_out_folder(args.out, "--out")
    if args.dataset == "synthetic":
        from .data.synthetic import make_synthetic_dataset

        make_synthetic_dataset(out, n_normal=args.n_normal, n_anomalous=args.n_anomalous, size=args.size,
                               seed=args.seed, overwrite=args.overwrite, show_progress=not args.quiet)
    else:
        from .data.converters import CONVERTERS

        if args.dataset not in CONVERTERS:
            raise CLIError(f"unknown dataset {args.dataset!r}; choose synthetic or one of "
                           f"{', '.join(sorted(CONVERTERS))}")
        if args.raw is None and args.dataset != "elpv":
            raise CLIError(f"prepare {args.dataset} needs --raw (the folder of the raw download)")
        if args.raw is not None:
            _refuse_inside([out], [args.raw])
        CONVERTERS[args.dataset](args.raw, out, overwrite=args.overwrite, show_progress=not args.quiet)
    print(f"prepared {args.dataset} in {out}")


def cmd_train(args) -> None:
    from .train import train

    _at_least_one("--shots", args.shots)
    _at_least_one("--epochs", args.epochs)
    _at_least_one("--steps", args.steps)
    _refuse_inside([args.out], args.aux)
    _check_out_folder(args.out, "--out")
    out = Path(args.out).expanduser()
    if out.is_dir() and not (args.resume or args.overwrite):
        names = sorted(p.name for p in out.iterdir())
        if names:
            held = ", ".join(names[:4]) + (" ..." if len(names) > 4 else "")
            raise CLIError(f"--out {args.out} is not empty ({held}); pass --resume to continue the run "
                           "in it, --overwrite to replace it, or choose a new folder")
    weights = _weights_kwargs(args)
    _check_device(args.device)
    result = train(args.aux, args.out, shots=args.shots, epochs=args.epochs, steps_per_epoch=args.steps,
                   exclude_query=args.exclude_query, profile=args.profile, device=args.device,
                   amp=args.amp, seed=args.seed, resume=args.resume, progress=not args.quiet,
                   overwrite=args.overwrite, **weights)
    last = result.history[-1]["loss"] if result.history else float("nan")
    print(f"trained K={args.shots}: last step loss {last:.4f}; checkpoint {result.checkpoint}; "
          f"loss log {result.log_csv}")


def cmd_pretrain(args) -> None:
    from .pretrain import PretrainConfig, export_weights, pretrain

    config = PretrainConfig(steps=args.steps, high_res_steps=args.high_res_steps, low_res=args.low_res,
                            groups=args.groups, objectives=tuple(args.objectives), seed=args.seed)
    last = pretrain(args.out, config, device=args.device, resume=args.resume, progress=not args.quiet,
                    threads=args.threads)
    print(f"pretrained {config.steps} steps: {last}; log {Path(args.out) / 'log.csv'}")
    if args.export:
        digest = export_weights(last, args.export)
        print(f"weights {args.export} (sha256 {digest})")


def cmd_eval(args) -> None:
    from . import load
    from .data.fewshot import PromptSet
    from .data.layout import CanonicalDataset
    from .evaluate import evaluate, require_test_images

    _at_least_one("--shots", *args.shots)
    if args.checkpoint and len(args.checkpoint) not in (1, len(args.shots)):
        raise CLIError(f"give one checkpoint, or one per --shots value ({len(args.shots)}), "
                       f"not {len(args.checkpoint)}")
    _check_checkpoints(args.checkpoint)
    _refuse_inside([args.out], [args.data])
    _check_out_folder(args.out, "--out")
    weights = _weights_kwargs(args)
    _check_device(args.device)
    dataset = CanonicalDataset(args.data, name=args.name)  # the data, before any model is built
    require_test_images(dataset)
    for category in dataset.categories:  # K out of range: draws are nested, the largest K decides
        try:
            PromptSet.draw(dataset, category, max(args.shots), args.seeds[0])
        except ValueError as error:
            raise CLIError(f"--shots {max(args.shots)}: {error}") from None
    if args.profile:
        models = load(args.profile, device=args.device, **weights)
    elif len(args.checkpoint) == 1:
        models = load(args.checkpoint[0], device=args.device, **weights)
    else:
        models = {k: load(c, device=args.device, **weights) for k, c in zip(args.shots, args.checkpoint)}
    result = evaluate(models, args.data, shots=args.shots, seeds=args.seeds, out_dir=args.out,
                      name=args.name, pixel=not args.no_pixel, progress=not args.quiet)
    print(result.markdown())
    print(f"results written to {args.out}")


def cmd_detect(args) -> None:
    import numpy as np

    from . import load
    from .threshold import apply_threshold, normal_threshold

    _refuse_inside([args.out, args.heatmaps], list(args.normal) + list(args.query))
    _check_out_file(args.out, "--out")
    if args.heatmaps:
        _check_out_folder(args.heatmaps, "--heatmaps")
    _check_checkpoints([args.checkpoint] if args.checkpoint else [])
    if not args.name.strip():
        raise CLIError("--name must be the object / category name, e.g. 'metal_nut'")
    weights = _weights_kwargs(args)
    auto = args.threshold == "auto"
    threshold = _threshold(args.threshold)
    if not 0 <= args.percentile <= 100:  # also refuses NaN
        raise CLIError(f"--percentile must be between 0 and 100, got {args.percentile}")
    _check_device(args.device)
    normals, queries = _expand(args.normal), _expand(args.query)
    if not normals:
        raise CLIError("--normal holds no image")
    if not queries:
        raise CLIError("--query holds no image")
    _no_duplicates(normals, "--normal")
    n = len(normals)
    k = args.shots if args.shots is not None else (max(1, min(8, n // 2)) if auto else n)
    if k < 1:
        raise CLIError(f"--shots must be at least 1, got {k}")
    if k > n or (auto and k >= n):
        need = "more than" if auto else "at least"
        raise CLIError(f"--shots {k} needs {need} {k} normal images (held-out ones for --threshold auto); "
                       f"--normal has {n}")
    order = np.random.default_rng(args.seed).permutation(n)
    prompts = [normals[i] for i in sorted(order[:k])]
    held_out = [normals[i] for i in sorted(order[k:])]

    model = load(args.checkpoint or args.profile, device=args.device, **weights)
    bank = model.prompt_bank(prompts, name=args.name)
    out = model.score(queries, bank, progress=not args.quiet).cpu()
    if auto:
        threshold = normal_threshold(model.score(held_out, bank).score.numpy(), args.percentile)
    scores = out.scores()
    broken = [str(path) for path, score in zip(queries, scores["score"]) if not math.isfinite(score)]
    if broken:  # NaN would be written as a score and compare as "normal" with any threshold
        raise CLIError(f"{len(broken)} of {len(queries)} scores are NaN or infinite (first: {broken[0]}); "
                       "nothing was written. The model's weights or these images are broken")
    rows = []
    heat_paths = _write_heatmaps(model, queries, out, Path(args.heatmaps)) if args.heatmaps else None
    decisions = apply_threshold(scores["score"], threshold) if threshold is not None else None
    for i, path in enumerate(queries):
        row = {"path": str(path), **{name: values[i] for name, values in scores.items()},
               "holistic_score": float(out.holistic_score[i])}
        if decisions is not None:
            row["threshold"], row["anomalous"] = threshold, int(decisions[i])
        if heat_paths is not None:
            row["heatmap"] = str(heat_paths[i])
        rows.append(row)
    _write_csv(Path(args.out), rows)
    flagged = f"; {int(decisions.sum())} of {len(rows)} anomalous at threshold {threshold:.4f}" \
        if decisions is not None else ""
    print(f"scored {len(rows)} images with K={k} prompts -> {args.out}{flagged}")


def _write_csv(path: Path, rows: list[dict]) -> None:
    from .atomic import write_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def _write_heatmaps(model, queries, out, folder: Path) -> list[Path]:
    """PNG overlays in the model's frame (resized, centre-cropped). One colour scale for all
    images (0 to the largest patch distance of the batch), so heatmaps are comparable."""
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image
    from torchvision import transforms

    from .atomic import atomic_path
    from .data.images import load_image

    size = model.backbone.image_size
    frame = transforms.Compose([transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC),
                                transforms.CenterCrop(size)])
    maps = out.anomaly_map(size).numpy()
    scale = max(float(maps.max()), 1e-8)
    cmap = colormaps["jet"]
    folder.mkdir(parents=True, exist_ok=True)
    paths, used = [], set()
    for i, query in enumerate(queries):
        image = np.asarray(frame(load_image(query)), dtype=np.float32) / 255
        heat = cmap(np.clip(maps[i] / scale, 0, 1))[..., :3]
        blend = (0.5 * image + 0.5 * heat) * 255
        name = Path(query).stem
        name = name if name not in used else f"{name}_{i}"
        used.add(name)
        target = folder / f"{name}_heatmap.png"
        with atomic_path(target) as tmp:
            Image.fromarray(blend.astype(np.uint8)).save(tmp, format="PNG")
        paths.append(target)
    return paths


COMMANDS = {"prepare": cmd_prepare, "pretrain": cmd_pretrain, "train": cmd_train, "eval": cmd_eval,
            "detect": cmd_detect}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``inctrl`` and ``python -m inctrl``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("inctrl: error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if args.debug:
            raise
        text = _message(error)
        if not isinstance(error, _error_types()):  # a bug: still one line, the traceback on request
            text = f"unexpected {type(error).__name__}: {text} (rerun with --debug for the traceback)"
        print(f"inctrl: error: {text}", file=sys.stderr)
        return EXIT_ERROR
    return 0
