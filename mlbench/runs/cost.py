"""What a run costs and where it ran: fit and predict seconds, peak memory, and the machine.

:class:`CostMeter` measures one run; :func:`machine` describes the process (device, threads,
usable cores, CPU and GPU model) for ``config.json``; :func:`cost_rows` turns the measurements into
store rows with the metric ids of :data:`mlbench.metrics.COST_METRICS`.

**Peak memory** (``peak-mb``) is the peak resident set size during fit and predict **minus** the
resident size when fit started: the memory the run added (data copies, the model, activations),
independent of what the process already held. Runs often share one long-lived process (``train``
with several methods or seeds, ``reproduce``, a pool worker), so the process-lifetime peak
(``ru_maxrss``, monotone) would charge a cheap run with an earlier run's peak. On Linux the
kernel's own high-water mark is reset at fit start (writing ``5`` to ``/proc/self/clear_refs``,
Linux >= 4.0) and read back from ``VmHWM`` in ``/proc/self/status`` at the end: exact, no sampling
and no thread. Elsewhere a background thread samples the RSS every 5 ms with ``psutil`` (when
installed; it can miss a spike shorter than that); with neither, no peak is recorded (absent,
not a wrong number). Memory of child processes (e.g. joblib workers) is not counted. Memory
freed by an earlier run is first handed back to the OS (glibc's ``malloc_trim(0)``), so that the run's allocations raise the RSS instead of reusing the
allocator's free lists; what cannot be handed back (fragments) can still be reused unseen, so the
figure is the run's need beyond what the process had in hand.

On CUDA, ``peak-gpu-mb`` is ``torch.cuda.max_memory_allocated`` after
``torch.cuda.reset_peak_memory_stats`` at fit start, minus what was allocated then (tensors, not
the caching allocator's reserve). Timings wait for the device (``torch.cuda.synchronize``) so that
queued kernels are charged to the phase that queued them.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MB = 1024 * 1024
_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
SAMPLE_INTERVAL_S = 0.005


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or taskset's limit;
    ``os.cpu_count`` where there is none), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def cpu_model() -> str:
    """The CPU's marketing name (``model name`` of /proc/cpuinfo on Linux, else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _torch():
    # The runner has imported torch by now; a torch-free caller gets None rather than importing it.
    return sys.modules.get("torch")


def blas_threads() -> int | None:
    """The largest thread pool of the BLAS libraries loaded (numpy's, scipy's, torch's)."""
    from threadpoolctl import threadpool_info

    pools = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return max(pools) if pools else None


def _is_cuda(device: str | None) -> bool:
    return bool(device) and str(device).startswith("cuda")


def machine(device: str | None) -> dict[str, Any]:
    """The environment a run's cost depends on, for ``config.json``."""
    torch = _torch()
    out: dict[str, Any] = {
        "device": device,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "blas_threads": blas_threads(),
        "usable_cores": usable_cores(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "gpu_model": None,
    }
    if torch is not None and _is_cuda(device) and torch.cuda.is_available():
        out["gpu_model"] = torch.cuda.get_device_name(torch.device(device))
    return out


def _status_kb(field: str) -> int | None:
    match = re.search(rf"^{field}:\s+(\d+) kB", _PROC_STATUS.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak RSS of this process to its current RSS; False where unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
        hwm, rss = _status_kb("VmHWM"), _status_kb("VmRSS")
    except OSError:
        return False
    # A kernel (or sandbox) that accepts the write but keeps the old peak leaves VmHWM above VmRSS.
    return hwm is not None and rss is not None and hwm <= rss + 1024


def _release_free_memory() -> None:
    """Give memory that earlier runs freed back to the OS, so that this run's allocations show in
    its RSS instead of silently reusing the allocator's free lists (glibc's ``malloc_trim``;
    a no-op elsewhere; a few microseconds). Measured: without it, a run after others in one
    process often showed +0 MB although it allocated a few MB. No ``gc.collect()``: with torch
    imported it takes 0.3-0.7 s, as long as a whole BR run on yeast."""
    if sys.platform.startswith("linux"):
        import ctypes
        import ctypes.util

        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
            pass


class _RssSampler(threading.Thread):
    """Peak of ``read_rss()`` (bytes), sampled every ``interval`` seconds until stopped."""

    def __init__(self, read_rss, interval: float = SAMPLE_INTERVAL_S):
        super().__init__(daemon=True, name="mlbench-rss-sampler")
        self.read_rss, self.interval = read_rss, interval
        self.peak = read_rss()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, self.read_rss())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, self.read_rss())
        return self.peak


def _psutil_rss():
    try:
        import psutil
    except ImportError:
        return None
    process = psutil.Process()
    return lambda: process.memory_info().rss


class CostMeter:
    """Seconds per phase and peak memory of one run: ``start()``, ``with meter.phase("fit"):``
    ..., ``stop()`` -> the cost dict (also on failure: ``stop()`` ends the sampler thread)."""

    def __init__(self, device: str | None = "cpu", *, use_kernel_peak: bool = True, read_rss=None):
        self.device = device
        self.use_kernel_peak = use_kernel_peak
        self.read_rss = read_rss
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._source: str | None = None
        self._baseline: int | None = None
        self._sampler: _RssSampler | None = None
        self._gpu_baseline: int | None = None
        self._result: dict[str, Any] | None = None

    def start(self) -> CostMeter:
        _release_free_memory()
        if self.use_kernel_peak and _reset_high_water_mark():
            self._source, self._baseline = "VmHWM", _status_kb("VmRSS") * 1024
        else:
            read_rss = self.read_rss or _psutil_rss()
            if read_rss is not None:
                self._sampler = _RssSampler(read_rss)
                self._source, self._baseline = "sampled", self._sampler.peak
                self._sampler.start()
        torch = _torch()
        if torch is not None and _is_cuda(self.device) and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats(self.device)
            self._gpu_baseline = torch.cuda.memory_allocated(self.device)
        return self

    @contextmanager
    def phase(self, name: str):
        started, cpu_started = time.perf_counter(), time.process_time()
        yield
        self._synchronize()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu_started

    def _synchronize(self) -> None:
        torch = _torch()
        if torch is not None and _is_cuda(self.device) and torch.cuda.is_available():
            torch.cuda.synchronize(self.device)

    def stop(self) -> dict[str, Any]:
        """The measurements: ``<phase>_seconds``, ``<phase>_cpu_seconds``, ``peak_mb`` (added
        over the start), ``peak_rss_mb`` (absolute), ``baseline_rss_mb``, ``memory_source``,
        ``torch_threads`` at the end and, on CUDA, ``peak_gpu_mb``. Idempotent."""
        if self._result is not None:
            return self._result
        out: dict[str, Any] = {}
        for name, seconds in self.seconds.items():
            out[f"{name}_seconds"] = round(seconds, 4)
            out[f"{name}_cpu_seconds"] = round(self.cpu_seconds[name], 4)
        peak = None
        if self._source == "VmHWM":
            peak = _status_kb("VmHWM") * 1024
        elif self._sampler is not None:
            peak = self._sampler.stop()
        if peak is not None:
            out.update(
                peak_mb=round(max(peak - self._baseline, 0) / MB, 2),
                peak_rss_mb=round(peak / MB, 2),
                baseline_rss_mb=round(self._baseline / MB, 2),
            )
        out["memory_source"] = self._source
        torch = _torch()
        if torch is not None:  # what fit ran with: a neural method's num_threads sets it in fit
            out["torch_threads"] = torch.get_num_threads()
        if self._gpu_baseline is not None:
            torch = _torch()
            peak_gpu = torch.cuda.max_memory_allocated(self.device)
            out["peak_gpu_mb"] = round(max(peak_gpu - self._gpu_baseline, 0) / MB, 2)
        self._result = out
        return out


#: store metric id -> key of the cost dict
COST_KEYS = {
    "fit-seconds": "fit_seconds",
    "predict-seconds": "predict_seconds",
    "peak-mb": "peak_mb",
    "peak-gpu-mb": "peak_gpu_mb",
}


def cost_values(cost: dict[str, Any]) -> dict[str, float]:
    """{cost metric id: value} for what was measured (an unmeasured cost has no entry, not 0)."""
    return {metric: float(cost[key]) for metric, key in COST_KEYS.items() if cost.get(key) is not None}


def describe(cost: dict[str, Any]) -> str:
    """One line for people: ``fit 1.23 s, predict 0.01 s, peak +45.6 MB``."""
    parts = [
        f"{name} {cost[f'{name}_seconds']:.3g} s"
        for name in ("fit", "predict")
        if cost.get(f"{name}_seconds") is not None
    ]
    if cost.get("peak_mb") is not None:
        parts.append(f"peak +{cost['peak_mb']:.1f} MB")
    if cost.get("peak_gpu_mb") is not None:
        parts.append(f"GPU peak +{cost['peak_gpu_mb']:.1f} MB")
    return ", ".join(parts)


def recorded_cost(run_dir: str | Path) -> dict[str, Any] | None:
    """The ``cost`` a run's ``status.json`` recorded; None for runs without one (outside
    predictions, runs from before costs were recorded) or an unreadable file."""
    import json

    try:
        cost = json.loads((Path(run_dir) / "status.json").read_text(encoding="utf-8")).get("cost")
    except (OSError, ValueError, AttributeError):
        return None
    return cost if isinstance(cost, dict) else None
