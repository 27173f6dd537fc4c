"""Candidate pairs by blocking, vectorised with numpy.

Each pass sorts the records by a key and pairs every record with the next `window` records
of the same key (equal-key blocking whose big blocks are bounded to n·window pairs), or with
the next `window` records in key order whatever the key (sorted neighbourhood, which finds
typos that change a key). The union of all passes is the candidate set: several weak keys
together keep ≥ 99 % of the true pairs while comparing a tiny share of all pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mdm.rules import BlockRule, Rules

Index = NDArray[np.int64]
Column = Sequence[str] | NDArray[Any]  # feature values of every record


def key_strings(rule: BlockRule, columns: Mapping[str, Column]) -> list[str]:
    """The key of every record for one pass; "" when any part is empty (the record sits this pass out)."""
    parts = [[part.apply(v) for v in columns[part.feature]] for part in rule.keys]
    if len(parts) == 1:
        return parts[0]
    return ["\x1f".join(values) if all(values) else "" for values in zip(*parts, strict=True)]


def record_keys(rules: Rules, features: Mapping[str, str]) -> list[str]:
    """The equal-key blocking keys of one record, prefixed by their pass (for the store's key index)."""
    keys = []
    for rule in rules.blocking:
        if not rule.incremental:
            continue
        values = [part.apply(features.get(part.feature, "")) for part in rule.keys]
        if all(values):
            keys.append(rule.name + ":" + "\x1f".join(values))
    return keys


def _ranks(values: Column) -> Index:
    """Rank of each string in sorted order (ties share no guarantee beyond adjacency)."""
    order = np.argsort(np.asarray(values, dtype=object), kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def _window_pairs(order: Index, codes: Index | None, window: int) -> tuple[Index, Index]:
    """Pairs (order[i], order[i+k]) for k ≤ window, restricted to equal codes when given."""
    lefts, rights = [], []
    for k in range(1, min(window, len(order) - 1) + 1):
        a, b = order[:-k], order[k:]
        if codes is not None:
            same = codes[:-k] == codes[k:]
            a, b = a[same], b[same]
        lefts.append(a)
        rights.append(b)
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(lefts), np.concatenate(rights)


def pass_pairs(rule: BlockRule, columns: Mapping[str, Column]) -> tuple[Index, Index]:
    """Candidate pairs of one blocking pass."""
    keys = key_strings(rule, columns)
    present = np.flatnonzero(np.fromiter((bool(k) for k in keys), dtype=bool, count=len(keys)))
    if len(present) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    kept = [keys[i] for i in present]
    if rule.sorted:
        order = present[np.argsort(np.asarray(kept, dtype=object), kind="stable")]
        return _window_pairs(order, None, rule.window)
    codes = np.fromiter((hash(k) for k in kept), dtype=np.int64, count=len(kept))
    secondary = _ranks(np.asarray(columns[rule.sort_by], dtype=object)[present]) if rule.sort_by \
        else np.arange(len(present))
    local = np.lexsort((secondary, codes))
    return _window_pairs(present[local], codes[local], rule.window)


def candidate_pairs(rules: Rules, columns: Mapping[str, Column], groups: NDArray[np.int64] | None = None,
                    progress: object = None) -> tuple[Index, Index]:
    """Unique pairs (i < j) over every blocking pass; with `groups` (link mode) only pairs across groups."""
    n = len(next(iter(columns.values())))
    encoded = []
    for rule in rules.blocking:
        a, b = pass_pairs(rule, columns)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = lo != hi
        if groups is not None:
            keep &= groups[lo] != groups[hi]
        encoded.append(lo[keep] * n + hi[keep])
        if callable(progress):
            progress(rule.name)
    if not encoded:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    unique = sorted_unique(np.concatenate(encoded))
    index_type = np.int32 if n < 2**31 else np.int64  # half the memory of tens of millions of pairs
    return (unique // n).astype(index_type), (unique % n).astype(index_type)


def sorted_unique(values: Index) -> Index:
    """Distinct values, sorted (a plain sort and compare: faster than np.unique's hashing here)."""
    values = np.sort(values, kind="stable")
    if len(values) == 0:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]
