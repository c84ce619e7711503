"""How many worker processes a multi-run command uses, and in which order it hands out runs.

Torch-free: the policy reads the run specs, the method classes' ``is_neural`` flag and recorded
fit times (as ``reproduce --dry-run`` shows them); it starts nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence

from mlbench.runs.cost import usable_cores
from mlbench.runs.spec import RunSpec

# Seconds a spawned worker spends before its first run (importing torch, and the compiler stack
# the first optimizer pulls in): measured 2-5 s on the 2-core development machine. Runs that
# are shorter than this are cheaper one after the other in the calling process.
WORKER_START_SECONDS = 3.0

Estimate = Callable[[RunSpec], "float | None"]


def auto_jobs(
    specs: Sequence[RunSpec],
    *,
    is_neural: Callable[[str], bool],
    estimate: Estimate = lambda spec: None,
    device: str = "cpu",
) -> int:
    """``--jobs`` when the user gives none: the usable cores, capped by the number of runs;
    1 (in this process) for a single run, on one core, on a GPU (parallel processes would share
    one device), and when every run is a classic method whose recorded fit time (if any) is
    under a worker's start-up, since starting workers would then cost more than it saves.

    One worker per neural run, more than the cores, when there are at most twice as many
    neural runs as cores and they would not share out evenly: 3 like runs on 2 cores take two
    runs' time with a worker per core, but 1.5 runs' time all three at once (the system
    time-shares the cores; each run keeps its one torch thread, so its numbers do not change)."""
    if len(specs) < 2 or device.startswith("cuda"):
        return 1
    cores = usable_cores()
    if cores < 2:
        return 1
    worth_it = any(is_neural(spec.method) or (estimate(spec) or 0.0) > WORKER_START_SECONDS for spec in specs)
    if not worth_it:
        return 1
    neural = sum(1 for spec in specs if is_neural(spec.method))
    if cores < neural <= 2 * cores and neural % cores:
        return neural
    return min(cores, len(specs))


def longest_first(
    items: Iterable, key: Callable, *, is_neural: Callable[[str], bool], estimate: Estimate = lambda spec: None
) -> list:
    """``items`` ordered longest run first (by recorded fit time; an untimed neural run counts
    as longer than any timed one, an untimed classic run as shorter), so the last run to start is
    a short one and the workers finish close together. ``key(item)`` is the item's RunSpec.
    The order of equal runs is kept; it changes no number, since every run seeds itself."""

    def cost(item) -> float:
        spec = key(item)
        seconds = estimate(spec)
        if seconds is None:
            return float("inf") if is_neural(spec.method) else 0.0
        return seconds

    return sorted(items, key=cost, reverse=True)


def makespan(seconds: Iterable[float], jobs: int) -> float:
    """Wall time of runs taking ``seconds`` on ``jobs`` workers that each take the next run when
    free, handed out longest first (as :func:`longest_first` orders them)."""
    loads = [0.0] * max(1, jobs)
    for value in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + value)
    return max(loads)
