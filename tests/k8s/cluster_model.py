#!/usr/bin/env python3
"""A small model of what a k3d cluster does with our files over time, for replaying the guide without one.

It answers as `kubectl`, `k3d`, `docker`, `curl`, `argocd`, `mkcert` and `sudo` would (the replay puts a shim
for each on PATH: tests/k8s/guide_replay.py), keeping the cluster's state in a JSON file ($MODEL_STATE)
between calls. Objects come from the files the commands apply, `kubectl kustomize` (the real one) and, for
Argo CD, the environments rendered from the last commit pushed to the sandbox's remote ($MODEL_REMOTE).

What it models, because the guide's path depends on it:
- pods start only when every claim, ConfigMap, Secret (and key), service account and image they need exists;
  Pod Security `restricted` (tests/k8s/pod_rules.py) rejects a pod in a namespace that enforces it;
- a claim on k3d's default class (local-path, WaitForFirstConsumer) binds when a pod using it is scheduled;
- the game server is ready when the dependencies the binary's contract marks `required_for_readiness`
  (all of them for an older binary that does not say) answer: a Service with a ready endpoint, and for
  PostgreSQL the password its volume was first initialised with;
- Services, port-forwards bound to one pod (they end when it goes), host ports (k3d's mappings, the
  registry, port-forwards) that cannot be shared, the registry mirror, Traefik, ingress-nginx's Service
  type, /etc/hosts and mkcert's CA for requests through the ingress;
- Argo CD: sync phases and waves, a wave waits until its resources are Healthy and its hooks complete
  (a Pending claim is Progressing, as in gitops-engine), the final wave does not wait, hook delete
  policies, project whitelists, pruning, automated vs manual sync; HPAs need their target and metrics.

Not modelled (docs/deployment.md lists it): time (a wait succeeds if its condition eventually holds, or
times out; durations, probes' periods and Argo CD's polling are not simulated), network policies (checked
statically by test_contract.py), node placement and resources, the images' contents, TLS issuance by
ACME, and anything behind a public host.
"""
import base64
import contextlib
import copy
import fcntl
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

# The model runs as a script (a new process for every shimmed command), not as part of the k8s package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pod_rules import pod_security_violations, selector_matches  # noqa: E402


def load_yaml_all(text):
    """YAML documents (imported here: most calls, such as curl, never parse YAML, and each call is a process)."""
    import yaml
    return [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]


def dump_yaml(data, all_docs=False):
    import yaml
    return yaml.safe_dump_all(data) if all_docs else yaml.safe_dump(data)

CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterIssuer", "CustomResourceDefinition",
                 "StorageClass", "PersistentVolume"}
BUILTIN_KINDS = {"Namespace", "ConfigMap", "Secret", "Service", "ServiceAccount", "PersistentVolumeClaim", "Pod",
                 "Deployment", "Job", "CronJob", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
                 "Ingress", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "StorageClass",
                 "PersistentVolume", "CustomResourceDefinition", "ReplicaSet", "Endpoints"}
# Kinds an add-on's CRDs bring.
ADDON_KINDS = {
    "argocd": {"Application", "AppProject", "ApplicationSet"},
    "cert-manager": {"Certificate", "CertificateRequest", "ClusterIssuer", "Issuer", "Order", "Challenge"},
}
# kubectl's resource names -> kinds.
RESOURCE_NAMES = {
    "pod": "Pod", "pods": "Pod", "po": "Pod", "deployment": "Deployment", "deployments": "Deployment",
    "deploy": "Deployment", "service": "Service", "services": "Service", "svc": "Service",
    "configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap", "secret": "Secret",
    "secrets": "Secret", "namespace": "Namespace", "namespaces": "Namespace", "ns": "Namespace",
    "pvc": "PersistentVolumeClaim", "persistentvolumeclaim": "PersistentVolumeClaim",
    "persistentvolumeclaims": "PersistentVolumeClaim", "job": "Job", "jobs": "Job", "cronjob": "CronJob",
    "cronjobs": "CronJob", "ingress": "Ingress", "ingresses": "Ingress", "ing": "Ingress",
    "hpa": "HorizontalPodAutoscaler", "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "endpoints": "Endpoints", "ep": "Endpoints", "node": "Node", "nodes": "Node",
    "application": "Application", "applications": "Application", "app": "Application",
    "applications.argoproj.io": "Application", "certificate": "Certificate", "certificates": "Certificate",
    "clusterissuer": "ClusterIssuer", "clusterissuers": "ClusterIssuer", "networkpolicy": "NetworkPolicy",
    "networkpolicies": "NetworkPolicy", "pdb": "PodDisruptionBudget",
}
K3D_PORTS = (80, 443)
LOCAL_REGISTRY = "localhost:5001/"
ARGOCD_PASSWORD = "model-admin-password"
HEALTH_ORDER = ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"]


class Fail(Exception):
    """A command failing the way the real tool would: message on stderr, exit status."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def key(kind, ns, name):
    return f"{kind}/{ns or ''}/{name}"


def meta(obj):
    return obj.setdefault("metadata", {})


def annotations(obj):
    return meta(obj).get("annotations") or {}


def labels(obj):
    return meta(obj).get("labels") or {}


def short_hash(data):
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


def jsonpath(obj, expr):
    """The subset of kubectl's -o jsonpath the guide and our scripts use: {.a.b[0].c} and {"literal"}."""
    out = []
    for literal, inner in re.findall(r"([^{]*)(?:\{([^}]*)\})?", expr):
        out.append(literal)
        if not inner:
            continue
        if inner.startswith('"'):
            out.append(json.loads(inner))
            continue
        value = obj
        for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", inner):
            name, index = part
            if value is None:
                break
            value = value.get(name) if name else (value[int(index)] if int(index) < len(value) else None)
        if value is not None:
            out.append(value if isinstance(value, str) else json.dumps(value))
    return "".join(out)


class Model:
    def __init__(self, state_path, contract, remote):
        self.path = Path(state_path)
        self.contract = contract
        self.remote = remote
        self.loaded = self.path.read_text() if self.path.exists() else ""
        self.s = json.loads(self.loaded) if self.loaded else {}
        for field, empty in (("ports", {}), ("containers", {}), ("local_images", {}), ("registry_images", {}),
                             ("hosts", {}), ("addons", []), ("objects", {}), ("pods", {}), ("forwards", []),
                             ("apps", {}), ("cluster", None), ("trusted_ca", False), ("login", None)):
            self.s.setdefault(field, empty)

    def changed(self, tool):
        """True when this call changed the state, or a new commit reached the remote Argo CD reads."""
        head = self.remote_head()
        if head != self.s.get("remote_head"):
            self.s["remote_head"] = head
            return True
        return tool != "curl" and json.dumps(self.s, sort_keys=True) != self.loaded  # curl changes nothing

    def remote_head(self):
        refs = Path(self.remote)
        loose = refs / "refs" / "heads" / "main"
        if loose.exists():
            return loose.read_text().strip()
        packed = refs / "packed-refs"
        return packed.read_text() if packed.exists() else None

    def save(self):
        self.path.write_text(json.dumps(self.s, sort_keys=True))

    # ------------------------------------------------------------------------------------------ objects
    def objects(self, kind=None, ns=None):
        return [o for o in self.s["objects"].values()
                if (kind is None or o["kind"] == kind) and (ns is None or meta(o).get("namespace") == ns)]

    def get(self, kind, ns, name):
        return self.s["objects"].get(key(kind, None if kind in CLUSTER_KINDS else ns, name))

    def known_kinds(self):
        kinds = set(BUILTIN_KINDS)
        for addon in self.s["addons"]:
            kinds |= ADDON_KINDS.get(addon, set())
        return kinds

    def need_cluster(self):
        if not self.s["cluster"]:
            raise Fail("The connection to the server localhost:8080 was refused - did you specify the right host or port?")

    def put(self, obj, default_ns=None):
        """Creates or updates one object as `kubectl apply` would; returns 'created', 'configured' or 'unchanged'."""
        self.need_cluster()
        obj = copy.deepcopy(obj)
        kind = obj.get("kind")
        if kind not in self.known_kinds():
            raise Fail(f'error: resource mapping not found for name: "{meta(obj).get("name")}" namespace: '
                       f'"{meta(obj).get("namespace", "")}" from "": no matches for kind "{kind}" in version '
                       f'"{obj.get("apiVersion")}"\nensure CRDs are installed first')
        if kind in CLUSTER_KINDS:
            meta(obj).pop("namespace", None)
            ns = None
        else:
            ns = meta(obj).get("namespace") or default_ns or "default"
            meta(obj)["namespace"] = ns
            if ns != "default" and not self.get("Namespace", None, ns):
                raise Fail(f'Error from server (NotFound): namespaces "{ns}" not found')
        if kind == "Pod":
            self.admit_pod(ns, obj["spec"], f'pods "{meta(obj)["name"]}"')
        if kind == "ConfigMap":
            # Dashboards and scripts are large and only mounted: keep their keys, not their text.
            obj["data"] = {k: v if len(v) <= 4096 else f"<{len(v)} bytes>" for k, v in (obj.get("data") or {}).items()}
        k = key(kind, ns, meta(obj)["name"])
        old = self.s["objects"].get(k)
        if old is not None:
            if kind == "Job" and old["spec"].get("template") != obj["spec"].get("template"):
                raise Fail(f'The Job "{meta(obj)["name"]}" is invalid: spec.template: Invalid value: field is immutable')
            if kind == "Deployment" and old["spec"].get("selector") != obj["spec"].get("selector"):
                raise Fail(f'The Deployment "{meta(obj)["name"]}" is invalid: spec.selector: field is immutable')
            obj["status"] = old.get("status", {})
            if kind == "Deployment" and "replicas" not in obj["spec"] and "replicas" in old["spec"]:
                obj["spec"]["replicas"] = old["spec"]["replicas"]
            same = {x: y for x, y in old.items() if x != "status"} == {x: y for x, y in obj.items() if x != "status"}
            self.s["objects"][k] = obj
            return "unchanged" if same else "configured"
        obj.setdefault("status", {})
        self.s["objects"][k] = obj
        return "created"

    def delete(self, kind, ns, name):
        obj = self.s["objects"].pop(key(kind, None if kind in CLUSTER_KINDS else ns, name), None)
        if obj is None:
            return False
        if kind == "Namespace":
            for k in [k for k, o in self.s["objects"].items() if meta(o).get("namespace") == name]:
                del self.s["objects"][k]
            for k in [k for k, p in self.s["pods"].items() if p["ns"] == name]:
                del self.s["pods"][k]
        owner = f"{kind}/{name}"
        for k in [k for k, p in self.s["pods"].items() if p["ns"] == ns and p["owner"] == owner]:
            del self.s["pods"][k]
        return True

    def admit_pod(self, ns, spec, what):
        ns_obj = self.get("Namespace", None, ns)
        if ns_obj and labels(ns_obj).get("pod-security.kubernetes.io/enforce") == "restricted":
            violations = pod_security_violations(spec)
            if violations:
                raise Fail(f'Error from server (Forbidden): {what} is forbidden: violates PodSecurity '
                           f'"restricted:latest": {"; ".join(violations)}')
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        if account != "default" and not self.get("ServiceAccount", ns, account):
            raise Fail(f'Error creating: {what} is forbidden: error looking up service account {ns}/{account}: '
                       f'serviceaccount "{account}" not found')

    # ------------------------------------------------------------------------------------------- pods
    def desired_replicas(self, dep):
        ns, name = meta(dep)["namespace"], meta(dep)["name"]
        if dep["spec"].get("replicas") == 0:
            return 0
        for hpa in self.objects("HorizontalPodAutoscaler", ns):
            if hpa["spec"]["scaleTargetRef"]["name"] == name:
                return max(hpa["spec"].get("minReplicas", 1), dep["spec"].get("replicas", 1))
        return dep["spec"].get("replicas", 1)

    def pods_of(self, owner, ns):
        return [p for p in self.s["pods"].values() if p["ns"] == ns and p["owner"] == owner]

    def new_pod(self, ns, owner, name, template, hash_):
        spec = template["spec"]
        try:
            self.admit_pod(ns, spec, f'pods "{name}"')
        except Fail as e:
            return str(e)
        self.s["pods"][f"{ns}/{name}"] = {
            "ns": ns, "name": name, "owner": owner, "hash": hash_, "spec": spec,
            "labels": (template.get("metadata") or {}).get("labels") or {}, "started": False, "env": None,
            "waiting": "ContainerCreating", "phase": "Pending", "ip": f"10.42.{len(self.s['pods']) % 250}.{7 + len(self.s['pods']) % 240}",
        }
        return None

    def reconcile_workloads(self):
        changed = False
        for dep in self.objects("Deployment"):
            ns, name = meta(dep)["namespace"], meta(dep)["name"]
            owner = f"Deployment/{name}"
            h = short_hash(dep["spec"]["template"])
            want = self.desired_replicas(dep)
            pods = self.pods_of(owner, ns)
            current = [p for p in pods if p["hash"] == h]
            old = [p for p in pods if p["hash"] != h]
            recreate = (dep["spec"].get("strategy") or {}).get("type") == "Recreate"
            if recreate and old:
                for p in old:
                    del self.s["pods"][f"{ns}/{p['name']}"]
                changed, old = True, []
            for i in range(len(current), want):
                error = self.new_pod(ns, owner, f"{name}-{h[:9]}-{i}", dep["spec"]["template"], h)
                dep["status"]["createError"] = error
                if error:
                    break
                changed = True
            for p in current[want:]:
                del self.s["pods"][f"{ns}/{p['name']}"]
                changed = True
            # maxUnavailable 0: the old pods go only once the new ones are all ready.
            if old and (want == 0 or sum(self.pod_ready(p)[0] for p in self.pods_of(owner, ns) if p["hash"] == h) >= want):
                for p in old:
                    del self.s["pods"][f"{ns}/{p['name']}"]
                changed = True
        for job in self.objects("Job"):
            ns, name = meta(job)["namespace"], meta(job)["name"]
            if not self.pods_of(f"Job/{name}", ns) and not job["status"].get("result"):
                error = self.new_pod(ns, f"Job/{name}", f"{name}-{short_hash(job['spec'])[:5]}", job["spec"]["template"], "job")
                job["status"]["createError"] = error
                changed = changed or not error
        return changed

    def env_of(self, ns, container):
        """The container's environment if every reference resolves, else (None, reason)."""
        env = {}
        for src in container.get("envFrom") or []:
            ref = src.get("configMapRef") or src.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in src else "Secret"
            obj = self.get(kind, ns, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                return None, f'{kind.lower()} "{ref["name"]}" not found'
            env.update(self.data_of(obj))
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = var["value"]
                continue
            src = var.get("valueFrom") or {}
            ref = src.get("configMapKeyRef") or src.get("secretKeyRef")
            if ref is None:
                continue
            kind = "ConfigMap" if "configMapKeyRef" in src else "Secret"
            obj = self.get(kind, ns, ref["name"])
            data = self.data_of(obj) if obj else None
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                what = f'{kind.lower()} "{ref["name"]}" not found' if obj is None else \
                    f'couldn\'t find key {ref["key"]} in {kind} {ns}/{ref["name"]}'
                return None, what
            env[var["name"]] = data[ref["key"]]
        return env, None

    @staticmethod
    def data_of(obj):
        if obj["kind"] == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
            data.update(obj.get("stringData") or {})
            return data
        return dict(obj.get("data") or {})

    def start_pods(self):
        changed = False
        for pod in self.s["pods"].values():
            if pod["started"]:
                continue
            ns, spec = pod["ns"], pod["spec"]
            waiting = None
            claims = [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or [] if "persistentVolumeClaim" in v]
            for claim in claims:
                if not self.get("PersistentVolumeClaim", ns, claim):
                    waiting = f'Pending: persistentvolumeclaim "{claim}" not found'
            if waiting is None:
                for claim in claims:  # scheduled: WaitForFirstConsumer claims bind now
                    pvc = self.get("PersistentVolumeClaim", ns, claim)
                    if pvc["status"].get("phase") != "Bound":
                        pvc["status"]["phase"] = "Bound"
                        changed = True
                for v in spec.get("volumes") or []:
                    ref = v.get("configMap") or v.get("secret")
                    if ref and not ref.get("optional"):
                        kind, name = ("ConfigMap", ref["name"]) if "configMap" in v else ("Secret", ref["secretName"])
                        if not self.get(kind, ns, name):
                            waiting = f'ContainerCreating: MountVolume.SetUp failed: {kind.lower()} "{name}" not found'
            env = {}
            if waiting is None:
                for c in spec["containers"]:
                    e, why = self.env_of(ns, c)
                    if e is None:
                        waiting = f"CreateContainerConfigError: {why}"
                        break
                    env[c["name"]] = e
                    image = c["image"]
                    if image.startswith(LOCAL_REGISTRY) and not (
                            (self.s["cluster"] or {}).get("mirror") and image in self.s["registry_images"]):
                        why = "the cluster has no mirror for localhost:5001" if not (self.s["cluster"] or {}).get("mirror") \
                            else "not in the registry"
                        waiting = f'ImagePullBackOff: failed to pull image "{image}": {why}'
                        break
            if waiting != pod["waiting"]:
                pod["waiting"], changed = waiting, True
            if waiting is None:
                pod.update(started=True, env=env, phase="Running")
                self.initialise_data(pod)
                changed = True
        return changed

    def initialise_data(self, pod):
        """The postgres image initialises an empty data volume with the password it starts with, once."""
        for c in pod["spec"]["containers"]:
            env = pod["env"][c["name"]]
            if "POSTGRES_PASSWORD" not in env:
                continue
            for v in pod["spec"].get("volumes") or []:
                if "persistentVolumeClaim" in v:
                    pvc = self.get("PersistentVolumeClaim", pod["ns"], v["persistentVolumeClaim"]["claimName"])
                    pvc["status"].setdefault("postgres", {"password": env["POSTGRES_PASSWORD"],
                                                          "user": env.get("POSTGRES_USER", "postgres")})

    # ---------------------------------------------------------------------------------- the game server
    def server_role(self, container):
        """'serve' or 'migrate' when the container runs the game server's binary (by its contract's name)."""
        command = container.get("command") or []
        if command and os.path.basename(command[0]) == self.contract["binary"]:
            return command[1] if len(command) > 1 else "serve"
        return None

    def dependencies(self):
        """The binary's dependencies with the variables naming host and port (from the contract)."""
        out = []
        for dep in self.contract["dependencies"]:
            host = next(v for v in dep["env"] if v.endswith("_HOST"))
            port = next(v for v in dep["env"] if v.endswith("_PORT"))
            # An older binary's contract does not say: it waited for every dependency at start-up.
            out.append(dict(dep, host_env=host, port_env=port,
                            required=dep.get("required_for_readiness", True), database="DATABASE_URL" in dep["env"]))
        return out

    def service_answers(self, ns, host, port, _seen):
        """None when host:port reaches a Service with a ready endpoint, else why not."""
        parts = host.split(".")  # NAME, NAME.NAMESPACE, NAME.NAMESPACE.svc[.cluster.local]
        if len(parts) > 2 and parts[2:] not in (["svc"], ["svc", "cluster", "local"]):
            return "name does not resolve"
        svc = self.get("Service", parts[1] if len(parts) > 1 else ns, parts[0])
        if svc is None:
            return "name does not resolve"
        if int(port) not in [p["port"] for p in svc["spec"].get("ports") or []]:
            return "connection refused"
        if not self.endpoints(svc, _seen):
            return "connection refused (the Service has no ready endpoint)"
        return None

    def endpoints(self, svc, _seen=None):
        ns = meta(svc)["namespace"]
        sel = svc["spec"].get("selector")
        if not sel:
            return []
        return [p for p in self.s["pods"].values()
                if p["ns"] == ns and selector_matches({"matchLabels": sel}, p["labels"]) and self.pod_ready(p, _seen)[0]]

    def postgres_password(self, ns, host):
        svc = self.get("Service", ns, host.split(".")[0])
        for pod in self.endpoints(svc) if svc else []:
            for v in pod["spec"].get("volumes") or []:
                if "persistentVolumeClaim" in v:
                    pvc = self.get("PersistentVolumeClaim", pod["ns"], v["persistentVolumeClaim"]["claimName"])
                    if pvc and "postgres" in pvc["status"]:
                        return pvc["status"]["postgres"]["password"]
        return None

    def dependency_problem(self, pod, env, dep, _seen):
        host = env.get(dep["host_env"])
        if not host:
            return None  # not configured: SQLite or in-memory live state
        port = env.get(dep["port_env"]) or str(dep["port"])
        why = self.service_answers(pod["ns"], host, port, _seen)
        if why is None and dep["database"]:
            password = self.postgres_password(pod["ns"], host)
            if password is not None and env.get("DB_PASSWORD") != password:
                why = f'password authentication failed for user "{env.get("DB_USER", "gameuser")}"'
        return None if why is None else f"{host}:{port}: {why}"

    def pod_ready(self, pod, _seen=None):
        """(ready, reason)."""
        if not pod["started"]:
            return False, pod["waiting"]
        if pod.get("result"):
            return False, pod["result"]
        _seen = set(_seen or ())
        if pod["name"] in _seen:
            return False, "waits for itself"
        _seen.add(pod["name"])
        for c in pod["spec"]["containers"]:
            if self.server_role(c) != "serve":
                continue
            for dep in self.dependencies():
                problem = self.dependency_problem(pod, pod["env"][c["name"]], dep, _seen)
                if problem and dep["required"]:
                    return False, f"readiness /health/ready: starting (waits for {dep['name']} at {problem})"
        return True, "Ready"

    def job_outcome(self, pod):
        """True (succeeds), or the reason it cannot (yet)."""
        for c in pod["spec"]["containers"]:
            env = pod["env"][c["name"]]
            role = self.server_role(c)
            if role == "migrate":
                for dep in self.dependencies():
                    if dep["database"]:
                        problem = self.dependency_problem(pod, env, dep, None)
                        if problem:
                            return f"migrate: {problem}"
            if "PGHOST" in env:
                why = self.service_answers(pod["ns"], env["PGHOST"], env.get("PGPORT", "5432"), None)
                if why:
                    return f"{env['PGHOST']}: {why}"
        return True

    def finish_jobs(self, final):
        changed = False
        for pod in self.s["pods"].values():
            if not pod["owner"].startswith("Job/") or not pod["started"] or pod.get("result"):
                continue
            outcome = self.job_outcome(pod)
            if outcome is True or final:
                pod["result"] = "Succeeded" if outcome is True else f"Failed: {outcome}"
                job = self.get("Job", pod["ns"], pod["owner"].split("/", 1)[1])
                job["status"]["result"] = pod["result"]
                changed = True
        return changed

    def settle(self):
        for final in (False, True):
            for _ in range(60):
                progress = [self.reconcile_workloads(), self.start_pods(), self.finish_jobs(final)]
                if not any(progress):
                    break
        self.ingress_addresses()
        for fwd in self.s["forwards"]:
            if fwd["alive"] and fwd["pod"] not in self.s["pods"]:
                fwd["alive"] = False  # kubectl port-forward ends when its pod goes ("lost connection to pod")
                self.s["ports"].pop(str(fwd["port"]), None)

    # ------------------------------------------------------------------------------------- networking
    def ingress_controller(self):
        """ingress-nginx's controller Service and whether a controller pod is ready, or (None, False)."""
        svc = self.get("Service", "ingress-nginx", "ingress-nginx-controller")
        return svc, bool(svc and self.endpoints(svc))

    def ingress_addresses(self):
        _, ready = self.ingress_controller()
        for ing in self.objects("Ingress"):
            ing["status"]["loadBalancer"] = {"ingress": [{"ip": "172.18.0.3"}]} if ready else {}
            issuer = annotations(ing).get("cert-manager.io/cluster-issuer")
            if issuer and "cert-manager" in self.s["addons"]:
                # cert-manager's ingress-shim: a Certificate per TLS secret (issuing it needs the public host)
                for tls in ing["spec"].get("tls") or []:
                    if not self.get("Certificate", meta(ing)["namespace"], tls["secretName"]):
                        self.put({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                                  "metadata": {"name": tls["secretName"], "namespace": meta(ing)["namespace"]},
                                  "spec": {"secretName": tls["secretName"], "dnsNames": tls.get("hosts", []),
                                           "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}},
                                  "status": {"conditions": [{"type": "Ready", "status": "False"}]}})

    # ---------------------------------------------------------------------------------------- health
    def health(self, obj):
        """Argo CD's health of one live object (gitops-engine's rules), as (status, message)."""
        kind, ns, name = obj["kind"], meta(obj).get("namespace"), meta(obj)["name"]
        if kind == "PersistentVolumeClaim":
            if obj["status"].get("phase") == "Bound":
                return "Healthy", ""
            return "Progressing", "Pending: waiting for first consumer to be created before binding"
        if kind == "Deployment":
            want = self.desired_replicas(obj)
            h = short_hash(obj["spec"]["template"])
            pods = self.pods_of(f"Deployment/{name}", ns)
            current = [p for p in pods if p["hash"] == h]
            ready = [p for p in current if self.pod_ready(p)[0]]
            if len(ready) >= want and len(pods) == want:
                return "Healthy", ""
            waiting = [self.pod_ready(p)[1] for p in current if not self.pod_ready(p)[0]]
            why = obj["status"].get("createError") or (waiting[0] if waiting else "old replicas pending termination")
            return "Progressing", f"{len(ready)} of {want} updated replicas are available: {why}"
        if kind == "Job":
            result = obj["status"].get("result")
            if result == "Succeeded":
                return "Healthy", ""
            if result:
                return "Degraded", result
            pods = self.pods_of(f"Job/{name}", ns)
            why = obj["status"].get("createError") or (pods[0]["waiting"] if pods and not pods[0]["started"]
                                                        else self.job_outcome(pods[0]) if pods else "no pod")
            return "Progressing", str(why)
        if kind == "Ingress":
            return ("Healthy", "") if obj["status"].get("loadBalancer", {}).get("ingress") else \
                ("Progressing", "no address: no ingress controller is serving it")
        if kind == "HorizontalPodAutoscaler":
            target = self.get("Deployment", ns, obj["spec"]["scaleTargetRef"]["name"])
            if target is None:
                return "Degraded", f'FailedGetScale: deployment "{obj["spec"]["scaleTargetRef"]["name"]}" not found'
            if "metrics-server" not in self.s["addons"]:
                return "Degraded", "FailedGetResourceMetric: unable to get metrics (no metrics-server)"
            for c in target["spec"]["template"]["spec"]["containers"]:
                if not ((c.get("resources") or {}).get("requests") or {}).get("cpu"):
                    return "Degraded", f"FailedGetResourceMetric: missing request for cpu in container {c['name']}"
            return "Healthy", ""
        return "Healthy", ""

    # --------------------------------------------------------------------------------------- Argo CD
    def git(self, *args):
        out = subprocess.run(["git", "--git-dir", self.remote, *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise Fail(f"git {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout.strip()

    def render_app(self, app, revision):
        """The objects an Application deploys at `revision` of the pushed repository."""
        src = app["spec"]["source"]
        tree = self.path.parent / f"git-{revision[:12]}"
        if not tree.exists():
            tree.mkdir()
            archive = subprocess.run(["git", "--git-dir", self.remote, "archive", revision], capture_output=True, check=True)
            import io
            import tarfile
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(tree, filter="data")
        path = tree / src["path"]
        if "directory" in src:
            text = (path / src["directory"]["include"]).read_text()
        else:
            out = subprocess.run([os.environ["REAL_KUBECTL"], "kustomize", str(path)], capture_output=True, text=True)
            if out.returncode != 0:
                raise Fail(f"ComparisonError: kustomize build {src['path']} failed: {out.stderr.strip()}")
            text = out.stdout
        objs = load_yaml_all(text)
        for o in objs:
            if o["kind"] not in CLUSTER_KINDS:
                meta(o).setdefault("namespace", app["spec"]["destination"]["namespace"])
        return objs

    def permitted(self, app, objs):
        project = self.get("AppProject", "argocd", app["spec"]["project"])
        if project is None:
            return f'app is not allowed in project "{app["spec"]["project"]}", or the project does not exist'
        spec = project["spec"]
        if app["spec"]["source"]["repoURL"] not in spec.get("sourceRepos", []):
            return f'application repo {app["spec"]["source"]["repoURL"]} is not permitted in project'
        dests = {(d["server"], d["namespace"]) for d in spec.get("destinations", [])}
        for o in objs:
            group = o["apiVersion"].rpartition("/")[0]
            cluster = o["kind"] in CLUSTER_KINDS
            allowed = spec.get("clusterResourceWhitelist" if cluster else "namespaceResourceWhitelist") or []
            if not any(g["group"] == group and g["kind"] == o["kind"] for g in allowed):
                return f"resource {group}:{o['kind']} is not permitted in project {app['spec']['project']}"
            if not cluster and (app["spec"]["destination"]["server"], meta(o)["namespace"]) not in dests:
                return f"namespace {meta(o)['namespace']} is not permitted in project {app['spec']['project']}"
        return None

    @staticmethod
    def phase_and_wave(obj):
        ann = annotations(obj)
        hooks = [h.strip() for h in ann.get("argocd.argoproj.io/hook", "").split(",") if h.strip()]
        phase = {"PreSync": 0, "Sync": 1, "PostSync": 2}.get(hooks[0], 1) if hooks else 1
        return phase, int(ann.get("argocd.argoproj.io/sync-wave", "0")), bool(hooks)

    def sync(self, name):
        """Runs (or resumes) the Application's sync operation as far as the cluster lets it."""
        app = self.get("Application", "argocd", name)
        st = self.s["apps"][name]
        op = st["op"]
        objs = self.render_app(app, op["revision"])
        problem = self.permitted(app, objs)
        if problem:
            op.update(phase="Failed", message=problem)
            return
        groups = sorted({self.phase_and_wave(o)[:2] for o in objs})
        while op["index"] < len(groups):
            group = groups[op["index"]]
            final = op["index"] == len(groups) - 1
            members = [o for o in objs if self.phase_and_wave(o)[:2] == group]
            if not op["applied"]:
                for o in members:
                    is_hook = self.phase_and_wave(o)[2]
                    if is_hook:
                        self.delete(o["kind"], meta(o)["namespace"], meta(o)["name"])
                    self.put(o)
                    k = key(o["kind"], meta(o).get("namespace") if o["kind"] not in CLUSTER_KINDS else None, meta(o)["name"])
                    if not is_hook and k not in st["tracked"]:
                        st["tracked"].append(k)
                op["applied"] = True
                self.settle()
            running, failed = [], []
            for o in members:
                live = self.get(o["kind"], meta(o).get("namespace"), meta(o)["name"])
                is_hook = self.phase_and_wave(o)[2]
                status, message = self.health(live) if live else ("Missing", "")
                what = f"{o['kind']}/{meta(o)['name']}"
                if status == "Degraded":
                    failed.append(f"{what}: {message}")
                elif status != "Healthy" and (is_hook or not final):
                    running.append(f"{what} ({message})")
            if failed:
                op.update(phase="Failed", message="one or more synchronization tasks completed unsuccessfully: "
                          + "; ".join(failed))
                return
            if running:
                op.update(phase="Running", message=f"waiting for healthy state of {running[0]}"
                          + (f" and {len(running) - 1} more" if len(running) > 1 else ""))
                return
            op["index"] += 1
            op["applied"] = False
        prune = (app["spec"].get("syncPolicy", {}).get("automated") or {}).get("prune") or op.get("prune")
        rendered = {key(o["kind"], meta(o).get("namespace") if o["kind"] not in CLUSTER_KINDS else None, meta(o)["name"])
                    for o in objs}
        for k in list(st["tracked"]):
            if k in rendered:
                continue
            live = self.s["objects"].get(k)
            if live is None:
                st["tracked"].remove(k)
            elif prune and "Prune=false" not in annotations(live).get("argocd.argoproj.io/sync-options", ""):
                self.delete(live["kind"], meta(live).get("namespace"), meta(live)["name"])
                st["tracked"].remove(k)
        op.update(phase="Succeeded", message="successfully synced (all tasks run)")

    def start_sync(self, name, revision, prune=False):
        self.s["apps"][name]["op"] = {"revision": revision, "index": 0, "applied": False, "phase": "Running",
                                      "message": "", "prune": prune}
        self.s["apps"][name]["attempts"] = self.s["apps"][name].get("attempts", 0) + 1

    def reconcile_argocd(self):
        if "argocd" not in self.s["addons"]:
            return
        for app in self.objects("Application", "argocd"):
            name = meta(app)["name"]
            st = self.s["apps"].setdefault(name, {"op": None, "tracked": []})
            try:
                revision = self.git("rev-parse", app["spec"]["source"].get("targetRevision", "HEAD"))
                op = st["op"]
                automated = "automated" in (app["spec"].get("syncPolicy") or {})
                if op and op["phase"] == "Running":
                    self.sync(name)
                elif automated and (op is None or op["revision"] != revision
                                    or (op["phase"] == "Failed" and st.get("attempts", 0) <= 5)):
                    if op is None or op["revision"] != revision:
                        st["attempts"] = 0
                    self.start_sync(name, revision)
                    self.sync(name)
                self.app_status(app, revision)
            except Fail as e:
                app["status"] = {"sync": {"status": "Unknown"}, "health": {"status": "Unknown"},
                                 "conditions": [{"type": "ComparisonError", "message": str(e)}]}

    def app_status(self, app, revision):
        st = self.s["apps"][meta(app)["name"]]
        op = st["op"]
        worst, reasons = "Healthy", []
        for k in st["tracked"]:
            live = self.s["objects"].get(k)
            status, message = self.health(live) if live else ("Missing", "")
            if HEALTH_ORDER.index(status) > HEALTH_ORDER.index(worst):
                worst = status
            if status != "Healthy":
                reasons.append(f"{k}: {status} {message}")
        synced = op is not None and op["phase"] == "Succeeded" and op["revision"] == revision
        app["status"] = {
            "sync": {"status": "Synced" if synced else "OutOfSync", "revision": revision},
            "health": {"status": worst if st["tracked"] else "Missing", "message": "; ".join(reasons)},
            "operationState": {"phase": op["phase"], "message": op["message"]} if op else {},
        }

    # --------------------------------------------------------------------------------------- kubectl
    def tool_kubectl(self, args, read_stdin, cwd):
        a = Args(args)
        verb = a.pos[0] if a.pos else ""
        if verb in ("version",) or (verb == "config"):
            return "Client Version: model\n"
        self.need_cluster()
        handler = getattr(self, "kubectl_" + verb.replace("-", "_"), None)
        if handler is None:
            raise Fail(f"the model does not know `kubectl {verb}`", 127)
        return handler(a, read_stdin, cwd)

    def kubectl_cluster_info(self, a, read_stdin, cwd):
        return "Kubernetes control plane is running at https://0.0.0.0:6443\n"

    def load_sources(self, a, read_stdin, cwd):
        docs = []
        for src in a.all("-f", "--filename"):
            if src == "-":
                text = read_stdin()
            elif re.match(r"https?://", src):
                return self.addon(src, a)
            else:
                path = Path(cwd) / src
                if not path.exists():
                    raise Fail(f'error: the path "{src}" does not exist')
                if path.is_dir():
                    raise Fail(f"the model applies files, not directories: {src}")
                text = path.read_text()
            docs += load_yaml_all(text)
        for src in a.all("-k", "--kustomize"):
            out = subprocess.run([os.environ["REAL_KUBECTL"], "kustomize", str(Path(cwd) / src)], capture_output=True, text=True)
            if out.returncode != 0:
                raise Fail(out.stderr.strip())
            docs += load_yaml_all(out.stdout)
        return docs

    def kubectl_apply(self, a, read_stdin, cwd):
        docs = self.load_sources(a, read_stdin, cwd)
        if isinstance(docs, str):
            return docs
        lines = []
        for d in docs:
            if d["kind"] == "Kustomization":
                raise Fail('error: resource mapping not found for name: "" from "kustomization.yaml": '
                           'no matches for kind "Kustomization"')
            lines.append(f"{d['kind'].lower()}/{meta(d)['name']} {self.put(d, a.ns(None))}")
        return "\n".join(lines) + "\n"

    def addon(self, url, a):
        """The third-party manifests the guide applies by URL, by what they install."""
        if "ingress-nginx" in url and "/deploy/static/provider/" in url:
            kind = "LoadBalancer" if "/provider/cloud/" in url else "NodePort"
            self.install_addon("ingress-nginx", "ingress-nginx", [
                ("ingress-nginx-controller", {"app.kubernetes.io/name": "ingress-nginx",
                                              "app.kubernetes.io/component": "controller"})], kind)
            return f"deployment.apps/ingress-nginx-controller created\nservice/ingress-nginx-controller created ({kind})\n"
        if "argoproj/argo-cd" in url and "install.yaml" in url:
            if not a.has("--server-side"):
                raise Fail('The CustomResourceDefinition "applicationsets.argoproj.io" is invalid: '
                           'metadata.annotations: Too long: may not be more than 262144 bytes')
            ns = a.ns("default")
            self.install_addon("argocd", ns, [(n, {"app.kubernetes.io/name": n}) for n in (
                "argocd-server", "argocd-repo-server", "argocd-application-controller", "argocd-redis")])
            self.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-initial-admin-secret", "namespace": ns},
                      "data": {"password": base64.b64encode(ARGOCD_PASSWORD.encode()).decode()}})
            return "customresourcedefinition.apiextensions.k8s.io/applications.argoproj.io serverside-applied\n"
        if "cert-manager" in url and url.endswith("cert-manager.yaml"):
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}})
            self.install_addon("cert-manager", "cert-manager", [
                ("cert-manager", {"app": "cert-manager"}), ("cert-manager-webhook", {"app": "webhook"}),
                ("cert-manager-cainjector", {"app": "cainjector"})])
            return "deployment.apps/cert-manager created\n"
        raise Fail(f"the model does not know what {url} installs", 127)

    def install_addon(self, addon, ns, deployments, service_type=None):
        if ns != "default" and not self.get("Namespace", None, ns):
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for name, labs in deployments:
            self.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
                      "spec": {"replicas": 1, "selector": {"matchLabels": labs},
                               "template": {"metadata": {"labels": labs},
                                            "spec": {"containers": [{"name": name, "image": f"registry.example/{name}"}]}}}})
            self.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                      "spec": {"selector": labs, "type": service_type or "ClusterIP",
                               "ports": [{"port": 443}, {"port": 80}]}})
        if addon not in self.s["addons"]:
            self.s["addons"].append(addon)

    def kubectl_create(self, a, read_stdin, cwd):
        what = a.pos[1] if len(a.pos) > 1 else ""
        ns = a.ns("default")
        if what == "namespace":
            name = a.pos[2]
            if self.get("Namespace", None, name):
                raise Fail(f'Error from server (AlreadyExists): namespaces "{name}" already exists')
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            return f"namespace/{name} created\n"
        if what in ("configmap", "secret"):
            if what == "secret":
                sub, name = a.pos[2], a.pos[3]
            else:
                sub, name = "", a.pos[2]
            kind = "Secret" if what == "secret" else "ConfigMap"
            if self.get(kind, ns, name):
                raise Fail(f'error: failed to create {what}: {what}s "{name}" already exists')
            data = dict(v.split("=", 1) for v in a.all("--from-literal"))
            if sub == "tls":
                for f in (a.one("--cert"), a.one("--key")):
                    if not (Path(cwd) / f).exists():
                        raise Fail(f"error: open {f}: no such file or directory")
                data = {"tls.crt": (Path(cwd) / a.one("--cert")).read_text(), "tls.key": (Path(cwd) / a.one("--key")).read_text()}
            obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": ns}}
            if kind == "Secret":
                obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
                obj["type"] = "kubernetes.io/tls" if sub == "tls" else "Opaque"
            else:
                obj["data"] = data
            self.put(obj)
            return f"{what}/{name} created\n"
        if what == "deployment":
            name = a.pos[2]
            labs = {"app": name}
            self.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labs},
                      "spec": {"replicas": int(a.one("--replicas") or 1), "selector": {"matchLabels": labs},
                               "template": {"metadata": {"labels": labs},
                                            "spec": {"containers": [{"name": a.one("--image").split(":")[0], "image": a.one("--image")}]}}}})
            return f"deployment.apps/{name} created\n"
        if what == "job":
            name, source = a.pos[2], a.one("--from")
            cron = self.get("CronJob", ns, source.split("/", 1)[1])
            if cron is None:
                raise Fail(f'Error from server (NotFound): cronjobs.batch "{source.split("/", 1)[1]}" not found')
            spec = copy.deepcopy(cron["spec"]["jobTemplate"]["spec"])
            self.put({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns}, "spec": spec})
            return f"job.batch/{name} created\n"
        raise Fail(f"the model does not know `kubectl create {what}`", 127)

    def kubectl_expose(self, a, read_stdin, cwd):
        kind, name = self.target(a.pos[1:])
        dep = self.must_get(kind, a.ns("default"), name)
        self.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": a.ns("default")},
                  "spec": {"selector": dep["spec"]["selector"]["matchLabels"], "type": a.one("--type") or "ClusterIP",
                           "ports": [{"port": int(a.one("--port"))}]}})
        return f"service/{name} exposed\n"

    def target(self, words):
        """kubectl's `KIND/NAME` or `KIND NAME` as (Kind, name)."""
        if words and "/" in words[0]:
            kind, name = words[0].split("/", 1)
        elif len(words) >= 2:
            kind, name = words[0], words[1]
        else:
            return RESOURCE_NAMES.get(words[0], words[0]) if words else None, None
        if kind not in RESOURCE_NAMES:
            raise Fail(f'error: the server doesn\'t have a resource type "{kind}"')
        return RESOURCE_NAMES[kind], name

    def must_get(self, kind, ns, name):
        obj = self.get(kind, ns, name)
        if obj is None:
            raise Fail(f'Error from server (NotFound): {kind.lower()}s "{name}" not found')
        return obj

    def live_view(self, obj):
        """The object with the status fields kubectl shows, computed from the model."""
        view = copy.deepcopy(obj)
        if obj["kind"] == "Deployment":
            h = short_hash(obj["spec"]["template"])
            pods = self.pods_of(f"Deployment/{meta(obj)['name']}", meta(obj)["namespace"])
            ready = sum(1 for p in pods if p["hash"] == h and self.pod_ready(p)[0])
            view["status"] = {"replicas": len(pods), **({"readyReplicas": ready} if ready else {})}
            view["spec"]["replicas"] = self.desired_replicas(obj)
        return view

    def pod_line(self, p):
        ready, why = self.pod_ready(p)
        status = "Completed" if p.get("result") == "Succeeded" else "Error" if p.get("result") else \
            "Running" if p["started"] else why.split(":")[0]
        return f"{p['name']}   {1 if ready else 0}/{len(p['spec']['containers'])}   {status}   0   1m"

    def kubectl_get(self, a, read_stdin, cwd):
        if a.has("-w", "--watch"):
            raise Fail("the model does not replay `get --watch`: it runs until interrupted", 127)
        kind, name = self.target(a.pos[1:])
        if kind is None:
            raise Fail("error: You must specify the type of resource to get.")
        if kind not in self.known_kinds() | {"Node"}:
            raise Fail(f'error: the server doesn\'t have a resource type "{a.pos[1]}"')
        everywhere = a.has("-A", "--all-namespaces")
        ns = a.ns("default")
        if kind == "Node":
            c = self.s["cluster"]
            rows = [f"k3d-{c['name']}-server-0   Ready   control-plane,master   1h   v1.31.5+k3s1"] + \
                   [f"k3d-{c['name']}-agent-{i}   Ready   <none>   1h   v1.31.5+k3s1" for i in range(c["agents"])]
            return "\n".join(rows) + "\n"
        if kind == "Pod":
            pods = [p for p in self.s["pods"].values() if everywhere or p["ns"] == ns]
            if a.one("-l", "--selector"):
                pods = [p for p in pods if selector_matches(parse_selector(a.one("-l", "--selector")), p["labels"])]
            if not pods:
                return "No resources found\n"
            return "".join((f"{p['ns']}   " if everywhere else "") + self.pod_line(p) + "\n" for p in pods)
        if kind == "Endpoints":
            return "".join(f"{meta(s)['name']}   {','.join(p['ip'] for p in self.endpoints(s)) or '<none>'}\n"
                           for s in self.objects("Service", ns))
        if name:
            obj = self.get(kind, ns, name)
            if obj is None:
                if a.has("--ignore-not-found"):
                    return ""
                raise Fail(f'Error from server (NotFound): {kind.lower()}s "{name}" not found')
            objs = [obj]
        else:
            objs = [o for o in self.objects(kind) if everywhere or kind in CLUSTER_KINDS or meta(o).get("namespace") == ns]
        output = a.one("-o", "--output") or ""
        if output.startswith("jsonpath="):
            return "".join(jsonpath(self.live_view(o), output[len("jsonpath="):].strip("'")) for o in objs)
        if output == "yaml":
            return dump_yaml([self.live_view(o) for o in objs], all_docs=True)
        if not objs:
            return "No resources found\n"
        if kind == "Application":
            return "NAME   SYNC STATUS   HEALTH STATUS\n" + "".join(
                f"{meta(o)['name']}   {o['status'].get('sync', {}).get('status', '')}   "
                f"{o['status'].get('health', {}).get('status', '')}\n" for o in objs)
        return "".join(f"{kind.lower()}/{meta(o)['name']}\n" for o in objs)

    def kubectl_describe(self, a, read_stdin, cwd):
        kind, name = self.target(a.pos[1:])
        if kind not in self.known_kinds():
            raise Fail(f'error: the server doesn\'t have a resource type "{a.pos[1]}"')
        obj = self.must_get(kind, a.ns("default"), name)
        return dump_yaml(self.live_view(obj))

    def kubectl_wait(self, a, read_stdin, cwd):
        condition = a.one("--for") or ""
        ns = a.ns("default")
        kind, name = self.target(a.pos[1:])
        if kind == "Pod" and not name:
            selector = a.one("-l", "--selector")
            pods = [p for p in self.s["pods"].values() if p["ns"] == ns
                    and selector_matches(parse_selector(selector), p["labels"]) and not p.get("result")]
            if not pods:
                raise Fail("error: no matching resources found")
            waiting = [(p["name"], self.pod_ready(p)[1]) for p in pods if not self.pod_ready(p)[0]]
            if waiting:
                raise Fail(f"error: timed out waiting for the condition on pods/{waiting[0][0]} (model: {waiting[0][1]})")
            return "".join(f"pod/{p['name']} condition met\n" for p in pods)
        obj = self.must_get(kind, ns, name)
        if condition == "condition=complete" and kind == "Job":
            result = obj["status"].get("result")
            if result != "Succeeded":
                raise Fail(f"error: timed out waiting for the condition on jobs/{name} (model: {result or self.health(obj)[1]})")
            return f"job.batch/{name} condition met\n"
        if condition.startswith("jsonpath="):
            path, _, want = condition[len("jsonpath="):].rpartition("=")
            got = jsonpath(self.live_view(obj), path.strip("'"))
            if got != want.strip("'"):
                raise Fail(f"error: timed out waiting for the condition on {kind.lower()}s/{name} (model: {got!r})")
            return f"{kind.lower()}/{name} condition met\n"
        raise Fail(f"the model does not know `kubectl wait --for={condition}` on {kind}", 127)

    def kubectl_rollout(self, a, read_stdin, cwd):
        action = a.pos[1]
        kind, name = self.target(a.pos[2:])
        ns = a.ns("default")
        dep = self.must_get(kind, ns, name)
        if action == "restart":
            tmeta = dep["spec"]["template"].setdefault("metadata", {})
            tmeta.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = f"restart-{short_hash(self.s['pods'])}"
            return f"deployment.apps/{name} restarted\n"
        if action == "status":
            self.settle()
            status, message = self.health(dep)
            if status != "Healthy":
                raise Fail(f'error: deployment "{name}" exceeded its progress deadline (model: {message})')
            return f'deployment "{name}" successfully rolled out\n'
        raise Fail(f"the model does not know `kubectl rollout {action}`", 127)

    def kubectl_scale(self, a, read_stdin, cwd):
        kind, name = self.target(a.pos[1:])
        dep = self.must_get(kind, a.ns("default"), name)
        dep["spec"]["replicas"] = int(a.one("--replicas"))
        return f"deployment.apps/{name} scaled\n"

    def kubectl_delete(self, a, read_stdin, cwd):
        kind, name = self.target(a.pos[1:])
        if not self.delete(kind, a.ns("default"), name):
            raise Fail(f'Error from server (NotFound): {kind.lower()}s "{name}" not found')
        for fwd in self.s["forwards"]:
            if fwd["alive"] and fwd["pod"] not in self.s["pods"]:
                fwd["alive"] = False
                self.s["ports"].pop(str(fwd["port"]), None)
        return f'{kind.lower()} "{name}" deleted\n'

    def exec_pod(self, ns, target):
        kind, name = self.target([target])
        if kind == "Pod":
            pod = self.s["pods"].get(f"{ns}/{name}")
            pods = [pod] if pod else []
        else:
            self.must_get(kind, ns, name)
            pods = [p for p in self.pods_of(f"{kind}/{name}", ns) if p["started"] and not p.get("result")]
        if not pods:
            raise Fail(f"error: unable to upgrade connection: no running pod for {target}")
        return pods[0]

    def kubectl_exec(self, a, read_stdin, cwd):
        pod = self.exec_pod(a.ns("default"), a.pos[1])
        return self.in_pod(pod, a.rest or [], read_stdin if a.has("-i", "-it", "-ti", "--stdin") else (lambda: ""))

    def kubectl_run(self, a, read_stdin, cwd):
        ns = a.ns("default")
        if not self.get("Namespace", None, ns):
            raise Fail(f'Error from server (NotFound): namespaces "{ns}" not found')
        pod = {"ns": ns, "name": a.pos[1], "spec": {"containers": [{"name": a.pos[1], "image": a.one("--image")}]},
               "env": {a.pos[1]: {}}, "started": True, "labels": {}}
        return self.in_pod(pod, a.rest or [], lambda: "")

    def kubectl_logs(self, a, read_stdin, cwd):
        ns = a.ns("default")
        if a.one("-l", "--selector"):
            pods = [p for p in self.s["pods"].values() if p["ns"] == ns
                    and selector_matches(parse_selector(a.one("-l", "--selector")), p["labels"])]
        else:
            pods = [self.exec_pod(ns, a.pos[1])]
        return "".join(f"[{p['name']}] {self.pod_ready(p)[1]}\n" for p in pods if p["started"])

    def kubectl_port_forward(self, a, read_stdin, cwd):
        ns = a.ns("default")
        kind, name = self.target([a.pos[1]])
        local, _, remote = a.pos[2].partition(":")
        remote = remote or local
        if kind == "Service":
            svc = self.must_get("Service", ns, name)
            candidates = [p for p in self.s["pods"].values() if p["ns"] == ns and p["started"] and not p.get("result")
                          and selector_matches({"matchLabels": svc["spec"].get("selector") or {}}, p["labels"])]
        else:
            candidates = [self.exec_pod(ns, a.pos[1])]
        if not candidates:
            raise Fail("error: unable to forward port because pod is not running")
        self.bind_port(int(local), f"kubectl port-forward {a.pos[1]}")
        self.s["forwards"].append({"port": int(local), "ns": ns, "service": name, "remote": int(remote),
                                   "pod": f"{ns}/{candidates[0]['name']}", "alive": True})
        return f"Forwarding from 127.0.0.1:{local} -> {remote}\n"

    def bind_port(self, port, owner):
        holder = self.s["ports"].get(str(port))
        if holder:
            raise Fail(f"Unable to listen on port {port}: Listeners failed to create with the following errors: "
                       f"[unable to create listener: Error listen tcp4 127.0.0.1:{port}: bind: address already in use]"
                       f" (model: held by {holder})")
        self.s["ports"][str(port)] = owner

    # ------------------------------------------------------------------------------- inside a container
    def in_pod(self, pod, argv, read_stdin):
        """What the commands the guide runs in a container print (exit status by Fail)."""
        if not argv:
            raise Fail("error: you must specify at least one command for the container")
        if argv[0] in ("sh", "bash") and len(argv) >= 3 and argv[1] == "-c":
            return self.in_pod(pod, shlex.split(argv[2]), read_stdin)
        env = next(iter(pod["env"].values())) if pod.get("env") else {}
        prog, args = os.path.basename(argv[0]), argv[1:]
        if prog == "psql":
            return self.psql(pod, env, args, read_stdin())
        if prog == "redis-cli":
            server = env.get("REDIS_PASSWORD")
            return "PONG\n" if server is None or env.get("REDISCLI_AUTH") == server else \
                "AUTH failed: WRONGPASS invalid username-password pair\n"
        if prog == "nc" and args[:1] == ["-z"]:
            why = self.service_answers(pod["ns"], args[1], args[2], None)
            if why:
                raise Fail(f"nc: {args[1]}:{args[2]}: {why}")
            return ""
        if prog == "nslookup":
            name = args[0]
            ns = name.split(".")[1] if "." in name else pod["ns"]
            if not self.get("Service", ns, name.split(".")[0]):
                raise Fail(f"** server can't find {name}: NXDOMAIN")
            return f"Name:\t{name}\nAddress: 10.43.0.10\n"
        if prog in ("curl", "wget"):
            url = next(x for x in args if re.match(r"https?://", x))
            m = re.match(r"https?://([^/:]+)(?::(\d+))?(/.*)?$", url)
            host, port, path = m.group(1), m.group(2) or "80", m.group(3) or "/"
            if host in ("localhost", "127.0.0.1"):
                code, body = self.http_in_pod(pod, path)
            else:
                why = self.service_answers(pod["ns"], host, port, None)
                if why:
                    raise Fail(f"{prog}: can't connect to remote host ({host}): {why}")
                code, body = 200, "<!doctype html><html><body>Welcome to nginx!</body></html>\n"
            if prog == "wget" and code >= 400:
                raise Fail(f"wget: server returned error: HTTP/1.1 {code}")
            return body
        raise Fail(f"the model does not know what `{' '.join(argv)}` does in a container", 127)

    def psql(self, pod, env, args, stdin):
        data = None
        for v in pod["spec"].get("volumes") or []:
            if "persistentVolumeClaim" in v:
                pvc = self.get("PersistentVolumeClaim", pod["ns"], v["persistentVolumeClaim"]["claimName"])
                data = pvc["status"].get("postgres") if pvc else None
        if data is None or not self.pod_ready(pod)[0]:
            raise Fail('psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed')
        user = args[args.index("-U") + 1] if "-U" in args else "postgres"
        if user != data["user"]:
            raise Fail(f'psql: error: FATAL:  role "{user}" does not exist')
        sql = args[args.index("-c") + 1] if "-c" in args else args[args.index("-tAc") + 1] if "-tAc" in args else stdin
        if "version()" in sql:
            return " PostgreSQL 15.8 on x86_64-pc-linux-musl\n"
        if re.fullmatch(r"\s*SELECT 1;?\s*", sql):
            return "1\n"
        m = re.search(r"\\set new_password '([^']*)'\s*\n\s*ALTER ROLE CURRENT_USER WITH PASSWORD :'new_password';", sql)
        if m:
            data["password"] = m.group(1)  # the role's password lives on the volume
            return ""
        raise Fail(f"the model does not know the SQL {sql!r}", 127)

    def server_health(self, pod):
        """(status code, body) of /health as the binary documents it (docs/api.md), from the model's state."""
        c = next(c for c in pod["spec"]["containers"] if self.server_role(c) == "serve")
        env = pod["env"][c["name"]]
        services, problems = {"api": "running"}, {}
        for dep in self.dependencies():
            label = "database" if dep["database"] else dep["name"]
            if not env.get(dep["host_env"]):
                services[label] = "connected" if dep["database"] else "not_configured"
                continue
            problem = self.dependency_problem(pod, env, dep, None)
            services[label] = "disconnected" if problem else "connected"
            if problem:
                problems[label] = problem
        # The model says which dependency is down; the words the binary uses are tested against it (api tests).
        healthy = not problems
        body = {"status": "healthy" if healthy else "unhealthy", "services": services}
        return (200 if healthy else 503), json.dumps(body)

    def http_in_pod(self, pod, path):
        """An HTTP request to the pod's own port (the backend, Prometheus, Grafana, Argo CD's server)."""
        server = any(self.server_role(c) == "serve" for c in pod["spec"]["containers"])
        if server and self.pod_ready(pod)[1].startswith("readiness") and path == "/health/ready":
            return 503, '{"status":"not_ready","reason":"starting"}'
        if server and path in ("/health", "/api/health"):
            return self.server_health(pod)
        if server and path == "/metrics":
            image = pod["spec"]["containers"][0]["image"]
            revision = (self.s["registry_images"].get(image) or {}).get("REVISION", "unknown")
            return 200, f'# TYPE build_info gauge\nbuild_info{{version="1.0.0",revision="{revision}"}} 1\n' \
                        f"# TYPE http_requests_total counter\n"
        if server:
            return 404, '{"error":"not_found"}'
        name = pod["labels"].get("app") or pod["labels"].get("app.kubernetes.io/name", "")
        if name == "prometheus" and path.startswith("/api/v1/targets"):
            targets = [{"scrapeUrl": f"http://{p['ip']}:{p['spec']['containers'][0].get('ports', [{}])[0].get('containerPort', 80)}/metrics",
                        "health": "up", "labels": {"job": "kubernetes-pods"}}
                       for p in self.s["pods"].values() if self.pod_ready(p)[0] and p["started"]
                       and p["labels"].get("app") == "backend"]
            return 200, json.dumps({"status": "success", "data": {"activeTargets": targets}})
        if name == "prometheus" and path.startswith("/api/v1/query"):
            return 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}})
        if name == "grafana" and path == "/api/health":
            return 200, json.dumps({"database": "ok", "version": "11.2.0"})
        return 200, "<!doctype html><html><title>ok</title></html>\n"

    # ------------------------------------------------------------------------------------------ curl
    def tool_curl(self, args, read_stdin, cwd):
        a = Args(args, value_flags={"-o", "-w", "--max-time", "-H", "--write-out", "--output"})
        url = next((p for p in a.pos if re.match(r"https?://", p)), None)
        fmt = a.one("-w", "--write-out")
        if fmt and fmt.startswith("@"):
            if not (Path(cwd) / fmt[1:]).is_file():
                raise Fail(f"curl: (26) Failed to open/read local data from file/application ({fmt[1:]})", 26)
            fmt = (Path(cwd) / fmt[1:]).read_text()
        m = re.match(r"(https?)://([^/:]+)(?::(\d+))?(/[^?]*)?", url or "")
        if not m:
            raise Fail("curl: (3) URL rejected: No host part in the URL", 3)
        scheme, host, port, path = m.group(1), m.group(2), int(m.group(3) or (443 if m.group(1) == "https" else 80)), m.group(4) or "/"
        insecure = a.has("-k", "--insecure")
        if host not in ("localhost", "127.0.0.1") and self.s["hosts"].get(host) != "127.0.0.1":
            raise Fail(f"curl: (6) Could not resolve host: {host}", 6)
        code, body = self.http_local(scheme, host, port, path, insecure)
        if a.has("-f", "--fail", "-fsS") and code >= 400:
            raise Fail(f"curl: (22) The requested URL returned error: {code}", 22)
        if a.has("-I", "--head"):
            body = f"HTTP/2 {code}\r\ncontent-type: text/html\r\n\r\n"
        out = body
        target = a.one("-o", "--output")
        if target:
            if target != "/dev/null":
                (Path(cwd) / target).write_text(body)
            out = ""
        if fmt:
            out += re.sub(r"%\{(\w+)\}", lambda x: str(code) if x.group(1) == "http_code" else "0.001",
                          fmt.replace("\\n", "\n"))
        return out

    def http_local(self, scheme, host, port, path, insecure):
        """(status, body) of a request to this machine: a registry, a port-forward or k3d's load balancer."""
        owner = self.s["ports"].get(str(port))
        if owner is None:
            raise Fail(f"curl: (7) Failed to connect to {host} port {port}: Connection refused", 7)
        if owner.startswith("registry"):
            tags = re.fullmatch(r"/v2/(.+)/tags/list", path)
            if tags:
                found = sorted(r.rsplit(":", 1)[1] for r in self.s["registry_images"]
                               if r[len(LOCAL_REGISTRY):].rsplit(":", 1)[0] == tags.group(1))
                if not found:
                    return 404, json.dumps({"errors": [{"code": "NAME_UNKNOWN"}]}) + "\n"
                return 200, json.dumps({"name": tags.group(1), "tags": found}) + "\n"
            repos = sorted({r[len(LOCAL_REGISTRY):].rsplit(":", 1)[0] for r in self.s["registry_images"]})
            return 200, json.dumps({"repositories": repos}) + "\n"
        if owner.startswith("kubectl port-forward"):
            fwd = next(f for f in self.s["forwards"] if f["alive"] and f["port"] == port)
            return self.http_in_pod(self.s["pods"][fwd["pod"]], path)
        if owner.startswith("k3d"):
            return self.http_ingress(scheme, host, int(owner.rsplit(":", 1)[1]), path, insecure)
        raise Fail(f"curl: (52) Empty reply from server ({owner})", 52)

    def http_ingress(self, scheme, host, cluster_port, path, insecure):
        """A request reaching k3d's load balancer port 80 or 443 of the cluster."""
        if (self.s["cluster"] or {}).get("traefik"):
            return 404, "404 page not found\n"  # k3s' Traefik holds 80/443
        svc, ready = self.ingress_controller()
        if svc is None or svc["spec"].get("type") != "LoadBalancer" or not ready:
            raise Fail("curl: (56) Recv failure: Connection reset by peer (model: no LoadBalancer ingress "
                       "controller on the load balancer's ports)", 56)
        rules = [(ing, rule) for ing in self.objects("Ingress") for rule in ing["spec"].get("rules") or []
                 if rule.get("host") == host]
        if scheme == "https" and not insecure:
            tls_ok = any(host in (t.get("hosts") or []) and self.get("Secret", meta(ing)["namespace"], t.get("secretName", ""))
                         for ing, _ in rules for t in ing["spec"].get("tls") or [])
            if not (tls_ok and self.s["trusted_ca"]):
                raise Fail("curl: (60) SSL certificate problem: self-signed certificate", 60)
        best = None
        for ing, rule in rules:
            for p in rule["http"]["paths"]:
                if path.startswith(p["path"]) and (best is None or len(p["path"]) > len(best[1]["path"])):
                    best = (ing, p)
        if best is None:
            return 404, "<html><center><h1>404 Not Found</h1></center>nginx</html>\n"
        ing, p = best
        svc = self.get("Service", meta(ing)["namespace"], p["backend"]["service"]["name"])
        pods = self.endpoints(svc) if svc else []
        if not pods:
            return 503, "<html><center><h1>503 Service Temporarily Unavailable</h1></center>nginx</html>\n"
        if any(self.server_role(c) == "serve" for c in pods[0]["spec"]["containers"]):
            return self.http_in_pod(pods[0], path)
        if path in ("/", "/index.html"):
            return 200, "<!doctype html><html lang=\"en\"><title>Humor Memory Game</title></html>\n"
        return 404, "<html><center><h1>404 Not Found</h1></center>nginx</html>\n"

    # ------------------------------------------------------------------------------ k3d, docker, the rest
    def tool_k3d(self, args, read_stdin, cwd):
        a = Args(args, value_flags={"--port", "-p", "--servers", "--agents", "--k3s-arg", "--registry-use",
                                    "--registry-config"})
        words = a.pos
        if words[:1] == ["version"]:
            return "k3d version model\n"
        if words[:2] == ["registry", "create"]:
            name = f"k3d-{words[2]}"
            port = int(a.one("--port", "-p"))
            self.bind_port(port, f"registry {name}")
            self.s["containers"][name] = {"k3d": True, "port": port}
            return f"INFO Successfully created registry '{name}'\n"
        if words[:2] == ["cluster", "create"]:
            name = words[2]
            if self.s["cluster"]:
                raise Fail(f"FATA Failed to create cluster '{name}' because a cluster with that name already exists")
            mapped = []
            for spec in a.all("--port", "-p"):
                m = re.fullmatch(r"(\d+):(\d+)@loadbalancer", spec)
                if not m:
                    raise Fail(f"the model does not know the port mapping {spec}", 127)
                self.bind_port(int(m.group(1)), f"k3d {name} loadbalancer :{m.group(2)}")
                mapped.append(int(m.group(1)))
            registry = a.one("--registry-use")
            if registry:
                container = self.s["containers"].get(registry.split(":")[0])
                if not container or not container.get("k3d"):
                    for port in mapped:
                        self.s["ports"].pop(str(port), None)
                    raise Fail(f"FATA Failed to get registry {registry}: not a registry made by `k3d registry create`")
            mirror = False
            config = a.one("--registry-config")
            if config:
                mirrors = ((load_yaml_all((Path(cwd) / config).read_text()) or [{}])[0]).get("mirrors") or {}
                endpoints = (mirrors.get("localhost:5001") or {}).get("endpoint") or []
                mirror = any(re.sub(r"^https?://", "", e).split(":")[0] in self.s["containers"] for e in endpoints)
            traefik = "--disable=traefik@server:0" not in a.all("--k3s-arg")
            self.s["cluster"] = {"name": name, "agents": int(a.one("--agents") or 0), "traefik": traefik,
                                 "mirror": mirror, "ports": mapped}
            self.s["addons"] = ["metrics-server", "local-path"] + (["traefik"] if traefik else [])
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            return f"INFO Cluster '{name}' created successfully!\n"
        if words[:2] in (["cluster", "list"], ["registry", "list"]):
            # `-o json`: what scripts/cluster.sh reads to know whether the cluster and the registry exist.
            if words[0] == "cluster":
                names = [self.s["cluster"]["name"]] if self.s["cluster"] else []
            else:
                names = [n for n, c in self.s["containers"].items() if c.get("k3d")]
            return json.dumps([{"name": n} for n in names]) + "\n"
        if words[:2] == ["registry", "delete"]:
            container = self.s["containers"].pop(words[2], None)
            if not container:
                raise Fail(f"FATA No nodes found for given role 'registry' and name '{words[2]}'")
            self.s["ports"].pop(str(container["port"]), None)
            return f"INFO Successfully deleted registry {words[2]}\n"
        if words[:2] == ["cluster", "delete"]:
            if self.s["cluster"]:
                for port in self.s["cluster"]["ports"]:
                    self.s["ports"].pop(str(port), None)
            for fwd in self.s["forwards"]:
                if fwd["alive"]:
                    self.s["ports"].pop(str(fwd["port"]), None)
                fwd["alive"] = False
            self.s.update(cluster=None, objects={}, pods={}, apps={}, addons=[])
            return f"INFO Successfully deleted cluster {words[2]}!\n"
        raise Fail(f"the model does not know `k3d {' '.join(words)}`", 127)

    def tool_docker(self, args, read_stdin, cwd):
        a = Args(args, value_flags={"-t", "--tag", "--build-arg", "-p", "--name", "--restart", "-f"})
        words = a.pos
        if words[:1] == ["build"]:
            context = Path(cwd) / words[1]
            if not (context / (a.one("-f") or "Dockerfile")).is_file():
                raise Fail(f"ERROR: failed to read dockerfile: open {words[1]}/Dockerfile: no such file or directory")
            self.s["local_images"][a.one("-t", "--tag")] = dict(x.split("=", 1) for x in a.all("--build-arg"))
            return f"naming to {a.one('-t', '--tag')} done\n"
        if words[:1] == ["push"]:
            ref = words[1]
            if ref not in self.s["local_images"]:
                raise Fail(f"An image does not exist locally with the tag: {ref.rsplit(':', 1)[0]}")
            port = re.match(r"localhost:(\d+)/", ref)
            if not port or not str(self.s["ports"].get(port.group(1), "")).startswith("registry"):
                raise Fail(f"Get \"http://{ref.split('/')[0]}/v2/\": dial tcp 127.0.0.1: connect: connection refused")
            self.s["registry_images"][ref] = self.s["local_images"][ref]
            return f"{ref.rsplit(':', 1)[1]}: digest: sha256:{short_hash(ref)} size: 1570\n"
        if words[:1] == ["run"]:
            name = a.one("--name")
            host, _, _ = a.one("-p").partition(":")
            self.bind_port(int(host), f"registry {name}")
            self.s["containers"][name] = {"k3d": False, "port": int(host)}
            return short_hash(name) + "\n"
        if words[:2] == ["network", "connect"]:
            return ""
        raise Fail(f"the model does not know `docker {' '.join(words)}`", 127)

    def tool_mkcert(self, args, read_stdin, cwd):
        if args == ["-install"]:
            self.s["trusted_ca"] = True
            return "The local CA is now installed in the system trust store!\n"
        names = [x for x in args if not x.startswith("-")]
        stem = names[0] + (f"+{len(names) - 1}" if len(names) > 1 else "")
        (Path(cwd) / f"{stem}.pem").write_text("-----BEGIN CERTIFICATE-----\nmodel\n-----END CERTIFICATE-----\n")
        (Path(cwd) / f"{stem}-key.pem").write_text("-----BEGIN PRIVATE KEY-----\nmodel\n-----END PRIVATE KEY-----\n")
        return f'The certificate is at "./{stem}.pem" and the key at "./{stem}-key.pem"\n'

    def tool_sudo(self, args, read_stdin, cwd):
        if args == ["tee", "-a", "/etc/hosts"]:
            text = read_stdin()
            for line in text.splitlines():
                parts = line.split()
                for name in parts[1:]:
                    self.s["hosts"][name] = parts[0]
            return text
        raise Fail(f"the model does not run `sudo {' '.join(args)}`", 127)

    def tool_argocd(self, args, read_stdin, cwd):
        a = Args(args, value_flags={"--username", "--password", "--timeout"})
        words = a.pos
        if words[:1] == ["login"]:
            port = int(words[1].rsplit(":", 1)[1])
            fwd = next((f for f in self.s["forwards"] if f["alive"] and f["port"] == port), None)
            if fwd is None or fwd["service"] != "argocd-server":
                raise Fail(f"FATA dial tcp {words[1]}: connect: connection refused (model: no port-forward to argocd-server there)", 20)
            if not a.has("--insecure"):
                raise Fail("FATA x509: certificate signed by unknown authority (use --insecure for the self-signed one)", 20)
            if a.one("--password") != ARGOCD_PASSWORD:
                raise Fail("FATA rpc error: code = Unauthenticated desc = Invalid username or password", 20)
            self.s["login"] = words[1]
            return f"'admin:login' logged in successfully\nContext '{words[1]}' updated\n"
        if not self.s["login"]:
            raise Fail("FATA Argo CD server address unspecified (run argocd login first)", 20)
        if words[:2] in (["app", "diff"], ["app", "sync"], ["app", "get"]):
            name = words[2]
            app = self.get("Application", "argocd", name)
            if app is None:
                raise Fail(f'FATA rpc error: code = NotFound desc = applications.argoproj.io "{name}" not found', 20)
            st = self.s["apps"].setdefault(name, {"op": None, "tracked": []})
            revision = self.git("rev-parse", app["spec"]["source"].get("targetRevision", "HEAD"))
            if words[1] == "diff":
                self.app_status(app, revision)
                if app["status"]["sync"]["status"] != "Synced":
                    return Result(f"===== {name}: differs from revision {revision[:7]} =====\n", 1)
                return ""
            if words[1] == "sync":
                self.start_sync(name, revision, prune=a.has("--prune"))
                self.sync(name)
                self.app_status(app, revision)
                op = st["op"]
                if op["phase"] != "Succeeded":
                    raise Fail(f"FATA Operation has completed with phase: {op['phase']} (model: {op['message']})", 20)
            return f"Name: {name}\nSync Status: {app['status']['sync']['status']}\nHealth Status: {app['status']['health']['status']}\n"
        raise Fail(f"the model does not know `argocd {' '.join(words)}`", 127)


class Result(str):
    """Output with a non-zero exit status that is not an error (argocd app diff: 1 = differences)."""

    def __new__(cls, text, code):
        obj = super().__new__(cls, text)
        obj.code = code
        return obj


class Args:
    """Command-line words split into flags, their values, positionals and what follows `--`."""

    VALUE_FLAGS = {"-n", "--namespace", "-l", "--selector", "-o", "--output", "-f", "--filename", "-k",
                   "--kustomize", "--for", "--timeout", "--image", "--replicas", "--port", "--type",
                   "--from-literal", "--cert", "--key", "--from", "--tail", "-c", "--container"}

    def __init__(self, words, value_flags=None):
        value_flags = value_flags if value_flags is not None else self.VALUE_FLAGS
        self.values, self.flags, self.pos, self.rest = {}, set(), [], None
        i = 0
        while i < len(words):
            w = words[i]
            if w == "--":
                self.rest = words[i + 1:]
                break
            if w.startswith("--") and "=" in w:
                name, value = w.split("=", 1)
                self.values.setdefault(name, []).append(value)
            elif w in value_flags and i + 1 < len(words):
                self.values.setdefault(w, []).append(words[i + 1])
                i += 1
            elif w.startswith("-") and len(w) > 1:
                self.flags.add(w)
            else:
                self.pos.append(w)
            i += 1

    def all(self, *names):
        return [v for n in names for v in self.values.get(n, [])]

    def one(self, *names):
        found = self.all(*names)
        return found[-1] if found else None

    def has(self, *names):
        return any(n in self.flags for n in names)

    def ns(self, default):
        return self.one("-n", "--namespace") or default


def parse_selector(text):
    return {"matchLabels": dict(part.split("=", 1) for part in (text or "").split(",") if part)}


def main():
    tool = os.path.basename(sys.argv[1])
    args = sys.argv[2:]
    if tool == "kubectl" and args[:1] == ["kustomize"]:
        os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])  # rendering needs no cluster
    state = Path(os.environ["MODEL_STATE"])
    contract = json.loads(Path(os.environ["MODEL_CONTRACT"]).read_text())
    with open(state.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        model = Model(state, contract, os.environ["MODEL_REMOTE"])
        code, out = 0, ""
        if model.remote_head() != model.s.get("remote_head"):
            model.reconcile_argocd()  # a push since the last call: Argo CD has seen it by now (time is not modelled)
        try:
            out = getattr(model, f"tool_{tool}")(args, sys.stdin.read, os.getcwd())
            code = getattr(out, "code", 0)
        except Fail as e:
            sys.stderr.write(str(e) + "\n")
            code = e.code
        if model.changed(tool):
            model.settle()
            model.reconcile_argocd()
            model.save()
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.write(out)
    sys.exit(code)


if __name__ == "__main__":
    main()
