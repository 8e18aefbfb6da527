"""Tests that need a tool outside Python (Node.js, Chromium): skipped locally, required in CI."""

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def need(available: object, reason: str) -> None:
    """Skip with `reason` when `available` is falsy; in CI (CI=true) that is a failure instead."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI must run this test, not skip it)", pytrace=False)
    pytest.skip(reason)
