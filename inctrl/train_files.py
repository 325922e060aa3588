"""The files of a training run in ``out_dir`` (see :mod:`inctrl.train`).

Writing an epoch (``epoch_{n}.pt``, ``last.pt``, ``loss_log.csv``, then ``last_state.pt``),
the summary, reading the loss log back, and putting a half-saved later epoch back on resume.

Every file is written atomically (:mod:`inctrl.atomic`); ``last_state.pt`` is written last
and holds all that a resume reads.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from . import atomic
from .checkpoint import CheckpointError, read_torch_file, save_checkpoint
from .paths import check_output_folder
from .train_config import LOG_COLUMNS, TrainConfig

#: The files a run writes besides ``epoch_{n}.pt`` (what ``overwrite`` replaces).
RUN_FILES = ("last.pt", "last_state.pt", "loss_log.csv", "train_summary.json")
STATE_KEYS = ("epoch", "step", "seconds", "optimizer", "sampler", "config")


def _read_log(path: Path, max_step: int) -> list[dict]:
    if not path.is_file():
        return []
    try:
        with path.open(newline="") as fh:
            rows = [{k: (int(v) if k in ("epoch", "step") else float(v)) for k, v in row.items()}
                    for row in csv.DictReader(fh)]
    except (ValueError, TypeError, csv.Error) as error:
        raise ValueError(f"cannot resume: {path} is damaged ({error}); train again with "
                         "overwrite=True (--overwrite)") from error
    return [r for r in rows if r["step"] <= max_step]


def run_files(out_dir: Path) -> list[Path]:
    """The files of a training run in ``out_dir`` (checkpoints, state, log, summary).

    Args:
        out_dir: the run folder; it need not exist.

    Returns:
        The existing :data:`RUN_FILES`, then the ``epoch_*.pt`` checkpoints sorted by name.
    """
    if not out_dir.is_dir():
        return []
    return [out_dir / n for n in RUN_FILES if (out_dir / n).exists()] + sorted(out_dir.glob("epoch_*.pt"))


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Before any work: the folder rule of every writer, and a fresh run never mixes its files with an
    earlier run's (which ``overwrite`` replaces, and nothing else)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} is a file, expected a run folder")
    check_output_folder(out_dir, what="out_dir")
    found = run_files(out_dir)
    if found and not overwrite:
        raise FileExistsError(f"{out_dir} holds an earlier run ({', '.join(p.name for p in found[:4])}"
                              f"{' ...' if len(found) > 4 else ''}); resume it (resume=True, --resume), "
                              "replace it (overwrite=True, --overwrite) or choose a new folder")


def _rewind(model, state: dict, out_dir: Path, history: list[dict]) -> None:
    """Put the files of a half-saved later epoch back to the state's epoch.

    As if training had stopped right after it (a resume that trains on rewrites them anyway).
    """
    epoch = state["epoch"]
    for path in out_dir.glob("epoch_*.pt"):
        if path.stem.removeprefix("epoch_").isdigit() and int(path.stem.removeprefix("epoch_")) > epoch:
            path.unlink()
    if "meta" in state and _checkpoint_epoch(out_dir / "last.pt") != epoch:
        save_checkpoint(model, out_dir / "last.pt", state["meta"])
    log = out_dir / "loss_log.csv"
    try:
        current = _read_log(log, 10**12) if log.is_file() else None
    except ValueError:  # damaged: rewritten below
        current = None
    if current != history:
        _write_log(log, history)


def _checkpoint_epoch(path: Path) -> int | None:
    try:
        return read_torch_file(path).get("meta", {}).get("epoch")
    except CheckpointError:
        return None


def _write_log(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buf.getvalue())


def _save_epoch(model, optimizer, sampler, config: TrainConfig, out_dir: Path, epoch: int,
                history: list[dict], elapsed: float) -> None:
    step = epoch * config.steps_per_epoch
    epoch_losses = [r["loss"] for r in history if r["epoch"] == epoch]
    meta = {"epoch": epoch, "step": step, "loss": float(np.mean(epoch_losses)),
            "train_config": config.to_dict()}
    save_checkpoint(model, out_dir / f"epoch_{epoch}.pt", meta)
    save_checkpoint(model, out_dir / "last.pt", meta)
    _write_log(out_dir / "loss_log.csv", history)
    # Written last, and all a resume reads: weights and optimizer of the same epoch, together.
    atomic.torch_save({"epoch": epoch, "step": step, "seconds": elapsed,
                       "trainable": {k: v.detach().cpu() for k, v in model.trainable_state_dict().items()},
                       "backbone_fingerprint": model.backbone.state_fingerprint(),
                       "meta": meta, "history": json.dumps(history), "optimizer": optimizer.state_dict(),
                       "sampler": json.dumps(sampler.state),
                       "config": json.dumps(config.to_dict())}, out_dir / "last_state.pt")


def _write_summary(config: TrainConfig, out_dir: Path, history: list[dict], checkpoints: list[Path],
                   elapsed: float) -> Path:
    epochs = sorted({r["epoch"] for r in history})
    per_epoch = [{"epoch": e, "mean_loss": float(np.mean([r["loss"] for r in history if r["epoch"] == e]))}
                 for e in epochs]
    summary = {"config": config.to_dict(), "epochs_done": epochs[-1] if epochs else 0,
               "steps_done": history[-1]["step"] if history else 0, "seconds": round(elapsed, 3),
               "final_loss": per_epoch[-1]["mean_loss"] if per_epoch else None,
               "per_epoch": per_epoch, "checkpoints": [p.name for p in checkpoints],
               "loss_log": "loss_log.csv"}
    return atomic.write_json(out_dir / "train_summary.json", summary)
