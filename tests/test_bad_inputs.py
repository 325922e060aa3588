"""Every bad input in one matrix.

Each CLI case asserts the exit status (1; 2 for a malformed command line; 130 for Ctrl-C;
0 for unusual but valid inputs), the one ``inctrl: error: ...`` line naming the file or
option, that the input folders are byte for byte unchanged, and - where the API is
reachable - that the API raises the same message. Cases marked ``early`` must be refused
before any model is built or trained (``inctrl.load`` and ``train`` are stand-ins there).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import make_canonical, noise, tree_checksum, write_png
from PIL import Image
from stand_ins import refuse_build

import inctrl
from inctrl import atomic
from inctrl.checkpoint import CheckpointError, save_checkpoint
from inctrl.cli import main
from inctrl.data.converters import CONVERTERS
from inctrl.data.converters.digits import read_digits
from inctrl.data.images import ImageLoadError, SkippedImageWarning, check_image_files, load_image
from inctrl.data.layout import CanonicalDataset
from inctrl.data.synthetic import SYNTHETIC_CATEGORIES, make_synthetic_dataset
from inctrl.data.world import make_world_aux
from inctrl.evaluate import evaluate
from inctrl.model import InCTRLOutput
from inctrl.official import to_official_state_dict
from inctrl.threshold import apply_threshold, f1_threshold, normal_threshold
from inctrl.train import train


# ---------------------------------------------------------------------------- fixtures
@dataclass
class World:
    """Shared read-only inputs: two small datasets, a checkpoint and a finished run."""

    root: Path
    aux: Path
    target: Path
    ckpt: Path
    run: Path

    @property
    def normal(self) -> Path:
        return self.target / "wood" / "train" / "good"

    @property
    def query(self) -> Path:
        return self.target / "wood" / "test" / "good"


@dataclass
class Tmp:
    """One case's own inputs (``inp``, snapshotted like the shared ones) and outputs (``out``)."""

    inp: Path
    out: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    make_synthetic_dataset(root / "aux", categories=["brick"], n_normal=8, n_anomalous=4, size=64,
                           show_progress=False)
    make_synthetic_dataset(root / "target", categories=["wood"], n_normal=8, n_anomalous=3, size=64,
                           show_progress=False)
    model = inctrl.load("tiny", device="cpu")
    with torch.no_grad():  # heads unlike a fresh model's, as if trained
        for p in model.trainable_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    save_checkpoint(model, root / "model.pt")
    train([root / "aux"], root / "run", shots=2, epochs=1, steps_per_epoch=2, device="cpu", progress=False)
    return World(root, root / "aux", root / "target", root / "model.pt", root / "run")


@pytest.fixture
def tmp(tmp_path) -> Tmp:
    (tmp_path / "in").mkdir()
    return Tmp(tmp_path / "in", tmp_path / "out")


def _snapshot(*roots: Path) -> dict:
    """Kind, bytes and mtime of everything under the roots (FIFOs are not opened)."""
    found = {}
    for root in roots:
        for path in sorted([root, *root.rglob("*")]):
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                found[str(path)] = ("file", hashlib.sha1(path.read_bytes()).hexdigest(), st.st_mtime_ns)
            elif stat.S_ISLNK(st.st_mode):
                found[str(path)] = ("link", os.readlink(path))
            else:
                found[str(path)] = (stat.S_IFMT(st.st_mode), st.st_mtime_ns)
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------- input builders
def _png_bytes(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _bomb_png(width: int = 40000, height: int = 40000) -> bytes:
    """A valid PNG header announcing 1.6 gigapixels (Pillow refuses it before decoding)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + _png_bytes(np.zeros((4, 4)))[33:])


def _image(kind: str, folder: Path) -> Path:
    """One image file of ``kind`` in ``folder`` (which becomes a --query folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = folder / {"cmyk": "photo.jpg", "exif": "photo.jpg"}.get(kind, f"{kind}.png")
    if kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    elif kind == "truncated":
        data = _png_bytes(rgb)
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are my notes, not an image\n")
    elif kind == "bomb":
        path.write_bytes(_bomb_png())
    elif kind == "16bit":
        Image.fromarray((rng.integers(0, 65536, (64, 64))).astype(np.uint16)).save(path)
    elif kind == "palette":
        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    elif kind == "cmyk":
        Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    elif kind == "exif":
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90 degrees to display
        Image.fromarray(rgb[:, :40]).save(path, exif=exif.tobytes(), quality=95)
    elif kind == "1x1":
        Image.new("RGB", (1, 1)).save(path)
    elif kind == "huge":  # 10000 x 10000: above Pillow's warning limit, below its error limit
        path.write_bytes(_bomb_png(10000, 10000))
    return path


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _checkpoint(w: World, t: Tmp, edit: Callable[[dict], object]) -> Path:
    """A copy of the world's checkpoint, changed by ``edit`` (which may return a whole new object)."""
    data = torch.load(w.ckpt, weights_only=True)
    data = edit(data) or data
    path = t.inp / "model.pt"
    torch.save(data, path)
    return path


def _set(mapping: dict, key: str, value) -> None:
    mapping[key] = value


def _nan(data: dict) -> None:
    data["trainable"]["adapter.fc.0.weight"][0, 0] = float("nan")


def _inf(data: dict) -> None:
    data["trainable"]["holistic_head.projection1.bias"][3] = float("inf")


def _partial(data: dict) -> None:
    for key in [k for k in data["trainable"] if k.startswith("image_head.")]:
        del data["trainable"][key]


def _official(w: World, drop: tuple[str, ...] = ()) -> dict:
    state = to_official_state_dict(inctrl.load(w.ckpt, device="cpu").state_dict())
    for key in drop:
        state.pop(key)
    return {"model_state": state}


def _file_of(kind: str, t: Tmp, name: str = "model.pt") -> Path:
    path = t.inp / name
    if kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        buf = io.BytesIO()
        torch.save({"a": torch.zeros(1000)}, buf)
        path.write_bytes(buf.getvalue()[:2000])
    elif kind == "hostile":
        torch.save({"config": _Payload(t.out / "PWNED")}, path)
    elif kind == "exception":  # an arbitrary object, pickled without torch
        import pickle

        path.write_bytes(pickle.dumps({"x": Exception("boom")}))
    return path


def _run_copy(w: World, t: Tmp) -> Path:
    shutil.copytree(w.run, t.out / "run")
    return t.out / "run"


def _state(w: World, t: Tmp, kind: str) -> Path:
    """A copy of the finished run whose last_state.pt is broken in the way ``kind`` says."""
    run = _run_copy(w, t)
    state = run / "last_state.pt"
    if kind in ("truncated", "hostile", "empty"):
        shutil.copy(_file_of(kind, t, "last_state.pt"), state)
    elif kind == "incomplete":
        data = torch.load(state, weights_only=True)
        del data["optimizer"]
        torch.save(data, state)
    elif kind == "nan":
        data = torch.load(state, weights_only=True)
        data["trainable"]["adapter.fc.2.weight"][0, 0] = float("nan")
        torch.save(data, state)
    return run


def _link(path: Path, target: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _deny_write(target: Callable[[Tmp], Path]):
    """os.access says 'no' for ``target`` (the suite may run as root, whom chmod cannot stop)."""
    def patch(monkeypatch, w: World, t: Tmp) -> None:
        real = os.access

        def access(path, mode, *args, **kwargs):
            if Path(path) == target(t) and mode & os.W_OK:
                return False
            return real(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    return patch


# ---------------------------------------------------------------------------- command lines
def detect(w: World, t: Tmp, *extra, query=None, normal=None, checkpoint=None, out=None) -> list[str]:
    source = ["--checkpoint", str(checkpoint)] if checkpoint else ["--profile", "tiny"]
    queries = [str(q) for q in (query if isinstance(query, list) else [query or w.query])]
    return ["detect", *source, "--normal", str(normal or w.normal), "--query", *queries, "--name", "wood",
            "--out", str(out or t.out / "scores.csv"), "--device", "cpu", "--quiet", *map(str, extra)]


def evaluate_cli(w: World, t: Tmp, *extra, data=None, checkpoint=None, out=None) -> list[str]:
    source = ["--checkpoint", str(checkpoint)] if checkpoint else ["--profile", "tiny"]
    return ["eval", *source, "--data", str(data or w.target), "--shots", "2", "--seeds", "0",
            "--out", str(t.out / "results" if out is None else out), "--device", "cpu", "--quiet",
            *map(str, extra)]


def prepare_cli(t: Tmp, dataset: str, *extra, out=None) -> list[str]:
    return ["prepare", dataset, "--out", str(t.out / "data" if out is None else out), "--quiet",
            *map(str, extra)]


SMALL_SYNTHETIC = ("--n-normal", 2, "--n-anomalous", 1, "--size", 64)


def train_cli(w: World, t: Tmp, *extra, aux=None, out=None) -> list[str]:
    return ["train", "--aux", str(aux or w.aux), "--out", str(out or t.out / "run"), "--shots", "2",
            "--epochs", "1", "--steps", "2", "--profile", "tiny", "--device", "cpu", "--quiet",
            *map(str, extra)]


def _api_train(run: Callable[[World, Tmp], Path], **kwargs):
    """The API call the CLI's ``train --resume`` makes."""
    def call(w: World, t: Tmp):
        return train([w.aux], run(w, t), shots=2, epochs=1, steps_per_epoch=2, device="cpu",
                     progress=False, resume=True, **kwargs)
    return call


def _load(path: Callable[[World, Tmp], Path]):
    return lambda w, t: inctrl.load(path(w, t), device="cpu")


# ---------------------------------------------------------------------------- the matrix
@dataclass
class Case:
    name: str
    argv: Callable[[World, Tmp], list[str]]
    code: int
    message: str                      # regex, searched in the error line (in stdout for code 0)
    early: bool = False               # refused before any model is built or trained
    api: tuple[type, Callable] | None = None  # (exception type, call) raising the same message
    patch: Callable | None = None     # (monkeypatch, world, tmp) before the run
    check: Callable | None = None     # (world, tmp) more assertions after the run
    warning: str | None = None        # regex of the one ``inctrl: warning: ...`` line expected on stderr


def _no_file(name: str):
    def check(w: World, t: Tmp) -> None:
        assert not (t.out / name).exists()
    return check


def _symlinked_out(w: World, t: Tmp) -> Path:
    """--out is a symlink to a file of the user's (``real.csv``)."""
    (t.out / "real.csv").parent.mkdir(parents=True)
    (t.out / "real.csv").write_text("mine\n")
    return _link(t.out / "scores.csv", t.out / "real.csv")


def _link_untouched(w: World, t: Tmp) -> None:
    link = t.out / "scores.csv"
    assert link.is_symlink() and os.readlink(link) == str(t.out / "real.csv")
    assert (t.out / "real.csv").read_text() == "mine\n"


def _link_replaced(w: World, t: Tmp) -> None:
    link = t.out / "scores.csv"
    assert not link.is_symlink() and link.read_text().startswith("path,score")
    assert (t.out / "real.csv").read_text() == "mine\n"  # never written through


def _existing_out(w: World, t: Tmp) -> Path:
    t.out.mkdir()
    (t.out / "scores.csv").write_text("earlier scores\n")
    return t.out / "scores.csv"


def _out_kept(w: World, t: Tmp) -> None:
    assert (t.out / "scores.csv").read_text() == "earlier scores\n"


def _out_replaced(w: World, t: Tmp) -> None:
    assert (t.out / "scores.csv").read_text().startswith("path,score")


def _first_heatmap(w: World, t: Tmp) -> Path:
    return t.out / "heat" / f"{sorted(w.query.iterdir())[0].stem}_heatmap.png"


def _heatmaps_kept(w: World, t: Tmp) -> None:
    assert _first_heatmap(w, t).read_text() == "earlier"
    assert list((t.out / "heat").iterdir()) == [_first_heatmap(w, t)]


def _earlier_heatmap(w: World, t: Tmp) -> list[str]:
    (t.out / "heat").mkdir(parents=True)
    _first_heatmap(w, t).write_text("earlier")  # the name detect would give the first query's heatmap
    return detect(w, t, "--heatmaps", t.out / "heat")


def _earlier_results(w: World, t: Tmp) -> None:
    (t.out / "results").mkdir(parents=True)
    (t.out / "results" / "eval.json").write_text("{}")


def _results_kept(w: World, t: Tmp) -> None:
    assert (t.out / "results" / "eval.json").read_text() == "{}"
    assert sorted(p.name for p in (t.out / "results").iterdir()) == ["eval.json"]


def _results_replaced(w: World, t: Tmp) -> None:
    assert json.loads((t.out / "results" / "eval.json").read_text())["object_names"] == {"wood": "wood"}


def _umask_mode(w: World, t: Tmp) -> None:
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((t.out / "scores.csv").stat().st_mode) == 0o666 & ~mask


def _still_fifo(w: World, t: Tmp) -> None:
    assert stat.S_ISFIFO((t.out / "scores.csv").lstat().st_mode)


def _not_executed(w: World, t: Tmp) -> None:
    assert not (t.out / "PWNED").exists()


def _replaced_old_run(w: World, t: Tmp) -> None:
    names = sorted(p.name for p in (t.out / "run").iterdir())
    assert names == ["epoch_1.pt", "last.pt", "last_state.pt", "loss_log.csv", "notes.txt",
                     "train_summary.json"]


def _old_run(w: World, t: Tmp) -> list[str]:
    (t.out / "run").mkdir(parents=True)
    (t.out / "run" / "epoch_5.pt").write_bytes(b"an older run")
    (t.out / "run" / "notes.txt").write_text("mine")
    return train_cli(w, t)


def _no_test_split(w: World, t: Tmp) -> Path:
    shutil.copytree(w.target, t.inp / "data")
    shutil.rmtree(t.inp / "data" / "wood" / "test")
    return t.inp / "data"


def _one_class(w: World, t: Tmp, drop: str, extra: str | None = None) -> Path:
    """A copy of the target dataset without the test folders ``drop`` ("good" or "anomalies") in
    its category, beside an intact copy of the category named ``extra``."""
    shutil.copytree(w.target, t.inp / "data")
    if extra:
        shutil.copytree(w.target / "wood", t.inp / "data" / extra)
    for folder in (t.inp / "data" / "wood" / "test").iterdir():
        if (folder.name == "good") == (drop == "good"):
            shutil.rmtree(folder)
    return t.inp / "data"


def _dataset_with_unreadable(w: World, t: Tmp) -> Path:
    """A copy of the target dataset whose test/good folder also holds three unreadable entries."""
    shutil.copytree(w.target, t.inp / "data", symlinks=True)
    good = t.inp / "data" / "wood" / "test" / "good"
    _link(good / "dangling.png", t.inp / "gone.png")
    (good / "dir.png").mkdir()
    _link(good / "loop.png", good / "loop.png")
    return t.inp / "data"


def _api_evaluate(data: Callable[[World, Tmp], Path]):
    return lambda w, t: evaluate(inctrl.load("tiny", device="cpu"), data(w, t), shots=[2], seeds=[0],
                                 progress=False)


def _with_unreadable(folder: Path, source: Path | None, keep: int | None = None) -> Path:
    """``folder``: copies of ``source``'s images (the first ``keep``) beside a dangling symlink,
    a symlink loop and a folder named like an image."""
    folder.mkdir(parents=True)
    for image in sorted(source.iterdir())[:keep] if source else ():
        shutil.copy(image, folder / image.name)
    (folder / "dangling.png").symlink_to(folder / "gone.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    (folder / "dir.png").mkdir()
    return folder


UNREADABLE = (r"skipped 3 entries of .* that are no readable image files: dangling\.png \(a dangling symlink "
              r"\(to .*gone\.png\)\), dir\.png \(a folder\), loop\.png \(a symlink loop\)")


def _no_anomalies(w: World, t: Tmp) -> Path:
    (t.inp / "aux" / "brick" / "train").mkdir(parents=True)
    shutil.copytree(w.aux / "brick" / "train" / "good", t.inp / "aux" / "brick" / "train" / "good")
    return t.inp / "aux"


def _nan_scores(monkeypatch, w: World, t: Tmp) -> None:
    def scores(self):
        return {name: [float("nan")] * len(self) for name in ("score", "patch_score", "image_score",
                                                              "text_score")}
    monkeypatch.setattr(InCTRLOutput, "scores", scores)


def _interrupt(monkeypatch, w: World, t: Tmp) -> None:
    def stop(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("inctrl.train._save_epoch", stop)


# ---------------------------------------------------------------------------- issue 34: nothing the user made
# is deleted, nothing written outside --out
MINE = "the user's own\n"


def _user_file(folder: Path, name: str = "mine.txt") -> Path:
    """``folder`` holding a file of the user's; every data-loss case proves it survives."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(MINE)
    return folder


def _survives(path: Callable[[Tmp], Path]):
    def check(w: World, t: Tmp) -> None:
        assert path(t).read_text() == MINE
    return check


def _chdir(folder: Callable[[Tmp], Path]):
    """Run the command from ``folder``, which holds a file of the user's."""
    def patch(monkeypatch, w: World, t: Tmp) -> None:
        monkeypatch.chdir(_user_file(folder(t)))
    return patch


def _home(monkeypatch, w: World, t: Tmp) -> None:
    _user_file(t.inp)
    monkeypatch.setenv("HOME", str(t.inp))


def _linked_folder(t: Tmp) -> Path:
    """``in/link`` -> ``in/mine``, a folder holding a file of the user's."""
    return _link(t.inp / "link", _user_file(t.inp / "mine"))


def _link_and_target_kept(w: World, t: Tmp) -> None:
    assert (t.inp / "link").is_symlink() and os.readlink(t.inp / "link") == str(t.inp / "mine")
    assert (t.inp / "mine" / "mine.txt").read_text() == MINE and len(list((t.inp / "mine").iterdir())) == 1


def _prepared(t: Tmp, notes: bool = False) -> Path:
    """A dataset inctrl prepared in ``out/data`` (with a file of the user's added to it)."""
    make_synthetic_dataset(t.out / "data", categories=["wood"], n_normal=2, n_anomalous=1, size=64,
                           show_progress=False)
    if notes:
        _user_file(t.out / "data", "notes.txt")
    return t.out / "data"


def _replaced_by_synthetic(w: World, t: Tmp) -> None:
    assert CanonicalDataset(t.out / "data").categories == sorted(SYNTHETIC_CATEGORIES)


def _into_empty_link_target(w: World, t: Tmp) -> None:
    assert (t.out / "link").is_symlink() and (t.out / "empty" / "wood" / "train" / "good").is_dir()


def _empty_link_target(w: World, t: Tmp) -> list[str]:
    (t.out / "empty").mkdir(parents=True)
    return prepare_cli(t, "synthetic", *SMALL_SYNTHETIC, out=_link(t.out / "link", t.out / "empty"))


def _set_option(argv: list[str], option: str, value) -> list[str]:
    argv = list(argv)
    argv[argv.index(option) + 1] = str(value)
    return argv


def _paper(argv: list[str]) -> list[str]:
    return _set_option(argv, "--profile", "paper")


def _raw_digits(t: Tmp, content: bytes | None) -> Path:
    """A --raw folder whose digits.csv.gz holds ``content`` (None: a FIFO)."""
    file = t.inp / "raw" / "digits.csv.gz"
    if content is None:
        _fifo(file)
    else:
        file.parent.mkdir(parents=True)
        file.write_bytes(content)
    return file.parent


def _with_empty_prompt(w: World, t: Tmp) -> Path:
    """A copy of the target dataset with a 0-byte image among its train/good images."""
    shutil.copytree(w.target, t.inp / "data")
    (t.inp / "data" / "wood" / "train" / "good" / "zz_empty.png").write_bytes(b"")
    return t.inp / "data"


def _nothing_outside_results(w: World, t: Tmp) -> None:
    written = [p for p in t.out.parent.rglob("*") if p.is_file() and t.inp not in p.parents]
    assert written and all(t.out / "results" in p.parents for p in written), written
    assert (t.out / "results" / "prompts" / "_._.._.._x_wood_k2_seed0.json").is_file()


def _official_with_config(w: World, t: Tmp, config: dict) -> Path:
    """An official checkpoint with an ``open_clip_config.json`` beside it."""
    path = t.inp / "official" / "checkpoint.pyth"
    path.parent.mkdir()
    torch.save(_official(w), path)
    (path.parent / "open_clip_config.json").write_text(json.dumps(config))
    return path


LONG_NAME = "word " * 1300  # 6,500 characters: hundreds of tokens past the text encoder's 77


IMAGE_ERRORS = {  # kind -> what the message says after the file name
    "corrupt": "decoding failed", "truncated": "decoding failed", "empty": "decoding failed",
    "text": "cannot identify image file", "bomb": "could be decompression bomb",
}
VALID_IMAGES = ("16bit", "palette", "cmyk", "exif")

CASES = [
    # --- images
    *[Case(f"image-{kind}", lambda w, t, k=kind: detect(w, t, query=_image(k, t.inp / "q").parent), 1,
           rf"cannot read image .*{kind}\.png.*{why}",
           api=(ImageLoadError, lambda w, t, k=kind: load_image(next((t.inp / "q").iterdir()))))
      for kind, why in IMAGE_ERRORS.items()],
    *[Case(f"image-{kind}-is-fine", lambda w, t, k=kind: detect(w, t, query=_image(k, t.inp / "q").parent), 0,
           r"scored 1 images with K=6 prompts") for kind in VALID_IMAGES],
    Case("image-fifo-named-png", lambda w, t: detect(w, t, query=_fifo(t.inp / "pipe.png")), 1,
         r"pipe\.png is neither an image file nor a folder", early=True),
    Case("folder-empty", lambda w, t: detect(w, t, query=t.inp), 1, r"no images found in .*in", early=True),
    Case("folder-junk-only", lambda w, t: (t.inp.joinpath("readme.txt").write_text("x"),
                                           t.inp.joinpath(".DS_Store").write_bytes(b""),
                                           detect(w, t, query=t.inp))[-1],
         1, r"no images found in", early=True),
    Case("folder-missing", lambda w, t: detect(w, t, query=t.inp / "nope"), 1,
         r"no such image or folder: .*nope", early=True),
    Case("normal-listed-twice", lambda w, t: detect(w, t, normal=w.normal) + ["--normal", str(w.normal),
                                                                               str(w.normal / "000.png")],
         1, r"--normal lists .*000\.png twice", early=True),
    Case("eval-data-missing", lambda w, t: evaluate_cli(w, t, data=t.inp / "nope"), 1,
         r"dataset root .*nope does not exist", early=True),
    Case("eval-data-empty", lambda w, t: evaluate_cli(w, t, data=t.inp), 1, r"holds no category folder",
         early=True),
    Case("eval-no-test-split", lambda w, t: evaluate_cli(w, t, data=_no_test_split(w, t)), 1,
         r"category 'wood' of .* has no test images", early=True,
         api=(ValueError, lambda w, t: evaluate(inctrl.load("tiny", device="cpu"), t.inp / "data",
                                                shots=[2], seeds=[0], progress=False))),
    # --- K and the other numbers
    Case("detect-k-too-large", lambda w, t: detect(w, t, "--shots", 9), 1,
         r"--shots 9 needs at least 9 normal images.*--normal has 6", early=True),
    Case("detect-k-zero", lambda w, t: detect(w, t, "--shots", 0), 1, r"--shots must be at least 1",
         early=True),
    Case("detect-auto-k-all", lambda w, t: detect(w, t, "--shots", 6, "--threshold", "auto"), 1,
         r"--shots 6 needs more than 6 normal images", early=True),
    Case("eval-k-too-large", lambda w, t: evaluate_cli(w, t, "--shots", 50), 1,
         r"--shots 50: cannot draw k=50 prompts for category 'wood'", early=True),
    Case("eval-k-zero", lambda w, t: evaluate_cli(w, t, "--shots", 0), 1, r"--shots must be at least 1",
         early=True),
    Case("train-k-too-large", lambda w, t: train_cli(w, t, "--shots", 9), 1,
         r"every category needs at least 9 normal samples"),
    Case("train-k-zero", lambda w, t: train_cli(w, t, "--shots", 0), 1, r"--shots must be at least 1",
         early=True),
    Case("train-epochs-zero", lambda w, t: train_cli(w, t, "--epochs", 0), 1, r"--epochs must be at least 1",
         early=True),
    Case("threshold-nan", lambda w, t: detect(w, t, "--threshold", "nan"), 1,
         r"--threshold must be a finite number or 'auto', got 'nan'", early=True),
    Case("threshold-inf", lambda w, t: detect(w, t, "--threshold", "inf"), 1,
         r"--threshold must be a finite number", early=True),
    Case("threshold-word", lambda w, t: detect(w, t, "--threshold", "high"), 1,
         r"--threshold must be a number or 'auto', got 'high'", early=True),
    Case("percentile-out-of-range", lambda w, t: detect(w, t, "--threshold", "auto", "--percentile", 150), 1,
         r"--percentile must be between 0 and 100, got 150", early=True),
    Case("percentile-nan", lambda w, t: detect(w, t, "--threshold", "auto", "--percentile", "nan"), 1,
         r"--percentile must be between 0 and 100, got nan", early=True),
    Case("device-unknown", lambda w, t: detect(w, t, "--device", "tpu"), 1, r"--device: unknown device 'tpu'",
         early=True),
    Case("name-blank", lambda w, t: detect(w, t, "--name", " "), 1,
         r"--name must be the object / category name", early=True),
    Case("scores-nan-not-written", lambda w, t: detect(w, t), 1,
         r"2 of 2 scores are NaN or infinite .*nothing was written", patch=_nan_scores,
         check=_no_file("scores.csv")),
    # --- checkpoints
    Case("ckpt-missing", lambda w, t: detect(w, t, checkpoint=t.inp / "nope.pt"), 1,
         r"--checkpoint .*nope\.pt: no such file", early=True),
    Case("ckpt-folder", lambda w, t: detect(w, t, checkpoint=t.inp), 1, r"is not a checkpoint file",
         early=True),
    *[Case(f"ckpt-{kind}", lambda w, t, k=kind: detect(w, t, checkpoint=_file_of(k, t)), 1,
           rf"model\.pt is not a readable checkpoint: {why}.*\. Only files holding tensors",
           api=(CheckpointError, _load(lambda w, t: t.inp / "model.pt")), check=_not_executed)
      for kind, why in {"text": r"not a torch file", "empty": "the file is empty",
                        "truncated": "the file is truncated or damaged",
                        "hostile": r"it holds pickled Python objects \(posix\.mkdir\), refused unread",
                        "exception": r"it holds pickled Python objects"}.items()],
    *[Case(f"ckpt-{name}", lambda w, t, e=edit: detect(w, t, checkpoint=_checkpoint(w, t, e)), 1,
           rf"model\.pt: .*{why}", api=(CheckpointError, _load(lambda w, t: t.inp / "model.pt")))
      for name, edit, why in [
          ("nan-weights", _nan,
           r"its trainable weights hold NaN or infinite values in adapter\.fc\.0\.weight"),
          ("inf-weights", _inf, r"NaN or infinite values in holistic_head\.projection1\.bias"),
          ("extra-config-key", lambda d: _set(d["config"], "colour", "red"),
           r"its config has unknown fields \['colour'\]"),
          ("no-config", lambda d: d.pop("config") and None, r"it has no 'config' entry"),
          ("config-wrong-type", lambda d: _set(d["config"], "profile", 5),
           r"config field profile is 5, not a str"),
          ("non-tensor-weight", lambda d: _set(d["trainable"], "adapter.fc.0.weight", "abc"),
           r"not tensors: adapter\.fc\.0\.weight \(str\)"),
          ("partial", _partial, r"cannot load trainable weights: missing keys: image_head\.bn1\.bias"),
          ("wrong-architecture", lambda d: _set(d["trainable"], "adapter.fc.0.weight", torch.zeros(160, 512)),
           r"wrong shapes: adapter\.fc\.0\.weight \(160, 512\) \(expected \(160, 640\)\)"),
          ("other-backbone", lambda d: _set(d, "backbone_fingerprint", "0" * 16), r"differs from the one"),
          ("version", lambda d: _set(d, "version", 99), r"unsupported inctrl checkpoint version 99"),
      ]],
    Case("ckpt-official-wrong-architecture",
         lambda w, t: detect(w, t, checkpoint=_checkpoint(
             w, t, lambda d: {"model_state": {"visual.conv1.weight": torch.zeros(5, 3, 7, 7)}})), 1,
         r"model\.pt: not an official InCTRL checkpoint of an open_clip ViT: it has no "
         r"'visual\.positional_embedding'", api=(CheckpointError, _load(lambda w, t: t.inp / "model.pt"))),
    Case("ckpt-official-partial",
         lambda w, t: detect(w, t, checkpoint=_checkpoint(
             w, t, lambda d: _official(w, drop=("diff_head.bn2.weight",)))), 1,
         r"cannot load official checkpoint: missing keys: holistic_head\.bn2\.weight",
         api=(CheckpointError, _load(lambda w, t: t.inp / "model.pt"))),
    Case("ckpt-a-list", lambda w, t: detect(w, t, checkpoint=_checkpoint(w, t, lambda d: [1, 2])), 1,
         r"model\.pt holds a list, not a checkpoint dictionary"),
    Case("ckpt-neither-format", lambda w, t: detect(w, t, checkpoint=_checkpoint(
        w, t, lambda d: {"weights": torch.zeros(2)})), 1, r"neither an inctrl checkpoint nor an official"),
    Case("eval-nan-checkpoint", lambda w, t: evaluate_cli(w, t, checkpoint=_checkpoint(w, t, _nan)), 1,
         r"model\.pt: its trainable weights hold NaN or infinite values"),
    Case("eval-checkpoint-count", lambda w, t: evaluate_cli(w, t, "--checkpoint", w.ckpt, w.ckpt, w.ckpt,
                                                            checkpoint=w.ckpt), 1,
         r"give one checkpoint, or one per --shots value \(1\), not 3", early=True),
    # --- output paths
    Case("out-is-a-folder", lambda w, t: (t.out.mkdir(), detect(w, t, out=t.out))[-1], 1,
         r"--out .*out is a folder, not a file; give a file path", early=True),
    Case("out-is-a-fifo", lambda w, t: (_fifo(t.out / "scores.csv"), detect(w, t))[-1], 1,
         r"--out .*scores\.csv is a FIFO \(named pipe\); refusing to replace it", early=True,
         check=_still_fifo),
    Case("out-gets-the-umask", lambda w, t: detect(w, t), 0, r"scored 2 images", check=_umask_mode),
    Case("out-unwritable-folder", lambda w, t: (t.out.mkdir(), detect(w, t))[-1], 1,
         r"--out .*: no permission to write in .*out; choose another location", early=True,
         patch=_deny_write(lambda t: t.out)),
    Case("out-read-only-file", lambda w, t: (t.out.mkdir(), (t.out / "scores.csv").write_text("x"),
                                             detect(w, t))[-1], 1,
         r"--out .*scores\.csv is read-only", early=True, patch=_deny_write(lambda t: t.out / "scores.csv")),
    Case("out-under-a-file", lambda w, t: (t.out.mkdir(), (t.out / "f").write_text("x"),
                                           detect(w, t, out=t.out / "f" / "s.csv"))[-1], 1,
         r"--out .*f/s\.csv: .*f is a file, so no folder can be made there", early=True),
    Case("out-inside-input", lambda w, t: detect(w, t, out=w.query / "scores.csv"), 1,
         r"refusing to write .*scores\.csv inside the input folder", early=True),
    Case("heatmaps-is-a-file", lambda w, t: (t.out.mkdir(), (t.out / "h").write_text("x"),
                                             detect(w, t, "--heatmaps", t.out / "h"))[-1], 1,
         r"--heatmaps .*h is a file, not a folder", early=True),
    Case("eval-out-is-a-file", lambda w, t: (t.out.mkdir(), (t.out / "results").write_text("x"),
                                             evaluate_cli(w, t))[-1], 1,
         r"--out .*results is a file, not a folder", early=True),
    Case("train-out-is-a-file", lambda w, t: (t.out.mkdir(), (t.out / "run").write_text("x"),
                                              train_cli(w, t))[-1], 1,
         r"--out .*run is a file, not a folder", early=True),
    # --- training runs
    Case("train-into-non-empty", lambda w, t: _old_run(w, t), 1,
         r"--out .*run is not empty \(epoch_5\.pt, notes\.txt\); pass --resume .*--overwrite", early=True),
    Case("train-overwrite", lambda w, t: _old_run(w, t) + ["--overwrite"], 0, r"trained K=2",
         check=_replaced_old_run),
    Case("train-resume-and-overwrite", lambda w, t: train_cli(w, t, "--resume", "--overwrite"), 2,
         r"--overwrite: not allowed with argument --resume"),
    Case("train-aux-missing", lambda w, t: train_cli(w, t, aux=t.inp / "nope"), 1,
         r"dataset root .*nope does not exist"),
    Case("train-aux-is-a-category", lambda w, t: train_cli(w, t, aux=w.aux / "brick"), 1,
         r"looks like a single category folder"),
    Case("train-aux-no-anomalies", lambda w, t: train_cli(w, t, aux=_no_anomalies(w, t)), 1,
         r"no anomalous samples"),
    Case("train-interrupted", lambda w, t: train_cli(w, t), 130, r"^inctrl: error: interrupted$",
         patch=_interrupt, check=_no_file("run/last_state.pt")),
    *[Case(f"resume-state-{kind}", lambda w, t, k=kind: train_cli(w, t, "--resume", out=_state(w, t, k)), 1,
           rf"last_state\.pt{why}", api=(CheckpointError, _api_train(lambda w, t: t.out / "run")),
           check=_not_executed)
      for kind, why in {"truncated": r" is not a readable training state: the file is truncated or damaged",
                        "empty": r" is not a readable training state: the file is empty",
                        "hostile": r" is not a readable training state: it holds pickled Python objects",
                        "incomplete": r" is not a complete training state \(it lacks \['optimizer'\]\)",
                        "nan": r": its trainable weights hold NaN or infinite values in adapter\.fc\.2\.w",
                        }.items()],
    Case("resume-other-options", lambda w, t: train_cli(w, t, "--resume", "--seed", 3, out=_run_copy(w, t)),
         1,
         r"cannot resume .*run: it was trained with a different configuration \(seed \(--seed\): 10, not 3\)",
         api=(ValueError, _api_train(lambda w, t: t.out / "run", seed=3))),
    Case("resume-aux-trailing-slash", lambda w, t: train_cli(w, t, "--resume", aux=f"{w.aux}/",
                                                             out=_run_copy(w, t)), 0, r"trained K=2"),
    Case("resume-aux-relative", lambda w, t: train_cli(w, t, "--resume", aux=os.path.relpath(w.aux),
                                                       out=_run_copy(w, t)), 0, r"trained K=2"),
    # --- test splits without both classes: no AUROC
    Case("eval-one-class-normal-only", lambda w, t: evaluate_cli(w, t, data=_one_class(w, t, "anomalies")), 1,
         r"category 'wood' of .*data has no anomalous test images, so no AUROC can be computed \(it needs "
         r"both classes\); add anomalous images under .*wood/test/<defect>/ or remove the category",
         early=True, api=(ValueError, _api_evaluate(lambda w, t: t.inp / "data"))),
    Case("eval-one-class-anomalous-only", lambda w, t: evaluate_cli(w, t, data=_one_class(w, t, "good")), 1,
         r"category 'wood' of .* has no normal test images.*add normal images under .*wood/test/good/",
         early=True),
    Case("eval-one-class-in-one-category", lambda w, t: evaluate_cli(
        w, t, data=_one_class(w, t, "anomalies", extra="oak")), 1,
        r"^inctrl: error: category 'wood' of .* has no anomalous test images", early=True),
    # --- result files that exist already, or are symlinks
    Case("out-exists", lambda w, t: detect(w, t, out=_existing_out(w, t)), 1,
         r"--out .*scores\.csv already exists; pass --overwrite to replace it, or give another path",
         early=True, check=_out_kept),
    Case("out-exists-overwrite", lambda w, t: detect(w, t, "--overwrite", out=_existing_out(w, t)), 0,
         r"scored 2 images", check=_out_replaced),
    Case("out-is-a-symlink", lambda w, t: detect(w, t, out=_symlinked_out(w, t)), 1,
         r"--out .*scores\.csv is a symlink \(to .*real\.csv\); pass --overwrite to replace the link itself "
         r"\(its target is left alone\)", early=True, check=_link_untouched),
    Case("out-is-a-symlink-overwrite", lambda w, t: detect(w, t, "--overwrite", out=_symlinked_out(w, t)), 0,
         r"scored 2 images", check=_link_replaced),
    Case("out-is-a-dangling-symlink", lambda w, t: detect(w, t, out=_link(t.out / "scores.csv", t.inp / "x")),
         1, r"--out .*scores\.csv is a symlink \(to .*x\); pass --overwrite", early=True),
    Case("heatmap-exists", _earlier_heatmap, 1,
         r"--heatmaps .*heat already holds \w+_heatmap\.png; pass --overwrite to replace them", early=True,
         check=_heatmaps_kept),
    Case("eval-out-holds-results", lambda w, t: (_earlier_results(w, t), evaluate_cli(w, t))[-1], 1,
         r"--out .*results already holds results \(eval\.json\); pass --overwrite to replace them",
         early=True, check=_results_kept),
    Case("eval-out-holds-results-overwrite", lambda w, t: (_earlier_results(w, t),
                                                           evaluate_cli(w, t, "--overwrite"))[-1], 0,
         r"results written to", check=_results_replaced),
    Case("eval-object-name-blank", lambda w, t: evaluate_cli(w, t, "--object-name", " "), 1,
         r"--object-name must be the object the text prior reads", early=True),
    # --- folders with entries that are no readable images
    Case("query-unreadable-entries", lambda w, t: detect(
        w, t, query=_with_unreadable(t.inp / "q", w.query)), 0,
        r"scored 2 images", warning=r"^inctrl: warning: --query: " + UNREADABLE),
    Case("normal-unreadable-entries-too-few", lambda w, t: detect(
        w, t, "--shots", 4, normal=_with_unreadable(t.inp / "n", w.normal, keep=3)), 1,
        r"--shots 4 needs at least 4 normal images .*--normal has 3 \(3 unreadable entries skipped, see the "
        r"warning above\)", early=True, warning=r"--normal: " + UNREADABLE),
    Case("query-only-unreadable-entries", lambda w, t: detect(
        w, t, query=_with_unreadable(t.inp / "q", None)), 1,
        r"no images found in .*q; expected files ending in .* \(" + UNREADABLE + r"\)", early=True),
    Case("eval-dataset-unreadable-entries",
         lambda w, t: evaluate_cli(w, t, data=_dataset_with_unreadable(w, t)), 0, r"results written to",
         warning=r"^inctrl: warning: category 'wood' of .*data: skipped 3 entries that are no readable image "
                 r"files: test/good/dangling\.png \(a dangling symlink \(to .*gone\.png\)\), "
                 r"test/good/dir\.png \(a folder\), test/good/loop\.png \(a symlink loop\)$"),
    Case("query-dangling-symlink", lambda w, t: detect(
        w, t, query=_link(t.inp / "a.png", t.inp / "gone.png")), 1,
        r"--query .*a\.png is a dangling symlink \(to .*gone\.png\); give an image file or a folder",
        early=True),
    Case("query-symlink-loop", lambda w, t: detect(w, t, query=_link(t.inp / "a.png", t.inp / "a.png")), 1,
         r"--query .*a\.png is a symlink loop; give an image file or a folder", early=True),
    # --- an output that cannot be written: the error names the user's path, not a temporary file
    Case("out-unwritable-after-scoring", lambda w, t: detect(w, t, out="/proc/inctrl_bad_inputs.csv"), 1,
         r"^inctrl: error: (--out )?/proc/inctrl_bad_inputs\.csv: "
         r"(cannot be written|no permission)(?!.*tmp)"),
    # --- issue 34: --overwrite replaces only what inctrl wrote; the user's files survive
    Case("prepare-overwrite-cwd", lambda w, t: prepare_cli(t, "digits", "--overwrite", out="."), 1,
         r"^inctrl: error: --out \. is the working directory; inctrl writes into a folder of its own only, "
         r"give a new folder", early=True, patch=_chdir(lambda t: t.inp)),
    Case("prepare-overwrite-empty-out", lambda w, t: prepare_cli(t, "digits", "--overwrite", out=""), 1,
         r"^inctrl: error: --out is empty \(''\); give a folder path", early=True,
         patch=_chdir(lambda t: t.inp)),
    Case("prepare-overwrite-home", lambda w, t: prepare_cli(t, "digits", "--overwrite", out=t.inp), 1,
         r"--out .*in is the home folder", early=True, patch=_home),
    Case("prepare-overwrite-ancestor-of-cwd",
         lambda w, t: prepare_cli(t, "world-aux", "--overwrite", out=t.inp), 1,
         r"--out .*in is a folder holding the working directory .*in/a/b", early=True,
         patch=_chdir(lambda t: t.inp / "a" / "b")),
    Case("prepare-overwrite-root", lambda w, t: prepare_cli(t, "digits", "--overwrite", out="/"), 1,
         r"--out / is (the root folder|a folder holding the working directory)", early=True),
    *[Case(f"prepare-overwrite-symlink-{dataset}", lambda w, t, d=dataset: prepare_cli(
        t, d, "--overwrite", out=_linked_folder(t)), 1,
        r"--out .*link is a symlink to .*mine, which is not empty; inctrl never empties the folder a link "
        r"points to", early=True, check=_link_and_target_kept) for dataset in ("digits", "world-aux")],
    Case("prepare-overwrite-user-folder", lambda w, t: prepare_cli(
        t, "digits", "--overwrite", out=_user_file(t.inp / "mine")), 1,
        r"--out .*mine holds mine\.txt that inctrl did not write; refusing to replace it, even to "
        r"overwrite: move your files out or choose a new folder", early=True),
    Case("prepare-overwrite-prepared-with-a-user-file", lambda w, t: prepare_cli(
        t, "synthetic", "--overwrite", out=_prepared(t, notes=True)), 1,
        r"--out .*data holds notes\.txt that inctrl did not write", early=True,
        check=_survives(lambda t: t.out / "data" / "notes.txt")),
    Case("prepare-overwrite-prepared", lambda w, t: prepare_cli(
        t, "synthetic", "--overwrite", *SMALL_SYNTHETIC, out=_prepared(t)), 0, r"prepared synthetic in",
        check=_replaced_by_synthetic),
    Case("prepare-into-an-empty-link-target", _empty_link_target, 0, r"prepared synthetic in",
         check=_into_empty_link_target),
    Case("prepare-without-overwrite", lambda w, t: prepare_cli(t, "synthetic", out=_prepared(t)), 1,
         r"--out .*data exists and is not empty; pass --overwrite to replace a folder inctrl wrote"),
    Case("eval-out-cwd", lambda w, t: evaluate_cli(w, t, "--overwrite", out="."), 1,
         r"--out \. is the working directory", early=True, patch=_chdir(lambda t: t.inp)),
    Case("train-out-home", lambda w, t: train_cli(w, t, "--overwrite", out=t.inp), 1,
         r"--out .*in is the home folder", early=True, patch=_home),
    Case("heatmaps-cwd", lambda w, t: detect(w, t, "--heatmaps", ".", "--overwrite"), 1,
         r"--heatmaps \. is the working directory", early=True, patch=_chdir(lambda t: t.inp)),
    Case("detect-out-empty", lambda w, t: _set_option(detect(w, t), "--out", ""), 1,
         r"--out is empty \(''\); give a file path", early=True),
    # --- issue 34: FIFOs, sockets and devices are refused before anything opens them
    Case("prepare-raw-fifo", lambda w, t: prepare_cli(t, "digits", "--raw", _fifo(t.inp / "pipe")), 1,
         r"raw digits path .*pipe is not a folder \(a FIFO, socket or device\); pass the folder of the "
         r"extracted download", early=True),
    Case("prepare-raw-holds-a-fifo", lambda w, t: prepare_cli(t, "digits", "--raw", _raw_digits(t, None)), 1,
         r"raw digits file .*raw/digits\.csv\.gz is a FIFO \(named pipe\), not a regular file; give a "
         r"regular file", early=True, api=(ValueError, lambda w, t: read_digits(t.inp / "raw"))),
    Case("prepare-raw-not-gzip", lambda w, t: prepare_cli(t, "digits", "--raw", _raw_digits(t, b"\xaa&junk")),
         1, r"^inctrl: error: .*raw/digits\.csv\.gz is not scikit-learn's digits file \(a gzipped CSV .*\): "
         r"Not a gzipped file .*; give the folder holding the digits\.csv\.gz of scikit-learn, or leave "
         r"--raw out$", early=True, api=(ValueError, lambda w, t: read_digits(t.inp / "raw"))),
    Case("ckpt-a-fifo", lambda w, t: detect(w, t, checkpoint=_fifo(t.inp / "m.pt")), 1,
         r"--checkpoint .*m\.pt is a FIFO \(named pipe\), not a regular file; give a regular file",
         early=True),
    Case("ckpt-a-device", lambda w, t: detect(w, t, checkpoint="/dev/null"), 1,
         r"--checkpoint /dev/null is a device, not a regular file", early=True),
    Case("weights-a-fifo", lambda w, t: _paper(detect(w, t)) + ["--weights", str(_fifo(t.inp / "w.bin"))], 1,
         r"--weights .*w\.bin is a FIFO \(named pipe\), not a regular file", early=True),
    Case("weights-a-checkpoint", lambda w, t: _paper(detect(w, t)) + ["--weights", str(w.ckpt)], 1,
         r"^inctrl: error: weights .*model\.pt is an InCTRL checkpoint, not CLIP weights; load it as the "
         r"checkpoint \(inctrl\.load\(.*\), or --checkpoint .*model\.pt\)$"),
    # --- issue 34: images a run could not score, found before any model is built
    Case("image-1x1", lambda w, t: detect(w, t, query=_image("1x1", t.inp / "q").parent), 1,
         r"image .*1x1\.png is 1 x 1 pixels, smaller than the 8 x 8 the model takes; give a larger image",
         early=True, api=(ImageLoadError, lambda w, t: check_image_files([t.inp / "q" / "1x1.png"]))),
    Case("image-huge", lambda w, t: detect(w, t, query=_image("huge", t.inp / "q").parent), 1,
         r"cannot read image .*huge\.png: it is too large to decode safely \(Image size \(100000000 pixels\) "
         r"exceeds limit of \d+ pixels.*\); downscale it below \d+ pixels$", early=True,
         api=(ImageLoadError, lambda w, t: load_image(t.inp / "q" / "huge.png"))),
    Case("eval-empty-image-in-train-good", lambda w, t: evaluate_cli(w, t, data=_with_empty_prompt(w, t)), 1,
         r"cannot read image .*train/good/zz_empty\.png: expected a complete image file", early=True,
         api=(ImageLoadError, _api_evaluate(lambda w, t: t.inp / "data"))),
    # --- issue 34: names are data, never paths; a name the text encoder would cut is refused
    Case("eval-name-a-path", lambda w, t: evaluate_cli(w, t, "--name", "../../../x"), 0,
         r"results written to", check=_nothing_outside_results),
    Case("eval-object-name-too-long", lambda w, t: evaluate_cli(w, t, "--object-name", LONG_NAME), 1,
         r"--object-name: the name 'word word word word word word word word '\.\.\. \(6500 characters\) is "
         r"too long: its longest prompt has \d{4} tokens and the text encoder reads 77 \(the rest would be "
         r"cut, silently\); give a shorter name$", check=_no_file("results")),
    Case("detect-name-too-long", lambda w, t: _set_option(detect(w, t), "--name", LONG_NAME), 1,
         r"--name: the name .* is too long: its longest prompt has \d{4} tokens",
         check=_no_file("scores.csv")),
    Case("ckpt-official-config-unknown-key", lambda w, t: detect(w, t, checkpoint=_official_with_config(
        w, t, {"model_cfg": {"vision_cfg": {"patch_dropout_rate": 0.1}, "text_cfg": {}}})), 1,
         r"checkpoint\.pyth: the model config .*open_clip_config\.json: its vision_cfg has keys open_clip "
         r"\S+ does not know: patch_dropout_rate; remove them or update open_clip",
         api=(CheckpointError, _load(lambda w, t: t.inp / "official" / "checkpoint.pyth"))),
    # --- issue 34: options that do not apply, and numbers out of range, are refused
    Case("prepare-size-not-synthetic", lambda w, t: prepare_cli(t, "digits", "--size", 64), 1,
         r"^inctrl: error: --size applies to prepare synthetic only, not to digits; drop it$", early=True),
    Case("prepare-options-not-world-aux",
         lambda w, t: prepare_cli(t, "world-aux", "--seed", 3, "--n-anomalous", 5), 1,
         r"--seed, --n-anomalous apply to prepare synthetic only, not to world-aux; drop them", early=True),
    Case("prepare-raw-not-synthetic", lambda w, t: prepare_cli(t, "synthetic", "--raw", t.inp), 1,
         r"--raw applies to the converted datasets, not to synthetic \(it is generated\); drop it",
         early=True),
    Case("prepare-n-normal-one", lambda w, t: prepare_cli(t, "synthetic", "--n-normal", 1), 1,
         r"--n-normal must be at least 2, got 1", early=True),
    Case("eval-seeds-negative", lambda w, t: evaluate_cli(w, t, "--seeds", -1), 1,
         r"--seeds must be at least 0, got -1", early=True),
    Case("eval-shots-twice", lambda w, t: evaluate_cli(w, t, "--shots", 2, 2), 1,
         r"--shots lists 2 twice; give each value once", early=True),
    Case("detect-seed-negative", lambda w, t: detect(w, t, "--seed", -5), 1,
         r"--seed must be at least 0, got -5", early=True),
    Case("train-seed-negative", lambda w, t: train_cli(w, t, "--seed", -1), 1, r"--seed must be at least 0",
         early=True),
    # --- command lines argparse refuses
    Case("usage-no-name", lambda w, t: [a for a in detect(w, t) if a not in ("--name", "wood")], 2,
         r"the following arguments are required: --name"),
    Case("usage-shots-not-a-number", lambda w, t: detect(w, t, "--shots", "two"), 2,
         r"argument --shots: invalid int value: 'two'"),
]


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse
        return exit_.code


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cli(case: Case, world: World, tmp: Tmp, capsys, monkeypatch):
    argv = case.argv(world, tmp)
    if case.patch:
        case.patch(monkeypatch, world, tmp)
    if case.early:  # reaching a model build fails the case ("unexpected Built")
        monkeypatch.setattr("inctrl.load", refuse_build)
        monkeypatch.setattr("inctrl.train.train", refuse_build)
    before = _snapshot(world.root, tmp.inp)
    code = _exit_code(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "weights_only` set to `False" not in err  # nor torch's advice
    lines = [line for line in err.splitlines() if line.strip()]
    warnings = [line for line in lines if line.startswith("inctrl: warning: ")]
    lines = [line for line in lines if line not in warnings]
    if case.warning:
        assert len(warnings) == 1 and re.search(case.warning, warnings[0]), err
    else:
        assert warnings == [], err
    if case.code == 0:
        assert lines == [] and re.search(case.message, out), (out, err)
    elif case.code == 2:
        assert re.search(case.message, lines[-1]), err
    else:
        assert len(lines) == 1 and lines[0].startswith("inctrl: error: "), err
        assert re.search(case.message, lines[0]), lines[0]
    assert code == case.code, err
    monkeypatch.undo()  # the API call below and the snapshot see the real functions
    assert _snapshot(world.root, tmp.inp) == before
    if case.check:
        case.check(world, tmp)
    if case.api:
        kind, call = case.api
        with pytest.raises(kind) as caught:
            call(world, tmp)
        assert lines[0] == "inctrl: error: " + _one_line(str(caught.value))


def test_every_case_of_the_issue_is_in_the_matrix():
    names = {c.name for c in CASES}
    wanted = {"ckpt-nan-weights", "threshold-nan", "eval-nan-checkpoint", "scores-nan-not-written",
              "ckpt-extra-config-key", "ckpt-non-tensor-weight", "ckpt-no-config", "resume-state-truncated",
              "resume-state-hostile", "eval-no-test-split", "out-is-a-folder", "out-unwritable-folder",
              "out-is-a-symlink", "out-is-a-fifo", "out-gets-the-umask", "train-into-non-empty",
              "resume-aux-trailing-slash", "resume-aux-relative", "resume-other-options",
              "percentile-out-of-range", "normal-listed-twice",
              # handled before this issue
              "image-corrupt", "image-truncated", "image-empty", "image-text", "image-16bit-is-fine",
              "image-palette-is-fine", "image-cmyk-is-fine", "image-exif-is-fine", "image-bomb",
              "folder-empty", "folder-missing", "detect-k-too-large", "eval-k-too-large",
              "ckpt-wrong-architecture", "ckpt-partial", "ckpt-hostile", "train-interrupted",
              # the third pass: silent successes that are refusals now
              "eval-one-class-normal-only", "eval-one-class-in-one-category", "out-exists",
              "out-is-a-symlink-overwrite", "query-unreadable-entries", "normal-unreadable-entries-too-few",
              "out-unwritable-after-scoring",
              # the fourth pass (issue 34): nothing the user made is deleted, nothing written outside --out
              "prepare-overwrite-cwd", "prepare-overwrite-empty-out", "prepare-overwrite-symlink-digits",
              "prepare-overwrite-symlink-world-aux", "prepare-overwrite-user-folder",
              "prepare-overwrite-home", "prepare-overwrite-ancestor-of-cwd",
              "prepare-overwrite-prepared-with-a-user-file", "eval-out-cwd", "train-out-home", "heatmaps-cwd",
              "eval-name-a-path", "eval-object-name-too-long",
              "image-1x1", "eval-empty-image-in-train-good", "image-huge", "weights-a-checkpoint",
              "prepare-raw-fifo", "prepare-raw-holds-a-fifo", "prepare-raw-not-gzip", "ckpt-a-fifo",
              "prepare-size-not-synthetic", "prepare-options-not-world-aux", "eval-seeds-negative",
              "ckpt-official-config-unknown-key"}
    assert wanted <= names, sorted(wanted - names)
    assert len(names) == len(CASES)


def test_debug_shows_the_traceback(world, tmp):
    bad = _file_of("text", tmp)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        main(["--debug", *detect(world, tmp, checkpoint=bad)])
    with pytest.raises(CheckpointError):
        main([*detect(world, tmp, checkpoint=bad), "--debug"])


def test_an_unexpected_error_is_still_one_line(world, tmp, capsys, monkeypatch):
    def bug(*args, **kwargs):
        raise TypeError("a bug")
    monkeypatch.setattr("inctrl.load", bug)
    assert main(detect(world, tmp)) == 1
    err = capsys.readouterr().err.strip()
    assert err == "inctrl: error: unexpected TypeError: a bug (rerun with --debug for the traceback)"


def test_a_library_message_of_kilobytes_is_cut(world, tmp, capsys, monkeypatch):
    def listing(*args, **kwargs):  # as torch lists every key of a state dict that does not fit
        raise ValueError("Missing key(s): " + ", ".join(f'"visual.block.{i}.weight"' for i in range(400)))
    monkeypatch.setattr("inctrl.load", listing)
    assert main(detect(world, tmp)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 1600, len(err)
    assert re.fullmatch(r'inctrl: error: Missing key\(s\): "visual\.block\.0\.weight", .* \.\.\. \(\d+ more '
                        r'characters; --debug shows all\)\n', err)


# ---------------------------------------------------------------------------- the API
API_CASES = [
    ("encode-nothing", lambda m, w, t: m.encode([]), ValueError, r"^no images were given$"),
    ("score-without-bank", lambda m, w, t: m.score(w.query, bank=None), ValueError,
     r"bank must be a PromptBank from model\.prompt_bank\(normal_images, name\), got NoneType"),
    ("score-features-without-bank", lambda m, w, t: m.score_features(m.encode(w.query), "wood"), ValueError,
     r"bank must be a PromptBank .*got str"),
    ("bank-same-file-twice", lambda m, w, t: m.prompt_bank([w.normal / "000.png"] * 2, "wood"),
     ValueError, r"prompt image .*000\.png is given twice"),
    ("bank-same-file-two-spellings", lambda m, w, t: m.prompt_bank(
        [w.normal / "000.png", w.normal / ".." / "good" / "000.png"], "wood"), ValueError, r"given twice"),
    ("bank-name-none", lambda m, w, t: m.prompt_bank(w.normal, name=None), ValueError,
     r"name must be the object / category name, e\.g\. 'metal_nut', got None"),
    ("bank-name-empty", lambda m, w, t: m.prompt_bank(w.normal, name=""), ValueError, r"got ''"),
    ("bank-from-features-name-none", lambda m, w, t: m.prompt_bank_from_features(m.encode(w.normal), None),
     ValueError, r"name must be"),
    ("image-fifo", lambda m, w, t: load_image(_fifo(t.out / "pipe.png")), ImageLoadError,
     r"pipe\.png: it is not a regular file"),
    ("threshold-nan", lambda m, w, t: apply_threshold([0.1, 0.2], float("nan")), ValueError,
     r"threshold must be a finite number, got nan"),
    ("threshold-nan-scores", lambda m, w, t: apply_threshold([0.1, float("nan")], 0.5), ValueError,
     r"1 of 2 scores are NaN or infinite"),
    ("normal-threshold-nan-scores", lambda m, w, t: normal_threshold([0.1, float("nan")]), ValueError,
     r"1 of 2 normal scores are NaN or infinite"),
    ("normal-threshold-percentile-nan", lambda m, w, t: normal_threshold([0.1], float("nan")), ValueError,
     r"percentile must be in \[0, 100\], got nan"),
    ("f1-threshold-inf-scores", lambda m, w, t: f1_threshold([0, 1], [0.1, float("inf")]), ValueError,
     r"1 of 2 scores are NaN or infinite"),
    ("write-onto-a-folder", lambda m, w, t: atomic.write_text(t.inp, "x"), ValueError,
     r"is a folder, not a file"),
    ("write-onto-a-fifo", lambda m, w, t: atomic.write_text(_fifo(t.out / "f.csv"), "x"), ValueError,
     r"f\.csv is a FIFO"),
    ("bank-images-an-int", lambda m, w, t: m.prompt_bank(5, "wood"), TypeError,
     r"^images must be a path, a folder, a PIL image, .* or a list of these, got type int$"),
    ("bank-an-int-among-images", lambda m, w, t: m.prompt_bank([w.normal / "000.png", 3], "wood"), ValueError,
     r"^image 1 has type int; each image must be a path, a PIL image or a \[3, S, S\] tensor$"),
    ("bank-name-an-int", lambda m, w, t: m.prompt_bank(w.normal, name=5), TypeError,
     r"name must be the object / category name, e\.g\. 'metal_nut', got 5 \(type int, not str\)"),
    ("score-images-an-int", lambda m, w, t: m.score(7, m.prompt_bank(w.normal, "wood")), TypeError,
     r"images must be .*got type int"),
    ("score-nan-pixels", lambda m, w, t: m.score(_pixels(m, 1, nan=[0]), m.prompt_bank(w.normal, "wood")),
     ValueError, r"^1 of 1 images hold NaN or infinite pixel values \(first: image 0\); their scores would "
     r"be NaN, give finite pixels, e\.g\. model\.transform\(image\)$"),
    ("score-inf-pixel", lambda m, w, t: m.score(_pixels(m, 2, inf=[1]), m.prompt_bank(w.normal, "wood")),
     ValueError, r"^1 of 2 images hold NaN or infinite pixel values \(first: image 1\)"),
    ("bank-nan-pixels", lambda m, w, t: m.prompt_bank(_pixels(m, 2, nan=[0, 1]), "wood"), ValueError,
     r"^2 of 2 images hold NaN or infinite pixel values"),
    ("bank-nan-pixels-in-a-list", lambda m, w, t: m.prompt_bank(
        [w.normal / "000.png", _pixels(m, 1, nan=[0])[0]], "wood"), ValueError,
     r"^1 of 2 images hold NaN or infinite pixel values \(first: image 1\)"),
    ("score-pixels-wrong-shape", lambda m, w, t: m.score(torch.zeros(3, 8), m.prompt_bank(w.normal, "wood")),
     ValueError, r"pixels must be \[3, S, S\] or \[B, 3, S, S\] .*got shape \[3, 8\]$"),
    ("bank-symlink-loop", lambda m, w, t: m.prompt_bank([_link(t.out / "loop.png", t.out / "loop.png"),
                                                         w.normal / "000.png"], "wood"), ImageLoadError,
     r"^cannot read image .*loop\.png: it is a symlink loop; give an image file$"),
    ("score-dangling-symlink", lambda m, w, t: m.score(_link(t.out / "a.png", t.out / "gone.png"),
                                                       m.prompt_bank(w.normal, "wood")), FileNotFoundError,
     r"^cannot read image .*a\.png: it is a dangling symlink \(to .*gone\.png\); give an image file$"),
    ("train-over-an-earlier-run", lambda m, w, t: train([w.aux], _run_copy(w, t), shots=2, epochs=1,
                                                        steps_per_epoch=2, device="cpu", progress=False,
                                                        overwrite=False), FileExistsError,
     r"holds an earlier run \(last\.pt, last_state\.pt, loss_log\.csv, train_summary\.json \.\.\.\); "
     r"resume it"),
    # --- issue 34: model_config is checked (it exists, parses, is a dict, applies, open_clip knows its keys)
    ("model-config-missing", lambda m, w, t: inctrl.load(w.ckpt, device="cpu", model_config=t.out / "c.json"),
     CheckpointError, r"^model config .*c\.json does not exist$"),
    ("model-config-not-json", lambda m, w, t: inctrl.load(w.ckpt, device="cpu", model_config=_text(
        t.out / "c.json", "{vision_cfg")), CheckpointError,
     r"^the model config .*c\.json is not JSON \(Expecting property name .*\); give an open_clip model "
     r"config"),
    ("model-config-a-fifo", lambda m, w, t: inctrl.load(w.ckpt, device="cpu", model_config=_fifo(
        t.out / "c.json")), CheckpointError, r"^model config .*c\.json is a FIFO \(named pipe\), not a "),
    ("model-config-a-list", lambda m, w, t: inctrl.load(w.ckpt, device="cpu", model_config=[1, 2]),
     CheckpointError, r"^model_config must hold 'vision_cfg' and 'text_cfg' dictionaries \(an open_clip "
     r"model config\), not a list without them$"),
    ("model-config-unknown-key", lambda m, w, t: inctrl.load(w.ckpt, device="cpu", model_config={
        "vision_cfg": {"colour": "red"}, "text_cfg": {}}), CheckpointError,
     r"^model_config: its vision_cfg has keys open_clip \S+ does not know: colour; remove them"),
    ("model-config-for-an-inctrl-checkpoint", lambda m, w, t: inctrl.load(w.ckpt, device="cpu", model_config={
        "vision_cfg": {"width": 64}, "text_cfg": {}}), CheckpointError,
     r"model\.pt: model_config applies to an official InCTRL checkpoint; this is an inctrl checkpoint, which "
     r"stores its own config: drop model_config$"),
    # --- issue 34: a name the text encoder would cut, images too small to score
    ("bank-name-too-long", lambda m, w, t: m.prompt_bank(w.normal, "word " * 100), ValueError,
     r"^the name 'word word word word word word word word '\.\.\. \(500 characters\) is too long: its "
     r"longest prompt has \d+ tokens and the text encoder reads 77 \(the rest would be cut, silently\); give "
     r"a shorter name$"),
    ("evaluate-object-name-too-long", lambda m, w, t: evaluate(
        m, w.target, shots=[2], seeds=[0], progress=False, object_name="word " * 100), ValueError,
     r"too long: its longest prompt has \d+ tokens"),
    ("score-a-1x1-pil-image",
     lambda m, w, t: m.score([Image.new("RGB", (1, 1))], m.prompt_bank(w.normal, "wood")), ImageLoadError,
     r"^image 0 \(a PIL image\) is 1 x 1 pixels, smaller than the 8 x 8 the model takes"),
    ("evaluate-out-dir-cwd", lambda m, w, t: evaluate(
        m, w.target, shots=[2], seeds=[0], progress=False, out_dir=os.getcwd()), ValueError,
     r"^out_dir .* is the working directory; inctrl writes into a folder of its own only"),
    ("world-aux-into-a-linked-folder", lambda m, w, t: make_world_aux(
        _link(t.out / "link", _user_file(t.out / "mine")), overwrite=True, show_progress=False), ValueError,
     r"^output folder .*link is a symlink to .*mine, which is not empty; inctrl never empties"),
]


def _text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _pixels(model, n: int, nan=(), inf=()) -> torch.Tensor:
    """``n`` preprocessed random images, one NaN pixel in the images ``nan``, one inf in ``inf``."""
    side = model.backbone.image_size
    pixels = torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(0))
    pixels[list(nan), 1, 5, 7] = float("nan")
    pixels[list(inf), 2, 0, 0] = float("inf")
    return pixels


@pytest.mark.parametrize("call, kind, message", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api(call, kind, message, tiny_model, world, tmp):
    before = _snapshot(world.root, tmp.inp)
    with pytest.raises(kind, match=message):
        call(tiny_model, world, tmp)
    assert _snapshot(world.root, tmp.inp) == before


def test_atomic_writes_follow_symlinks_and_keep_modes(tmp_path):
    target = tmp_path / "target.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    (tmp_path / "link.json").symlink_to(target)
    atomic.write_json(tmp_path / "link.json", {"a": 1})
    assert (tmp_path / "link.json").is_symlink() and target.read_text() == '{\n  "a": 1\n}\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its mode
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "sub" / "made.csv")
    atomic.write_text(tmp_path / "dangling.csv", "x")  # a dangling link: its target is created
    assert (tmp_path / "sub" / "made.csv").read_text() == "x" and (tmp_path / "dangling.csv").is_symlink()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ValueError, match="symlink loop"):
        atomic.write_text(tmp_path / "loop", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.csv", "link.json", "loop", "sub",
                                                          "target.json"]  # no temporary file left


def test_api_warns_about_skipped_folder_entries(tiny_model, world, tmp_path):
    folder = _with_unreadable(tmp_path / "q", world.query)
    bank = tiny_model.prompt_bank(world.normal, "wood")
    with pytest.warns(SkippedImageWarning, match=UNREADABLE):
        out = tiny_model.score(folder, bank)
    assert len(out.score) == 2  # the two readable images, nothing else


def test_atomic_replaces_a_symlink_itself_when_asked(tmp_path):
    (tmp_path / "mine.csv").write_text("mine")
    (tmp_path / "out.csv").symlink_to(tmp_path / "mine.csv")
    atomic.write_text(tmp_path / "out.csv", "new", follow_symlinks=False)
    assert not (tmp_path / "out.csv").is_symlink() and (tmp_path / "out.csv").read_text() == "new"
    assert (tmp_path / "mine.csv").read_text() == "mine"
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")  # a loop is a link like any other
    atomic.write_text(tmp_path / "loop.csv", "x", follow_symlinks=False)
    assert (tmp_path / "loop.csv").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.csv", "mine.csv", "out.csv"]


def test_atomic_errors_name_the_users_path(tmp_path, monkeypatch):
    from inctrl.cli import _message

    target = tmp_path / "x.csv"

    def no_room(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".x.csv.abc123.tmp"))
    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", no_room)
        with pytest.raises(PermissionError) as caught:
            atomic.write_text(target, "y")
    expected = f"{target}: cannot be written (Permission denied); choose a writable location"
    assert _message(caught.value) == expected
    with pytest.raises(OSError) as caught, atomic.atomic_path(target) as tmp:  # the writer fails
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []  # no temporary file left
    if Path("/proc/self").is_dir():  # a real one: nothing can be created in /proc, not even by root
        with pytest.raises(OSError) as caught:
            atomic.write_text("/proc/inctrl_bad_inputs.csv", "x")
        assert caught.value.filename == "/proc/inctrl_bad_inputs.csv" and ".tmp" not in str(caught.value)


# Sends Ctrl-C to its own process the moment torch starts to load, then runs the command line
# as the ``inctrl`` console script does (``entry``) or as ``python -m inctrl`` (``module``).
_CTRL_C_WHILE_TORCH_LOADS = """
import os, runpy, signal, sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            print("loading torch", flush=True)
            os.kill(os.getpid(), signal.SIGINT)
        return None

mode, sys.argv = sys.argv[1], ["inctrl", *sys.argv[2:]]
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background job ignores it)
sys.meta_path.insert(0, Interrupt())
if mode == "entry":
    from inctrl.cli import main
    sys.exit(main())
runpy.run_module("inctrl", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("mode", ["entry", "module"])
def test_ctrl_c_while_torch_loads(mode, world, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    command = (["detect", "--profile", "tiny", "--normal", str(world.normal), "--query", str(world.query),
                "--name", "wood", "--out", str(tmp_path / "scores.csv")] if mode == "entry" else
               ["eval", "--profile", "tiny", "--data", str(world.target), "--shots", "2", "--seeds", "0",
                "--out", str(tmp_path / "results")])
    before = _snapshot(world.root)
    proc = subprocess.run([sys.executable, "-c", _CTRL_C_WHILE_TORCH_LOADS, mode, *command, "--quiet"],
                          capture_output=True, text=True, env=env)
    assert proc.stdout == "loading torch\n", proc.stdout  # the signal came while torch was loading
    assert proc.stderr == "inctrl: error: interrupted\n" and proc.returncode == 130, proc.stderr
    assert list(tmp_path.iterdir()) == [] and _snapshot(world.root) == before


# ---------------------------------------------------------------------------- raw layouts
def _raw_mvtec(root: Path) -> None:
    make_canonical(root, {"bottle": (4, 1, {"broken": 2})})


def _raw_visa(root: Path) -> None:
    rows = ["object,split,label,image,mask"]
    for i, (split, label) in enumerate([("train", "normal")] * 3 + [("test", "normal"), ("test", "anomaly")]):
        rel = f"candle/Data/Images/{label.title()}/{i:03d}.JPG"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(noise(RNG, (8, 8, 3))).save(root / rel)
        mask = f"candle/Data/Masks/Anomaly/{i:03d}.png" if label == "anomaly" else ""
        if mask:
            write_png(root / mask, np.eye(8) * 255)
        rows.append(f"candle,{split},{label},{rel},{mask}")
    (root / "split_csv").mkdir()
    (root / "split_csv" / "1cls.csv").write_text("\n".join(rows) + "\n")


def _raw_aitex(root: Path) -> None:
    write_png(root / "NODefect_images" / "2311694-2040n7u00" / "0001_000_00.png", noise(RNG, (16, 64)))
    write_png(root / "Defect_images" / "0002_002_00.png", noise(RNG, (16, 64)))
    write_png(root / "Mask_images" / "0002_002_00_mask.png", np.pad(np.full((4, 4), 255), ((0, 12), (0, 60))))


def _raw_elpv(root: Path) -> None:
    lines = [f"images/cell{i:04d}.png {1.0 if i < 2 else 0.0} mono" for i in range(8)]
    for i in range(8):
        write_png(root / "images" / f"cell{i:04d}.png", noise(RNG, (8, 8)))
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


def _raw_sdd(root: Path) -> None:
    (root / "kos01").mkdir()
    for i in range(3):
        Image.fromarray(noise(RNG, (12, 4))).save(root / "kos01" / f"Part{i}.jpg")
        label = np.zeros((12, 4), np.uint8)
        label[0, 0] = 255 * (i == 0)  # a defect in the top band of Part0
        Image.fromarray(label).save(root / "kos01" / f"Part{i}_label.bmp")


def _raw_brainmri(root: Path) -> None:
    for folder, n in (("no", 4), ("yes", 2)):
        for i in range(n):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(noise(RNG, (8, 8))).save(root / folder / f"{folder}{i}.jpg")


def _raw_headct(root: Path) -> None:
    for i in range(6):
        write_png(root / "head_ct" / "head_ct" / f"{i:03d}.png", noise(RNG, (8, 8)))
    (root / "labels.csv").write_text("id, hemorrhage\n" + "".join(f"{i},{int(i < 2)}\n" for i in range(6)))


def _one_vs_all(classes):
    def build(root: Path) -> None:
        for split in ("train", "test"):
            for c in classes:
                for i in range(2):
                    write_png(root / split / c / f"{c}_{i}.png", noise(RNG, (4, 4)))
    return build


RNG = np.random.default_rng(0)
RAW_LAYOUTS = {"mvtec": _raw_mvtec, "visa": _raw_visa, "aitex": _raw_aitex, "elpv": _raw_elpv,
               "sdd": _raw_sdd, "brainmri": _raw_brainmri, "headct": _raw_headct,
               "mnist": _one_vs_all(["0", "1"]), "cifar10": _one_vs_all(["cat", "dog"])}
OWN_OPTIONS = {"aitex": {"tile": 16}}  # the small fake AITEX images hold no 256-pixel tile


@pytest.fixture(scope="module")
def raw_layouts(tmp_path_factory) -> dict[str, Path]:
    """One small raw download per converter, plus an empty folder."""
    root = tmp_path_factory.mktemp("raw")
    (root / "empty").mkdir()
    folders = {"empty": root / "empty"}
    for name, build in RAW_LAYOUTS.items():
        folders[name] = root / name
        folders[name].mkdir()
        build(folders[name])
    return folders


@pytest.mark.parametrize("name", sorted(RAW_LAYOUTS))
def test_every_converter_takes_its_own_layout(name, raw_layouts, tmp_path):
    """The control of the test below: each fake download is one its converter accepts."""
    before = tree_checksum(raw_layouts[name])
    CONVERTERS[name](raw_layouts[name], tmp_path / "out", show_progress=False, **OWN_OPTIONS.get(name, {}))
    assert CanonicalDataset(tmp_path / "out").categories and tree_checksum(raw_layouts[name]) == before


@pytest.mark.parametrize("name, layout", [(name, layout) for name in sorted(CONVERTERS)  # any registered
                                          for layout in ["empty", *sorted(RAW_LAYOUTS)] if layout != name])
def test_every_converter_refuses_another_layout(name, layout, raw_layouts, tmp_path):
    raw = raw_layouts[layout]
    before = tree_checksum(raw)
    with pytest.raises((ValueError, FileNotFoundError), match=r"^raw [^ ]+( AD)? layout not recognised: "):
        CONVERTERS[name](raw, tmp_path / "out", show_progress=False)
    assert list(tmp_path.iterdir()) == [] and tree_checksum(raw) == before  # nothing written, nothing touched


def test_prepare_refuses_another_layout_in_one_line(raw_layouts, tmp_path, capsys):
    raw = raw_layouts["elpv"]
    assert main(["prepare", "mvtec", "--raw", str(raw), "--out", str(tmp_path / "m"), "--quiet"]) == 1
    assert not (tmp_path / "m").exists()
    err = capsys.readouterr().err
    assert err == (f"inctrl: error: raw MVTec AD layout not recognised: {raw / 'images'} has no "
                   "train/good/ with images; expected <category>/train/good/, test/good/, test/<defect>/ and "
                   "ground_truth/ in every category; is --raw the extracted mvtec_anomaly_detection folder? "
                   "(see data/README.md)\n")


# ---------------------------------------------------------------------------- issue 34: no litter, no escape
def _dead_pid() -> int:
    """The id of no running process."""
    pid = 3_999_999
    while True:
        pid += 1
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except OSError:
            pass


def test_a_rerun_removes_what_a_killed_run_left(tmp_path):
    dead = _dead_pid()
    left = [tmp_path / f".data.tmp-{dead}-0123abcd",  # killed (SIGKILL) while writing
            tmp_path / f".data.old-{dead}-0123abcd",  # killed between its two renames
            tmp_path / ".data.tmp-89abcdef"]  # left by an inctrl before this rule
    running = tmp_path / f".data.tmp-{os.getpid()}-fedcba98"  # a run still going: never touched
    for folder in [*left, running]:
        write_png(folder / "wood" / "train" / "good" / "000.png", np.zeros((8, 8)))
    _user_file(tmp_path / ".data.tmp-notes")  # a name inctrl never makes
    argv = ["prepare", "synthetic", "--out", str(tmp_path / "data"), "--quiet", *map(str, SMALL_SYNTHETIC)]
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".data.tmp-notes", running.name, "data"])
    assert (tmp_path / ".data.tmp-notes" / "mine.txt").read_text() == MINE
    assert (running / "wood" / "train" / "good" / "000.png").is_file()


def test_a_second_ctrl_c_during_clean_up_leaves_nothing(tmp_path, monkeypatch, capsys):
    import inctrl.data.synthetic as synthetic

    written = []

    def save_then_ctrl_c(image, dst, **kwargs):  # the first Ctrl-C: while writing the images
        if len(written) == 5:
            raise KeyboardInterrupt
        written.append(dst)
        real_save(image, dst, **kwargs)

    def rmtree_then_ctrl_c(path, *args, **kwargs):  # the second: half-way through the clean-up
        calls.append(path)
        if len(calls) == 1:
            next(Path(path).rglob("*.png")).unlink()
            raise KeyboardInterrupt
        real_rmtree(path, *args, **kwargs)

    real_save, real_rmtree, calls = synthetic.save_png, shutil.rmtree, []
    monkeypatch.setattr(synthetic, "save_png", save_then_ctrl_c)
    monkeypatch.setattr(shutil, "rmtree", rmtree_then_ctrl_c)
    _user_file(tmp_path / "mine")
    argv = ["prepare", "synthetic", "--out", str(tmp_path / "data"), "--quiet", *map(str, SMALL_SYNTHETIC)]
    assert main(argv) == 130
    assert capsys.readouterr().err == "inctrl: error: interrupted\n"
    assert len(calls) == 2 and written[0].is_relative_to(calls[0])  # the staging folder, removed at last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    assert (tmp_path / "mine" / "mine.txt").read_text() == MINE


def test_a_category_name_from_data_is_never_a_path(tmp_path):
    raw = tmp_path / "raw"
    _raw_visa(raw)
    table = raw / "split_csv" / "1cls.csv"
    table.write_text(table.read_text().replace("\ncandle,", "\n../escaped,", 1))
    before = tree_checksum(raw)
    with pytest.raises(ValueError, match=r"1cls\.csv:2: object '\.\./escaped' is not a plain name .*names "
                                         r"are data, never paths"):
        CONVERTERS["visa"](raw, tmp_path / "out", show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"] and tree_checksum(raw) == before


@pytest.mark.parametrize("name, expected", [("../../x", "_._.._x"), ("a/b\\c", "a_b_c"), ("..", "_."),
                                            ("", "_"), (".hidden", "_hidden"), ("solar cell", "solar cell"),
                                            ("x" * 300, "x" * 100)])
def test_a_name_becomes_one_safe_file_name(name, expected):
    from inctrl.paths import file_name

    assert file_name(name) == expected


def test_the_output_folder_rule(tmp_path, monkeypatch):
    """The one function every writer calls, as the other commands will call it."""
    from inctrl.paths import MARKER, check_output_folder, mark_output_folder, regular_file

    monkeypatch.chdir(_user_file(tmp_path / "cwd"))
    monkeypatch.setenv("HOME", str(_user_file(tmp_path / "home")))
    assert check_output_folder("new", whole=True) == Path("new")  # a new folder: fine, nothing made yet
    assert not Path("new").exists()
    for refused, why in ((".", "is the working directory"), ("", "is empty"), ("~", "is the home folder"),
                         (str(tmp_path), "is a folder holding the working directory"),
                         ("/", "is a folder holding")):
        for whole in (True, False):
            with pytest.raises(ValueError, match=why):
                check_output_folder(refused, whole=whole, overwrite=True)
    ours = _prepared(Tmp(tmp_path, tmp_path / "ours"))
    assert (ours / MARKER).is_file() and check_output_folder(ours, whole=True, overwrite=True) == ours
    with pytest.raises(FileExistsError, match=r"^out .*ours/data exists and is not empty; pass "
                                              r"overwrite=True"):
        check_output_folder(ours, whole=True, what="out")
    (ours / "wood" / "test" / "good" / "mine.png").write_bytes(b"x")  # deep inside: still the user's
    with pytest.raises(ValueError, match=r"holds wood/test/good/mine\.png that inctrl did not write"):
        check_output_folder(ours, whole=True, overwrite=True)
    mark_output_folder(ours)  # now listed: inctrl's to replace
    assert check_output_folder(ours, whole=True, overwrite=True) == ours
    assert check_output_folder(_user_file(tmp_path / "results"), overwrite=True) == tmp_path / "results"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    with pytest.raises(ValueError, match=r"^image .*sock is a socket, not a regular file; give a regular "
                                         r"file$"):
        regular_file(tmp_path / "sock", "image")
    server.close()
