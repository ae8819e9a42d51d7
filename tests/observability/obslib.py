"""Shared helpers for the observability tests: the contract, PromQL parsing, dashboards, configs."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "monitoring"
RULE_FILES = sorted((MON / "rules").glob("*.yml"))
UNIT_TEST_FILES = sorted((ROOT / "tests" / "observability" / "rules").glob("*.test.yml"))
DASHBOARD_FILES = sorted((MON / "grafana" / "dashboards").glob("*.json"))
DATASOURCE_FILE = MON / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

# Labels Prometheus attaches to every series of a target (from our scrape configs), not exported by the app.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "node"}
# Label values the binary may export for its enumerated labels (docs/contract.json, docs/api.md).
ENUMS = {
    "difficulty": {"easy", "medium", "hard", "expert"},
    "outcome": {"reveal", "hit", "miss"},
    "dependency": {"database", "redis"},
}
HEALTH_ROUTES = re.compile(r"/health.*|/api/health|/metrics")


def require_tools():
    """CI sets OBS_REQUIRE_TOOLS=1: a missing tool is then a failure, never a skip."""
    return os.environ.get("OBS_REQUIRE_TOOLS") == "1"


def tool(name):
    path = shutil.which(name)
    if path is None:
        import pytest

        if require_tools():
            pytest.fail(f"{name} is not installed (Debian: prometheus / prometheus-alertmanager)")
        pytest.skip(f"{name} is not installed")
    return path


def hmg_bin():
    """The server binary: $HMG_BIN if it exists, else None."""
    b = os.environ.get("HMG_BIN")
    return b if b and os.path.isfile(b) and os.access(b, os.X_OK) else None


def contract():
    """The operational contract: from `humor-memory-game contract` when the binary is there (CI), else the
    committed docs/contract.json (an API test of the server keeps the two equal)."""
    b = hmg_bin()
    if b:
        out = subprocess.run([b, "contract"], check=True, capture_output=True, text=True, timeout=30).stdout
        return json.loads(out)
    return json.loads((ROOT / "docs" / "contract.json").read_text())


def exported_series_names(c):
    """Every series name the binary exports, histograms expanded to _bucket/_sum/_count."""
    names = {}
    for m in c["metrics"]:
        if m["type"] == "histogram":
            for suffix, extra in (("_bucket", ["le"]), ("_sum", []), ("_count", [])):
                names[m["name"] + suffix] = set(m["labels"]) | set(extra)
        else:
            names[m["name"]] = set(m["labels"])
    return names


def upstream():
    doc = yaml.safe_load((MON / "upstream-metrics.yml").read_text())
    names = {}
    for m in doc["metrics"]:
        if m["type"] == "histogram":
            for suffix, extra in (("_bucket", ["le"]), ("_sum", []), ("_count", [])):
                names[m["name"] + suffix] = set(m["labels"]) | set(extra)
        else:
            names[m["name"]] = set(m["labels"])
    return names, doc["metrics"]


def rule_groups():
    for f in RULE_FILES:
        for g in yaml.safe_load(f.read_text())["groups"]:
            yield f, g


def alerts():
    return [(f, g, r) for f, g in rule_groups() for r in g["rules"] if "alert" in r]


def unit_test_cases():
    for f in UNIT_TEST_FILES:
        for case in yaml.safe_load(f.read_text())["tests"]:
            yield f, case


def input_series():
    """(test case name, metric name, {label: value}) for every input series of the promtool unit tests."""
    for _, case in unit_test_cases():
        for s in case.get("input_series", []):
            (name, labels), = selectors(s["series"])
            yield case["name"], name, {k: v for k, (_, v) in labels.items()}


def recorded_names():
    return {r["record"] for _, g in rule_groups() for r in g["rules"] if "record" in r}


# ------------------------------------------------------------------------------------------ PromQL
def selectors(expr):
    """(metric name, {label: (op, value)}) for every vector selector in a PromQL expression."""
    found = []

    def visit(node):
        if isinstance(node, promql_parser.MatrixSelector):
            node = node.vector_selector
        if isinstance(node, promql_parser.VectorSelector):
            labels = {}
            name = node.name
            for m in node.matchers.matchers:
                if m.name == "__name__":
                    name = m.value
                else:
                    labels[m.name] = (str(m.op), m.value)
            found.append((name, labels))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def metric_names(expr):
    return {n for n, _ in selectors(expr) if n}


# ------------------------------------------------------------------------------------------ Grafana
# Values for Grafana's variables when a query is checked outside Grafana: "All" for template variables
# (allValue .*), and fixed windows for the interval macros.
GRAFANA_MACROS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}


def substitute(expr, variables):
    for macro, value in GRAFANA_MACROS.items():
        expr = expr.replace(macro, value)
    for v in variables:
        expr = expr.replace("$" + v, ".*").replace("${" + v + "}", ".*")
    return expr


def dashboards():
    return [(p, json.loads(p.read_text())) for p in DASHBOARD_FILES]


def dashboard_queries(dash):
    """(panel, target, PromQL with the variables substituted) for every query of a dashboard, and the
    variables' own queries (label_values(<selector>, label) checked as <selector>)."""
    variables = [v["name"] for v in dash.get("templating", {}).get("list", [])]
    out = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            out.append((p, t, substitute(t["expr"], variables)))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
            assert m, f"variable {v['name']}: unexpected query {q!r}"
            out.append(({"title": f"variable ${v['name']}", "id": None}, {"refId": v["name"]},
                        substitute(m.group(1), variables)))
    return out


# ------------------------------------------------------------------------------------------ exposition
def parse_exposition(text):
    """{metric family sample name: [labels dict, ...]} from Prometheus text format (enough for our checks)."""
    series = {}
    line_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        assert m, f"unparsable exposition line: {line!r}"
        labels = dict(label_re.findall(m.group(3) or ""))
        series.setdefault(m.group(1), []).append(labels)
    return series
