"""Clustering of auto-merge links that does not chain unrelated records through one weak link.

Links are taken strongest first and two clusters are joined only when no pair across them is
a known non-match (a veto, a score in the no-match band, a steward's rejection, two records of
the same source in link mode). So A–B and B–C never pull A and C together when A and C are
known to differ: the weaker of the two links is refused and left for the steward instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass
class Clusters:
    """Cluster label of every record (the smallest record index in it) and the refused links."""

    labels: NDArray[np.int64]
    refused: list[int] = field(default_factory=list)  # indexes into the links that would have chained


class _Forest:
    """Union–find with member lists, so a merge can check the smaller side's non-matches."""

    def __init__(self, n: int, groups: NDArray[np.int64] | None) -> None:
        self.parent = list(range(n))  # a list: element access is 5x faster than on an ndarray
        self.members: dict[int, list[int]] = {}
        self.groups = groups
        self.group_sets: dict[int, set[int]] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def group(self, root: int) -> list[int]:
        return self.members.get(root) or [root]

    def sources(self, root: int) -> set[int]:
        assert self.groups is not None
        return self.group_sets.get(root) or {int(self.groups[root])}

    def union(self, a: int, b: int) -> None:
        small, big = (a, b) if len(self.group(a)) <= len(self.group(b)) else (b, a)
        self.members[big] = self.group(big) + self.group(small)
        self.members.pop(small, None)
        if self.groups is not None:
            self.group_sets[big] = self.sources(big) | self.sources(small)
            self.group_sets.pop(small, None)
        self.parent[small] = big


def _conflict(forest: _Forest, small: int, big: int, cannot: dict[int, list[int]]) -> bool:
    if forest.groups is not None and forest.sources(small) & forest.sources(big):
        return True  # link mode: a cluster holds at most one record of each source
    return any(forest.find(other) == big for member in forest.group(small) for other in cannot.get(member, ()))


def cluster(n: int, left: NDArray[np.int64], right: NDArray[np.int64], strength: NDArray[np.float64],
            cannot_left: NDArray[np.int64], cannot_right: NDArray[np.int64],
            groups: NDArray[np.int64] | None = None) -> Clusters:
    """Join records along links (strongest first) unless a cannot-link pair would end up inside a cluster.

    With `groups` (link mode: the source of each record) a cluster never holds two records of one source.
    """
    component = _components(n, left, right)
    # Only a known non-match inside one linked component can ever be violated: drop the rest
    # (most of them: a record without links, or linked elsewhere, stays apart anyway).
    relevant = (component[cannot_left] == component[cannot_right]) & (cannot_left != cannot_right)
    cannot: dict[int, list[int]] = defaultdict(list)
    for a, b in zip(cannot_left[relevant].tolist(), cannot_right[relevant].tolist(), strict=True):
        cannot[a].append(b)
        cannot[b].append(a)
    forest = _Forest(n, groups)
    refused = []
    lefts, rights = left.tolist(), right.tolist()
    for k in np.argsort(-strength, kind="stable").tolist():
        ra, rb = forest.find(lefts[k]), forest.find(rights[k])
        if ra == rb:
            continue
        small, big = (ra, rb) if len(forest.group(ra)) <= len(forest.group(rb)) else (rb, ra)
        if _conflict(forest, small, big, cannot):
            refused.append(k)
            continue
        forest.union(ra, rb)
    return Clusters(_labels(forest, n), refused)


def _components(n: int, left: NDArray[np.int64], right: NDArray[np.int64]) -> NDArray[np.int64]:
    """Connected components of the links (label propagation with numpy: no Python loop per link)."""
    label = np.arange(n, dtype=np.int64)
    if len(left) == 0:
        return label
    while True:
        low = np.minimum(label[left], label[right])
        before = label.copy()
        np.minimum.at(label, left, low)
        np.minimum.at(label, right, low)
        label = label[label]  # pointer jumping
        if np.array_equal(label, before):
            return label


def _labels(forest: _Forest, n: int) -> NDArray[np.int64]:
    labels = np.arange(n, dtype=np.int64)
    for members in forest.members.values():
        labels[members] = min(members)
    return labels
