"""MDM engine on generated Chinese customer data with known answers, against Splink on the same set.

The generator (mdm/synthetic.py) writes each company the way sources do: traditional script,
other legal-form suffixes, the city in brackets or with its province, typos, short names,
English and pinyin names, phones and addresses in any format, missing fields; plus hard
negatives (same brand in another city, a group and its branch, same name with another credit
code). Splink gets the engine's normalised features as its columns (the best input it can have)
and is trained with u by random sampling and m by EM; it is reported at the clustering threshold
that gives it the best F1 (its timing is that of one threshold). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from mdm_common import (
    SPLINK_THRESHOLDS,
    best_of,
    cluster_pairs,
    pair_completeness,
    ratio,
    scores,
    splink_predict,
    true_pairs,
)

from mdm.engine import build_dataset, dedupe
from mdm.rules import load_rules
from mdm.synthetic import generate

SPLINK_COLUMNS = ("core", "latin", "brand_key", "credit_code", "landline", "mobile", "name_city", "city",
                  "district", "street", "industry_words", "legal_form", "org_kind", "branch")


def run_engine(records: list[dict[str, str]], entity: list[int]) -> tuple[dict[str, Any], Any]:
    """Features, blocking, scores, clusters; F1 of the auto band and its precision."""
    rules = load_rules("customer")
    started = time.perf_counter()
    data = build_dataset(rules, ((r["record_id"], r) for r in records), extra=SPLINK_COLUMNS)
    result = dedupe(rules, data)
    seconds = time.perf_counter() - started
    truth = true_pairs(entity)
    auto = cluster_pairs(result.labels.tolist())
    review = set(zip(result.pairs.left[result.review].tolist(), result.pairs.right[result.review].tolist(),
                     strict=True))
    out = {**scores(auto, truth), "pair_completeness": pair_completeness(result.pairs.left, result.pairs.right, truth),
           "auto_precision": scores(auto, truth)["precision"], "review_pairs": len(review),
           "review_true_share": round(len(review & truth) / len(review), 4) if review else None,
           "f1_auto_and_review": scores(auto | review, truth)["f1"], "seconds": round(seconds, 2)}
    return out, result


def hard_negative_violations(labels: list[int], entity: list[int], negatives: list[tuple[int, int]]) -> int:
    """Hard-negative entity pairs that ended up in one cluster."""
    clusters_of: dict[int, set[int]] = {}
    for label, e in zip(labels, entity, strict=True):
        clusters_of.setdefault(e, set()).add(label)
    return sum(1 for a, b in negatives if clusters_of.get(a, set()) & clusters_of.get(b, set()))


def _splink_settings() -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import block_on

    return {
        "link_type": "dedupe_only", "unique_id_column_name": "unique_id",
        "comparisons": [
            cl.JaroWinklerAtThresholds("name_key", [0.999, 0.9, 0.84]), cl.ExactMatch("brand_key"),
            cl.ExactMatch("credit_code"), cl.ExactMatch("landline"), cl.ExactMatch("mobile"),
            cl.ExactMatch("name_city"), cl.ExactMatch("city"), cl.ExactMatch("district"),
            cl.JaroWinklerAtThresholds("street", [0.95, 0.8]), cl.ExactMatch("industry_words"),
            cl.ExactMatch("legal_form"), cl.ExactMatch("org_kind"), cl.ExactMatch("branch"),
        ],
        "blocking_rules_to_generate_predictions": [
            block_on("credit_code"), block_on("landline"), block_on("mobile"), block_on("brand_key"),
            block_on("latin"), block_on("core"),
        ],
        "retain_intermediate_calculation_columns": False, "retain_matching_columns": False,
    }


def run_splink(result: Any, entity: list[int]) -> dict[str, Any]:
    """Splink (DuckDB) on the engine's normalised features."""
    from splink import block_on

    columns = {name: result.data.columns[name].strings() for name in SPLINK_COLUMNS}
    frame = pd.DataFrame(columns).replace("", None)
    frame["name_key"] = frame["core"].fillna(frame["latin"])
    frame["unique_id"] = np.arange(len(frame))
    training = [block_on("credit_code"), block_on("brand_key"), block_on("landline")]
    deterministic = [block_on("credit_code"), block_on("core", "name_city")]
    _clusters, seconds, sweep = splink_predict(frame, _splink_settings(), training, 0.5, deterministic, recall=0.7,
                                               sweep=SPLINK_THRESHOLDS)
    best = best_of(sweep, "unique_id", {i: i for i in range(len(frame))}, true_pairs(entity))
    return {**best, "seconds": round(seconds, 2)}


def main() -> None:
    """Generate, match with the engine and with Splink; print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    generated = generate(args.entities, seed=args.seed)
    ours, result = run_engine(generated.records, generated.entity)
    ours["hard_negative_violations"] = hard_negative_violations(result.labels.tolist(), generated.entity,
                                                                generated.hard_negatives)
    splink = run_splink(result, generated.entity)
    report = {"bench": "mdm_chinese", "records": len(generated.records), "entities": args.entities,
              "hard_negative_pairs": len(generated.hard_negatives), "engine": ours, "splink": splink,
              "f1_vs_splink": ratio(ours["f1"], splink["f1"]),
              "targets_met": bool(ours["f1"] >= 0.98 and ours["auto_precision"] >= 0.995 and ours["f1"] >= splink["f1"])}
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
