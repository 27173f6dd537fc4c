"""Field comparisons and match scores, vectorised over candidate pairs.

Each comparator takes two aligned arrays of feature strings and returns similarities in [0, 1]
for every pair at once: rapidfuzz's `process.cpdist` (element-wise) for pair lists from
blocking and `process.cdist` (one record against its candidates) when matching incrementally,
both on every core. No Python loop runs per pair. A field's similarity falls into one of the
rule's levels, each a weight in log2 odds (Fellegi–Sunter style); their sum plus the prior is
the pair's match weight, and the logistic of it the match probability.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from mdm.rules import FieldRule, Rules

Strings = NDArray[np.object_]
Floats = NDArray[np.float32]
Comparator = Callable[[Strings, Strings], Floats]
COMPARATORS: dict[str, Comparator] = {}
_PARALLEL_FROM = 20_000  # below this many pairs, threads cost more than they save


def comparator(name: str) -> Callable[[Comparator], Comparator]:
    """Register a comparator under the name rule files use."""
    def register(fn: Comparator) -> Comparator:
        COMPARATORS[name] = fn
        return fn
    return register


def _rapidfuzz(scorer: Any, left: Strings, right: Strings, scale: float = 1.0) -> Floats:
    """Element-wise scores; one left value against many right ones goes through cdist."""
    workers = -1 if len(right) >= _PARALLEL_FROM else 1
    if len(left) == 1 and len(right) != 1:
        out = process.cdist([left[0]], right, scorer=scorer, dtype=np.float32, workers=workers)[0]
    else:
        out = process.cpdist(left, right, scorer=scorer, dtype=np.float32, workers=workers)
    result: Floats = out / np.float32(scale) if scale != 1.0 else out
    return result


@comparator("exact")
def exact(left: Strings, right: Strings) -> Floats:
    """1 when equal, else 0."""
    return np.asarray(left == right, dtype=np.float32)


@comparator("jaro_winkler")
def jaro_winkler(left: Strings, right: Strings) -> Floats:
    """Jaro–Winkler similarity (typos near the end cost less)."""
    return _rapidfuzz(JaroWinkler.normalized_similarity, left, right)


@comparator("levenshtein")
def levenshtein(left: Strings, right: Strings) -> Floats:
    """1 − edit distance / longer length."""
    return _rapidfuzz(Levenshtein.normalized_similarity, left, right)


@comparator("ratio")
def ratio(left: Strings, right: Strings) -> Floats:
    """Indel similarity (rapidfuzz fuzz.ratio / 100)."""
    return _rapidfuzz(fuzz.ratio, left, right, 100.0)


@comparator("token_set")
def token_set(left: Strings, right: Strings) -> Floats:
    """Word-set similarity: word order and extra words matter little."""
    return _rapidfuzz(fuzz.token_set_ratio, left, right, 100.0)


@comparator("token_sort")
def token_sort(left: Strings, right: Strings) -> Floats:
    """Similarity of the words sorted: swapped words match."""
    return _rapidfuzz(fuzz.token_sort_ratio, left, right, 100.0)


def _swap_day_month(value: str) -> str:
    return value[:4] + value[6:8] + value[4:6] if len(value) == 8 else value


@comparator("date")
def date(left: Strings, right: Strings) -> Floats:
    """YYYYMMDD dates: edit similarity, and 0.9 when day and month are swapped."""
    sims = levenshtein(left, right)
    swapped = np.empty(len(left), dtype=object)
    swapped[:] = [_swap_day_month(v) for v in left]
    if len(left) == 1 and len(right) != 1:
        swapped = np.repeat(swapped, len(right))
    return np.maximum(sims, np.where(swapped == right, np.float32(0.9), np.float32(0.0))).astype(np.float32)


@dataclass(frozen=True)
class Coded:
    """A feature column as integer codes into a vocabulary; code 0 is the empty value."""

    codes: NDArray[np.int32]
    vocab: NDArray[np.object_]

    @classmethod
    def encode(cls, values: Sequence[str], vocab: dict[str, int] | None = None, *, words: bool = True) -> Coded:
        """Factorise strings (sharing `vocab`'s codes when given; it grows with new values)."""
        table = vocab if vocab is not None else {"": 0}
        table.setdefault("", 0)
        codes = np.fromiter((table.setdefault(v, len(table)) for v in values), dtype=np.int32, count=len(values))
        return cls(codes, cls.words(table) if words else np.empty(0, dtype=object))

    @staticmethod
    def words(table: dict[str, int]) -> NDArray[np.object_]:
        """The vocabulary array of a value → code table."""
        words = np.empty(len(table), dtype=object)
        words[list(table.values())] = list(table.keys())
        return words

    def take(self, index: NDArray[np.int64]) -> Coded:
        """The column of some records (the vocabulary is shared, not copied)."""
        return Coded(self.codes[index], self.vocab)

    def strings(self) -> NDArray[np.object_]:
        """The values as strings."""
        return self.vocab[self.codes]


@dataclass
class Scores:
    """Scores of aligned pairs: per-field similarities (NaN when missing), weights and probability."""

    similarity: dict[str, Floats]
    weight: NDArray[np.float64]
    probability: NDArray[np.float64]
    veto: NDArray[np.int16]  # 0 none, k → the k-th veto of the rules

    def __len__(self) -> int:
        return len(self.weight)


def _level_weights(rule: FieldRule, sims: Floats) -> NDArray[np.float64]:
    conditions = [sims >= level for level, _ in rule.levels]
    return np.select(conditions, [w for _, w in rule.levels], default=rule.otherwise).astype(np.float64)


def _vetoes(rules: Rules, left: dict[str, Coded], right: dict[str, Coded], n: int) -> NDArray[np.int16]:
    veto = np.zeros(n, dtype=np.int16)
    for k, rule in enumerate(rules.vetoes, start=1):
        a, b = left[rule.feature].codes, right[rule.feature].codes
        differ = a != b
        if rule.when == "differ":
            differ &= (a != 0) & (b != 0)
        veto = np.where((veto == 0) & differ, np.int16(k), veto)
    return veto


def similarity(compare: str, a: Coded, b: Coded) -> Floats:
    """Similarity of aligned coded values: equal codes are 1 without a call, the rest go to the comparator."""
    if compare == "exact":
        return np.asarray(a.codes == b.codes, dtype=np.float32)
    sim = np.ones(len(b.codes), dtype=np.float32)
    todo = np.flatnonzero((a.codes != b.codes) & (a.codes != 0) & (b.codes != 0))
    if len(todo):
        left_codes = a.codes[todo]
        if len(todo) > 1 and left_codes.min() == left_codes.max():  # one record against its candidates: cdist
            sim[todo] = COMPARATORS[compare](a.vocab[left_codes[:1]], b.vocab[b.codes[todo]])
        else:
            sim[todo] = COMPARATORS[compare](a.vocab[left_codes], b.vocab[b.codes[todo]])
    return sim


def _crosswise(compare: str, a: Coded, b: Coded) -> Floats:
    """Similarity of values from two different features (vocabularies differ: compared as strings)."""
    left, right = a.strings(), b.strings()
    present = np.flatnonzero((a.codes != 0) & (b.codes != 0))
    sim = np.zeros(len(b.codes), dtype=np.float32)
    if len(present):
        sim[present] = COMPARATORS[compare](left[present], right[present])
    return sim


def score(rules: Rules, left: dict[str, Coded], right: dict[str, Coded]) -> Scores:
    """Score aligned pairs (left[i], right[i]) of coded feature columns."""
    n = len(next(iter(right.values())).codes)
    weight = np.full(n, rules.prior, dtype=np.float64)
    sims: dict[str, Floats] = {}
    missing: dict[str, NDArray[np.bool_]] = {}
    for rule in rules.fields:
        a, b = left[rule.feature], right[rule.feature]
        miss = (a.codes == 0) | (b.codes == 0)
        sim = similarity(rule.compare, a, b)
        if rule.or_equal:  # e.g. brands that read the same in pinyin: a typo of a pinyin input method
            ca, cb = left[rule.or_equal[0]].codes, right[rule.or_equal[0]].codes
            sim = np.maximum(sim, np.where((ca == cb) & (ca != 0), np.float32(rule.or_equal[1]), np.float32(0)))
            miss &= (ca == 0) | (cb == 0)
        if rule.cross:  # given name written as surname and back: take the better reading
            sim = np.maximum(sim, np.maximum(_crosswise(rule.compare, a, right[rule.cross]),
                                             _crosswise(rule.compare, left[rule.cross], b)))
        contribution = np.where(miss, rule.missing, _level_weights(rule, sim))
        if rule.only_if_missing:
            contribution = np.where(missing[rule.only_if_missing], contribution, 0.0)
        weight += contribution
        sims[rule.name] = np.where(miss, np.float32(np.nan), sim)
        missing[rule.name] = miss
    veto = _vetoes(rules, left, right, n)
    probability = np.where(veto > 0, 0.0, 1.0 / (1.0 + np.exp2(-weight)))
    return Scores(sims, weight, probability, veto)


def one_against(rules: Rules, features: Mapping[str, str], others: Mapping[str, Sequence[str] | Strings]) -> Scores:
    """Score one record's features against candidates' feature columns (small shared vocabularies)."""
    n = len(next(iter(others.values()))) if others else 0
    left: dict[str, Coded] = {}
    right: dict[str, Coded] = {}
    for name in rules.features:
        vocab: dict[str, int] = {}
        query = Coded.encode([features.get(name, "")], vocab)
        right[name] = Coded.encode(list(others.get(name, [""] * n)), vocab)
        left[name] = Coded(np.repeat(query.codes, n), right[name].vocab)
    return score(rules, left, right)


def explain(rules: Rules, scores: Scores, index: int) -> dict[str, Any]:
    """Why a pair scored as it did: per field similarity and weight, the veto if any (for stewards)."""
    fields = {}
    for rule in rules.fields:
        raw = scores.similarity[rule.name][index]
        sim = float(raw)
        if np.isnan(sim):
            fields[rule.name] = {"similarity": None, "weight": rule.missing}
            continue
        weight = next((w for level, w in rule.levels if raw >= np.float32(level)), rule.otherwise)
        if rule.only_if_missing and not np.isnan(scores.similarity[rule.only_if_missing][index]):
            weight = 0.0
        fields[rule.name] = {"similarity": round(sim, 4), "weight": weight}
    veto = int(scores.veto[index])
    return {
        "rule": f"{rules.entity}:{rules.source.rsplit('/', 1)[-1]}", "prior": rules.prior,
        "weight": round(float(scores.weight[index]), 3), "probability": round(float(scores.probability[index]), 6),
        "veto": rules.vetoes[veto - 1].feature if veto else None, "fields": fields,
    }
