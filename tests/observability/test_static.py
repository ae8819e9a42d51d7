"""Checks that need no running server: rules, unit tests, dashboards, provisioning, configs, manifests."""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from . import obslib
from .obslib import ROOT, MON

GRAFANA_BUILTIN_PANELS = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "histogram",
                          "text", "piechart", "state-timeline", "status-history", "barchart", "logs",
                          "alertlist", "dashlist", "news", "nodeGraph", "traces", "xychart", "candlestick",
                          "trend", "flamegraph", "canvas", "geomap"}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


# ------------------------------------------------------------------------------------------ rules
def test_rule_files_pass_promtool_check_rules():
    r = run([obslib.tool("promtool"), "check", "rules", *map(str, obslib.RULE_FILES)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests_pass():
    r = run([obslib.tool("promtool"), "test", "rules", *map(str, obslib.UNIT_TEST_FILES)])
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(obslib.UNIT_TEST_FILES), r.stdout + r.stderr


def operations_anchors():
    """GitHub-style anchors of every heading in docs/operations.md."""
    anchors = set()
    for line in (ROOT / "docs" / "operations.md").read_text().splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


@pytest.mark.parametrize("alert", [r["alert"] for _, _, r in obslib.alerts()])
def test_alert_has_severity_summary_description_and_a_runbook_section(alert):
    rule = next(r for _, _, r in obslib.alerts() if r["alert"] == alert)
    assert rule["labels"]["severity"] in {"critical", "warning"}
    for key in ("summary", "description", "runbook_url"):
        assert rule["annotations"].get(key, "").strip(), f"{alert} has no {key}"
    url = rule["annotations"]["runbook_url"]
    path, _, anchor = url.partition("#")
    assert path == "docs/operations.md", url
    assert anchor == alert.lower(), f"{alert}: runbook anchor should be #{alert.lower()}"
    assert anchor in operations_anchors(), f"docs/operations.md has no section #{anchor}"


@pytest.mark.parametrize("alert", [r["alert"] for _, _, r in obslib.alerts()])
def test_every_alert_has_a_firing_and_a_silent_unit_test(alert):
    fires = silent = False
    for _, case in obslib.unit_test_cases():
        for t in case.get("alert_rule_test", []):
            if t["alertname"] != alert:
                continue
            if t.get("exp_alerts"):
                fires = True
                for exp in t["exp_alerts"]:
                    assert exp["exp_labels"].get("severity"), f"{case['name']}: expected labels lack severity"
                    assert "runbook_url" in exp.get("exp_annotations", {}), case["name"]
            elif "silent" in case["name"] or "stays silent" in case["name"]:
                silent = True
    assert fires, f"no unit test shows {alert} firing"
    assert silent, f"no unit test shows {alert} staying silent"


def test_every_rule_file_is_covered_by_a_unit_test_file():
    covered = set()
    for f in obslib.UNIT_TEST_FILES:
        for rf in yaml.safe_load(f.read_text())["rule_files"]:
            covered.add((f.parent / rf).resolve())
    assert {p.resolve() for p in obslib.RULE_FILES} <= covered


# ------------------------------------------------------------------------------------------ metric names
def known_series():
    exported = obslib.exported_series_names(obslib.contract())
    upstream, _ = obslib.upstream()
    return exported, upstream, obslib.recorded_names()


def all_queries():
    for f, g in obslib.rule_groups():
        for r in g["rules"]:
            yield f"{f.name}: {r.get('alert') or r.get('record')}", r["expr"]
    for path, dash in obslib.dashboards():
        for panel, target, expr in obslib.dashboard_queries(dash):
            yield f"{path.name}: {panel['title']} / {target['refId']}", expr


@pytest.mark.parametrize("where,expr", list(all_queries()), ids=lambda x: x if len(x) < 80 else None)
def test_every_metric_in_rules_and_dashboards_is_exported_or_listed_upstream(where, expr):
    exported, upstream, recorded = known_series()
    for name in obslib.metric_names(expr):
        assert name in exported or name in upstream or name in recorded, (
            f"{where}: {name} is neither exported by the binary (contract) nor in monitoring/upstream-metrics.yml")


@pytest.mark.parametrize("where,expr", list(all_queries()), ids=lambda x: x if len(x) < 80 else None)
def test_label_matchers_use_labels_the_series_has(where, expr):
    exported, upstream, _ = known_series()
    for name, labels in obslib.selectors(expr):
        have = exported.get(name) or upstream.get(name)
        if have is None:
            continue  # recorded series: checked by promtool and the live test
        for label in labels:
            assert label in have | obslib.TARGET_LABELS, f"{where}: {name} has no label {label!r}"


def test_upstream_list_names_a_source_for_every_series():
    _, entries = obslib.upstream()
    for m in entries:
        assert m["source"].strip() and m["type"] in {"counter", "gauge", "histogram"}, m["name"]
    exported = obslib.exported_series_names(obslib.contract())
    overlap = {m["name"] for m in entries} & set(exported)
    assert not overlap, f"listed as upstream but exported by the binary: {overlap}"


def test_unit_test_inputs_use_the_exported_and_upstream_label_shapes():
    exported, upstream, _ = known_series()
    for case, name, labels in obslib.input_series():
        names = set(labels)
        if name in exported:
            app_labels = names - obslib.TARGET_LABELS
            assert app_labels == exported[name], (
                f"{case}: {name} has labels {sorted(app_labels)}, the binary exports {sorted(exported[name])}")
            assert labels.get("job") == "backend", f"{case}: app series must come from job backend"
            for label, allowed in obslib.ENUMS.items():
                if label in labels:
                    assert labels[label] in allowed, f"{case}: {label}={labels[label]!r}"
            if "status" in labels:
                assert re.fullmatch(r"[1-5]\d\d", labels["status"]), labels
            if "method" in labels:
                assert labels["method"].isupper(), labels
            if "route" in labels:
                assert labels["route"].startswith("/") or labels["route"] == "unmatched", labels
        elif name in upstream:
            extra = names - upstream[name] - obslib.TARGET_LABELS
            assert not extra, f"{case}: {name} has labels {sorted(extra)} its upstream source does not export"
        else:
            pytest.fail(f"{case}: input series {name} is neither exported nor listed upstream")


# ------------------------------------------------------------------------------------------ dashboards
def test_dashboards_are_file_provisioning_models_with_unique_uids_and_titles():
    uids, titles = set(), set()
    for path, d in obslib.dashboards():
        assert "dashboard" not in d, f"{path.name}: the HTTP API envelope {{'dashboard': ...}} breaks file provisioning"
        assert d.get("title") and d.get("uid"), path.name
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", d["uid"]), d["uid"]
        assert d["uid"] not in uids and d["title"] not in titles, path.name
        uids.add(d["uid"])
        titles.add(d["title"])
        assert isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36, path.name
        assert d.get("id") is None, f"{path.name}: a fixed numeric id clashes between Grafana instances"


def provisioned_datasource_uids():
    doc = yaml.safe_load(obslib.DATASOURCE_FILE.read_text())
    return {ds["uid"]: ds for ds in doc["datasources"]}


def test_datasource_is_prometheus_at_the_guides_url():
    ds = provisioned_datasource_uids()
    assert list(ds) == ["prometheus"]
    assert ds["prometheus"]["type"] == "prometheus"
    assert ds["prometheus"]["url"] == "http://prometheus:9090"
    prov = yaml.safe_load((MON / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert [p["options"]["path"] for p in prov["providers"]] == ["/var/lib/grafana/dashboards"]
    assert all(p["type"] == "file" for p in prov["providers"])


@pytest.mark.parametrize("path", obslib.DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_panels_are_built_in_placed_and_use_the_provisioned_datasource(path):
    d = json.loads(path.read_text())
    uids = provisioned_datasource_uids()
    ids = set()
    for p in d["panels"]:
        assert p["type"] in GRAFANA_BUILTIN_PANELS, f"{p['title']}: {p['type']} needs a plugin"
        assert p["id"] not in ids, f"duplicate panel id {p['id']}"
        ids.add(p["id"])
        g = p["gridPos"]
        assert 0 <= g["x"] and 0 < g["w"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["targets"], f"{p['title']} has no query"
        for ref in [p["datasource"]] + [t["datasource"] for t in p["targets"]]:
            assert ref["type"] == "prometheus" and ref["uid"] in uids, f"{p['title']}: unknown datasource {ref}"
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"]["uid"] in uids, v["name"]


def test_overview_has_the_guides_four_panels():
    d = json.loads((MON / "grafana/dashboards/overview.json").read_text())
    by_title = {p["title"]: p for p in d["panels"]}
    expected = {
        "HTTP Request Rate": "http_requests_total",
        "Active Game Sessions": "game_sessions_active",
        "Pod CPU Usage": "container_cpu_usage_seconds_total",
        "Pod Memory Usage": "container_memory_usage_bytes",
    }
    for title, metric in expected.items():
        assert title in by_title, title
        assert any(metric in obslib.metric_names(t["expr"]) for t in by_title[title]["targets"]), title
    # Every replica reports the same global number of live games: max(), never sum().
    active = by_title["Active Game Sessions"]["targets"][0]["expr"]
    assert active.startswith("max(") and "sum" not in active


def test_global_performance_dashboard_uses_real_ingress_nginx_series():
    d = json.loads((MON / "grafana/dashboards/global-performance.json").read_text())
    assert d["title"] == "Global Performance"
    names = set()
    for _, _, expr in obslib.dashboard_queries(d):
        names |= obslib.metric_names(expr)
    assert "nginx_ingress_controller_request_duration_seconds_bucket" in names
    assert "nginx_ingress_controller_requests" in names
    assert "nginx_ingress_controller_requests_total" not in names  # the guide's name does not exist upstream


def test_every_dashboard_query_parses_with_promtool():
    """promtool has no query parser command; a rule file with one recording rule per query makes
    `promtool check rules` parse each of them with Prometheus' own parser."""
    rules = []
    for path, dash in obslib.dashboards():
        for i, (panel, target, expr) in enumerate(obslib.dashboard_queries(dash)):
            rules.append({"record": f"dashboard_query:{path.stem.replace('-', '_')}:{i}", "expr": expr})
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f)
        f.flush()
        r = run([obslib.tool("promtool"), "check", "rules", f.name])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(rules)} rules found" in r.stdout


# ------------------------------------------------------------------------------------------ configs
def test_compose_prometheus_config_is_valid_with_our_rules():
    cfg = yaml.safe_load((MON / "prometheus/prometheus-compose.yml").read_text())
    assert cfg["rule_files"] == ["/etc/prometheus/rules/*.yml"]  # docker-compose.yml mounts monitoring/rules/ there
    cfg["rule_files"] = [str(MON / "rules" / "*.yml")]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "prometheus.yml"
        p.write_text(yaml.safe_dump(cfg))
        r = run([obslib.tool("promtool"), "check", "config", str(p)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(obslib.RULE_FILES)} rule files found" in r.stdout + r.stderr


def test_kubernetes_prometheus_config_is_valid_with_our_rules(tmp_path):
    """Debian's Prometheus is built without Kubernetes discovery, so promtool checks the config with each
    kubernetes_sd_configs block swapped for file discovery (everything else, relabelling included, as is)."""
    from . import k8s_sd_sim

    cfg = k8s_sd_sim.transform(tmp_path, pods=[], nodes=[])
    r = run([obslib.tool("promtool"), "check", "config", str(cfg)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(obslib.RULE_FILES)} rule files found" in r.stdout + r.stderr


def test_alertmanager_config_is_valid_and_routes_every_severity_to_the_webhook():
    amtool = obslib.tool("amtool")
    cfg = str(MON / "alertmanager/alertmanager.yml")
    r = run([amtool, "check-config", cfg])
    assert r.returncode == 0, r.stdout + r.stderr
    for sev in ("critical", "warning"):
        r = run([amtool, "config", "routes", "test", f"--config.file={cfg}", "--verify.receivers=team-webhook",
                 "alertname=DependencyDown", f"severity={sev}"])
        assert r.returncode == 0, r.stdout + r.stderr
    doc = yaml.safe_load(Path(cfg).read_text())
    (receiver,) = doc["receivers"]
    assert receiver["webhook_configs"][0]["send_resolved"] is True


# ------------------------------------------------------------------------------------------ manifests
def manifest():
    return list(yaml.safe_load_all((ROOT / "k8s/monitoring.yaml").read_text()))


def rbac():
    return list(yaml.safe_load_all((ROOT / "k8s/prometheus-rbac.yaml").read_text()))


def test_generated_manifest_is_up_to_date():
    r = run([sys.executable, str(MON / "generate-k8s.py"), "--check"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_manifests_pass_strict_schema_validation():
    exe = Path(sys.executable).parent / "kubernetes-validate"
    if not exe.exists():
        if obslib.require_tools():
            pytest.fail("kubernetes-validate is not installed in the test venv")
        pytest.skip("kubernetes-validate is not installed")
    # With the core objects of monitoring/operator/ (its CRD objects: tests/observability/test_operator.py).
    r = run([str(exe), "--strict", "--quiet", "-k", "1.32.0", "k8s/monitoring.yaml", "k8s/prometheus-rbac.yaml",
             "monitoring/operator/app/backend-networkPolicy.yaml", "monitoring/operator/grafana-dashboardDefinitions.yaml"],
            cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_manifest_embeds_the_monitoring_files_verbatim():
    objs = {(o["kind"], o["metadata"]["name"]): o for o in manifest()}
    cm = lambda n: objs[("ConfigMap", n)]["data"]
    assert cm("prometheus-config") == {"prometheus.yml": (MON / "prometheus/prometheus-kubernetes.yml").read_text()}
    assert cm("prometheus-rules") == {p.name: p.read_text() for p in obslib.RULE_FILES}
    assert cm("alertmanager-config") == {"alertmanager.yml": (MON / "alertmanager/alertmanager.yml").read_text()}
    assert cm("grafana-datasources") == {"prometheus.yml": obslib.DATASOURCE_FILE.read_text()}
    for p in obslib.DASHBOARD_FILES:
        assert cm(f"grafana-dashboard-{p.stem}") == {p.name: p.read_text()}


def test_manifest_has_the_guides_names_and_no_operator_crds():
    objs = manifest()
    kinds = {o["kind"] for o in objs}
    assert kinds <= {"Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service"}
    by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    for name, port in (("prometheus", 9090), ("grafana", 3000), ("alertmanager", 9093)):
        svc = by[("Service", name)]
        assert svc["metadata"]["namespace"] == "monitoring"
        assert svc["spec"]["selector"] == {"app": name}
        assert [p["port"] for p in svc["spec"]["ports"]] == [port]
        dep = by[("Deployment", name)]
        assert dep["spec"]["template"]["metadata"]["labels"]["app"] == name
    secret = by[("Secret", "grafana-admin")]
    assert secret["stringData"] == {"admin-user": "admin", "admin-password": "admin123"}
    assert "local" in secret["metadata"]["annotations"]["humor-memory-game/note"]
    assert by[("Deployment", "prometheus")]["spec"]["template"]["spec"]["serviceAccountName"] == "prometheus"


def test_every_object_fits_in_kubectl_apply_annotation():
    """Client-side `kubectl apply` stores the whole object in an annotation limited to 256 KiB."""
    for o in manifest():
        size = len(json.dumps(o, separators=(",", ":")))
        assert size < 200_000, f"{o['kind']}/{o['metadata']['name']} is {size} bytes"


def test_every_pod_meets_the_restricted_pod_security_standard():
    for o in manifest():
        if o["kind"] != "Deployment":
            continue
        spec = o["spec"]["template"]["spec"]
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert not spec.get("hostNetwork") and not spec.get("hostPID")
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
            assert sc["readOnlyRootFilesystem"] is True
            assert c["resources"]["requests"] and c["resources"]["limits"]
            assert c["readinessProbe"] and c["livenessProbe"]
            assert ":" in c["image"] and not c["image"].endswith(":latest")
        for v in spec["volumes"]:
            assert "hostPath" not in v


def test_rbac_is_least_privilege():
    docs = rbac()
    by = {(o["kind"], o["metadata"]["name"]): o for o in docs}
    role = by[("ClusterRole", "prometheus")]
    granted = set()
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""]
        assert "*" not in rule["resources"] and "*" not in rule["verbs"]
        for res in rule["resources"]:
            for verb in rule["verbs"]:
                granted.add((res, verb))
    assert granted == {("pods", "list"), ("pods", "watch"), ("nodes", "list"), ("nodes", "watch"),
                       ("nodes/metrics", "get")}
    binding = by[("ClusterRoleBinding", "prometheus")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]
    assert by[("ServiceAccount", "prometheus")]["metadata"]["namespace"] == "monitoring"
    assert ("Namespace", "monitoring") in by  # the guide applies this file first


def test_images_match_the_compose_monitoring_profile():
    compose = ROOT / "docker-compose.yml"
    if not compose.exists():
        pytest.skip("docker-compose.yml is not there yet")
    services = yaml.safe_load(compose.read_text())["services"]
    images = {c["name"]: c["image"] for o in manifest() if o["kind"] == "Deployment"
              for c in o["spec"]["template"]["spec"]["containers"]}
    for name in ("prometheus", "alertmanager", "grafana"):
        assert services[name]["image"] == images[name], f"{name}: compose and k8s/monitoring.yaml differ"
