"""Shared pieces of the credit benchmarks: synthetic credit data and measuring a step in its own process.

Every measured step runs in a fresh (spawned) Python process that first builds its data, then runs the
step once: the wall time of the step and the process's peak RSS (with the RSS before the step, i.e. the
data alone) are reported, so a method and its baseline are measured the same way, in the same run.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def synthetic(n: int, p: int = 40, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A credit-like table: p numeric features of four shapes (skewed, normal, counts, uniform), every
    one carrying some signal, 2 % missing cells; about 9 % bads."""
    rng = np.random.Generator(np.random.PCG64(seed))
    cols = {}
    logit = np.full(n, -3.1)
    for j in range(p):
        z = rng.standard_normal(n)
        shape = j % 4
        if shape == 0:
            x = np.exp(z)
        elif shape == 1:
            x = z
        elif shape == 2:
            x = np.floor(np.exp(0.8 * z))
        else:
            x = (z > 0) * rng.uniform(0, 1, n) + (z <= 0) * rng.uniform(-1, 0, n)
        weight = (0.12 + 0.2 * ((j * 7) % 5) / 4) * (1 if j % 3 else -1)
        logit += weight * z
        x[rng.random(n) < 0.02] = np.nan
        cols[f"x{j:02d}"] = x
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pd.DataFrame(cols), y


def _child(queue, build: Callable, step: Callable, args: tuple) -> None:
    data = build()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = step(data, *args)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, peak, before, result))


def measure(build: Callable, step: Callable, *args: Any) -> dict[str, Any]:
    """Run ``step(build(), *args)`` in a spawned process: seconds, peak RSS (MB), RSS of the data (MB)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, build, step, args))
    proc.start()
    seconds, peak, before, result = queue.get()
    proc.join()
    return {"seconds": seconds, "peak_mb": peak, "data_mb": before, "result": result}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
