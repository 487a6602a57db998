"""p2m: from a prompt to a small, evaluated, deployable model (the Prompt2Model method)."""

import os

# torch's OpenMP threads spin while they wait for work. On a laptop's few cores shared with
# anything else they spin against each other: a teacher wave took 41 s with 2 spinning threads
# against 13 s with sleeping ones, while alone sleeping costs 7% (7.6 against 7.1 s;
# docs/BENCHMARKS.md, Teacher). Set before torch is imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
