"""Timing and peak memory of one call: warm-up, repeats, median and spread.

Peak memory is what the call adds on top of what was resident before it:

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the
  allocated bytes at the start (tensors only; the caching allocator's slack is not counted).
* CPU: a sampling thread reads the process's resident set (``VmRSS`` in ``/proc/self/status``)
  every ``interval`` seconds during the call; peak minus the baseline taken just before it.
  Freed heap is handed back to the OS first (``malloc_trim``), so memory cached from an earlier
  call does not hide this one's. Spikes shorter than the interval can be missed, and RSS counts
  everything in the process (other threads included), so it is an estimate, not an audit.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

_STATUS = "/proc/self/status"


def _libc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes() -> int | None:
    """Resident set size of this process, or None where /proc is not available."""
    try:
        with open(_STATUS, "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Context manager: ``.peak_bytes`` = peak memory added during the block (see module doc)."""

    def __init__(self, device: torch.device | str, interval: float = 0.002):
        self.device = torch.device(device)
        self.interval = interval
        self.peak_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._baseline = 0
        self._peak = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = rss_bytes()
            if rss is not None and rss > self._peak:
                self._peak = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._baseline = torch.cuda.memory_allocated(self.device)
        else:
            _libc_trim()
            baseline = rss_bytes()
            if baseline is not None:
                self._baseline = self._peak = baseline
                self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)
                self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device) - self._baseline)
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            last = rss_bytes() or 0
            self.peak_bytes = int(max(self._peak, last) - self._baseline)


@dataclass
class Measurement:
    """Wall-clock seconds of the timed repeats and the peak memory added (largest over repeats)."""

    samples_s: list[float]
    peak_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    def to_dict(self) -> dict[str, Any]:
        s = self.samples_s
        return {
            "median_s": self.median_s,
            "min_s": min(s),
            "max_s": max(s),
            "spread": (max(s) - min(s)) / self.median_s if self.median_s > 0 else 0.0,  # relative
            "repeats": len(s),
            "samples_s": s,
            "peak_bytes": self.peak_bytes,
            **self.extra,
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    fn: Callable[[], Any],
    *,
    device: torch.device | str,
    repeats: int,
    warmup: int = 1,
    memory: bool = True,
) -> tuple[Measurement, Any]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; returns the last result too."""
    device = torch.device(device)
    result = None
    for _ in range(warmup):
        result = fn()
    samples, peaks = [], []
    for _ in range(max(1, repeats)):
        tracker = PeakMemory(device) if memory else contextlib.nullcontext()
        with tracker:
            _sync(device)
            start = time.perf_counter()
            result = fn()
            _sync(device)
            samples.append(time.perf_counter() - start)
        if memory and tracker.peak_bytes is not None:
            peaks.append(tracker.peak_bytes)
    return Measurement(samples, max(peaks) if peaks else None), result


def machine_info(device: torch.device | str) -> dict[str, Any]:
    """Where and with what the numbers were taken, for the JSON report."""
    import transformers

    device = torch.device(device)
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "niceness": os.nice(0) if hasattr(os, "nice") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_bytes=props.total_memory, cuda=torch.version.cuda)
    return info
