"""Data for InCTRL: image loading, canonical datasets, converters, prompts, sampling.

Every dataset is converted once into the MVTec AD folder layout (see ``data/README.md``)
and read with :class:`CanonicalDataset`; a user's own folders are read with
:class:`FolderDataset`. Few-shot prompts are :class:`PromptSet` s; training batches come
from :class:`TrainingSampler`. Offline, :func:`make_world_aux` (drawn from the pretraining
world) stands in for MVTec AD as the auxiliary set, :func:`make_synthetic_dataset` is a simpler
synthetic one, and :func:`prepare_elpv` the benchmark.
"""

from .converters import CONVERTERS, prepare_elpv
from .fewshot import PromptSet, draw_many
from .images import IMAGE_SUFFIXES, ImageLoadError, list_images, load_image, load_mask
from .layout import CanonicalDataset, FolderDataset, Sample
from .sampler import TrainingBatch, TrainingSampler
from .splits import split_normals
from .synthetic import SYNTHETIC_CATEGORIES, defect_kinds, make_synthetic_dataset
from .world import WORLD_AUX, make_world_aux

__all__ = [
    "CONVERTERS",
    "IMAGE_SUFFIXES",
    "SYNTHETIC_CATEGORIES",
    "CanonicalDataset",
    "FolderDataset",
    "ImageLoadError",
    "PromptSet",
    "Sample",
    "TrainingBatch",
    "TrainingSampler",
    "WORLD_AUX",
    "defect_kinds",
    "draw_many",
    "list_images",
    "load_image",
    "load_mask",
    "make_synthetic_dataset",
    "make_world_aux",
    "prepare_elpv",
    "split_normals",
]
