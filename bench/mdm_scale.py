"""MDM at scale: a whole file of customers deduplicated (time, peak memory), against Splink on the
same data, and one new record matched against the full store (latency).

    python bench/mdm_scale.py                      # 100,000 records (the default)
    python bench/mdm_scale.py --records 1000000    # the full-scale run

The dedupe runs in a child process exactly as `hub mdm dedupe` does (read CSV, features with
2 worker processes, blocking, vectorised scores, clusters, codes, write CSV), so its peak RSS is
measured alone. Splink (DuckDB) runs on at most 100,000 of the same records, given the engine's
normalised features; its time excludes that normalisation, ours includes it. Then an in-memory
match index is built over the deduplicated data set and held-out records are matched one at a
time. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from mdm_common import cluster_pairs, ratio, scores, true_pairs

HERE = Path(__file__).resolve()
COLUMNS = ("record_id", "source", "name", "address", "phone", "credit_code", "industry", "province", "city")


def write_csv(records: list[dict[str, str]], path: Path) -> None:
    """The generated records as the dedupe CLI reads them."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def child(input_csv: Path, output_csv: Path, queries_json: Path, workers: int) -> None:
    """Dedupe the file like the CLI, then time single-record matches against it; print JSON."""
    from mdm.engine import build_dataset, dedupe
    from mdm.io import read_records, write_result
    from mdm.rules import load_rules

    rules = load_rules("customer")
    started = time.perf_counter()
    data = build_dataset(rules, read_records(input_csv, "customer"), workers=workers)
    features_s = time.perf_counter() - started
    result = dedupe(rules, data)
    with output_csv.open("w", encoding="utf-8", newline="") as handle:
        write_result(result, handle)
    total_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out: dict[str, Any] = {"features_s": round(features_s, 1), "dedupe_s": round(total_s, 1),
                           "candidate_pairs": len(result.pairs.left), "peak_rss_mb": round(peak, 1),
                           "worker_peak_rss_mb": round(workers_peak, 1)}
    out.update(_latency(rules, data, json.loads(queries_json.read_text(encoding="utf-8"))))
    print(json.dumps(out))


def _latency(rules: Any, data: Any, queries: list[dict[str, str]]) -> dict[str, Any]:
    from mdm.index import MatchIndex

    started = time.perf_counter()
    index = MatchIndex(rules, data)
    build_s = time.perf_counter() - started
    for record in queries[:20]:  # warm the caches a long-running intake has warm
        index.match(record)
    times = []
    for record in queries[20:]:
        t = time.perf_counter()
        index.match(record)
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1000
    return {"index_build_s": round(build_s, 1), "match_queries": len(times),
            "match_p50_ms": round(float(np.percentile(ms, 50)), 2), "match_p95_ms": round(float(np.percentile(ms, 95)), 2),
            "match_max_ms": round(float(ms.max()), 2)}


def run_child(records: list[dict[str, str]], queries: list[dict[str, str]], workdir: Path,
              workers: int) -> tuple[dict[str, Any], Path]:
    """Write the file, run the child, return its report and the output path."""
    input_csv, output_csv, queries_json = workdir / "in.csv", workdir / "out.csv", workdir / "queries.json"
    write_csv(records, input_csv)
    queries_json.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE), "--child", str(input_csv), str(output_csv), str(queries_json),
                           "--workers", str(workers)], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report, output_csv


def quality(output_csv: Path, entity: list[int]) -> dict[str, Any]:
    """Pairwise precision / recall / F1 of the clusters in the output file."""
    with output_csv.open(encoding="utf-8") as handle:
        labels = [hash(row["cluster_id"]) for row in csv.DictReader(handle)]
    return scores(cluster_pairs(labels), true_pairs(entity))


def splink_time(records: list[dict[str, str]], entity: list[int]) -> dict[str, Any]:
    """Splink on the same records (given the engine's features); seconds and F1."""
    sys.path.insert(0, str(HERE.parent))
    from mdm_chinese import SPLINK_COLUMNS, run_splink

    from mdm.engine import build_dataset
    from mdm.rules import load_rules

    rules = load_rules("customer")
    data = build_dataset(rules, ((r["record_id"], r) for r in records), extra=SPLINK_COLUMNS)

    class _Result:  # what run_splink reads from an engine result
        pass

    holder = _Result()
    holder.data = data  # type: ignore[attr-defined]
    return run_splink(holder, entity)


def generate_records(n: int, queries: int, seed: int) -> tuple[list[dict[str, str]], list[int], list[dict[str, str]]]:
    """n records with their entities, and held-out records to match one by one."""
    from mdm.synthetic import generate

    generated = generate(int((n + queries) / 1.78) + 10, seed=seed)
    records, entity = generated.records, generated.entity
    return records[:n], entity[:n], records[n:n + queries]


def main() -> None:
    """Generate, dedupe in a child process, compare with Splink, time single matches; one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--splink-records", type=int, default=100_000, help="0: skip Splink")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--child", nargs=3, metavar=("IN", "OUT", "QUERIES"))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]), args.workers)
        return
    started = time.perf_counter()
    records, entity, queries = generate_records(args.records, args.queries, args.seed)
    report: dict[str, Any] = {"bench": "mdm_scale", "records": len(records), "generate_s": 0.0}
    report["generate_s"] = round(time.perf_counter() - started, 1)
    with tempfile.TemporaryDirectory() as tmp:
        engine, output_csv = run_child(records, queries, Path(tmp), args.workers)
        engine.update(quality(output_csv, entity))
    report["engine"] = engine
    n_splink = min(args.splink_records, len(records))
    if n_splink:
        if n_splink == len(records):
            ours_s = engine["dedupe_s"]
        else:
            with tempfile.TemporaryDirectory() as tmp:
                ours_s = run_child(records[:n_splink], queries[:30], Path(tmp), args.workers)[0]["dedupe_s"]
        splink = splink_time(records[:n_splink], entity[:n_splink])
        report["splink"] = {"records": n_splink, **splink, "engine_s_same_records": ours_s,
                            "speedup": ratio(splink["seconds"], ours_s)}
    report["targets"] = {
        "dedupe_within_10_min": engine["dedupe_s"] <= 600, "peak_rss_within_4gb": engine["peak_rss_mb"] <= 4096,
        "faster_than_splink": report["splink"]["speedup"] > 1 if n_splink else None,  # None: not measured
        "match_p95_within_20ms": engine["match_p95_ms"] <= 20}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
