"""What every worker process needs before its first run, imported once by the fork server
(:mod:`mlbench.runs.workers`) instead of once per worker."""

import torch._dynamo  # noqa: F401  (every torch.optim step imports it: 2.5 CPU-s measured)

import mlbench.runs.runner  # noqa: F401
from mlbench.methods import method_ids

try:
    method_ids()  # imports every built-in method module (and entry-point methods)
except Exception:  # noqa: BLE001 (a broken plugin must not stop the server; its run reports it)
    pass
