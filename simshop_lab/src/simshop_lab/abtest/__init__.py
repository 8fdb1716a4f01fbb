"""A/B tests in simulation (docs/abtest.md): `run_abtest` and the pieces it is made of.

- `assignment`: a seeded hash of the shopper id picks the arm;
- `metrics`: per-shopper values from the played visits;
- `stats`: Welch t, the delta method, two-proportion z, the sample-ratio check;
- `sequential`: mSPRT, always-valid p-values and confidence sequences;
- `power`: shoppers needed for a minimum detectable effect;
- `calibration`: false-positive rate or power over replicates, and the peeking contrast;
- `run`: the orchestration.
"""

from simshop_lab.abtest.metrics import METRICS
from simshop_lab.abtest.run import ABResult, MetricResult, run_abtest

__all__ = ["METRICS", "ABResult", "MetricResult", "run_abtest"]
