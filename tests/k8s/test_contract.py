"""The manifests against the binary's operational contract (`humor-memory-game contract`) and against
each other, for every environment: ports, probes, env, secrets, drain timings, selectors, services,
ingress backends, autoscaling vs disruption budgets, and the network flows the app needs."""
import re

import pytest

from .manifests import ENVIRONMENTS, K8S, find, load_docs, render
from .k8s_rules import Endpoint, flow_allowed
from .pod_rules import all_containers, pods, selector_matches

RENDERS = ["k8s"] + list(ENVIRONMENTS)
GUIDE_CONFIG = {"DB_HOST": "postgres", "DB_NAME": "humor_memory_game", "DB_USER": "gameuser",
                "REDIS_HOST": "redis", "NODE_ENV": "production"}


def secret_example_keys():
    keys = set()
    for line in (K8S / "secrets.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keys.add(line.split("=", 1)[0])
    return keys


def container(objs, kind, name, cname):
    obj = find(objs, kind, name)
    spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"] if kind == "CronJob" else obj["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == cname), spec, obj


def env_names(c, objs):
    """Names of every variable a container gets: env entries plus the keys of envFrom config maps."""
    names = {e["name"] for e in c.get("env") or []}
    for src in c.get("envFrom") or []:
        assert "secretRef" not in src, "secrets are referenced key by key, so the set of variables is known"
        cm = find(objs, "ConfigMap", src["configMapRef"]["name"])
        names |= set(cm["data"])
    return names


def env_value(c, objs, name):
    for e in c.get("env") or []:
        if e["name"] == name:
            return e.get("value")
    for src in c.get("envFrom") or []:
        cm = find(objs, "ConfigMap", src["configMapRef"]["name"])
        if name in cm["data"]:
            return cm["data"][name]
    return None


def resolve_port(c, port):
    if isinstance(port, int):
        assert any(p["containerPort"] == port for p in c.get("ports", [])), f"{c['name']} does not expose {port}"
        return port
    hits = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == port]
    assert hits, f"{c['name']} has no port named {port}"
    return hits[0]


BACKEND_LIKE = [("Deployment", "backend", "backend"), ("Job", "backend-migrate", "migrate")]


@pytest.mark.parametrize("name", RENDERS)
def test_backend_listens_where_the_contract_says(name, contract):
    objs = render(name)
    c, _, _ = container(objs, "Deployment", "backend", "backend")
    port = contract["listen"]["port"]["container"]
    assert resolve_port(c, "http") == port
    assert env_value(c, objs, contract["listen"]["port"]["env"]) == str(port)
    assert env_value(c, objs, contract["listen"]["host"]["env"]) == contract["listen"]["host"]["container"]
    assert c["command"][-1] == "serve" and "serve" in contract["subcommands"]


@pytest.mark.parametrize("name", RENDERS)
def test_probes_use_the_binarys_paths_and_port(name, contract):
    objs = render(name)
    c, _, _ = container(objs, "Deployment", "backend", "backend")
    port = contract["listen"]["port"]["container"]
    for probe, key in (("livenessProbe", "liveness"), ("readinessProbe", "readiness"), ("startupProbe", "startup")):
        get = c[probe]["httpGet"]
        assert get["path"] == contract["probes"][key], f"{probe} path"
        assert resolve_port(c, get["port"]) == port, f"{probe} port"
    # Liveness must never depend on PostgreSQL or Redis: it is the shallow endpoint.
    assert c["livenessProbe"]["httpGet"]["path"] != contract["probes"]["readiness"]


@pytest.mark.parametrize("name", RENDERS)
def test_prometheus_annotations_point_at_the_metrics_endpoint(name, contract):
    objs = render(name)
    _, _, dep = container(objs, "Deployment", "backend", "backend")
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/port"] == str(contract["listen"]["port"]["container"])
    assert ann["prometheus.io/path"] == contract["probes"]["metrics"]


@pytest.mark.parametrize("name", RENDERS)
def test_every_variable_set_is_one_the_binary_reads_and_required_ones_are_set(name, contract):
    objs = render(name)
    known = {e["name"] for e in contract["env"]}
    required = set(contract["production_required_env"]) | {e["name"] for e in contract["env"] if e["required"]}
    for kind, wname, cname in BACKEND_LIKE:
        if name == "k8s" and kind == "Job":
            continue  # the migration Job lives in the GitOps tree only
        c, _, _ = container(objs, kind, wname, cname)
        names = env_names(c, objs)
        assert names - known == set(), f"{wname}: variables the binary does not read: {sorted(names - known)}"
        assert required - names == set(), f"{wname}: required variables missing: {sorted(required - names)}"
        secret_vars = {e["name"] for e in contract["env"] if e["secret"]}
        for e in c.get("env") or []:
            if e["name"] in secret_vars:
                assert "valueFrom" in e and "secretKeyRef" in e["valueFrom"], f"{e['name']} must come from the Secret"


def test_the_guides_five_config_keys_alone_start_the_backend(contract):
    """The guide creates humor-game-config by hand with five keys; with only those (plus the Deployment's own
    env and the Secret) every variable the binary needs in production is still set."""
    objs = render("k8s")
    cm = find(objs, "ConfigMap", "humor-game-config")
    for k, v in GUIDE_CONFIG.items():
        assert cm["data"].get(k) == v, f"config map key {k}"
    c, _, _ = container(objs, "Deployment", "backend", "backend")
    names = {e["name"] for e in c["env"]} | set(GUIDE_CONFIG)
    assert set(contract["production_required_env"]) <= names


@pytest.mark.parametrize("name", RENDERS)
def test_referenced_secret_and_config_keys_exist(name):
    objs = render(name)
    example = secret_example_keys()
    assert example == {"DB_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET"}
    used = set()
    assert not [o for o in objs if o["kind"] == "Secret"], "no Secret may be rendered (it is made by hand)"
    for owner, _, spec in pods(objs):
        for c in all_containers(spec):
            for e in c.get("env") or []:
                ref = e.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["name"] == "humor-game-secrets"
                    assert ref["secretKeyRef"]["key"] in example, f"{owner['metadata']['name']}: {e}"
                    used.add(ref["secretKeyRef"]["key"])
                if "configMapKeyRef" in ref and not ref["configMapKeyRef"].get("optional"):
                    cm = find(objs, "ConfigMap", ref["configMapKeyRef"]["name"])
                    assert ref["configMapKeyRef"]["key"] in cm["data"]
                    assert ref["configMapKeyRef"]["key"] in GUIDE_CONFIG, \
                        "non-optional keys must exist in the guide's hand-made config map too"
    assert used == example, f"keys in secrets.env.example that nothing reads: {sorted(example - used)}"


@pytest.mark.parametrize("name", RENDERS)
def test_termination_grace_exceeds_drain_plus_shutdown(name, contract):
    objs = render(name)
    c, spec, _ = container(objs, "Deployment", "backend", "backend")
    sd = contract["shutdown"]
    drain = int(env_value(c, objs, sd["drain_delay_env"]) or sd["drain_delay_seconds"])
    shutdown = int(env_value(c, objs, sd["shutdown_timeout_env"]) or sd["shutdown_timeout_seconds"])
    assert spec["terminationGracePeriodSeconds"] > drain + shutdown
    # Readiness must fail fast enough that endpoints drop the pod within the drain delay.
    rp = c["readinessProbe"]
    assert rp["periodSeconds"] * rp["failureThreshold"] <= drain + rp["periodSeconds"]


@pytest.mark.parametrize("name", RENDERS)
def test_services_select_their_pods_and_target_real_ports(name, contract):
    objs = render(name)
    found = pods(objs)
    expected = {"backend": 3001, "frontend": 80, "postgres": 5432, "redis": 6379}
    deps = {d["name"]: d["port"] for d in contract["dependencies"]}
    assert expected["postgres"] == deps["postgres"] and expected["redis"] == deps["redis"]
    assert expected["backend"] == contract["listen"]["port"]["container"]
    services = [o for o in objs if o["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == set(expected)
    for svc in services:
        sname = svc["metadata"]["name"]
        selected = [(o, m, s) for o, m, s in found if selector_matches({"matchLabels": svc["spec"]["selector"]}, m.get("labels"))]
        assert [o["kind"] + "/" + o["metadata"]["name"] for o, _, _ in selected] == [f"Deployment/{sname}"], \
            f"Service {sname} must select exactly its Deployment's pods"
        assert svc["spec"]["ports"][0]["port"] == expected[sname]
        for p in svc["spec"]["ports"]:
            resolve_port(selected[0][2]["containers"][0], p["targetPort"])


@pytest.mark.parametrize("name", RENDERS)
def test_app_label_is_only_on_the_long_running_pods(name):
    objs = render(name)
    for owner, meta, _ in pods(objs):
        labels = meta.get("labels") or {}
        if owner["kind"] == "Deployment":
            assert labels.get("app") == owner["metadata"]["name"]
            assert owner["spec"]["selector"] == {"matchLabels": {"app": owner["metadata"]["name"]}}
        else:
            assert "app" not in labels, f"{owner['kind']}/{owner['metadata']['name']} pods must not carry app="
            assert labels.get("app.kubernetes.io/component") in ("migrate", "backup")


@pytest.mark.parametrize("name", RENDERS)
def test_ingress_backends_exist(name):
    objs = render(name)
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    ingresses = [o for o in objs if o["kind"] == "Ingress"]
    assert len(ingresses) == 1
    paths = []
    for rule in ingresses[0]["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            svc = services[p["backend"]["service"]["name"]]
            assert p["backend"]["service"]["port"]["number"] in [x["port"] for x in svc["spec"]["ports"]]
            paths.append((p["path"], p["pathType"], svc["metadata"]["name"]))
    # Nothing else public: /metrics and the probes stay inside.
    assert sorted(paths) == [("/", "Prefix", "frontend"), ("/api", "Prefix", "backend")]


@pytest.mark.parametrize("name", RENDERS)
def test_autoscaler_minimum_leaves_room_for_disruptions(name):
    objs = render(name)
    hpas = [o for o in objs if o["kind"] == "HorizontalPodAutoscaler"]
    pdbs = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} == {"backend", "frontend"}
    for hpa in hpas:
        target = find(objs, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert "replicas" not in target["spec"], "the HPA owns the count; the render must not set replicas"
        lo, hi = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
        assert 1 <= lo <= hi
        labels = target["spec"]["template"]["metadata"]["labels"]
        budget = [p for p in pdbs if selector_matches(p["spec"]["selector"], labels)]
        assert len(budget) == 1, f"{target['metadata']['name']} needs exactly one PDB"
        spec = budget[0]["spec"]
        if "maxUnavailable" in spec:
            allowed = spec["maxUnavailable"]
        else:
            allowed = lo - spec["minAvailable"]
        assert isinstance(allowed, int) and allowed >= 1, "at the HPA minimum a drain must still evict one pod"
        # The rollout strategy never takes capacity below the minimum.
        assert target["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    backend_hpa = find(objs, "HorizontalPodAutoscaler", "backend-hpa")
    assert backend_hpa["spec"]["minReplicas"] >= 2, "the backend must survive one pod's loss"


def endpoints(objs, ns):
    """Our pods as flow endpoints, plus the outside peers the app talks to."""
    eps = {}
    for owner, meta, spec in pods(objs):
        labels = meta.get("labels") or {}
        key = labels.get("app") or labels.get("app.kubernetes.io/component")
        ports = {p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports", []) if "name" in p}
        eps[key] = Endpoint(ns, labels, ports, name=key)
    eps["ingress-controller"] = Endpoint("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                                           "app.kubernetes.io/component": "controller"})
    eps["prometheus"] = Endpoint("monitoring", {"app": "prometheus"})
    eps["grafana"] = Endpoint("monitoring", {"app": "grafana"})
    eps["kube-dns"] = Endpoint("kube-system", {"k8s-app": "kube-dns"})
    # cert-manager's HTTP-01 solver pod, created in our namespace while a certificate is issued
    eps["acme-solver"] = Endpoint(ns, {"acme.cert-manager.io/http01-solver": "true"})
    eps["stranger"] = Endpoint("default", {"app": "curl"})
    eps["stranger-in-ns"] = Endpoint(ns, {"app": "debug"})
    return eps


@pytest.mark.parametrize("name", RENDERS)
def test_network_policies_allow_exactly_the_apps_flows(name, contract):
    objs = render(name)
    ns = find(objs, "Deployment", "backend")["metadata"]["namespace"]
    pols = [o for o in objs if o["kind"] == "NetworkPolicy"]
    eps = endpoints(objs, ns)
    api = contract["listen"]["port"]["container"]
    deps = {d["name"]: d["port"] for d in contract["dependencies"]}
    must = [
        ("ingress-controller", "frontend", 8080), ("ingress-controller", "backend", api),
        ("prometheus", "backend", api),
        ("backend", "postgres", deps["postgres"]), ("backend", "redis", deps["redis"]),
        ("backup", "postgres", deps["postgres"]),
        ("ingress-controller", "acme-solver", 8089),
    ]
    if name != "k8s":
        must.append(("migrate", "postgres", deps["postgres"]))
    for src in ("backend", "frontend", "postgres", "redis", "backup"):
        assert flow_allowed(pols, eps[src], eps["kube-dns"], 53, "UDP"), f"{src} -> DNS"
    for src, dst, port in must:
        assert flow_allowed(pols, eps[src], eps[dst], port), f"{src} -> {dst}:{port} must be allowed"
    must_not = [
        ("stranger", "backend", api), ("stranger", "postgres", deps["postgres"]), ("stranger", "frontend", 8080),
        ("stranger-in-ns", "postgres", deps["postgres"]), ("stranger-in-ns", "redis", deps["redis"]),
        ("ingress-controller", "postgres", deps["postgres"]), ("ingress-controller", "redis", deps["redis"]),
        ("grafana", "backend", api), ("prometheus", "postgres", deps["postgres"]),
        ("frontend", "postgres", deps["postgres"]), ("frontend", "backend", api),
        ("backup", "redis", deps["redis"]), ("backend", "stranger", 443),
        # Egress is denied by default too: a compromised pod cannot call out.
        ("frontend", "stranger", 443), ("postgres", "stranger", 443), ("redis", "backend", api),
        ("ingress-controller", "backend", 9999),
        ("stranger", "acme-solver", 8089), ("acme-solver", "postgres", deps["postgres"]),
    ]
    for src, dst, port in must_not:
        assert not flow_allowed(pols, eps[src], eps[dst], port), f"{src} -> {dst}:{port} must be denied"
    # No catch-all selectors (the original's `namespaceSelector: {}` opened everything to every namespace).
    for p in pols:
        for rule in (p["spec"].get("ingress") or []) + (p["spec"].get("egress") or []):
            for peer in rule.get("from", []) + rule.get("to", []):
                assert peer.get("namespaceSelector") != {}, f"{p['metadata']['name']}: namespaceSelector {{}}"
                assert "ipBlock" not in peer, f"{p['metadata']['name']}: no ipBlock is needed"


def test_backend_file_names_its_image_tag_once():
    text = (K8S / "backend.yaml").read_text()
    assert text.count("v1.0.0") == 1
    assert re.search(r"^\s+image: localhost:5001/humor-game/backend:v1\.0\.0$", text, re.M)
    assert "kind: Job" not in text, "the guide re-applies backend.yaml; a Job there would fail on re-apply"


def test_frontend_file_matches_the_image_decisions():
    objs = load_docs(K8S / "frontend.yaml")
    dep = next(o for o in objs if o["kind"] == "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "localhost:5001/humor-game/frontend:v1.0.0"
    assert resolve_port(c, "http") == 8080
    assert c["readinessProbe"]["httpGet"]["path"] == "/health"
    svc = next(o for o in objs if o["kind"] == "Service")
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


@pytest.mark.parametrize("name", RENDERS)
def test_database_connections_fit_postgres_at_full_scale(name, contract):
    """Every backend pod at the HPA maximum (plus the rollout surge), the migration Job and the backup job,
    each with its full pool, stay within PostgreSQL's max_connections minus the superuser reserve."""
    objs = render(name)
    c, _, dep = container(objs, "Deployment", "backend", "backend")
    default_pool = next(e["default"] for e in contract["env"] if e["name"] == "DB_MAX_CONNECTIONS")
    pool = int(env_value(c, objs, "DB_MAX_CONNECTIONS") or default_pool)
    hpa = find(objs, "HorizontalPodAutoscaler", "backend-hpa")["spec"]
    pods_at_most = hpa["maxReplicas"] + dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    pg, _, _ = container(objs, "Deployment", "postgres", "postgres")
    args = " ".join(pg.get("args", []))
    m = re.search(r"max_connections=(\d+)", args)
    max_connections = int(m.group(1)) if m else 100  # PostgreSQL's default
    migrate = pool if name != "k8s" else 0
    needed = pods_at_most * pool + migrate + 1 + 3  # + backup job + superuser_reserved_connections
    assert needed <= max_connections, f"{name}: up to {needed} connections, PostgreSQL allows {max_connections}"
