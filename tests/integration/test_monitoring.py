"""monitoring/: alert rules pass promtool's checks and unit tests; every metric they use is one the hub defines.

promtool comes with Debian's `prometheus` package and amtool with `prometheus-alertmanager`; a test
that needs one is skipped when it is missing, and fails under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hub.core.metrics import series_names

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
METRIC = re.compile(r"\bhub_[a-z0-9_]+")


def require_tool(name: str, package: str) -> str:
    """The tool's path; skip (or, under CI=true, fail) when it is not installed."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install -y {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: monitoring tools are required)")
    pytest.skip(message)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=MONITORING, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_rules_and_the_scrape_config() -> None:
    promtool = require_tool("promtool", "prometheus")
    rules = run(promtool, "check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = run(promtool, "check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_alert_rules_unit_tests_pass() -> None:
    promtool = require_tool("promtool", "prometheus")
    tests = sorted(str(p.relative_to(MONITORING)) for p in (MONITORING / "tests").glob("*.yml"))
    assert tests
    result = run(promtool, "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_checks_the_alertmanager_config() -> None:
    amtool = require_tool("amtool", "prometheus-alertmanager")
    result = run(amtool, "check-config", "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def expressions() -> dict[str, str]:
    """Every PromQL expression of the alert rules and the dashboard, by where it is."""
    out = {}
    for group in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            out[f"alert {rule['alert']}"] = rule["expr"]
    dashboard = json.loads((MONITORING / "grafana" / "hub-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out[f"panel {panel['title']!r}"] = target["expr"]
    return out


def test_every_metric_in_alerts_and_dashboard_is_defined_by_the_hub() -> None:
    known = series_names()
    unknown = {where: sorted(set(METRIC.findall(expr)) - known) for where, expr in expressions().items()}
    assert not {k: v for k, v in unknown.items() if v}, unknown


def test_the_dashboard_covers_flows_lag_and_mdm() -> None:
    dashboard = json.loads((MONITORING / "grafana" / "hub-dashboard.json").read_text())
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert {"Flows", "Lag", "MDM and data quality"} <= rows
    used = " ".join(expressions().values())
    for name in ("hub_bus_queue_depth_messages", "hub_relay_messages_total", "hub_mdm_review_queue_size",
                 "hub_quality_score_ratio", "hub_consumer_end_to_end_latency_seconds_bucket"):
        assert name in used
