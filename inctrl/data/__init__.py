"""Data for InCTRL: image loading, canonical datasets, converters, prompts, sampling.

Every dataset is converted once into the MVTec AD folder layout (see ``data/README.md``)
and read with :class:`CanonicalDataset`; a user's own folders are read with
:class:`FolderDataset`. Few-shot prompts are :class:`PromptSet` s; training batches come
from :class:`TrainingSampler`; :func:`make_synthetic_dataset` is the offline stand-in for
MVTec AD and :func:`prepare_elpv` the offline benchmark.
"""

from .converters import CONVERTERS, prepare_elpv
from .fewshot import PromptSet, draw_many
from .images import IMAGE_SUFFIXES, ImageLoadError, list_images, load_image, load_mask
from .layout import CanonicalDataset, FolderDataset, Sample
from .sampler import TrainingBatch, TrainingSampler
from .splits import split_normals
from .synthetic import SYNTHETIC_CATEGORIES, defect_kinds, make_synthetic_dataset

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
    "defect_kinds",
    "draw_many",
    "list_images",
    "load_image",
    "load_mask",
    "make_synthetic_dataset",
    "prepare_elpv",
    "split_normals",
]
