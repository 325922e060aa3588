"""Command line: every subcommand on tiny data, and one-line errors for bad input."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stand_ins import Built, refuse_build

import inctrl
from inctrl.cli import build_parser, main
from inctrl.data.synthetic import make_synthetic_dataset


def _snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and "it/s" not in line]
    assert len(lines) == 1 and lines[0].startswith("inctrl: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    make_synthetic_dataset(root / "aux", categories=["brick"], n_normal=8, n_anomalous=4, size=64,
                           show_progress=False)
    make_synthetic_dataset(root / "target", categories=["wood"], n_normal=8, n_anomalous=3, size=64,
                           show_progress=False)
    ckpt = root / "run"
    assert main(["train", "--aux", str(root / "aux"), "--out", str(ckpt), "--shots", "2", "--epochs", "1",
                 "--steps", "3", "--device", "cpu", "--profile", "tiny", "--quiet"]) == 0
    return root


def test_train_writes_checkpoints_and_log(data):
    run = data / "run"
    assert (run / "last.pt").is_file() and (run / "epoch_1.pt").is_file()
    with (run / "loss_log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and set(rows[0]) == {"epoch", "step", "loss", "loss_final", "loss_image", "lr",
                                               "seconds"}
    assert inctrl.load(run / "last.pt", device="cpu").config.profile == "tiny"


def test_prepare_synthetic_and_elpv(tmp_path, capsys):
    assert main(["prepare", "synthetic", "--out", str(tmp_path / "syn"), "--seed", "1", "--n-normal", "4",
                 "--n-anomalous", "2", "--size", "64", "--quiet"]) == 0
    assert len(list((tmp_path / "syn").glob("*/train/good/*.png"))) == 6 * 3
    pytest.importorskip("elpv_dataset")
    assert main(["prepare", "elpv", "--out", str(tmp_path / "elpv"), "--quiet"]) == 0
    assert len(list((tmp_path / "elpv" / "elpv" / "train" / "good").glob("*.png"))) == 1131
    line = _error(capsys, ["prepare", "elpv", "--out", str(tmp_path / "elpv"), "--quiet"])
    assert "elpv" in line  # refuses a non-empty output folder


def test_prepare_world_aux_writes_the_offline_auxiliary_set(tmp_path, monkeypatch):
    from inctrl.data import world

    made = []
    monkeypatch.setattr(world, "make_world_dataset", lambda out, **kw: made.append((Path(out), kw)))
    assert main(["prepare", "world-aux", "--out", str(tmp_path / "aux"), "--quiet"]) == 0
    assert made == [(tmp_path / "aux", {**world.WORLD_AUX, "overwrite": False, "show_progress": False})]


def test_eval_writes_results(data, tmp_path, capsys):
    before = _snapshot(data / "target")
    out = tmp_path / "results"
    assert main(["eval", "--checkpoint", str(data / "run" / "last.pt"), "--data", str(data / "target"),
                 "--shots", "1", "2", "--seeds", "0", "1", "--out", str(out), "--device", "cpu",
                 "--quiet"]) == 0
    assert "AUROC" in capsys.readouterr().out
    with (out / "eval_summary.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["k"] for r in rows] == ["1", "2"]
    columns = {"auroc_full", "auroc_full_std", "auprc_s_p", "auroc_s_i", "auroc_s_a", "pixel_auroc"}
    assert columns <= set(rows[0])
    assert json.loads((out / "eval.json").read_text())["dataset"] == "target"
    assert _snapshot(data / "target") == before


def test_detect_with_heatmaps_and_auto_threshold(data, tmp_path):
    normal = data / "target" / "wood" / "train" / "good"
    query = data / "target" / "wood" / "test"
    before = _snapshot(data / "target")
    out, heat = tmp_path / "scores.csv", tmp_path / "heat"
    assert main(["detect", "--checkpoint", str(data / "run" / "last.pt"), "--normal", str(normal),
                 "--query", str(query / "good"), str(query / "crack"), "--name", "wood", "--out", str(out),
                 "--heatmaps", str(heat), "--threshold", "auto", "--shots", "2", "--device", "cpu",
                 "--quiet"]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 + 1
    assert {"path", "score", "patch_score", "image_score", "text_score", "holistic_score", "threshold",
            "anomalous", "heatmap"} <= set(rows[0])
    for row in rows:
        assert Path(row["heatmap"]).is_file() and Path(row["heatmap"]).suffix == ".png"
        assert 0 <= float(row["score"]) <= 1
    from PIL import Image

    assert Image.open(rows[0]["heatmap"]).size == (240, 240)
    assert _snapshot(data / "target") == before


def test_bad_inputs_give_one_line_errors(data, tmp_path, capsys):
    ckpt = str(data / "run" / "last.pt")
    normal = data / "target" / "wood" / "train" / "good"
    assert "does not exist" in _error(capsys, ["eval", "--checkpoint", ckpt, "--data", str(tmp_path / "nope"),
                                               "--shots", "2", "--out", str(tmp_path / "o")])
    assert "cannot draw k=50" in _error(capsys, ["eval", "--checkpoint", ckpt, "--data", str(data / "target"),
                                                 "--shots", "50", "--out", str(tmp_path / "o"), "--quiet"])
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    csv_out = str(tmp_path / "x.csv")
    assert "bad.pt" in _error(capsys, ["detect", "--checkpoint", str(bad), "--normal", str(normal),
                                       "--query", str(normal), "--name", "wood", "--out", csv_out])
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert "broken.png" in _error(capsys, ["detect", "--profile", "tiny", "--normal", str(normal),
                                           "--query", str(corrupt), "--name", "wood", "--device", "cpu",
                                           "--out", str(tmp_path / "x.csv"), "--quiet"])
    detect = ["detect", "--profile", "tiny", "--normal", str(normal), "--query", str(normal),
              "--name", "wood"]
    assert "--shots 9" in _error(capsys, detect + ["--shots", "9", "--out", csv_out])
    assert "inside the input folder" in _error(capsys, detect + ["--out", str(normal / "x.csv")])
    assert "needs --raw" in _error(capsys, ["prepare", "mvtec", "--out", str(tmp_path / "m")])
    assert "unknown dataset" in _error(capsys, ["prepare", "imagenet", "--out", str(tmp_path / "m")])
    assert not (tmp_path / "x.csv").exists()


def test_backbone_weights_options(data, tmp_path, capsys, monkeypatch):
    weights = tmp_path / "clip.bin"
    weights.write_bytes(b"")
    normal = str(data / "target" / "wood" / "train" / "good")
    train = ["train", "--aux", str(data / "aux"), "--out", str(tmp_path / "run"), "--profile", "paper"]
    detect = ["detect", "--profile", "paper", "--normal", normal, "--query", normal, "--name", "wood",
              "--out", str(tmp_path / "s.csv")]
    evaluate = ["eval", "--profile", "paper", "--data", str(data / "target"), "--shots", "2",
                "--out", str(tmp_path / "e")]

    args = build_parser().parse_args(train + ["--random-weights"])
    assert args.random_weights is True and args.weights is None
    assert build_parser().parse_args(train + ["--weights", str(weights)]).weights == str(weights)
    with pytest.raises(SystemExit):  # one or the other
        build_parser().parse_args(train + ["--random-weights", "--weights", str(weights)])
    capsys.readouterr()

    # what reaches train() and inctrl.load() (--debug: the stand-in's exception passes through)
    monkeypatch.setattr("inctrl.train.train", refuse_build)
    monkeypatch.setattr("inctrl.load", refuse_build)
    for argv, target in ((train, "train"), (detect, "detect"), (evaluate, "eval")):
        for option, expected in ((["--random-weights"], {"pretrained": False, "weights": None}),
                                 (["--weights", str(weights)], {"pretrained": True, "weights": str(weights)}),
                                 ([], {"pretrained": True, "weights": None})):
            with pytest.raises(Built) as caught:
                main(argv + option + ["--debug"])
            positional, kwargs = caught.value.args
            assert {k: kwargs[k] for k in expected} == expected, (target, option)
            assert "paper" in positional or kwargs.get("profile") == "paper"

    # one-line errors for options that cannot apply
    assert "--profile paper" in _error(capsys, train[:-2] + ["--profile", "tiny", "--random-weights"])
    assert "no such file" in _error(capsys, train + ["--weights", str(tmp_path / "missing.bin")])
    assert "not to --checkpoint" in _error(capsys, ["detect", "--checkpoint", str(data / "run" / "last.pt"),
                                                    *detect[3:], "--random-weights"])
    # --weights with a checkpoint: the local copy of the CLIP weights it was trained on
    with pytest.raises(Built) as caught:
        main(["--debug", "eval", "--checkpoint", str(data / "run" / "last.pt"), *evaluate[3:],
              "--weights", str(weights)])
    assert caught.value.args[0][0].endswith("last.pt") and caught.value.args[1]["weights"] == str(weights)


def test_module_entry_point_help_and_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    for cmd in ("prepare", "train", "eval", "detect"):
        help_text = subprocess.run([sys.executable, "-m", "inctrl", cmd, "--help"], capture_output=True,
                                   text=True, env=env, check=True).stdout
        assert "examples:" in help_text and "inctrl " + cmd in help_text
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    proc = subprocess.run([sys.executable, "-m", "inctrl", "eval", "--checkpoint", str(bad), "--data",
                           str(tmp_path / "d"), "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("inctrl: error:") and len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "inctrl", "train", "--shots", "2"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_object_name_is_read_and_recorded(data, tmp_path):
    ckpt, target = str(data / "run" / "last.pt"), data / "target"
    evaluate = ["eval", "--checkpoint", ckpt, "--data", str(target), "--shots", "1", "--seeds", "0",
                "--no-pixel", "--device", "cpu", "--quiet"]
    assert main(evaluate + ["--out", str(tmp_path / "named"), "--object-name", "solar cell"]) == 0
    assert main(evaluate + ["--out", str(tmp_path / "own")]) == 0
    for run, name in (("named", "solar cell"), ("own", "wood")):
        assert json.loads((tmp_path / run / "eval.json").read_text())["object_names"] == {"wood": name}
        with (tmp_path / run / "eval_draws.csv").open() as fh:
            assert [r["object_name"] for r in csv.DictReader(fh)] == [name]
    normal, query = target / "wood" / "train" / "good", target / "wood" / "test"
    detect = ["detect", "--checkpoint", ckpt, "--normal", str(normal), "--query", str(query / "good"),
              str(query / "crack"), "--device", "cpu", "--quiet"]
    scores = {}
    for option, name in (("--object-name", "solar cell"), ("--name", "solar cell"), ("--name", "wood")):
        out = tmp_path / f"{option}_{name}.csv"
        assert main(detect + [option, name, "--out", str(out)]) == 0
        with out.open() as fh:
            rows = list(csv.DictReader(fh))
        assert {r["object_name"] for r in rows} == {name}
        scores[option, name] = [float(r["text_score"]) for r in rows]
    assert scores["--object-name", "solar cell"] == scores["--name", "solar cell"]  # one option, 2 spellings
    assert scores["--name", "solar cell"] != scores["--name", "wood"]  # the name reaches the text prior
