"""Batch matching of a whole data set: features → blocking → vectorised scores → clusters → codes.

Used by `hub mdm dedupe`, the daily re-check of the store and the benchmarks. Memory stays
bounded at a million records: features are columns of (mostly shared) strings, candidate pairs
are int64 arrays, and pairs are scored in chunks.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mdm.blocking import candidate_pairs
from mdm.cluster import cluster
from mdm.codes import MemorySequencer, code_fields, render, scope_of
from mdm.compare import Coded, Scores, explain, score
from mdm.features import Record, extractor
from mdm.rules import Rules

Progress = Callable[[str, int, int], None]  # (stage, done, total)
_CHUNK = 1_000_000


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    """Progress sink that ignores reports."""


@dataclass
class Dataset:
    """Records as coded feature columns; `groups` is the source of each record in link mode."""

    ids: list[str]
    columns: dict[str, Coded]
    groups: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: NDArray[np.int64]) -> dict[str, Coded]:
        """The feature columns of some records, aligned with `index`."""
        return {name: column.take(index) for name, column in self.columns.items()}

    def row(self, i: int) -> dict[str, str]:
        """The features of one record."""
        return {name: str(column.vocab[column.codes[i]]) for name, column in self.columns.items()}

    def strings(self) -> dict[str, NDArray[np.object_]]:
        """Every column as strings (blocking reads them)."""
        return {name: column.strings() for name, column in self.columns.items()}


def code_features(rules: Rules) -> tuple[str, ...]:
    """Features the code template reads."""
    return tuple(name for spec in (rules.code.get("fields") or {}).values() for name in spec.get("from", []))


_worker_extract: Callable[[Record], tuple[str, ...]] | None = None


def _init_worker(rules: Rules, extra: tuple[str, ...]) -> None:
    global _worker_extract
    _worker_extract = extractor(rules, extra)[1]


def _extract_chunk(chunk: list[Record]) -> list[tuple[str, ...]]:
    assert _worker_extract is not None
    return [_worker_extract(record) for record in chunk]


def _chunks(records: Iterable[tuple[str, Record]], ids: list[str], groups: list[str],
            group_of: Callable[[Record], str] | None, size: int) -> Iterator[list[Record]]:
    """Records in chunks; ids (and groups) are collected on the way, in order."""
    chunk: list[Record] = []
    for record_id, record in records:
        ids.append(record_id)
        if group_of is not None:
            groups.append(group_of(record))
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_dataset(rules: Rules, records: Iterable[tuple[str, Record]], *, total: int = 0,
                  progress: Progress = _no_progress, group_of: Callable[[Record], str] | None = None,
                  extra: Sequence[str] = (), workers: int = 1) -> Dataset:
    """Extract features of (id, record) pairs into columns; `workers` > 1 uses that many processes."""
    extra_names = (*code_features(rules), *extra)
    names, extract = extractor(rules, extra_names)
    ids: list[str] = []
    groups: list[str] = []
    columns = _Columns(names)
    chunks = _chunks(records, ids, groups, group_of, 20_000 if workers > 1 else 2_000)
    if workers > 1:
        context = multiprocessing.get_context("fork")  # the children inherit the warm caches
        with context.Pool(workers, _init_worker, (rules, extra_names)) as pool:
            for part in pool.imap(_extract_chunk, chunks):
                columns.add(part)
                progress("features", columns.count, total)
    else:
        for chunk in chunks:
            columns.add([extract(record) for record in chunk])
            progress("features", columns.count, total)
    return Dataset(ids, columns.coded(), _group_codes(groups) if group_of is not None else None)


class _Columns:
    """Feature values gathered column by column and coded as they come: no row tuples are kept, and
    a million records cost a few int32 arrays plus one copy of each distinct value."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.vocab: list[dict[str, int]] = [{"": 0} for _ in self.names]
        self.codes: list[list[NDArray[np.int32]]] = [[] for _ in self.names]
        self.count = 0

    def add(self, rows: list[tuple[str, ...]]) -> None:
        """Code one chunk of rows."""
        for k, values in enumerate(zip(*rows, strict=True)) if rows else ():
            self.codes[k].append(Coded.encode(values, self.vocab[k], words=False).codes)
        self.count += len(rows)

    def coded(self) -> dict[str, Coded]:
        """The columns, with their vocabularies as arrays."""
        out = {}
        for k, name in enumerate(self.names):
            codes = np.concatenate(self.codes[k]) if self.codes[k] else np.empty(0, np.int32)
            out[name] = Coded(codes, Coded.words(self.vocab[k]))
            self.codes[k], self.vocab[k] = [], {}
        return out


def _group_codes(groups: list[str]) -> NDArray[np.int64]:
    labels = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    return np.fromiter((labels[g] for g in groups), dtype=np.int64, count=len(groups))


@dataclass
class ScoredPairs:
    """Candidate pairs with their match probability and veto."""

    left: NDArray[np.int64]
    right: NDArray[np.int64]
    probability: NDArray[np.float64]
    veto: NDArray[np.int16]
    weight: NDArray[np.float32]


def score_pairs(rules: Rules, data: Dataset, left: NDArray[np.int64], right: NDArray[np.int64],
                progress: Progress = _no_progress) -> ScoredPairs:
    """Score candidate pairs chunk by chunk (bounded memory)."""
    probs, vetoes, weights = [np.empty(0)], [np.empty(0, np.int16)], [np.empty(0, np.float32)]
    for start in range(0, len(left), _CHUNK):
        part = slice(start, start + _CHUNK)
        scores = score(rules, data.take(left[part]), data.take(right[part]))
        probs.append(scores.probability)
        vetoes.append(scores.veto)
        weights.append(scores.weight.astype(np.float32))
        progress("compare", min(start + _CHUNK, len(left)), len(left))
    return ScoredPairs(left, right, np.concatenate(probs), np.concatenate(vetoes), np.concatenate(weights))


def ambiguous_links(pairs: ScoredPairs, auto: NDArray[np.bool_], cannot: NDArray[np.bool_], n: int,
                    margin: float = 3.0) -> NDArray[np.bool_]:
    """Auto links of a record that links about as strongly to two records known to differ.

    "华成机械" with nothing but its name matches 苏州华成机械 and 无锡华成机械 equally well: it is
    not merged with either (the steward decides), instead of joining whichever came first.
    """
    out = np.zeros(len(auto), dtype=bool)
    index = np.flatnonzero(auto)
    counts = np.bincount(np.concatenate([pairs.left[index], pairs.right[index]]), minlength=n)
    if not (counts > 1).any():
        return out
    questions = _neighbour_pairs(pairs, index, counts > 1)
    if not questions:
        return out
    linked = counts > 0  # only known non-matches between linked records can matter
    known = cannot & linked[pairs.left] & linked[pairs.right]
    known_codes = np.sort(pairs.left[known].astype(np.int64) * n + pairs.right[known])
    a, b, ka, kb = (np.array(column, dtype=np.int64) for column in zip(*questions, strict=True))
    codes = np.minimum(a, b) * n + np.maximum(a, b)
    at = np.minimum(np.searchsorted(known_codes, codes), max(len(known_codes) - 1, 0))
    hit = (known_codes[at] == codes) if len(known_codes) else np.zeros(len(codes), dtype=bool)
    close = np.abs(pairs.weight[ka] - pairs.weight[kb]) < margin
    out[ka[hit & close]] = True
    out[kb[hit & close]] = True
    return out


def _neighbour_pairs(pairs: ScoredPairs, index: NDArray[np.int64],
                     busy: NDArray[np.bool_]) -> list[tuple[int, int, int, int]]:
    """(other a, other b, link to a, link to b) for every two auto links of one busy record."""
    links: dict[int, list[tuple[int, int]]] = {}
    for k in index[busy[pairs.left[index]] | busy[pairs.right[index]]].tolist():
        a, b = int(pairs.left[k]), int(pairs.right[k])
        for me, other in ((a, b), (b, a)):
            if busy[me]:
                links.setdefault(me, []).append((other, k))
    return [(x, y, kx, ky) for edges in links.values()
            for i, (x, kx) in enumerate(edges) for y, ky in edges[i + 1:]]


@dataclass
class DedupeResult:
    """Clusters, per-record decisions, codes and the pairs behind them."""

    data: Dataset
    pairs: ScoredPairs
    labels: NDArray[np.int64]
    decision: list[str]
    review: NDArray[np.int64]  # indexes into pairs for the steward
    codes: dict[int, str] = field(default_factory=dict)  # cluster label → code

    def explain(self, rules: Rules, pair: int) -> dict[str, Any]:
        """Explanation of one pair (rule, field similarities and weights)."""
        i, j = self.pairs.left[pair:pair + 1], self.pairs.right[pair:pair + 1]
        scores: Scores = score(rules, self.data.take(i), self.data.take(j))
        return explain(rules, scores, 0)


def _decide(n: int, labels: NDArray[np.int64], review_left: NDArray[np.int64],
            review_right: NDArray[np.int64]) -> list[str]:
    sizes = np.bincount(labels, minlength=n)
    merged = sizes[labels] > 1
    in_review = np.zeros(n, dtype=bool)
    in_review[review_left] = True
    in_review[review_right] = True
    decisions: list[str] = np.where(merged, "auto", np.where(in_review, "review", "single")).tolist()
    return decisions


def dedupe(rules: Rules, data: Dataset, progress: Progress = _no_progress, *, with_codes: bool = True) -> DedupeResult:
    """Match every record with every candidate, cluster the auto-merge links, decide and code."""
    left, right = candidate_pairs(rules, data.strings(), data.groups)
    progress("blocking", len(left), len(left))
    pairs = score_pairs(rules, data, left, right, progress)
    cannot = (pairs.veto > 0) | (pairs.probability < rules.cannot_link)
    auto = pairs.probability >= rules.auto
    if rules.ambiguity_margin > 0:
        auto &= ~ambiguous_links(pairs, auto, cannot, len(data), rules.ambiguity_margin)
    linked = np.zeros(len(data), dtype=bool)
    linked[left[auto]] = linked[right[auto]] = True
    relevant = cannot & linked[left] & linked[right]  # a non-match with an unlinked record cannot be violated
    clusters = cluster(len(data), left[auto], right[auto], pairs.probability[auto], left[relevant], right[relevant],
                       data.groups if rules.link_type == "link" else None)
    labels = clusters.labels
    auto_index = np.flatnonzero(auto)
    refused = auto_index[clusters.refused] if clusters.refused else np.empty(0, np.int64)
    band = ~auto & (pairs.probability >= rules.review) & (labels[left] != labels[right])
    review = np.union1d(np.flatnonzero(band), refused)
    result = DedupeResult(data, pairs, labels, _decide(len(data), labels, left[review], right[review]), review)
    if with_codes and rules.code:
        result.codes = assign_codes(rules, data, labels)
    progress("clusters", len(data), len(data))
    return result


def _record_code_fields(rules: Rules, data: Dataset) -> tuple[NDArray[np.int64], list[tuple[str, ...]]]:
    """Code fields of every record as an index into a table of distinct field tuples (each computed once)."""
    names = [n for n in code_features(rules) if n in data.columns]
    specs = list((rules.code.get("fields") or {}).keys())
    key = np.zeros(len(data), dtype=np.int64)
    for name in names:  # one int64 per combination of the features' codes
        key = key * np.int64(len(data.columns[name].vocab)) + data.columns[name].codes
    order = np.argsort(key, kind="stable")
    first = np.r_[True, key[order][1:] != key[order][:-1]] if len(key) else np.empty(0, bool)
    inverse = np.empty(len(key), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    table = []
    for i in order[first].tolist():
        features = {n: str(data.columns[n].vocab[data.columns[n].codes[i]]) for n in names}
        fields = code_fields(rules.code, [features])
        table.append(tuple(fields[s] for s in specs))
    return inverse, table


def _cluster_combos(labels: NDArray[np.int64], per_record: NDArray[np.int64]) -> tuple[list[int], list[int]]:
    """(cluster label, most common field combination of its members), clusters in record order."""
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
    sizes = np.diff(np.r_[starts, len(order)])
    combos = per_record[order[starts]].copy()
    for k in np.flatnonzero(sizes > 1).tolist():  # only multi-record clusters need a vote
        members = per_record[order[starts[k]:starts[k] + sizes[k]]]
        combos[k] = np.bincount(members).argmax()
    return labels[order[starts]].tolist(), combos.tolist()


def assign_codes(rules: Rules, data: Dataset, labels: NDArray[np.int64]) -> dict[int, str]:
    """A code per cluster in record order (the most common code fields of its members), counted in memory."""
    specs = list((rules.code.get("fields") or {}).keys())
    per_record, table = _record_code_fields(rules, data)
    clusters, combos = _cluster_combos(labels, per_record)
    sequencer = MemorySequencer()
    template = str(rules.code.get("template", ""))
    if "{seq" not in template:
        return {c: sequencer.allocate(rules.code, dict(zip(specs, table[k], strict=True)))
                for c, k in zip(clusters, combos, strict=True)}
    fields = [dict(zip(specs, row, strict=True)) for row in table]
    scopes = [scope_of(template, f) for f in fields]
    counters = [0] * len(table)
    codes = {}
    for label, k in zip(clusters, combos, strict=True):  # a fresh counter per scope: codes are unique
        counters[k] = sequencer.next(scopes[k])
        codes[label] = render(template, fields[k], counters[k])
    return codes
