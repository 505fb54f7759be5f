"""Property tests on generated untrusted inputs (issue 20).

Two Hypothesis profiles, chosen by ``ARMROOT_FUZZ_PROFILE``:

- ``suite`` (the default, what `scripts/test` runs): a small sample with derandomized
  generation, so every run exercises the same cases and a failure reproduces;
- ``fuzz`` (what ``bench/fuzz.py`` runs): ``ARMROOT_FUZZ_EXAMPLES`` cases per target (10,000
  by default) from the seed given with ``--hypothesis-seed``.

No example database is written (nothing lands in the checkout); ``ARMROOT_FUZZ_EXAMPLES``
sets the count for either profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
_EXAMPLES = os.environ.get("ARMROOT_FUZZ_EXAMPLES")

settings.register_profile(
    "suite",
    max_examples=int(_EXAMPLES or 40),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "fuzz",
    max_examples=int(_EXAMPLES or 10_000),
    database=None,
    deadline=None,
    suppress_health_check=_QUIET,
)
settings.load_profile(os.environ.get("ARMROOT_FUZZ_PROFILE", "suite"))
