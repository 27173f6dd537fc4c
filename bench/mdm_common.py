"""Shared pieces of the MDM benchmarks: pairwise metrics, the Splink baseline, peak memory."""

from __future__ import annotations

import itertools
import logging
import resource
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Pair = tuple[int, int]


def cluster_pairs(labels: Sequence[int]) -> set[Pair]:
    """Every pair of records (i < j) that share a cluster label."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    return {pair for members in groups.values() if len(members) > 1
            for pair in itertools.combinations(sorted(members), 2)}


def true_pairs(entity: Sequence[int]) -> set[Pair]:
    """Pairs of records of the same entity."""
    return cluster_pairs(entity)


def scores(predicted: set[Pair], truth: set[Pair]) -> dict[str, float]:
    """Precision, recall and F1 of predicted pairs."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def pair_completeness(left: np.ndarray, right: np.ndarray, truth: set[Pair]) -> float:
    """Share of true pairs among the candidate pairs."""
    candidates = set(zip(left.tolist(), right.tolist(), strict=True))
    return round(len(truth & candidates) / len(truth), 4) if truth else 1.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process (and waited-for children) in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def ratio(a: float, b: float | None) -> float | None:
    """a / b rounded to 4 places, None when there is no b."""
    return round(a / b, 4) if b else None


SPLINK_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)


def splink_predict(frames: Any, settings: dict[str, Any], training: Iterable[Any], threshold: float,
                   deterministic: Sequence[Any], recall: float = 0.8, max_pairs: float = 1e6,
                   sweep: Sequence[float] = ()) -> tuple[Any, float, dict[float, Any]]:
    """Train Splink (DuckDB) with u by random sampling and m by EM, predict and cluster at `threshold`.

    Returns (clusters frame, seconds, clusters at each `sweep` threshold): the sweep lets the
    baseline be judged at its best threshold (its extra clustering runs are not timed).
    """
    from splink import Linker, SettingsCreator
    from splink.backends.duckdb import DuckDBAPI

    logging.getLogger("splink").setLevel(logging.ERROR)
    started = time.perf_counter()
    db_api = DuckDBAPI()
    inputs = [db_api.register(f) for f in frames] if isinstance(frames, list) else db_api.register(frames)
    linker = Linker(inputs, SettingsCreator(**settings), log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(list(deterministic), recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=1)
    for rule in training:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, fix_u_probabilities=True)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    frame = clusters.as_pandas_dataframe()
    seconds = time.perf_counter() - started
    others = {t: linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, t).as_pandas_dataframe()
              for t in sweep if t != threshold}
    return frame, seconds, {threshold: frame, **others}


def best_of(sweep: dict[float, Any], id_column: str, index: dict[Any, int], truth: set[Pair]) -> dict[str, Any]:
    """Scores of the threshold with the best F1 (the baseline at its best)."""
    best: dict[str, Any] = {}
    for threshold, frame in sweep.items():
        labels = list(range(len(index)))
        for rid, cluster in zip(frame[id_column], frame["cluster_id"], strict=True):
            labels[index[rid]] = hash(cluster)
        found = scores(cluster_pairs(labels), truth)
        if not best or found["f1"] > best["f1"]:
            best = {**found, "threshold": threshold}
    return best
