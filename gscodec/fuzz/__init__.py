"""Fuzzing the decoder: targets, structure-aware mutation, and an engine with a watchdog.

The contract every target checks (format_spec.md §12-14, docs/ROBUSTNESS.md): whatever bytes
a decoder is given, it ends in a decoded result or in one of the documented errors, within a
time and memory budget proportional to what the input holds, and never writes outside the
output it was given.

- :mod:`gscodec.fuzz.targets`: the entry points under test (container, seeking, gsinfo,
  whole-stream decode, gsdec in-process and as a subprocess, profile 0, each geometry codec);
- :mod:`gscodec.fuzz.mutate`: mutations that parse what they change and fix lengths and
  CRCs, so they reach past the CRC checks;
- :mod:`gscodec.fuzz.seeds`: the conformance streams and synthetic inputs;
- :mod:`gscodec.fuzz.engine`: the campaign loop, in-process or in a worker process;
- :mod:`gscodec.fuzz.outcome`: what counts as a finding.

CI runs a short seeded campaign (tests/test_fuzz.py); bench/fuzz_campaign.py runs the long one.
"""

from gscodec.fuzz.engine import Campaign, CampaignConfig, Finding, InProcess, TargetReport, WorkerPool, minimize
from gscodec.fuzz.mutate import Mutator
from gscodec.fuzz.outcome import ContractViolation, Hang, Outcome, classify
from gscodec.fuzz.seeds import seeds_by_kind
from gscodec.fuzz.targets import TARGETS, Target, resolve_target

__all__ = [
    "TARGETS",
    "Campaign",
    "CampaignConfig",
    "ContractViolation",
    "Finding",
    "Hang",
    "InProcess",
    "Mutator",
    "Outcome",
    "Target",
    "TargetReport",
    "WorkerPool",
    "classify",
    "minimize",
    "resolve_target",
    "seeds_by_kind",
]
