"""An in-memory match index over a batch data set: one new record against a million in milliseconds.

For every equal-key blocking rule the index keeps the key hashes sorted with their record
numbers (two int64 arrays, no Python objects per record), so a lookup is a binary search; the
candidates' coded features are scored against the new record with one `cdist` per field.
The store does the same through the `mdm_block_key` table; this index serves batch pipelines,
the daily re-check and the latency benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mdm.blocking import key_strings
from mdm.compare import one_against
from mdm.engine import Dataset
from mdm.features import all_features
from mdm.rules import BlockRule, Rules


@dataclass
class _KeyTable:
    rule: BlockRule
    hashes: NDArray[np.int64]
    records: NDArray[np.int64]


@dataclass
class IndexMatch:
    """Scored candidates of one record: record numbers, probabilities, weights, vetoes."""

    records: NDArray[np.int64]
    probability: NDArray[np.float64]
    weight: NDArray[np.float64]
    veto: NDArray[np.int16]

    def best(self) -> int | None:
        """The record number of the best candidate, or None."""
        return int(self.records[int(np.argmax(self.weight))]) if len(self.records) else None


class MatchIndex:
    """Sorted key hashes per blocking rule over a Dataset, for incremental matching."""

    def __init__(self, rules: Rules, data: Dataset) -> None:
        self.rules, self.data = rules, data
        strings = {name: data.columns[name].strings() for name in {p.feature for b in rules.blocking for p in b.keys}}
        self.tables = [self._table(rule, strings) for rule in rules.blocking if rule.incremental]

    @staticmethod
    def _table(rule: BlockRule, strings: Mapping[str, NDArray[np.object_]]) -> _KeyTable:
        keys = key_strings(rule, strings)
        present = np.flatnonzero(np.fromiter((bool(k) for k in keys), dtype=bool, count=len(keys)))
        hashes = np.fromiter((hash(keys[i]) for i in present), dtype=np.int64, count=len(present))
        order = np.argsort(hashes, kind="stable")
        return _KeyTable(rule, hashes[order], present[order])

    def candidates(self, features: Mapping[str, str]) -> NDArray[np.int64]:
        """Record numbers sharing a key with `features` (at most max_candidates per key)."""
        found = []
        for table in self.tables:
            values = [part.apply(features.get(part.feature, "")) for part in table.rule.keys]
            if not all(values):
                continue
            h = hash(values[0] if len(values) == 1 else "\x1f".join(values))
            lo, hi = np.searchsorted(table.hashes, [h, h + 1])
            found.append(table.records[lo:min(hi, lo + self.rules.max_candidates)])
        return np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)

    def match(self, record: Mapping[str, Any]) -> IndexMatch:
        """Features of a new record, its candidates, and their scores."""
        features = all_features(self.rules, record)
        records = self.candidates(features)
        if len(records) == 0:
            return IndexMatch(records, np.empty(0), np.empty(0), np.empty(0, np.int16))
        columns = {name: column.vocab[column.codes[records]] for name, column in self.data.columns.items()
                   if name in self.rules.features}
        scores = one_against(self.rules, features, columns)
        return IndexMatch(records, scores.probability, scores.weight, scores.veto)
