"""Training sampler: index contract of book/equations.md §6."""

from pathlib import Path

import numpy as np
import pytest
import torch

from inctrl.data.layout import Sample
from inctrl.data.sampler import TrainingSampler


def _samples(spec):
    """spec: {category: (n_normal, n_anomalous)} -> interleaved list of Samples."""
    out = []
    for cat, (n_norm, n_anom) in spec.items():
        out += [Sample(Path(f"{cat}/n{i}.png"), 0, cat, "good", "train") for i in range(n_norm)]
        out += [Sample(Path(f"{cat}/a{i}.png"), 1, cat, "bad", "test") for i in range(n_anom)]
    rng = np.random.default_rng(0)
    return [out[i] for i in rng.permutation(len(out))]


SPEC = {"a": (6, 3), "b": (5, 4), "c": (9, 1)}


def test_shapes_labels_and_same_category_prompts():
    samples = _samples(SPEC)
    sampler = TrainingSampler(samples, shots=4, seed=3)
    batch = sampler.batch()
    assert batch.query_index.dtype == torch.long and batch.query_index.shape == (16,)
    assert batch.prompt_index.dtype == torch.long and batch.prompt_index.shape == (16, 4)
    assert batch.labels.dtype == torch.float32
    assert batch.labels.tolist() == [0.0] * 8 + [1.0] * 8
    for b, q in enumerate(batch.query_index.tolist()):
        assert samples[q].label == batch.labels[b].item()
        assert samples[q].category == batch.categories[b]
        prompts = batch.prompt_index[b].tolist()
        assert len(set(prompts)) == 4
        assert all(samples[p].label == 0 and samples[p].category == samples[q].category for p in prompts)
    cats = set()
    for batch in sampler.batches(20):
        cats |= set(batch.categories)
    assert cats == {"a", "b", "c"}  # categories mixed


def test_prompts_redrawn_and_seeded():
    samples = _samples(SPEC)
    first = [TrainingSampler(samples, 2, seed=5).batch() for _ in range(2)]
    assert torch.equal(first[0].query_index, first[1].query_index)
    assert torch.equal(first[0].prompt_index, first[1].prompt_index)
    sampler = TrainingSampler(samples, 2, n_normal=1, n_anomalous=0, seed=5)
    draws = {}
    for batch in sampler.batches(200):  # same query met again gets new prompts
        draws.setdefault(batch.query_index.item(), set()).add(tuple(batch.prompt_index[0].tolist()))
    assert max(len(v) for v in draws.values()) > 1
    other = TrainingSampler(samples, 2, seed=6).batch()
    assert not torch.equal(first[0].prompt_index, other.prompt_index)


def test_exclude_query():
    samples = _samples({"a": (3, 2)})
    sampler = TrainingSampler(samples, shots=2, n_normal=3, n_anomalous=1, exclude_query=True)
    for batch in sampler.batches(50):
        for q, prompts in zip(batch.query_index.tolist(), batch.prompt_index.tolist()):
            assert q not in prompts


def test_validation_errors():
    with pytest.raises(ValueError, match="'b' has 5"):
        TrainingSampler(_samples(SPEC), shots=6)
    with pytest.raises(ValueError, match=r"at least 6 .*excluded"):
        TrainingSampler(_samples({"a": (5, 2)}), shots=5, exclude_query=True)
    with pytest.raises(ValueError, match="no anomalous samples"):
        TrainingSampler(_samples({"a": (5, 0)}), shots=2)
    with pytest.raises(ValueError, match="at least 1"):
        TrainingSampler(_samples(SPEC), shots=0)


def test_state_round_trip_resumes_the_same_sequence():
    import json

    sampler = TrainingSampler(_samples(SPEC), shots=2, seed=5)
    sampler.batch()
    saved = json.loads(json.dumps(sampler.state))  # survives JSON, as in training checkpoints
    expected = sampler.batch()
    other = TrainingSampler(_samples(SPEC), shots=2, seed=99)
    other.state = saved
    got = other.batch()
    assert torch.equal(got.query_index, expected.query_index)
    assert torch.equal(got.prompt_index, expected.prompt_index)
