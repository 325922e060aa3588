"""Converters from raw downloads to the canonical (MVTec AD) layout.

Every converter has the signature ``convert_<name>(raw, out, *, overwrite=False,
show_progress=True, ...) -> Path``. It reads ``raw`` (never writes there), refuses an
``out`` inside ``raw`` or a non-empty ``out`` unless ``overwrite=True`` (which replaces only a
folder inctrl wrote: :func:`inctrl.paths.check_output_folder`), writes into a temporary
sibling folder and renames it to ``out`` at the end, so a crash leaves no half tree.
``CONVERTERS[name](raw, out)`` is what ``python -m inctrl prepare`` calls.
"""

from __future__ import annotations

from .digits import convert_digits
from .elpv import ELPV_CATEGORY, convert_elpv, elpv_package_dir, prepare_elpv, read_elpv_labels
from .medical import convert_brainmri, convert_headct
from .mvtec import convert_mvtec
from .semantic import convert_cifar10, convert_mnist, convert_one_vs_all
from .tiling import AITEX_TILE, SDD_BANDS, convert_aitex, convert_sdd
from .visa import convert_visa

#: Dataset name -> converter ``f(raw, out, **options)``. ``raw`` may be None for ELPV.
CONVERTERS = {
    "mvtec": convert_mvtec,
    "visa": convert_visa,
    "aitex": convert_aitex,
    "elpv": convert_elpv,
    "sdd": convert_sdd,
    "brainmri": convert_brainmri,
    "headct": convert_headct,
    "mnist": convert_mnist,
    "cifar10": convert_cifar10,
    "digits": convert_digits,
}

__all__ = [
    "AITEX_TILE",
    "CONVERTERS",
    "ELPV_CATEGORY",
    "SDD_BANDS",
    "convert_aitex",
    "convert_brainmri",
    "convert_cifar10",
    "convert_elpv",
    "convert_headct",
    "convert_mnist",
    "convert_mvtec",
    "convert_one_vs_all",
    "convert_sdd",
    "convert_visa",
    "elpv_package_dir",
    "prepare_elpv",
    "read_elpv_labels",
]
