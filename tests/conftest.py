"""Shared fixtures. The whole suite runs offline on the CPU with the tiny profile."""

import os

# Never wait for a hub that cannot be reached: fail fast instead.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model():
    """One tiny-profile model for read-only use (do not train or modify it in a test)."""
    import inctrl

    return inctrl.load("tiny", device="cpu")


@pytest.fixture
def images():
    """Eight preprocessed random 240x240 images, fixed seed."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 240, 240, generator=g)
