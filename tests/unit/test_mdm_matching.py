"""Matching: comparators, scores and bands, vetoes (hard negatives), cross-script names, blocking
recall on a labelled set, clustering that does not chain, and the batch result."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np
import pytest

from hub.core.errors import ConfigError
from mdm.blocking import candidate_pairs
from mdm.cluster import cluster
from mdm.compare import COMPARATORS, one_against
from mdm.engine import build_dataset, dedupe
from mdm.features import all_features
from mdm.rules import load_rules, parse_rules
from mdm.synthetic import generate, make_uscc

RULES = load_rules("customer")
BASE = {"source_system": "erp", "source_id": "C1", "name": "苏州华成机械有限公司", "phone": "0512-66881234",
        "credit_code": "91320500MA1MX3K71M", "industry": "通用设备制造业",
        "address": {"province": "江苏省", "city": "苏州市", "district": "吴中区", "street": "金枫南路1258号"}}


def probability(left: dict[str, Any], right: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Match probability of two customer records and its explanation."""
    from mdm.compare import explain

    a, b = all_features(RULES, left), all_features(RULES, right)
    scores = one_against(RULES, a, {name: [b.get(name, "")] for name in RULES.features})
    return float(scores.probability[0]), explain(RULES, scores, 0)


def array(*values: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


@pytest.mark.parametrize(("name", "a", "b", "low", "high"), [
    ("exact", "华成", "华成", 1.0, 1.0),
    ("exact", "华成", "华诚", 0.0, 0.0),
    ("jaro_winkler", "huacheng", "huachen", 0.95, 0.99),
    ("levenshtein", "19660530", "19660503", 0.7, 0.8),
    ("ratio", "abcd", "abce", 0.7, 0.8),
    ("token_sort", "new energy", "energy new", 1.0, 1.0),
    ("date", "19660530", "19663005", 0.9, 0.9),
])
def test_comparators_are_vectorised_and_bounded(name: str, a: str, b: str, low: float, high: float) -> None:
    sims = COMPARATORS[name](array(a, a), array(b, b))
    assert sims.shape == (2,)
    assert low - 1e-6 <= float(sims[0]) <= high + 1e-6


@pytest.mark.parametrize(("variant", "band"), [
    ({"name": "蘇州華成機械股份有限公司", "credit_code": ""}, "auto"),          # traditional, legal form
    ({"name": "华成机械（苏州）有限公司", "phone": "+86 512 6688 1234"}, "auto"),   # bracketed city
    ({"name": "苏州华诚机械有限公司", "credit_code": ""}, "auto"),                 # homophone typo, same phone
    ({"name": "Suzhou Huacheng Machinery Co., Ltd.", "credit_code": "", "phone": ""}, "auto"),  # English
    ({"name": "苏州华成机械有限公司", "credit_code": "", "phone": "", "address": {}}, "auto"),
    ({"name": "苏州华盛机械有限公司", "credit_code": "", "phone": "", "address": {}}, "none"),  # other brand
    ({"name": "无锡华成机械有限公司", "credit_code": "", "phone": "0510-88776655",
      "address": {"city": "无锡市"}}, "none"),                                                  # other city
])
def test_classification_bands(variant: dict[str, Any], band: str) -> None:
    p, explanation = probability(BASE, {**BASE, "source_id": "C2", **variant})
    assert RULES.band(p) == band, explanation


@pytest.mark.parametrize(("variant", "veto"), [
    ({"name": "华成机械集团有限公司", "credit_code": ""}, "org_kind"),                  # group vs subsidiary
    ({"name": "华成机械有限公司苏州分公司", "credit_code": ""}, "org_kind"),              # branch vs company
    ({"credit_code": "91320500MA1MX3K80X"}, None),                                    # invalid code: ignored
])
def test_hard_negatives_are_vetoed(variant: dict[str, Any], veto: str | None) -> None:
    p, explanation = probability(BASE, {**BASE, "source_id": "C2", **variant})
    assert explanation["veto"] == veto
    if veto:
        assert p == 0.0


def test_same_name_with_another_valid_credit_code_is_vetoed() -> None:
    other = make_uscc(random.Random(1))
    p, explanation = probability(BASE, {**BASE, "source_id": "C2", "credit_code": other})
    assert (p, explanation["veto"]) == (0.0, "credit_code")


def test_two_branches_of_one_company_stay_apart() -> None:
    left = {**BASE, "name": "华成机械有限公司苏州分公司", "credit_code": ""}
    right = {**left, "name": "华成机械有限公司无锡分公司"}
    assert probability(left, right)[1]["veto"] == "branch"


def test_explanation_names_rule_fields_and_weights() -> None:
    _, explanation = probability(BASE, {**BASE, "source_id": "C2"})
    assert explanation["rule"].startswith("customer:")
    assert explanation["fields"]["credit_code"] == {"similarity": 1.0, "weight": 14.0}
    assert explanation["fields"]["brand"]["weight"] == 8.0


def _truth(entity: list[int]) -> set[tuple[int, int]]:
    groups: dict[int, list[int]] = {}
    for i, e in enumerate(entity):
        groups.setdefault(e, []).append(i)
    return {p for members in groups.values() for p in itertools.combinations(members, 2)}


@pytest.fixture(scope="module")
def labelled() -> tuple[Any, Any]:
    generated = generate(1500, seed=21)
    data = build_dataset(RULES, ((r["record_id"], r) for r in generated.records))
    return generated, data


def test_blocking_keeps_99_percent_of_true_pairs(labelled: tuple[Any, Any]) -> None:
    generated, data = labelled
    left, right = candidate_pairs(RULES, data.strings())
    truth = _truth(generated.entity)
    found = truth & set(zip(left.tolist(), right.tolist(), strict=True))
    assert len(found) / len(truth) >= 0.99
    n = len(generated.records)
    assert len(left) < n * 40  # a tiny share of the n²/2 pairs


def test_batch_dedupe_is_precise_and_keeps_hard_negatives_apart(labelled: tuple[Any, Any]) -> None:
    generated, data = labelled
    result = dedupe(RULES, data)
    labels = result.labels.tolist()
    predicted = _truth(labels)  # pairs sharing a cluster
    truth = _truth(generated.entity)
    precision = len(predicted & truth) / len(predicted)
    recall = len(predicted & truth) / len(truth)
    assert precision >= 0.995 and recall >= 0.97
    cluster_of = {}
    for label, e in zip(labels, generated.entity, strict=True):
        cluster_of.setdefault(e, set()).add(label)
    assert not [pair for pair in generated.hard_negatives if cluster_of[pair[0]] & cluster_of[pair[1]]]
    assert set(result.decision) <= {"auto", "review", "single"}
    assert len(set(result.codes.values())) == len(result.codes)


def test_clustering_does_not_chain_through_a_weak_link() -> None:
    # 0–1 strong, 1–2 a bit weaker, but 0 and 2 are known to differ: 2 stays out.
    left, right, strength = np.array([0, 1]), np.array([1, 2]), np.array([0.99, 0.98])
    clusters = cluster(3, left, right, strength, np.array([0]), np.array([2]))
    assert clusters.labels.tolist() == [0, 0, 2]
    assert clusters.refused == [1]


def test_clustering_joins_transitive_links_without_conflict() -> None:
    clusters = cluster(4, np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([0.99, 0.98, 0.97]),
                       np.empty(0, np.int64), np.empty(0, np.int64))
    assert clusters.labels.tolist() == [0, 0, 0, 0]


def test_link_mode_keeps_one_record_per_source() -> None:
    clusters = cluster(3, np.array([0, 0]), np.array([1, 2]), np.array([0.99, 0.98]), np.empty(0, np.int64),
                       np.empty(0, np.int64), groups=np.array([0, 1, 1]))
    assert clusters.labels.tolist() == [0, 0, 2]


def test_a_short_name_matching_two_cities_goes_to_review() -> None:
    records = [
        {**BASE, "source_id": "A", "phone": "", "credit_code": ""},
        {**BASE, "source_id": "B", "name": "无锡华成机械有限公司", "phone": "", "credit_code": "",
         "address": {"city": "无锡市"}},
        {"source_system": "crm", "source_id": "C", "name": "华成机械", "industry": "通用设备制造业"},
    ]
    data = build_dataset(RULES, ((r["source_id"], r) for r in records))
    result = dedupe(RULES, data)
    assert result.decision[2] == "review"
    assert len(set(result.labels.tolist())) == 3


def test_rule_files_report_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules({"entity": "x", "fields": {"a": {"compare": "nope", "levels": [[2, 1]]}},
                     "blocking": {"rules": [{"keys": ["a"], "sorted": ["a"]}]},
                     "thresholds": {"auto": 0.2, "review": 0.9}})
    text = str(info.value)
    for fragment in ("unknown comparator", "similarities must lie in [0, 1]", "exactly one of keys or sorted",
                     "thresholds"):
        assert fragment in text


@pytest.mark.parametrize("entity", ["customer", "product", "channel"])
def test_bundled_rules_load(entity: str) -> None:
    rules = load_rules(entity)
    assert rules.entity == entity and rules.fields and rules.blocking and rules.code.get("template")
