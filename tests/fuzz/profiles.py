"""Hypothesis profiles of the fuzz campaign.

`ci` (the default) keeps the whole of tests/fuzz well under a minute, so it runs with every
`make test`; `fuzz` is the long campaign of `make fuzz`. Choose with HYPOTHESIS_PROFILE;
FUZZ_EXAMPLES overrides the number of examples per property of the `fuzz` profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "fuzz-ci",
    max_examples=150,
    deadline=None,  # a shared, busy machine: time is bounded by max_examples
    database=None,  # CI keeps no example database; a failure prints its input
    suppress_health_check=_SLOW_OK,
    print_blob=True,
)
settings.register_profile(
    "fuzz-long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=_SLOW_OK,
    print_blob=True,
)

_PROFILES = {"ci": "fuzz-ci", "fuzz": "fuzz-long"}
PROFILE = _PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), "fuzz-ci")

# Decorate each property with this (not settings.load_profile: the unit tests' own
# hypothesis settings stay as they are).
fuzz_settings = settings.get_profile(PROFILE)
