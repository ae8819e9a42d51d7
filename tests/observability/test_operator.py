"""monitoring/operator/: the Prometheus Operator objects (kube-prometheus-stack) generated from monitoring/.

Offline: the objects are validated against the operator's CRD schemas vendored in crds/ (their version and
licence are in each file's header), the PrometheusRules are shown to hold the very bytes `promtool test rules`
tests (and those tests pass on the extracted copy), and the ServiceMonitor and NetworkPolicy are checked against
the backend Service, Deployment and environments they must match. No cluster runs here: that the operator turns
these objects into a working scrape is its published behaviour, not something this suite can show.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from . import obslib
from .obslib import MON, ROOT

OPERATOR = MON / "operator"
CRDS = Path(__file__).parent / "crds"
GENERATOR = MON / "generate-k8s.py"
ENVIRONMENTS = {"dev": "humor-game", "staging": "humor-game-staging", "prod": "humor-game-prod"}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def kubectl():
    path = shutil.which("kubectl")
    if path is None:
        if obslib.require_tools():
            pytest.fail("kubectl (with kustomize v5) is not installed")
        pytest.skip("kubectl is not installed")
    return path


def kustomize(path):
    r = run([kubectl(), "kustomize", str(path)])
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def operator_objects():
    return [d for p in sorted(OPERATOR.rglob("*.yaml")) if p.name != "kustomization.yaml" for d in docs(p)]


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def backend_objects(objs):
    service = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "backend")
    deployment = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "backend")
    return service, deployment


# ------------------------------------------------------------------------------------------ rendering
def test_the_component_renders_with_kubectl_kustomize():
    objs = kustomize(OPERATOR)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(["ServiceMonitor", "NetworkPolicy"] + ["PrometheusRule"] * len(obslib.RULE_FILES)
                           + ["ConfigMap"] * len(obslib.DASHBOARD_FILES))
    # kustomize renders what the files say, nothing dropped or added.
    assert sorted(json.dumps(o, sort_keys=True) for o in objs) == \
        sorted(json.dumps(o, sort_keys=True) for o in operator_objects())


def test_the_app_side_renders_into_another_environments_namespace(tmp_path):
    """What docs/operations.md tells a reader to write for staging: the app folder under a namespace override."""
    overlay = tmp_path / "staging-monitoring"
    overlay.mkdir()
    # kustomize takes only relative paths to a base.
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "namespace": "humor-game-staging", "resources": [os.path.relpath(OPERATOR / "app", overlay)]}))
    objs = kustomize(overlay)
    assert {(o["kind"], o["metadata"]["namespace"]) for o in objs} == {
        ("ServiceMonitor", "humor-game-staging"), ("NetworkPolicy", "humor-game-staging")}


# ------------------------------------------------------------------------------------------ CRD schemas
def crd_schema(kind):
    for path in CRDS.glob("*.yaml"):
        for crd in docs(path):
            if crd["spec"]["names"]["kind"] == kind:
                (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
                assert v1["served"] and v1["storage"]
                return strict(copy.deepcopy(v1["schema"]["openAPIV3Schema"]))
    raise AssertionError(f"no vendored CRD for {kind} in {CRDS}")


def strict(schema):
    """The API server prunes fields a structural schema does not name, so a typo would be dropped silently;
    here an unknown field is an error instead (kubeconform's -strict does the same)."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


def validation_errors(obj):
    schema = crd_schema(obj["kind"])
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    meta = obj["metadata"]
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"]) or len(meta["name"]) > 63:
        errors.append(f"metadata/name {meta['name']!r} is not a DNS label")
    if not meta.get("namespace"):
        errors.append("metadata/namespace is missing (both kinds are namespaced)")
    return errors


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PrometheusRule"])
def test_operator_objects_validate_against_the_vendored_crd_schemas(kind):
    objs = by_kind(operator_objects(), kind)
    assert objs
    for o in objs:
        assert o["apiVersion"] == "monitoring.coreos.com/v1"
        assert validation_errors(o) == [], o["metadata"]["name"]


def test_the_schema_check_rejects_what_the_api_server_would_prune_or_refuse():
    (sm,) = by_kind(operator_objects(), "ServiceMonitor")
    typo = copy.deepcopy(sm)
    typo["spec"]["endpoints"][0]["relabellings"] = typo["spec"]["endpoints"][0].pop("relabelings")
    assert any("relabellings" in e for e in validation_errors(typo))
    bad_interval = copy.deepcopy(sm)
    bad_interval["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert any("interval" in e for e in validation_errors(bad_interval))
    rule = copy.deepcopy(by_kind(operator_objects(), "PrometheusRule")[0])
    del rule["spec"]["groups"][0]["rules"][0]["expr"]
    assert any("expr" in e for e in validation_errors(rule))


# ------------------------------------------------------------------------------------------ rules
def prometheus_rule_texts():
    """{PrometheusRule name: its spec block de-indented}, read from the file's text, not re-serialised."""
    text = (OPERATOR / "humor-memory-game-prometheusRule.yaml").read_text()
    found = {}
    for doc in re.split(r"^---\n", text, flags=re.M)[1:]:
        name = re.search(r"^  name: (\S+)$", doc, re.M).group(1)
        head, sep, spec = doc.partition("\nspec:\n")
        assert sep, f"{name}: no spec block"
        lines = spec.splitlines(keepends=True)
        assert all(line == "\n" or line.startswith("  ") for line in lines), name
        found[name] = "".join(line[2:] if line != "\n" else line for line in lines)
    return found


def test_each_prometheus_rule_holds_one_rule_file_byte_for_byte():
    texts = prometheus_rule_texts()
    assert texts.keys() == {p.stem for p in obslib.RULE_FILES}
    for p in obslib.RULE_FILES:
        assert texts[p.stem].encode() == p.read_bytes(), p.name
    # And the parsed objects carry the same groups (what the operator reads).
    for o in by_kind(operator_objects(), "PrometheusRule"):
        assert o["spec"] == yaml.safe_load((MON / "rules" / f"{o['metadata']['name']}.yml").read_text())


def test_promtool_unit_tests_pass_on_the_rules_taken_from_the_prometheus_rules(tmp_path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name, text in prometheus_rule_texts().items():
        (rules_dir / f"{name}.yml").write_text(text)
    tests = []
    for f in obslib.UNIT_TEST_FILES:
        doc = yaml.safe_load(f.read_text())
        doc["rule_files"] = [str(rules_dir / Path(rf).name) for rf in doc["rule_files"]]
        out = tmp_path / f.name
        out.write_text(yaml.safe_dump(doc, sort_keys=False))
        tests.append(str(out))
    r = run([obslib.tool("promtool"), "test", "rules", *tests])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(tests), r.stdout


def test_the_operator_selects_every_object_by_the_same_release_label():
    objs = operator_objects()
    releases = {o["metadata"]["labels"].get("release") for o in objs if o["kind"] in ("ServiceMonitor", "PrometheusRule")}
    assert releases == {"kube-prometheus-stack"}


# ------------------------------------------------------------------------------------------ the scrape
def plain_backend_job():
    cfg = yaml.safe_load((MON / "prometheus/prometheus-kubernetes.yml").read_text())
    return next(j for j in cfg["scrape_configs"] if j["job_name"] == "kubernetes-pods")


def test_service_monitor_selects_the_backend_service_by_its_labels_and_port_name():
    (sm,) = by_kind(operator_objects(), "ServiceMonitor")
    (endpoint,) = sm["spec"]["endpoints"]
    assert set(sm["spec"]["selector"]) == {"matchLabels"}
    for name, objs in [("k8s/backend.yaml", docs(ROOT / "k8s/backend.yaml"))] + \
            [(f"gitops/environments/{e}", kustomize(ROOT / "gitops/environments" / e)) for e in ENVIRONMENTS]:
        services = [o for o in objs if o["kind"] == "Service"]
        chosen = [s for s in services
                  if sm["spec"]["selector"]["matchLabels"].items() <= s["metadata"].get("labels", {}).items()]
        assert [s["metadata"]["name"] for s in chosen] == ["backend"], f"{name}: selects {chosen}"
        service, deployment = backend_objects(objs)
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        pod = deployment["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), name
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "backend"]
        (cport,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
        # The plain config's scrape comes from these annotations: same port and path.
        ann = pod["metadata"]["annotations"]
        assert str(cport["containerPort"]) == ann["prometheus.io/port"], name
        assert endpoint["path"] == ann["prometheus.io/path"] == obslib.contract()["probes"]["metrics"], name
        assert cport["containerPort"] == obslib.contract()["listen"]["port"]["container"], name


def test_service_monitor_relabels_the_job_as_the_plain_config_does():
    (sm,) = by_kind(operator_objects(), "ServiceMonitor")
    (endpoint,) = sm["spec"]["endpoints"]
    plain_job_rule = next(r for r in plain_backend_job()["relabel_configs"] if r.get("target_label") == "job")
    (job_rule,) = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
    assert job_rule["sourceLabels"] == plain_job_rule["source_labels"]
    assert job_rule["regex"] == plain_job_rule["regex"]
    # The plain config gives the backend's series exactly job, namespace, pod and instance; the operator's extra
    # target labels are dropped so the rules and dashboards see the same series.
    (drop,) = [r for r in endpoint["relabelings"] if r["action"] == "labeldrop"]
    assert {l for l in ("service", "endpoint", "container") if re.fullmatch(drop["regex"], l)} == \
        {"service", "endpoint", "container"}
    for kept in ("job", "namespace", "pod", "instance"):
        assert not re.fullmatch(drop["regex"], kept)
    # The interval the recording rules and their tests assume.
    cfg = yaml.safe_load((MON / "prometheus/prometheus-kubernetes.yml").read_text())
    assert endpoint["interval"] == cfg["global"]["scrape_interval"]


def test_network_policy_admits_only_the_operators_prometheus_to_the_metrics_port():
    (np_,) = by_kind(operator_objects(), "NetworkPolicy")
    service, deployment = backend_objects(docs(ROOT / "k8s/backend.yaml"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert np_["metadata"]["namespace"] == service["metadata"]["namespace"] == "humor-game"
    assert np_["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert np_["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = np_["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    assert peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert [p["port"] for p in rule["ports"]] == [p["containerPort"] for p in container["ports"] if p["name"] == "http"]
    # Only the backend: no other app pod carries its labels.
    others = [o for o in docs(ROOT / "k8s/frontend.yaml") + docs(ROOT / "k8s/postgres.yaml") + docs(ROOT / "k8s/redis.yaml")
              if o["kind"] in ("Deployment", "StatefulSet")]
    for o in others:
        labels = o["spec"]["template"]["metadata"]["labels"]
        assert not np_["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), o["metadata"]["name"]


# ------------------------------------------------------------------------------------------ dashboards
def test_every_dashboard_is_a_sidecar_configmap_holding_the_file_verbatim():
    cms = by_kind(operator_objects(), "ConfigMap")
    assert len(cms) == len(obslib.DASHBOARD_FILES)
    seen = set()
    for cm in cms:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((fname, text),) = cm["data"].items()
        assert text == (MON / "grafana/dashboards" / fname).read_text()
        seen.add(fname)
        assert len(json.dumps(cm, separators=(",", ":"))) < 200_000, "kubectl apply's annotation limit is 256 KiB"
    assert seen == {p.name for p in obslib.DASHBOARD_FILES}
    # Different names from the guide's stack, whose ConfigMaps live in the same namespace.
    guide = {o["metadata"]["name"] for o in yaml.safe_load_all((ROOT / "k8s/monitoring.yaml").read_text())}
    assert not {cm["metadata"]["name"] for cm in cms} & guide


def test_dashboards_use_the_datasource_uid_kube_prometheus_stack_provisions():
    """The chart's Grafana provisions its Prometheus data source with uid `prometheus`
    (grafana.sidecar.datasources.uid in the chart's values), the uid of our own provisioning file."""
    ours = yaml.safe_load(obslib.DATASOURCE_FILE.read_text())["datasources"]
    assert [d["uid"] for d in ours] == ["prometheus"]
    for path, dash in obslib.dashboards():
        uids = {p["datasource"]["uid"] for p in dash["panels"] if p["type"] != "row"}
        uids |= {t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])}
        assert uids == {"prometheus"}, path.name


# ------------------------------------------------------------------------------------------ the generator
def generator_copy(tmp_path):
    """A copy of the files the generator reads and writes, so --check can be shown to fail."""
    shutil.copytree(MON, tmp_path / "monitoring")
    (tmp_path / "k8s").mkdir()
    shutil.copy(ROOT / "k8s/monitoring.yaml", tmp_path / "k8s/monitoring.yaml")
    return tmp_path / "monitoring/generate-k8s.py"


def test_generator_check_covers_the_operator_files(tmp_path):
    gen = generator_copy(tmp_path)
    assert run([sys.executable, str(gen), "--check"]).returncode == 0
    sm = tmp_path / "monitoring/operator/app/backend-serviceMonitor.yaml"
    sm.write_text(sm.read_text().replace("interval: 15s", "interval: 30s"))
    r = run([sys.executable, str(gen), "--check"])
    assert r.returncode == 1 and "monitoring/operator/app/backend-serviceMonitor.yaml is stale" in r.stderr
    run([sys.executable, str(gen)])
    assert run([sys.executable, str(gen), "--check"]).returncode == 0
    (tmp_path / "monitoring/operator/old-rules.yaml").write_text("kind: ConfigMap\n")
    r = run([sys.executable, str(gen), "--check"])
    assert r.returncode == 1 and "old-rules.yaml is not written by the generator" in r.stderr


def test_a_changed_rule_reaches_the_prometheus_rule(tmp_path):
    gen = generator_copy(tmp_path)
    rules = tmp_path / "monitoring/rules/backend-alerts.yml"
    rules.write_text(rules.read_text().replace("for: 5m", "for: 7m", 1))
    assert run([sys.executable, str(gen), "--check"]).returncode == 1
    assert run([sys.executable, str(gen)]).returncode == 0
    text = (tmp_path / "monitoring/operator/humor-memory-game-prometheusRule.yaml").read_text()
    assert "\n          for: 7m\n" in text
