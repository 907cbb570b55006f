"""One SparkSession (local[2], 2 shuffle partitions) for the batch tests.

Without pyspark or Java the Spark tests are skipped, unless ``QIANTANG_TEST_REQUIRE_SPARK=1`` (set
by ``.ci/run``): then a missing Spark fails the run.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_SPARK = os.environ.get("QIANTANG_TEST_REQUIRE_SPARK") == "1"


@pytest.fixture(scope="session")
def spark():
    from qiantang.batch.spark import available, get_spark

    why = available()
    if why:
        if REQUIRE_SPARK:
            pytest.fail(f"QIANTANG_TEST_REQUIRE_SPARK=1 but {why}")
        pytest.skip(why)
    session = get_spark("local[2]", shuffle_partitions=2, app_name="qiantang-tests")
    yield session
    session.stop()
