"""Command line: ``inctrl`` / ``python -m inctrl`` with prepare, train, eval and detect.

Every failure the user can cause (bad argument, missing folder, corrupt image, K larger
than the images available, unreadable checkpoint, unusable output path) ends with one line
``inctrl: error: ...`` on stderr naming the file or option and the fix, and exit status 1
(2 for a malformed command line, 130 for Ctrl-C, also while torch is still loading);
``--debug`` shows the traceback instead. Options and paths are checked before any work
starts. Outputs are written atomically (:mod:`inctrl.atomic`: a folder or FIFO is refused,
new files get the user's umask), and never inside the input folders. An existing result
file is replaced only with ``--overwrite``, and a symlink there is then replaced itself,
never written through. Every output folder follows one rule (:mod:`inctrl.paths`):
``--overwrite`` replaces only what inctrl wrote, never the working directory or a folder
holding files of the user's.

The argument parser is in :mod:`inctrl.cli_parser`, the checks of options and paths in
:mod:`inctrl.cli_checks`; the commands and :func:`main` are here.
"""

from __future__ import annotations

import csv
import io
import math
import sys
import warnings
from pathlib import Path

from .cli_checks import (
    CLIError,
    _at_least,
    _at_least_one,
    _check_checkpoints,
    _check_device,
    _check_out_file,
    _check_out_folder,
    _check_results_folder,
    _expand,
    _no_duplicates,
    _once_each,
    _refuse_inside,
    _threshold,
    _weights_kwargs,
)
from .cli_parser import DETECT_EPILOG as DETECT_EPILOG  # the epilogs: re-exported, their old home
from .cli_parser import EVAL_EPILOG as EVAL_EPILOG
from .cli_parser import PREPARE_EPILOG as PREPARE_EPILOG
from .cli_parser import TRAIN_EPILOG as TRAIN_EPILOG
from .cli_parser import build_parser

EXIT_ERROR = 1  # runtime errors; argparse uses 2 for malformed command lines
EXIT_INTERRUPTED = 130
MESSAGE_LIMIT = 1500  # characters of one error line


def _error_types() -> tuple[type[BaseException], ...]:
    # OSError: missing, unreadable or unwritable files, a full disk ...
    types = [CLIError, ValueError, OSError, ImportError, KeyError]
    # a module not imported yet cannot have raised its error; importing it here could fail too
    for module, name in (("inctrl.backbone", "WeightsUnavailableError"),
                         ("inctrl.checkpoint", "CheckpointError"), ("inctrl.data.images", "ImageLoadError")):
        if module in sys.modules:
            types.append(getattr(sys.modules[module], name))
    return tuple(types)


def _message(error: BaseException) -> str:
    """One line: the error's own words (an OSError's with its file name)."""
    if isinstance(error, KeyError) and error.args:
        text = str(error.args[0])
    elif isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())
    if len(text) > MESSAGE_LIMIT:  # a library's list of every key, say: the start says what is wrong
        text = f"{text[:MESSAGE_LIMIT]} ... ({len(text) - MESSAGE_LIMIT} more characters; --debug shows all)"
    return text


# ---------------------------------------------------------------------------- commands
#: The options of ``prepare synthetic`` (and no other dataset), with their defaults.
SYNTHETIC_OPTIONS = {"seed": 0, "n_normal": 80, "n_anomalous": 40, "size": 240}


def _prepare_options(args) -> dict:
    """The synthetic options given, checked: refused for another dataset, in range for synthetic."""
    given = {k: getattr(args, k) for k in SYNTHETIC_OPTIONS if getattr(args, k) is not None}
    if given and args.dataset != "synthetic":
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise CLIError(f"{names} {'applies' if len(given) == 1 else 'apply'} to prepare synthetic only, not "
                       f"to {args.dataset}; drop {'it' if len(given) == 1 else 'them'}")
    if args.raw is not None and args.dataset in ("world-aux", "synthetic"):
        raise CLIError(f"--raw applies to the converted datasets, not to {args.dataset} (it is generated); "
                       "drop it")
    for option, low in (("seed", 0), ("n_normal", 2), ("n_anomalous", 1), ("size", 64)):
        _at_least(low, "--" + option.replace("_", "-"), given.get(option))
    return {**SYNTHETIC_OPTIONS, **given}


def cmd_prepare(args) -> None:
    """``inctrl prepare``: write a dataset in the canonical layout (generated, or converted).

    Args:
        args: the parsed command line (``--dataset``, ``--out``, ``--raw`` ...).

    Raises:
        CLIError: an option or path the user can fix (the message names it).
    """
    from .data.converters import CONVERTERS

    if args.dataset not in ("world-aux", "synthetic", *CONVERTERS):
        raise CLIError(f"unknown dataset {args.dataset!r}; choose world-aux, synthetic or one of "
                       f"{', '.join(sorted(CONVERTERS))}")
    options = _prepare_options(args)
    if args.raw is None and args.dataset not in ("elpv", "digits", "world-aux", "synthetic"):
        raise CLIError(f"prepare {args.dataset} needs --raw (the folder of the raw download)")
    if args.raw is not None:
        from .data.converters._common import check_raw

        check_raw(args.raw, args.dataset)  # a folder: a FIFO or a file is refused before anything reads it
        _refuse_inside([args.out], [args.raw])
    _check_out_folder(args.out, "--out", overwrite=args.overwrite, whole=True)
    out = Path(args.out)
    if args.dataset == "world-aux":
        from .data.world import make_world_aux

        make_world_aux(out, overwrite=args.overwrite, show_progress=not args.quiet)
    elif args.dataset == "synthetic":
        from .data.synthetic import make_synthetic_dataset

        make_synthetic_dataset(out, **options, overwrite=args.overwrite, show_progress=not args.quiet)
    else:
        CONVERTERS[args.dataset](args.raw, out, overwrite=args.overwrite, show_progress=not args.quiet)
    print(f"prepared {args.dataset} in {out}")


def cmd_train(args) -> None:
    """``inctrl train``: train InCTRL's heads on auxiliary data, writing checkpoints and a loss log.

    Args:
        args: the parsed command line (``--aux``, ``--out``, ``--shots``, ``--epochs`` ...).

    Raises:
        CLIError: an option or path the user can fix (the message names it).
    """
    from .train import train

    _at_least_one("--shots", args.shots)
    _at_least_one("--epochs", args.epochs)
    _at_least_one("--steps", args.steps)
    _at_least(0, "--seed", args.seed)
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


def cmd_eval(args) -> None:
    """``inctrl eval``: the evaluation protocol on a canonical dataset, tables printed and written.

    Args:
        args: the parsed command line (``--data``, ``--shots``, ``--seeds``, ``--out`` ...).

    Raises:
        CLIError: an option or path the user can fix (the message names it).
    """
    from . import load
    from .data.fewshot import PromptSet
    from .data.images import check_image_files
    from .data.layout import CanonicalDataset
    from .evaluate import RESULT_FILES, evaluate, require_test_images

    _at_least_one("--shots", *args.shots)
    _at_least(0, "--seeds", *args.seeds)
    _once_each("--shots", args.shots)
    _once_each("--seeds", args.seeds)
    if args.object_name is not None and not args.object_name.strip():
        raise CLIError("--object-name must be the object the text prior reads, e.g. 'solar cell'; leave it "
                       "out to use the dataset's own category names")
    if args.checkpoint and len(args.checkpoint) not in (1, len(args.shots)):
        raise CLIError(f"give one checkpoint, or one per --shots value ({len(args.shots)}), "
                       f"not {len(args.checkpoint)}")
    _check_checkpoints(args.checkpoint)
    _refuse_inside([args.out], [args.data])
    _check_results_folder(args.out, "--out", [*RESULT_FILES.values(), "prompts"], args.overwrite)
    weights = _weights_kwargs(args)
    _check_device(args.device)
    dataset = CanonicalDataset(args.data, name=args.name)  # the data, before any model is built
    require_test_images(dataset)
    check_image_files(s.path for s in dataset.samples())  # every image, whichever a draw reads
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
    if args.object_name is not None:  # before any image is encoded
        for model in models.values() if isinstance(models, dict) else [models]:
            _check_name_fits(model, args.object_name, "--object-name")
    result = evaluate(models, args.data, shots=args.shots, seeds=args.seeds, out_dir=args.out,
                      name=args.name, pixel=not args.no_pixel, progress=not args.quiet,
                      object_name=args.object_name)
    print(result.markdown())
    print(f"results written to {args.out}")


def cmd_detect(args) -> None:
    """``inctrl detect``: score new images against normal ones, with optional threshold and heatmaps.

    Args:
        args: the parsed command line (``--normal``, ``--query``, ``--name``, ``--out`` ...).

    Raises:
        CLIError: an option or path the user can fix (the message names it).
    """
    import numpy as np

    from . import load
    from .data.images import check_image_files
    from .threshold import apply_threshold, normal_threshold

    _refuse_inside([args.out, args.heatmaps], list(args.normal) + list(args.query))
    _check_out_file(args.out, "--out", args.overwrite)
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
    _at_least(0, "--seed", args.seed)
    _check_device(args.device)
    (normals, skipped), (queries, _) = _expand(args.normal, "--normal"), _expand(args.query, "--query")
    if not normals:
        raise CLIError("--normal holds no image")
    if not queries:
        raise CLIError("--query holds no image")
    _no_duplicates(normals, "--normal")
    check_image_files([*normals, *queries])  # empty, not an image or too small: before any model is built
    heat_targets = _heatmap_paths(queries, Path(args.heatmaps)) if args.heatmaps else None
    taken = [p for p in heat_targets or () if p.exists() or p.is_symlink()]
    if taken and not args.overwrite:
        raise CLIError(f"--heatmaps {args.heatmaps} already holds {taken[0].name}"
                       f"{f' and {len(taken) - 1} more heatmaps' if len(taken) > 1 else ''}; pass "
                       "--overwrite to replace them, or choose another folder")
    n = len(normals)
    k = args.shots if args.shots is not None else (max(1, min(8, n // 2)) if auto else n)
    if k < 1:
        raise CLIError(f"--shots must be at least 1, got {k}")
    if k > n or (auto and k >= n):
        need = "more than" if auto else "at least"
        lost = f" ({skipped} unreadable entries skipped, see the warning above)" if skipped else ""
        raise CLIError(f"--shots {k} needs {need} {k} normal images (held-out ones for --threshold auto); "
                       f"--normal has {n}{lost}")
    order = np.random.default_rng(args.seed).permutation(n)
    prompts = [normals[i] for i in sorted(order[:k])]
    held_out = [normals[i] for i in sorted(order[k:])]

    model = load(args.checkpoint or args.profile, device=args.device, **weights)
    _check_name_fits(model, args.name, "--name")
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
    heat_paths = _write_heatmaps(model, queries, out, heat_targets) if heat_targets else None
    decisions = apply_threshold(scores["score"], threshold) if threshold is not None else None
    for i, path in enumerate(queries):
        row = {"path": str(path), **{name: values[i] for name, values in scores.items()},
               "holistic_score": float(out.holistic_score[i]), "object_name": bank.name}
        if decisions is not None:
            row["threshold"], row["anomalous"] = threshold, int(decisions[i])
        if heat_paths is not None:
            row["heatmap"] = str(heat_paths[i])
        rows.append(row)
    _write_csv(Path(args.out), rows)
    flagged = f"; {int(decisions.sum())} of {len(rows)} anomalous at threshold {threshold:.4f}" \
        if decisions is not None else ""
    print(f"scored {len(rows)} images with K={k} prompts -> {args.out}{flagged}")


def _check_name_fits(model, name: str, option: str) -> None:
    """Refuse a name whose prompts the model's text encoder would cut (:meth:`InCTRL.check_text_fits`)."""
    try:
        model.check_text_fits(name)
    except ValueError as error:
        raise CLIError(f"{option}: {error}") from None


def _write_csv(path: Path, rows: list[dict]) -> None:
    from .atomic import write_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue(), follow_symlinks=False)  # an existing link is replaced, not followed


def _heatmap_paths(queries, folder: Path) -> list[Path]:
    """The PNG of each query's heatmap in ``folder``: ``<stem>_heatmap.png``, a repeated stem
    with the query's index appended."""
    paths, used = [], set()
    for i, query in enumerate(queries):
        name = Path(query).stem
        name = name if name not in used else f"{name}_{i}"
        used.add(name)
        paths.append(folder / f"{name}_heatmap.png")
    return paths


def _write_heatmaps(model, queries, out, targets: list[Path]) -> list[Path]:
    """Write one PNG heatmap overlay per query, in the model's frame.

    Each image is brought into the frame the model saw (:func:`inctrl.frame.model_frame`)
    and its patch map, upsampled to that frame, is blended over it
    (:func:`inctrl.frame.overlay_heatmap`). One colour scale for all images (0 to the
    largest patch distance of the batch), so heatmaps are comparable.

    Args:
        model: the InCTRL model that scored the queries.
        queries: the query image paths, in the order of ``out``.
        out: the model's InCTRLOutput for ``queries``.
        targets: the PNG of each query (:func:`_heatmap_paths`); a symlink there is replaced.

    Returns:
        ``targets``.
    """
    from PIL import Image

    from .atomic import atomic_path
    from .data.images import load_image
    from .frame import model_frame, overlay_heatmap

    size = model.backbone.image_size
    frame = model_frame(size)
    maps = out.anomaly_map(size).numpy()
    scale = max(float(maps.max()), 1e-8)
    for i, (query, target) in enumerate(zip(queries, targets)):
        blend = overlay_heatmap(frame(load_image(query)), maps[i], vmin=0.0, vmax=scale, alpha=0.5)
        with atomic_path(target, follow_symlinks=False) as tmp:
            Image.fromarray(blend).save(tmp, format="PNG")
    return targets


COMMANDS = {"prepare": cmd_prepare, "train": cmd_train, "eval": cmd_eval,
            "detect": cmd_detect}


_WARNED: set[str] = set()  # the warnings shown in this run: each once


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Every warning as one ``inctrl: warning: ...`` line, once, never a library's raw lines (--debug
    shows them as Python does)."""
    text = " ".join(str(message).split())
    if text not in _WARNED:
        _WARNED.add(text)
        print(f"inctrl: warning: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``inctrl`` and ``python -m inctrl``.

    Args:
        argv: the arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        The exit status: 0, 1 for an error (one line on stderr), 130 for Ctrl-C (argparse
        itself exits with 2 on a malformed command line).
    """
    args = build_parser().parse_args(argv)
    try:  # the commands import torch & co. here, inside the guard: Ctrl-C while they load is caught
        with warnings.catch_warnings():  # restores showwarning afterwards
            if not args.debug:
                _WARNED.clear()
                warnings.showwarning = _warning_line
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
