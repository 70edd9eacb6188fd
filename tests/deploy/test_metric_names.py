"""Every metric the alert rules and the Grafana dashboards query is one the stages export.

The exported names come from each stage's registry in this process (kernel.metrics.registry,
after importing the stages' metrics modules), plus the process metrics every stage serves and
``up``, which Prometheus records per target. Names made by the rules themselves (recording
rules) count too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import dealers.api_metrics
import dealers.webhook_metrics
import ingest.metrics
import processors.journey.metrics
import processors.normalize.metrics
import processors.signals.metrics
import processors.store.metrics
from kernel.metrics import served_registry

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
SCRAPED_STAGES = (
    ingest.metrics.STAGE,
    processors.normalize.metrics.STAGE,
    processors.store.metrics.STAGE,
    processors.signals.metrics.STAGE,
    processors.journey.metrics.STAGE,
    dealers.webhook_metrics.STAGE,
    dealers.api_metrics.STAGE,
)
MADE_BY_PROMETHEUS = {"up"}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "Inf", "NaN"}


def exported() -> set[str]:
    names = set(MADE_BY_PROMETHEUS)
    for stage in SCRAPED_STAGES:
        for family in served_registry(stage).collect():
            suffixes = _SUFFIXES.get(family.type, ("",))
            names.update(family.name + suffix for suffix in suffixes)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    for pattern in (_STRING, _MATCHERS, _RANGE, _GROUPING):
        expr = pattern.sub(" ", expr)
    return {name for name, call in _NAME.findall(expr) if not call and name not in _KEYWORDS}


def _dashboard_exprs(path: Path) -> Iterator[str]:
    doc = json.loads(path.read_text())
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in doc["templating"]["list"]:
        query = variable["query"]["query"]
        match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
        assert match, f"{path.name}: ${variable['name']}: {query}"
        yield match[1]


def _rules(path: Path) -> Iterator[dict[str, str]]:
    for group in yaml.safe_load(path.read_text())["groups"]:
        yield from group["rules"]


def test_the_extraction_finds_metrics_only() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{instance=~"$i"}[5m])))'
        ' > 1.5 * b offset 1d and on (instance) c{x="y"} == 0 unless d:e:f <= 1e3'
    ) == {"a_bucket", "b", "c", "d:e:f"}


def test_the_stages_export_what_the_registries_hold() -> None:
    names = exported()
    assert "journeygate_bridge_connected" in names
    assert "journeygate_store_lag_records" in names
    assert "journeygate_signals_bill_abs_pct_error_bucket" in names
    assert "journeygate_signals_usage_recent_to_lifetime_bucket" in names
    assert "journeygate_journey_alerts_raised_total" in names
    assert "process_cpu_seconds_total" in names
    assert "journeygate_webhooks_deliveries_total" in names


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_the_rules_query_exported_metrics(path: Path) -> None:
    rules = list(_rules(path))
    recorded = {rule["record"] for rule in rules if "record" in rule}
    known = exported() | recorded
    for rule in rules:
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {sorted(unknown)}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_dashboards_query_exported_metrics(path: Path) -> None:
    known = exported()
    for expr in _dashboard_exprs(path):
        unknown = metric_names(expr) - known
        assert not unknown, f"{expr}: {sorted(unknown)}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_each_dashboard_selects_instances_and_sums_histograms_by_le(path: Path) -> None:
    doc = json.loads(path.read_text())
    (variable,) = doc["templating"]["list"]
    assert variable["name"] == "instance" and variable["includeAll"] and variable["multi"]
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    assert exprs
    for expr in exprs:
        assert 'instance=~"$instance"' in expr, expr
        for quantile in re.findall(r"histogram_quantile\(([^,]+),\s*(\w+ by \(le\))?", expr):
            assert quantile[1] == "sum by (le)", expr
    assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])


def test_one_dashboard_per_concern() -> None:
    assert {p.stem for p in DASHBOARDS} == {"ingest", "processing", "predictions-alerts"}
