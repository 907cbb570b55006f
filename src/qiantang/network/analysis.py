"""Structure of a guarantee network, on NumPy arrays and scipy.sparse (no per-node Python loops).

Nodes are numbered 0…n−1; an edge g → b means "g guarantees (a loan of) b", weighted by the amount.
Both meanings of 担保圈 are computed: groups (weakly connected components) and closed loops —
mutual pairs (互保) by an exact reciprocal-edge join, directed three-firm rings by sparse matrix
counting, and membership of larger strongly connected components. Chains (担保链) are longest
paths through the condensation DAG. No cycle enumeration: it is exponential on large components
(NetworkX issue #8737) and igraph 1.0.0 can miss 2-cycles (igraph issue #2911).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


@dataclass(frozen=True)
class Edges:
    """Distinct guarantor → borrower relations with their summed amounts; no self-guarantees."""

    n: int
    src: np.ndarray  # guarantor
    dst: np.ndarray  # borrower
    amount: np.ndarray

    @classmethod
    def build(cls, n: int, src, dst, amount) -> Edges:
        """Aggregate repeated relations (several loans, several contracts) and drop self loops."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        amount = np.asarray(amount, dtype=np.float64)
        keep = src != dst
        src, dst, amount = src[keep], dst[keep], amount[keep]
        if len(src) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(n, empty, empty.copy(), np.zeros(0))
        keys = src * n + dst
        unique, inverse = np.unique(keys, return_inverse=True)
        summed = np.bincount(inverse, weights=amount, minlength=len(unique))
        return cls(n, unique // n, unique % n, summed)

    @property
    def m(self) -> int:
        return len(self.src)

    def matrix(self, weights: np.ndarray | None = None) -> sparse.csr_matrix:
        """Adjacency A[g, b] (binary unless weights are given)."""
        data = np.ones(self.m) if weights is None else weights
        return sparse.csr_matrix((data, (self.src, self.dst)), shape=(self.n, self.n))


def weak_components(edges: Edges) -> tuple[int, np.ndarray]:
    """Guarantee groups: (count, label per node). Isolated nodes get a component each."""
    return csgraph.connected_components(edges.matrix(), directed=True, connection="weak")


def strong_components(edges: Edges) -> tuple[int, np.ndarray]:
    """Closed-loop cores: (count, label per node)."""
    return csgraph.connected_components(edges.matrix(), directed=True, connection="strong")


def mutual_pairs(edges: Edges) -> tuple[np.ndarray, np.ndarray]:
    """Every pair a < b guaranteeing each other (互保), by a sorted reciprocal-key join."""
    if edges.m == 0:
        return edges.src.copy(), edges.dst.copy()
    n = edges.n
    keys = edges.src * n + edges.dst  # sorted ascending by Edges.build
    reverse = edges.dst * n + edges.src
    pos = np.minimum(np.searchsorted(keys, reverse), len(keys) - 1)
    mask = (keys[pos] == reverse) & (edges.src < edges.dst)
    return edges.src[mask], edges.dst[mask]


def three_cycles_per_node(edges: Edges, scc_labels: np.ndarray) -> np.ndarray:
    """Directed three-firm rings through each node: diag(A³) on the edges inside strongly connected
    components (a directed cycle never leaves its component). Total rings = sum / 3."""
    n = edges.n
    sizes = np.bincount(scc_labels, minlength=scc_labels.max() + 1 if n else 0)
    inside = (scc_labels[edges.src] == scc_labels[edges.dst]) & (sizes[scc_labels[edges.src]] >= 3)
    if not inside.any():
        return np.zeros(n, dtype=np.int64)
    a = sparse.csr_matrix((np.ones(int(inside.sum())), (edges.src[inside], edges.dst[inside])), shape=(n, n))
    walks = (a @ a).multiply(a.T)  # (A²)[i, j] · A[j, i]: closed walks i → · → j → i
    return np.asarray(walks.sum(axis=1)).ravel().round().astype(np.int64)


def condensation(edges: Edges, scc_labels: np.ndarray, n_scc: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct edges between different strongly connected components (a DAG)."""
    # int64: scipy labels are int32, and label × count overflows int32 on a city-sized network.
    labels = scc_labels.astype(np.int64)
    cs, cd = labels[edges.src], labels[edges.dst]
    between = cs != cd
    keys = np.unique(cs[between] * n_scc + cd[between])
    return keys // n_scc, keys % n_scc


def _longest_into(src: np.ndarray, dst: np.ndarray, n: int) -> np.ndarray:
    """Longest path (in edges) ending at each node of a DAG, by synchronous relaxation.

    Each sweep is one vectorised pass over all edges; the number of sweeps is the longest path
    length plus one, which is short in guarantee networks (tens at most).
    """
    depth = np.zeros(n, dtype=np.int64)
    if len(src) == 0:
        return depth
    while True:
        new = depth.copy()
        np.maximum.at(new, dst, depth[src] + 1)
        if np.array_equal(new, depth):
            return depth
        depth = new


def chain_depths(edges: Edges, scc_labels: np.ndarray, n_scc: int) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the longest chain of guarantors above it (up) and of borrowers below it (down),
    counted in hops between closed-loop cores (a loop counts as one link)."""
    cs, cd = condensation(edges, scc_labels, n_scc)
    up = _longest_into(cs, cd, n_scc)  # ending at a component: guarantors of guarantors …
    down = _longest_into(cd, cs, n_scc)  # reversed: borrowers of borrowers …
    return up[scc_labels], down[scc_labels]


def pagerank(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    n: int,
    *,
    alpha: float = 0.85,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> np.ndarray:
    """Weighted PageRank by power iteration (dangling mass spread uniformly, as NetworkX does)."""
    if n == 0:
        return np.zeros(0)
    out_weight = np.bincount(src, weights=weight, minlength=n)
    norm = np.divide(weight, out_weight[src], out=np.zeros_like(weight), where=out_weight[src] > 0)
    transition = sparse.csr_matrix((norm, (dst, src)), shape=(n, n))  # column-stochastic on non-dangling
    dangling = out_weight == 0
    rank = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        spread = alpha * (transition @ rank) + (alpha * rank[dangling].sum() + 1.0 - alpha) / n
        if np.abs(spread - rank).sum() < n * tol:
            return spread
        rank = spread
    return rank


def group_sums(labels: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(labels, weights=values, minlength=n_groups)
