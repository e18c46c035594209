"""Names of the files in a training run directory, and the default task mixture.

Kept free of torch so that the command line can name them without loading it.
"""

from __future__ import annotations

STATE = "state.pt"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint"

DEFAULT_TASKS = ("arith", "chain", "countdown", "perm")
