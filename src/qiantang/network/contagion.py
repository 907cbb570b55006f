"""Contagion on the guarantee network: a vectorised threshold cascade and linear DebtRank.

When a borrower defaults, each of its guarantors owes its guaranteed amount × (1 − recovery rate);
a guarantor defaults when what it owes exceeds its loss-absorbing capacity (net assets × a
parameter), and then its own borrowers' guarantors are hit in the next round. Rounds repeat until
nothing changes. Many scenarios run at once as columns of one sparse × dense product.
See docs/methods/contagion.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from qiantang.network.analysis import Edges

NEVER = -1


@dataclass(frozen=True)
class CascadeResult:
    round_defaulted: np.ndarray  # per node (and scenario): the round it defaulted in, NEVER otherwise
    rounds: int
    owed: np.ndarray  # what each guarantor owes on defaulted borrowers at the end

    @property
    def defaulted(self) -> np.ndarray:
        return self.round_defaulted != NEVER


def obligation_matrix(edges: Edges, recovery: float) -> sparse.csr_matrix:
    """O[g, b] = what g owes if b defaults: guaranteed amount × (1 − recovery)."""
    return edges.matrix(edges.amount * (1.0 - recovery))


def cascade(
    obligations: sparse.csr_matrix, capacity: np.ndarray, seeds: np.ndarray, *, max_rounds: int = 10_000
) -> CascadeResult:
    """Threshold cascade from ``seeds`` (bool, shape (n,) or (n, k) for k scenarios at once).

    ``capacity`` (shape (n,) or (n, k)) is each firm's loss-absorbing capacity; a firm whose capacity is
    already ≤ 0 is not thereby in default — only seeds and firms overwhelmed by guarantee calls are.
    """
    single = seeds.ndim == 1
    state = seeds.reshape(len(seeds), -1).astype(bool)
    cap = capacity.reshape(len(capacity), -1) if capacity.ndim == 1 else capacity
    round_defaulted = np.where(state, 0, NEVER).astype(np.int32)
    newly = state.copy()
    owed = np.zeros(state.shape)
    rounds = 0
    while newly.any() and rounds < max_rounds:
        rounds += 1
        owed += obligations @ newly.astype(np.float64)
        fresh = (owed > cap) & (owed > 0) & ~state  # only a firm actually called on can fail
        state |= fresh
        round_defaulted[fresh] = rounds
        newly = fresh
    if single:
        return CascadeResult(round_defaulted[:, 0], rounds - 1 if rounds else 0, owed[:, 0])
    return CascadeResult(round_defaulted, rounds - 1 if rounds else 0, owed)


def debtrank(
    obligations: sparse.csr_matrix,
    equity: np.ndarray,
    value: np.ndarray,
    shocked: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> tuple[float, np.ndarray]:
    """Linear DebtRank (Bardoscia et al. 2015): h(t+1) = min(1, h(t) + Λ (h(t) − h(t−1))), with
    Λ[g, b] = obligation of g to b / equity of g. Returns (R, h) where R = Σ v·(h(T) − h(0)) / Σ v
    over the initially shocked h(0) = ``shocked`` (relative equity losses, 0…1)."""
    safe_equity = np.where(equity > 0, equity, np.nan)
    scale = np.nan_to_num(1.0 / safe_equity, nan=0.0, posinf=0.0)
    leverage = sparse.diags(scale) @ obligations
    # Firms without positive equity are fully distressed by any call.
    no_buffer = ~(equity > 0)
    h_prev = np.zeros_like(shocked, dtype=np.float64)
    h = np.clip(shocked.astype(np.float64), 0.0, 1.0)
    for _ in range(max_iter):
        delta = h - h_prev
        push = leverage @ delta
        push[no_buffer & ((obligations @ delta) > 0)] = 1.0
        h_next = np.minimum(1.0, h + push)
        if np.abs(h_next - h).sum() < tol:
            h_prev, h = h, h_next
            break
        h_prev, h = h, h_next
    weights = value / value.sum() if value.sum() > 0 else np.zeros_like(value)
    return float(weights @ (h - np.clip(shocked, 0, 1))), h
