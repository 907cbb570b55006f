"""Shared fixtures for the demo-city tests: the tiny city is generated once per test process."""

from __future__ import annotations

import pytest

from qiantang.demo import DemoCity, generate


@pytest.fixture(scope="session")
def tiny_city() -> DemoCity:
    return generate("tiny")
