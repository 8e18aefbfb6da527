"""Isolation as a property, API fuzzing, hostile tokens and inputs, outages and concurrency.

CI budgets are fixed; larger ones through the environment: HYPOTHESIS_EXAMPLES (isolation
sequences per backend, default 200), HYPOTHESIS_STEPS (calls per sequence, default 20),
FUZZ_EXAMPLES (cases per operation and mode, default 40), FUZZ_SEED, CONCURRENT_CREATES
(default 500). The outage, concurrency and pool tests start a private PostgreSQL cluster and
skip, outside CI, where PostgreSQL's server binaries are not installed.
"""
