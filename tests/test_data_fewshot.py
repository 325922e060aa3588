"""Few-shot prompt sets: seeded draws, atomic JSON round trip, clear errors."""

import json

import pytest
from data_fixtures import make_canonical

from inctrl.data.fewshot import PromptSet, draw_many
from inctrl.data.layout import CanonicalDataset


@pytest.fixture()
def dataset(tmp_path):
    return CanonicalDataset(make_canonical(tmp_path / "ds", {"screw": (10, 2, {"cut": 1})}))


def test_draw_is_seeded_distinct_and_nested(dataset):
    a = PromptSet.draw(dataset, "screw", 4, seed=7)
    assert a == PromptSet.draw(dataset, "screw", 4, seed=7)
    assert a.k == 4 and len(set(a.paths)) == 4 and a.dataset == "ds" and a.seed == 7
    assert all(p.startswith("screw/train/good/") for p in a.paths)
    assert PromptSet.draw(dataset, "screw", 8, seed=7).paths[:4] == a.paths
    sets = draw_many(dataset, "screw", 4)
    assert [s.seed for s in sets] == [0, 1, 2]
    assert len({s.paths for s in sets}) == 3


def test_save_load_resolve_round_trip(dataset, tmp_path):
    ps = PromptSet.draw(dataset, "screw", 2, seed=0)
    path = ps.save(tmp_path / "prompts" / "screw_k2_s0.json")
    assert PromptSet.load(path) == ps
    assert json.loads(path.read_text())["paths"] == list(ps.paths)
    assert [p.name for p in path.parent.iterdir()] == ["screw_k2_s0.json"]  # no temp left
    resolved = ps.resolve(dataset.root)
    assert all(p.is_file() for p in resolved)
    resolved[1].unlink()
    with pytest.raises(FileNotFoundError, match=ps.paths[1]):
        ps.resolve(dataset.root)


def test_errors(dataset, tmp_path):
    with pytest.raises(ValueError, match="k=11.*'screw'.*only 10"):
        PromptSet.draw(dataset, "screw", 11, seed=0)
    with pytest.raises(ValueError, match="at least 1"):
        PromptSet.draw(dataset, "screw", 0, seed=0)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        PromptSet.load(bad)
    bad.write_text(json.dumps({"dataset": "d", "category": "c", "k": 3, "seed": 0, "paths": ["a.png"]}))
    with pytest.raises(ValueError, match="k=3 but lists 1"):
        PromptSet.load(bad)
