#!/usr/bin/env python3
"""The Grafana dashboard and the Prometheus rules in deploy/: well formed, every metric they
name is one the gateway documents (docs/metrics.md), and, when promtool is at hand (the
`prometheus` Debian package, or PROMTOOL=path), the rules pass `promtool check rules` and a
rule unit test shows the alerts fire on the series they watch and stay quiet otherwise.

Usage: test_observability.py SOURCE_ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

root = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def metrics_named(text):
    """Metric families a PromQL text refers to (histogram series folded to their family)."""
    names = set()
    for m in re.findall(r"\bsluice_[a-z0-9_]+", text):
        names.add(re.sub(r"_(bucket|sum|count)$", "", m) if m.endswith(("_bucket", "_sum", "_count")) and "seconds" in m else m)
    return names


docs = open(os.path.join(root, "docs", "metrics.md")).read() + open(
    os.path.join(root, "docs", "kubernetes.md")).read()

# ---- the dashboard ----
dash = json.load(open(os.path.join(root, "deploy", "grafana", "sluice-dashboard.json")))
check(dash.get("uid") and dash.get("title"), "dashboard: uid and title")
check(isinstance(dash.get("schemaVersion"), int), "dashboard: schemaVersion")
tvars = {v["name"] for v in dash.get("templating", {}).get("list", [])}
check({"datasource", "instance"} <= tvars, "dashboard: datasource and instance variables")
ids = [p["id"] for p in dash["panels"]]
check(len(ids) == len(set(ids)), "dashboard: panel ids repeat")
dash_metrics = set()
for p in dash["panels"]:
    g = p["gridPos"]
    check(0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, f"panel {p['title']}: grid")
    if p["type"] == "row":
        continue
    check(p.get("targets"), f"panel {p['title']}: no query")
    for t in p.get("targets", []):
        e = t.get("expr", "")
        check(e.count("(") == e.count(")") and e.count("{") == e.count("}"),
              f"panel {p['title']}: unbalanced {e}")
        check("$instance" in e, f"panel {p['title']}: ignores the gateway selector: {e}")
        dash_metrics |= metrics_named(e)
check(len(dash_metrics) >= 15, f"dashboard shows only {sorted(dash_metrics)}")

# ---- the rules ----
rules_path = os.path.join(root, "deploy", "prometheus", "sluice-rules.yaml")
rules = yaml.safe_load(open(rules_path))
alerts = {}
rule_metrics = set()
for g in rules["groups"]:
    for r in g["rules"]:
        name = r.get("alert")
        check(name and name not in alerts, f"rule without a unique alert name: {r}")
        alerts[name] = r
        check(r.get("labels", {}).get("severity") in ("critical", "warning", "info"),
              f"{name}: severity")
        ann = r.get("annotations", {})
        check(ann.get("summary") and ann.get("description"), f"{name}: summary and description")
        if "for" in r:
            check(re.fullmatch(r"\d+[smh]", str(r["for"])), f"{name}: for {r['for']}")
        rule_metrics |= metrics_named(r["expr"])
check(len(alerts) >= 10, f"only {len(alerts)} alerts")

for m in sorted(dash_metrics | rule_metrics):
    check(f"`{m}" in docs, f"{m} is not documented in docs/metrics.md or docs/kubernetes.md")

# ---- promtool, where Debian's prometheus package provides it ----
promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
if promtool:
    r = subprocess.run([promtool, "check", "rules", rules_path], capture_output=True, text=True)
    check(r.returncode == 0, f"promtool check rules: {r.stdout}{r.stderr}")
    # Unit tests of the alerts: each fires on the series it watches, none fires on a healthy
    # gateway.
    tests = {
        "rule_files": [rules_path],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'up{job="sluice",instance="gw1"}', "values": "0x10"},
                    {"series": 'sluice_tcp_flows_full_total{instance="gw1",lcore="1"}',
                     "values": "0 0 5 10 15 20 25 30 35 40 45"},
                    {"series": 'sluice_route_requests_total{instance="gw1",service="shop/web:80",ingress="shop/web",host="shop"}',
                     "values": "0+600x10"},
                    {"series": 'sluice_gateway_answers_total{instance="gw1",code="503",service="shop/web:80",ingress="shop/web",host="shop"}',
                     "values": "0+120x10"},
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "SluiceDown",
                     "exp_alerts": [{"exp_labels": {"severity": "critical", "job": "sluice", "instance": "gw1"}}]},
                    {"eval_time": "5m", "alertname": "SluiceFlowTableFull",
                     "exp_alerts": [{"exp_labels": {"severity": "critical", "instance": "gw1", "lcore": "1"}}]},
                    {"eval_time": "9m", "alertname": "SluiceServiceErrors",
                     "exp_alerts": [{"exp_labels": {"severity": "warning", "service": "shop/web:80"}}]},
                    {"eval_time": "9m", "alertname": "SluiceNicDrops", "exp_alerts": []},
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'up{job="sluice",instance="gw1"}', "values": "1x10"},
                    {"series": 'sluice_tcp_flows_full_total{instance="gw1",lcore="1"}', "values": "0x10"},
                    {"series": 'sluice_route_requests_total{instance="gw1",service="shop/web:80",ingress="shop/web",host="shop"}',
                     "values": "0+600x10"},
                    {"series": 'sluice_gateway_answers_total{instance="gw1",code="503",service="shop/web:80",ingress="shop/web",host="shop"}',
                     "values": "0+1x10"},
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": a, "exp_alerts": []}
                    for a in ("SluiceDown", "SluiceFlowTableFull", "SluiceServiceErrors")
                ],
            },
        ],
    }
    # promtool compares annotations too: render the rule's templates for the labels expected.
    for t in tests["tests"]:
        for case in t["alert_rule_test"]:
            ann = alerts[case["alertname"]]["annotations"]
            for e in case["exp_alerts"]:
                lab = e["exp_labels"]
                e["exp_annotations"] = {
                    k: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: lab[m.group(1)], v)
                    for k, v in ann.items()}
    with tempfile.TemporaryDirectory() as d:
        tf = os.path.join(d, "tests.yaml")
        with open(tf, "w") as f:
            yaml.safe_dump(tests, f)
        t = subprocess.run([promtool, "test", "rules", tf], capture_output=True, text=True)
        check(t.returncode == 0, f"promtool test rules: {t.stdout}{t.stderr}")
    if r.returncode == 0 and t.returncode == 0:
        print("ok: promtool checks and unit-tests the rules")
else:
    print("note: no promtool here (Debian package prometheus); structure checks only")

if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(1)
print(f"ok: dashboard ({len(dash['panels'])} panels, {len(dash_metrics)} metrics) and "
      f"{len(alerts)} alerts, every metric documented")
