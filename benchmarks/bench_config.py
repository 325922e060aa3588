"""What one benchmark run measures: the device defaults and the run's configuration.

:func:`benchmarks.bench_inference.parse_args` reads the command line into a
:class:`BenchConfig`; options it leaves open take the device's defaults
(:data:`CPU_DEFAULTS`, :data:`GPU_DEFAULTS`) through :meth:`BenchConfig.for_device`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class DeviceDefaults:
    """What a run measures on a kind of device unless the command line says otherwise.

    Attributes:
        batch_sizes: profile name -> the query batch sizes B timed.
        precision: the precisions timed (``"fp32"``, ``"bf16"``).
        warmup: untimed rounds before the timed ones.
        repeats: timed rounds; the median is reported.
        official_queries: queries timed in the official-style loop.
        official_every_k: time the official-style loop at every K; False: only at the largest K.
    """

    batch_sizes: dict[str, tuple[int, ...]]
    precision: tuple[str, ...]
    warmup: int
    repeats: int
    official_queries: int
    official_every_k: bool


CPU_DEFAULTS = DeviceDefaults({"paper": (1, 8), "tiny": (1, 8, 32), "mini": (1, 8, 32),
                               "mini-v2": (1, 8, 32)}, ("fp32",), warmup=1, repeats=5,
                              # each official-style query re-encodes 242 text prompts, which is
                              # slow on a CPU for the paper text tower: only the largest K
                              official_queries=1, official_every_k=False)
GPU_DEFAULTS = DeviceDefaults({"paper": (1, 32, 256), "tiny": (1, 32, 256), "mini": (1, 32, 256),
                               "mini-v2": (1, 32, 256)}, ("fp32", "bf16"),
                              warmup=3, repeats=10, official_queries=5, official_every_k=True)


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run.

    ``None`` (and no batch sizes) leave the choice to the device's defaults
    (:data:`CPU_DEFAULTS`, :data:`GPU_DEFAULTS`); :meth:`for_device` fills them in.

    Attributes:
        device: ``"auto"`` or a torch device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
        profiles: the backbone profiles timed (``"tiny"``, ``"paper"``, ``"mini"``, and
            ``"mini-v2"``: the architecture of the earlier mini backbone, a small ViT).
        shots: the prompt counts K, one prompt bank each.
        batch_sizes: the query batch sizes B; None: the device's defaults per profile.
        precision: the precisions timed (``"fp32"``, ``"bf16"``).
        warmup: untimed rounds before the timed ones.
        repeats: timed rounds; the median is reported.
        official_queries: queries timed in the official-style loop (0 skips it).
        official_shots: the K values of the official-style loop.
        out: the results JSON to write; None writes none.
        argv: the command-line arguments, recorded in the results.
    """

    device: str = "auto"
    profiles: tuple[str, ...] = ("tiny", "paper")
    shots: tuple[int, ...] = (2, 4, 8)
    batch_sizes: tuple[int, ...] | None = None
    precision: tuple[str, ...] | None = None
    warmup: int | None = None
    repeats: int | None = None
    official_queries: int | None = None
    official_shots: tuple[int, ...] | None = None
    out: str | None = None
    argv: tuple[str, ...] = ()

    @property
    def defaults(self) -> DeviceDefaults:
        """The defaults of this run's device: :data:`GPU_DEFAULTS` on CUDA, else :data:`CPU_DEFAULTS`."""
        return GPU_DEFAULTS if torch.device(self.device).type == "cuda" else CPU_DEFAULTS

    def for_device(self, device: torch.device) -> BenchConfig:
        """This run on ``device``, every option it left open set to the device's default.

        Args:
            device: the resolved device.

        Returns:
            A copy with ``device``, ``precision``, ``warmup``, ``repeats``,
            ``official_queries`` and ``official_shots`` set (batch sizes stay per profile,
            see :meth:`batch_sizes_for`).
        """
        done = replace(self, device=str(device))
        d = done.defaults
        return replace(
            done, precision=self.precision or d.precision,
            warmup=d.warmup if self.warmup is None else self.warmup,
            repeats=d.repeats if self.repeats is None else self.repeats,
            official_queries=d.official_queries if self.official_queries is None else self.official_queries,
            official_shots=self.official_shots or (tuple(self.shots) if d.official_every_k
                                                   else (max(self.shots),)))

    def batch_sizes_for(self, profile: str) -> tuple[int, ...]:
        """The batch sizes timed for ``profile``: those given, else the device's defaults.

        Args:
            profile: ``"tiny"`` or ``"paper"``.

        Returns:
            The query batch sizes B.
        """
        return self.batch_sizes or self.defaults.batch_sizes[profile]
