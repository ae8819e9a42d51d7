#!/usr/bin/env python3
"""Generate the Kubernetes monitoring objects from the files in monitoring/ (the single source):

  k8s/monitoring.yaml   the guide's self-contained Prometheus, Alertmanager and Grafana
  monitoring/operator/  the same scrape, rules and dashboards as Prometheus Operator objects, for a cluster that
                        runs kube-prometheus-stack (`kubectl apply -k monitoring/operator/`)

    python3 monitoring/generate-k8s.py          # rewrite every generated file
    python3 monitoring/generate-k8s.py --check  # exit 1 if any generated file is stale, missing or left over

Standard library only, so anyone can regenerate without installing anything. CI runs --check.
The ServiceAccount and its ClusterRole live in k8s/prometheus-rbac.yaml (applied first, as the guide does).
"""
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MON = ROOT / "monitoring"
OUT = ROOT / "k8s" / "monitoring.yaml"
OPERATOR = MON / "operator"

# Same images and versions as the Compose `monitoring` profile (docker-compose.yml); a test keeps them equal.
PROMETHEUS_IMAGE = "prom/prometheus:v3.5.0"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.28.1"
GRAFANA_IMAGE = "grafana/grafana:12.1.0"

NS = "monitoring"


# ---------------------------------------------------------------------------------------------- YAML writer
# A small deterministic emitter for the shapes used here (mappings, lists, strings, numbers, booleans).
# Multi-line strings become literal blocks, so the embedded files stay readable in the manifest.
_PLAIN = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./=-]*$")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _SPECIAL and not re.match(r"^[0-9.+-]+$", s):
        return s
    return json.dumps(s)  # a JSON string is a valid YAML double-quoted scalar


def _emit(v, indent, out):
    pad = " " * indent
    if isinstance(v, dict):
        for k, val in v.items():
            key = _scalar(k)
            if isinstance(val, str) and "\n" in val:
                body = val if val.endswith("\n") else val + "\n"
                chomp = "" if val.endswith("\n") else "-"
                if body.rstrip("\n") != body[:-1]:
                    chomp = "+"
                out.append(f"{pad}{key}: |{chomp}")
                for line in body[:-1].split("\n") if body.endswith("\n") else body.split("\n"):
                    if line.rstrip() != line:
                        raise ValueError(f"trailing whitespace in the embedded text of {k!r}: {line!r}")
                    out.append(f"{pad}  {line}" if line else "")
            elif isinstance(val, dict) and val:
                out.append(f"{pad}{key}:")
                _emit(val, indent + 2, out)
            elif isinstance(val, list) and val:
                out.append(f"{pad}{key}:")
                _emit(val, indent, out)
            elif isinstance(val, (dict, list)):
                out.append(f"{pad}{key}: {'{}' if isinstance(val, dict) else '[]'}")
            else:
                out.append(f"{pad}{key}: {_scalar(val)}")
    elif isinstance(v, list):
        for item in v:
            if isinstance(item, dict) and item:
                sub = []
                _emit(item, indent + 2, sub)
                sub[0] = f"{pad}- " + sub[0][indent + 2:]
                out.extend(sub)
            elif isinstance(item, list) and item:
                raise ValueError("nested lists are not used here")
            else:
                out.append(f"{pad}- {_scalar(item)}")
    else:
        raise ValueError(f"cannot emit {v!r} at the top level")


def to_yaml(doc):
    out = []
    _emit(doc, 0, out)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------- helpers
def read(rel):
    return (MON / rel).read_text(encoding="utf-8")


def checksum(*texts):
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def meta(name, app, **extra):
    m = {"name": name, "namespace": NS, "labels": {"app": app, "app.kubernetes.io/part-of": "humor-memory-game-monitoring"}}
    m.update(extra)
    return m


def configmap(name, app, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, app), "data": data}


def pvc(name, app, size):
    return {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(name, app),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }


def service(name, app, port):
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": meta(name, app),
        "spec": {"selector": {"app": app},
                 "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]},
    }


RESTRICTED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
              "capabilities": {"drop": ["ALL"]}}


def pod_security(uid):
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def probe(path, port="http", initial=0, period=10, failures=3):
    p = {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 5,
         "failureThreshold": failures}
    if initial:
        p["initialDelaySeconds"] = initial
    return p


def deployment(name, app, pod_annotations, spec, recreate):
    d = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, app),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}, "annotations": pod_annotations},
                "spec": spec,
            },
        },
    }
    if recreate:
        # ReadWriteOnce volume: a rolling update would start a second pod on the same data directory.
        d["spec"]["strategy"] = {"type": "Recreate"}
    return d


# ---------------------------------------------------------------------------------------------- objects
def build():
    prom_config = read("prometheus/prometheus-kubernetes.yml")
    rules = {p.name: p.read_text(encoding="utf-8") for p in sorted((MON / "rules").glob("*.yml"))}
    am_config = read("alertmanager/alertmanager.yml")
    datasources = read("grafana/provisioning/datasources/prometheus.yml")
    providers = read("grafana/provisioning/dashboards/dashboards.yml")
    dashboards = {p.name: p.read_text(encoding="utf-8") for p in sorted((MON / "grafana" / "dashboards").glob("*.json"))}

    docs = []
    docs.append({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": NS, "labels": {
            "kubernetes.io/metadata.name": NS,
            # Every pod below runs under the `restricted` Pod Security Standard.
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted"}},
    })

    # ---- Prometheus
    docs.append(configmap("prometheus-config", "prometheus", {"prometheus.yml": prom_config}))
    docs.append(configmap("prometheus-rules", "prometheus", rules))
    docs.append(pvc("prometheus-data", "prometheus", "2Gi"))
    docs.append(deployment("prometheus", "prometheus",
        # A changed config or rule file changes this checksum and so rolls the pod: `kubectl apply` is enough.
        {"checksum/config": checksum(prom_config, *rules.values())},
        {
            "serviceAccountName": "prometheus",
            "securityContext": pod_security(65534),
            "containers": [{
                "name": "prometheus",
                "image": PROMETHEUS_IMAGE,
                "args": [
                    "--config.file=/etc/prometheus/prometheus.yml",
                    "--storage.tsdb.path=/prometheus",
                    "--storage.tsdb.retention.time=15d",
                    "--storage.tsdb.retention.size=1536MB",
                    "--web.listen-address=:9090",
                ],
                "ports": [{"name": "http", "containerPort": 9090}],
                "readinessProbe": probe("/-/ready", period=5),
                "livenessProbe": probe("/-/healthy", initial=30, period=15, failures=4),
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}},
                "securityContext": RESTRICTED,
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/prometheus/prometheus.yml", "subPath": "prometheus.yml",
                     "readOnly": True},
                    {"name": "rules", "mountPath": "/etc/prometheus/rules", "readOnly": True},
                    {"name": "data", "mountPath": "/prometheus"},
                ],
            }],
            "volumes": [
                {"name": "config", "configMap": {"name": "prometheus-config"}},
                {"name": "rules", "configMap": {"name": "prometheus-rules"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "prometheus-data"}},
            ],
        }, recreate=True))
    docs.append(service("prometheus", "prometheus", 9090))

    # ---- Alertmanager
    docs.append(configmap("alertmanager-config", "alertmanager", {"alertmanager.yml": am_config}))
    docs.append(deployment("alertmanager", "alertmanager", {"checksum/config": checksum(am_config)}, {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(65534),
        "containers": [{
            "name": "alertmanager",
            "image": ALERTMANAGER_IMAGE,
            "args": [
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--storage.path=/alertmanager",
                "--web.listen-address=:9093",
                # One replica: no gossip cluster to join.
                "--cluster.listen-address=",
            ],
            "ports": [{"name": "http", "containerPort": 9093}],
            "readinessProbe": probe("/-/ready", period=5),
            "livenessProbe": probe("/-/healthy", initial=10, period=15),
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                          "limits": {"cpu": "200m", "memory": "128Mi"}},
            "securityContext": RESTRICTED,
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/alertmanager", "readOnly": True},
                # Silences and notification state; lost on restart, which a single demo replica can afford.
                {"name": "data", "mountPath": "/alertmanager"},
            ],
        }],
        "volumes": [
            {"name": "config", "configMap": {"name": "alertmanager-config"}},
            {"name": "data", "emptyDir": {}},
        ],
    }, recreate=False))
    docs.append(service("alertmanager", "alertmanager", 9093))

    # ---- Grafana
    docs.append({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": meta("grafana-admin", "grafana", annotations={
            "humor-memory-game/note": "Demo login from the guide (admin/admin123), for a local cluster only. "
                                      "Anywhere else replace it before first use: kubectl -n monitoring create "
                                      "secret generic grafana-admin --from-literal=admin-user=admin "
                                      "--from-literal=admin-password=... --dry-run=client -o yaml | kubectl apply -f -"}),
        "stringData": {"admin-user": "admin", "admin-password": "admin123"},
    })
    docs.append(configmap("grafana-datasources", "grafana", {"prometheus.yml": datasources}))
    docs.append(configmap("grafana-dashboard-provider", "grafana", {"dashboards.yml": providers}))
    # One ConfigMap per dashboard: `kubectl apply` stores each object in an annotation limited to 256 KiB.
    dash_sources = []
    for fname, text in dashboards.items():
        cm = "grafana-dashboard-" + fname.removesuffix(".json")
        docs.append(configmap(cm, "grafana", {fname: text}))
        dash_sources.append({"configMap": {"name": cm}})
    docs.append(pvc("grafana-data", "grafana", "1Gi"))
    docs.append(deployment("grafana", "grafana",
        {"checksum/config": checksum(datasources, providers, *dashboards.values())}, {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(472),
        "containers": [{
            "name": "grafana",
            "image": GRAFANA_IMAGE,
            "env": [
                {"name": "GF_SECURITY_ADMIN_USER",
                 "valueFrom": {"secretKeyRef": {"name": "grafana-admin", "key": "admin-user"}}},
                {"name": "GF_SECURITY_ADMIN_PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": "grafana-admin", "key": "admin-password"}}},
                {"name": "GF_USERS_ALLOW_SIGN_UP", "value": "false"},
                {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "false"},
                # No calls home from a cluster that may have no internet access.
                {"name": "GF_ANALYTICS_REPORTING_ENABLED", "value": "false"},
                {"name": "GF_ANALYTICS_CHECK_FOR_UPDATES", "value": "false"},
                {"name": "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "value": "false"},
                # Logs go to stdout only: the root filesystem is read-only.
                {"name": "GF_LOG_MODE", "value": "console"},
            ],
            "ports": [{"name": "http", "containerPort": 3000}],
            "readinessProbe": probe("/api/health", period=5),
            "livenessProbe": probe("/api/health", initial=30, period=15, failures=4),
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                          "limits": {"cpu": "500m", "memory": "512Mi"}},
            "securityContext": RESTRICTED,
            "volumeMounts": [
                {"name": "datasources", "mountPath": "/etc/grafana/provisioning/datasources", "readOnly": True},
                {"name": "dashboard-provider", "mountPath": "/etc/grafana/provisioning/dashboards",
                 "readOnly": True},
                {"name": "dashboards", "mountPath": "/var/lib/grafana/dashboards", "readOnly": True},
                {"name": "data", "mountPath": "/var/lib/grafana"},
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "logs", "mountPath": "/var/log/grafana"},
            ],
        }],
        "volumes": [
            {"name": "datasources", "configMap": {"name": "grafana-datasources"}},
            {"name": "dashboard-provider", "configMap": {"name": "grafana-dashboard-provider"}},
            {"name": "dashboards", "projected": {"sources": dash_sources}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "grafana-data"}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "logs", "emptyDir": {}},
        ],
    }, recreate=True))
    docs.append(service("grafana", "grafana", 3000))
    return docs


# ---------------------------------------------------------------------------------------------- operator objects
# kube-prometheus-stack's Prometheus selects ServiceMonitors and PrometheusRules labelled with its Helm release
# name (serviceMonitorSelectorNilUsesHelmValues, ruleSelectorNilUsesHelmValues); its Grafana sidecar loads every
# ConfigMap labelled grafana_dashboard: "1" in any namespace, and its Prometheus data source has uid
# `prometheus`, the uid our dashboards use. docs/operations.md says how to change the release label.
RELEASE = "kube-prometheus-stack"
APP_NS = "humor-game"
# The backend Service of k8s/backend.yaml (tests/observability checks these against it and the environments).
BACKEND_SERVICE_LABELS = {"app.kubernetes.io/name": "backend", "app.kubernetes.io/part-of": "humor-memory-game"}
BACKEND_PORT_NAME = "http"
BACKEND_CONTAINER_PORT = 3001
# The operator names the Prometheus pods it runs app.kubernetes.io/name=prometheus (the guide's own Prometheus is
# app=prometheus, which the app's default-deny policies already admit).
OPERATOR_PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
OPERATOR_LABELS = {"app.kubernetes.io/part-of": "humor-memory-game-monitoring"}


def op_meta(name, namespace, **labels):
    return {"name": name, "namespace": namespace, "labels": {**OPERATOR_LABELS, **labels}}


def service_monitor():
    """The backend's scrape as the plain config's `kubernetes-pods` job does it (monitoring/prometheus/
    prometheus-kubernetes.yml): every replica once, on the metrics port and path, with job = the pod's `app`
    label and the same target labels (namespace, pod, instance) and nothing else, so the rules and dashboards see
    the same series under either Prometheus."""
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": op_meta("backend", APP_NS, release=RELEASE),
        "spec": {
            "selector": {"matchLabels": dict(BACKEND_SERVICE_LABELS)},
            "endpoints": [{
                "port": BACKEND_PORT_NAME,
                "path": "/metrics",
                "scheme": "http",
                # The interval the rules and their unit tests assume (the chart's default is 30s).
                "interval": "15s",
                "relabelings": [
                    {"sourceLabels": ["__meta_kubernetes_pod_label_app"], "regex": "(.+)", "targetLabel": "job",
                     "action": "replace"},
                    # The operator adds service, endpoint and container; the plain config has none of them.
                    {"regex": "service|endpoint|container", "action": "labeldrop"},
                ],
            }],
        },
    }


def scrape_network_policy():
    """The app's namespace denies all ingress by default and admits the guide's Prometheus (app=prometheus);
    this admits the operator's Prometheus pods in namespace monitoring to the metrics port, and nothing else."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": op_meta("allow-operator-prometheus-scrape", APP_NS),
        "spec": {
            "podSelector": {"matchLabels": {"app": "backend"}},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}},
                          "podSelector": {"matchLabels": dict(OPERATOR_PROMETHEUS_POD)}}],
                "ports": [{"protocol": "TCP", "port": BACKEND_CONTAINER_PORT}],
            }],
        },
    }


def prometheus_rule_text(name, rule_text):
    """A PrometheusRule whose spec is the rule file itself, indented: the groups the operator loads are the
    bytes `promtool test rules` tests (tests/observability de-indents and compares them)."""
    head = to_yaml({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                    "metadata": op_meta(name, NS, release=RELEASE)})
    body = "".join(("  " + line if line.strip() else "\n") for line in rule_text.splitlines(keepends=True))
    return head + "spec:\n" + body


def dashboard_configmap(fname, text):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": op_meta("humor-memory-game-dashboard-" + fname.removesuffix(".json"), NS,
                                grafana_dashboard="1"),
            "data": {fname: text}}


def kustomization(comment, resources):
    return comment + to_yaml({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                              "resources": resources})


OPERATOR_HEADER = """\
# GENERATED by monitoring/generate-k8s.py from the files in monitoring/. Do not edit: change the source in
# monitoring/ and run `python3 monitoring/generate-k8s.py` (CI fails when this file is stale).
"""


def render_operator():
    """{path: text} of every file under monitoring/operator/."""
    rules = {p.stem: p.read_text(encoding="utf-8") for p in sorted((MON / "rules").glob("*.yml"))}
    dashboards = {p.name: p.read_text(encoding="utf-8") for p in sorted((MON / "grafana" / "dashboards").glob("*.json"))}
    files = {
        "app/backend-serviceMonitor.yaml": OPERATOR_HEADER + "---\n" + to_yaml(service_monitor()),
        "app/backend-networkPolicy.yaml": OPERATOR_HEADER + "---\n" + to_yaml(scrape_network_policy()),
        "humor-memory-game-prometheusRule.yaml": OPERATOR_HEADER + "".join(
            "---\n" + prometheus_rule_text(stem, text) for stem, text in rules.items()),
        "grafana-dashboardDefinitions.yaml": OPERATOR_HEADER + "".join(
            "---\n" + to_yaml(dashboard_configmap(f, t)) for f, t in dashboards.items()),
    }
    files["app/kustomization.yaml"] = kustomization(OPERATOR_HEADER + """\
#
# The app side, in the app's namespace (humor-game): the ServiceMonitor and the policy that lets the operator's
# Prometheus reach the metrics port. For another environment, use this folder as a resource of a kustomization
# that sets `namespace:` (docs/operations.md#kube-prometheus-stack).
""", ["backend-serviceMonitor.yaml", "backend-networkPolicy.yaml"])
    files["kustomization.yaml"] = kustomization(OPERATOR_HEADER + """\
#
# The monitoring of the game for a cluster that runs kube-prometheus-stack (Helm release `kube-prometheus-stack`
# in namespace monitoring), instead of k8s/monitoring.yaml:
#   kubectl apply -k monitoring/operator/
# The same scrape, alerts, recording rules and dashboards as the guide's stack. docs/operations.md#kube-prometheus-stack
""", ["app", "humor-memory-game-prometheusRule.yaml", "grafana-dashboardDefinitions.yaml"])
    return {OPERATOR / rel: text for rel, text in files.items()}


HEADER = """\
# GENERATED by monitoring/generate-k8s.py from the files in monitoring/. Do not edit this file: change the
# source in monitoring/ and run `python3 monitoring/generate-k8s.py` (CI fails when this file is stale).
#
# The monitoring stack of the guide's Milestone 4, self-contained (no Prometheus Operator CRDs):
#   kubectl apply -f k8s/prometheus-rbac.yaml     # namespace, ServiceAccount and ClusterRole first
#   kubectl apply -f k8s/monitoring.yaml
#   kubectl wait --for=condition=ready pod -l app=prometheus -n monitoring --timeout=120s
#   kubectl wait --for=condition=ready pod -l app=grafana -n monitoring --timeout=120s
#   kubectl port-forward service/prometheus 9090:9090 -n monitoring
#   kubectl port-forward service/grafana 3000:3000 -n monitoring     # admin / admin123 (local demo only)
# Services: prometheus:9090, alertmanager:9093, grafana:3000. See docs/operations.md#observability.
"""


def render():
    return HEADER + "".join("---\n" + to_yaml(d) for d in build())


def outputs():
    return {OUT: render(), **render_operator()}


def leftovers(expected):
    """Files under monitoring/operator/ that the generator no longer writes."""
    present = {p for p in OPERATOR.rglob("*") if p.is_file()} if OPERATOR.exists() else set()
    return sorted(present - set(expected))


def main(argv):
    files = outputs()
    if argv[1:] == ["--check"]:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        extra = leftovers(files)
        for p in stale:
            print(f"{p.relative_to(ROOT)} is stale or missing", file=sys.stderr)
        for p in extra:
            print(f"{p.relative_to(ROOT)} is not written by the generator: delete it", file=sys.stderr)
        if stale or extra:
            print("run python3 monitoring/generate-k8s.py and commit the result", file=sys.stderr)
            return 1
        print(f"{len(files)} generated files are up to date")
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    for p in leftovers(files):
        p.unlink()
        print(f"removed {p.relative_to(ROOT)}")
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
            print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
