"""Budgets for the property and fuzz tests: fixed in CI, larger through environment variables."""

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() == "true"

# Derandomized in CI so a red run can be replayed exactly; random locally, to explore further.
settings.register_profile(
    "robustness",
    deadline=None,  # a request to PostgreSQL on a loaded machine has no fixed upper bound
    derandomize=IN_CI,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def budget(variable: str, default: int) -> int:
    """`default` unless the environment asks for more (or less) through `variable`."""
    return int(os.environ.get(variable, default))


# What the robustness tests did, printed at the end of the run: the figures the issue asks for.
TALLY: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, count in sorted(TALLY.items()):
        terminalreporter.write_line(f"robustness: {name}: {count}")
