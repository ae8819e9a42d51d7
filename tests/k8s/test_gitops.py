"""The GitOps tree: what each environment really renders (kustomize silently ignores a patch or an
images: entry that matches nothing, so we assert on the output), the guide's two `sed` commands replayed
on a copy, sync ordering, and the Argo CD Applications and projects."""
import re
import shutil
import subprocess

import pytest
import yaml

from .manifests import ENV_NAMESPACE, ENVIRONMENTS, GITOPS, K8S, ROOT, find, kubectl, load_docs, render
from .pod_rules import pods

BACKEND = "localhost:5001/humor-game/backend"
FRONTEND = "localhost:5001/humor-game/frontend"
EXPECTED = {
    "dev": dict(backend="v1.1.0", frontend="v1.0.0", host="gameapp.local", ingress="humor-game-ingress",
                tls="gameapp-tls", issuer=None, hpa={"backend-hpa": (2, 3), "frontend-hpa": (1, 2)},
                strong="false"),
    "staging": dict(backend="v1.0.0", frontend="v1.0.0", host="game-staging.example.com", ingress="gameapp-ingress",
                    tls="gameapp-staging-tls", issuer="letsencrypt-staging",
                    hpa={"backend-hpa": (2, 4), "frontend-hpa": (1, 2)}, strong="false"),
    "prod": dict(backend="v1.0.0", frontend="v1.0.0", host="game.example.com", ingress="gameapp-ingress",
                 tls="gameapp-prod-tls", issuer="letsencrypt-prod",
                 hpa={"backend-hpa": (3, 10), "frontend-hpa": (2, 5)}, strong="true"),
}


def images(objs):
    out = []
    for owner, _, spec in pods(objs):
        for c in spec["containers"]:
            out.append((owner["kind"], owner["metadata"]["name"], c["image"]))
    return out


def kustomization(env):
    return yaml.safe_load((GITOPS / "environments" / env / "kustomization.yaml").read_text())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_renders_its_tags_hosts_and_namespace(env):
    exp = EXPECTED[env]
    objs = render(env)
    ns = ENV_NAMESPACE[env]
    assert kustomization(env)["namespace"] == ns
    for o in objs:
        if o["kind"] == "Namespace":
            assert o["metadata"]["name"] == ns
            assert o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert o["metadata"]["namespace"] == ns, f"{o['kind']}/{o['metadata']['name']}"
    imgs = images(objs)
    assert ("Deployment", "backend", f"{BACKEND}:{exp['backend']}") in imgs
    assert ("Job", "backend-migrate", f"{BACKEND}:{exp['backend']}") in imgs, "migrations run the new backend's image"
    assert ("Deployment", "frontend", f"{FRONTEND}:{exp['frontend']}") in imgs
    assert all(not i.startswith("localhost:5001/") or i.endswith(":" + exp["backend" if "backend" in i else "frontend"])
               for _, _, i in imgs)
    ing = [o for o in objs if o["kind"] == "Ingress"]
    assert [i["metadata"]["name"] for i in ing] == [exp["ingress"]]
    spec = ing[0]["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert [r["host"] for r in spec["rules"]] == [exp["host"]]
    assert spec["tls"] == [{"hosts": [exp["host"]], "secretName": exp["tls"]}]
    assert ing[0]["metadata"].get("annotations", {}).get("cert-manager.io/cluster-issuer") == exp["issuer"]
    cm = find(objs, "ConfigMap", "humor-game-config")["data"]
    origin = f"https://{exp['host']}" + (":8443" if env == "dev" else "")
    assert cm["CORS_ORIGIN"] == origin
    assert cm["REQUIRE_STRONG_SECRETS"] == exp["strong"]
    for hpa, (lo, hi) in exp["hpa"].items():
        h = find(objs, "HorizontalPodAutoscaler", hpa)["spec"]
        assert (h["minReplicas"], h["maxReplicas"]) == (lo, hi)
    for d in ("backend", "frontend"):
        assert "replicas" not in find(objs, "Deployment", d)["spec"]


def test_prod_gets_production_resources_and_volumes():
    objs = render("prod")
    backend = find(objs, "Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    assert backend["name"] == "backend" and backend["resources"]["limits"]["memory"] == "512Mi"
    pg = find(objs, "Deployment", "postgres")["spec"]["template"]["spec"]["containers"][0]
    assert pg["name"] == "postgres" and pg["resources"]["limits"]["memory"] == "2Gi"
    assert find(objs, "PersistentVolumeClaim", "postgres-pvc")["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert find(objs, "PersistentVolumeClaim", "postgres-backups")["spec"]["resources"]["requests"]["storage"] == "40Gi"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_public_ingress_matches_the_hand_applied_production_ingress(env):
    """staging/prod rename the base ingress into gameapp-ingress; k8s/ingress-prod.yaml is the same object
    for the guide's manual Milestone 6. Same routes, same annotations apart from the issuer."""
    manual = load_docs(K8S / "ingress-prod.yaml")[0]
    rendered = find(render(env), "Ingress", "gameapp-ingress")
    assert rendered["spec"]["rules"][0]["http"] == manual["spec"]["rules"][0]["http"]
    ann = dict(rendered["metadata"]["annotations"])
    ann["cert-manager.io/cluster-issuer"] = "letsencrypt-prod"
    assert ann == manual["metadata"]["annotations"]
    if env == "prod":
        assert rendered["spec"] == manual["spec"]


def test_dev_adopts_the_hand_applied_objects():
    """Same names, namespace and selectors as `kubectl apply -f k8s/...`, so Argo CD adopts, not fights."""
    dev = {(o["kind"], o["metadata"]["name"]): o for o in render("dev")}
    for o in render("k8s"):
        key = (o["kind"], o["metadata"]["name"])
        assert key in dev, f"{key} would be orphaned by dev"
        assert dev[key]["metadata"].get("namespace") == o["metadata"].get("namespace")
        if "selector" in o.get("spec", {}):
            assert dev[key]["spec"]["selector"] == o["spec"]["selector"]
    for path in list(GITOPS.rglob("kustomization.yaml")) + [K8S / "kustomization.yaml"]:
        k = yaml.safe_load(path.read_text())
        assert "commonLabels" not in k, f"{path}: commonLabels rewrites selectors (immutable)"
        for lab in k.get("labels") or []:
            assert lab.get("includeSelectors") is False, f"{path}: labels must not touch selectors"
        assert "bases" not in k, f"{path}: `bases` is deprecated"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_patch_and_image_entry_matches_something(env):
    base = render("base")
    k = kustomization(env)
    for patch in k.get("patches") or []:
        t = patch["target"]
        hits = [o for o in base
                if re.fullmatch(t.get("kind", ".*"), o["kind"]) and re.fullmatch(t.get("name", ".*"), o["metadata"]["name"])]
        assert hits, f"{env}: patch target {t} matches nothing (kustomize would skip it silently)"
    used = {i.rsplit(":", 1)[0] for _, _, i in images(base)}
    for entry in k["images"]:
        assert entry["name"] in used, f"{env}: images entry {entry['name']} matches no container"
        assert isinstance(entry["newTag"], str) and re.fullmatch(r"v\d+\.\d+\.\d+", entry["newTag"])


def test_dev_tags_are_unquoted_and_only_the_backend_uses_v1_1_0():
    text = (GITOPS / "environments" / "dev" / "kustomization.yaml").read_text()
    assert text.count("newTag: v1.1.0") == 1
    assert re.search(r"name: localhost:5001/humor-game/backend\n\s+newTag: v1\.1\.0\n", text)


def copy_repo(tmp_path):
    for d in ("k8s", "gitops"):
        shutil.copytree(ROOT / d, tmp_path / d)
    return tmp_path


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, shell=isinstance(cmd, str), capture_output=True, text=True, check=True)


def test_guide_sed_on_backend_yaml_changes_only_the_image(tmp_path):
    repo = copy_repo(tmp_path)
    before = (repo / "k8s/backend.yaml").read_text().splitlines()
    run("sed -i 's/v1.0.0/v1.1.0/g' k8s/backend.yaml", repo)  # guide Milestone 4.2, verbatim
    after = (repo / "k8s/backend.yaml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(changed) == 1 and changed[0][1].strip() == f"image: {BACKEND}:v1.1.0"
    objs = [d for d in yaml.safe_load_all(run([kubectl(), "kustomize", "k8s"], repo).stdout) if d]
    assert find(objs, "Deployment", "backend")["spec"]["template"]["spec"]["containers"][0]["image"] == f"{BACKEND}:v1.1.0"
    assert find(objs, "Deployment", "frontend")["spec"]["template"]["spec"]["containers"][0]["image"] == f"{FRONTEND}:v1.0.0"


def test_guide_sed_on_dev_moves_only_the_backend(tmp_path):
    repo = copy_repo(tmp_path)
    gitops = repo / "gitops"
    # guide Milestone 5.4, verbatim, from the GitOps root
    run("sed -i 's/newTag: v1.1.0/newTag: v1.2.0/g' environments/dev/kustomization.yaml", gitops)
    objs = [d for d in yaml.safe_load_all(run([kubectl(), "kustomize", "environments/dev"], gitops).stdout) if d]
    imgs = images(objs)
    assert ("Deployment", "backend", f"{BACKEND}:v1.2.0") in imgs
    assert ("Job", "backend-migrate", f"{BACKEND}:v1.2.0") in imgs
    assert ("Deployment", "frontend", f"{FRONTEND}:v1.0.0") in imgs
    before = (GITOPS / "environments/dev/kustomization.yaml").read_text().splitlines()
    after = (gitops / "environments/dev/kustomization.yaml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 1 and changed[0][1].strip() == "newTag: v1.2.0"


WAVES = {"Namespace": "-3", "ConfigMap": "-2", "Service": "-2", "NetworkPolicy": "-2", "PersistentVolumeClaim": "-2"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sync_waves_put_migrations_between_the_database_and_the_backend(env):
    objs = render(env)
    for o in objs:
        ann = o["metadata"].get("annotations") or {}
        wave = ann.get("argocd.argoproj.io/sync-wave")
        name = o["metadata"]["name"]
        if o["kind"] in WAVES:
            assert wave == WAVES[o["kind"]], f"{o['kind']}/{name}"
        elif o["kind"] == "Deployment":
            assert wave == ("-2" if name in ("postgres", "redis") else None), f"Deployment/{name}"
        elif o["kind"] == "Job":
            assert (name, wave, ann.get("argocd.argoproj.io/hook")) in (
                ("backend-migrate", "-1", "Sync"), ("postgres-backups-check", "-2", "Sync"))
            assert ann["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
            if name == "backend-migrate":
                assert o["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "migrate"
        else:
            assert wave is None, f"{o['kind']}/{name} is in the default wave"
        if o["kind"] in ("Namespace", "PersistentVolumeClaim"):
            assert ann["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_claim_has_a_consumer_in_its_own_sync_wave(env):
    """A claim on a WaitForFirstConsumer class binds only when a pod using it is scheduled, and Argo CD waits
    for a Pending claim (Progressing) before the next wave: each claim needs a pod created in its wave."""
    objs = render(env)
    wave = {(o["kind"], o["metadata"]["name"]): (o["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-wave", "0")
            for o in objs}
    consumers = {}
    for owner, _meta, spec in pods(objs):
        if owner["kind"] == "CronJob":
            continue  # its first pod comes at the schedule, not at sync time
        for v in spec.get("volumes") or []:
            if "persistentVolumeClaim" in v:
                consumers.setdefault(v["persistentVolumeClaim"]["claimName"], []).append(
                    (owner["kind"], owner["metadata"]["name"]))
    claims = [o["metadata"]["name"] for o in objs if o["kind"] == "PersistentVolumeClaim"]
    assert sorted(claims) == ["postgres-backups", "postgres-pvc", "redis-pvc"]
    for claim in claims:
        same_wave = [c for c in consumers.get(claim, []) if wave[c] == wave[("PersistentVolumeClaim", claim)]]
        assert same_wave, f"{env}: claim {claim} has no consumer in its wave; consumers: {consumers.get(claim)}"
    assert consumers["postgres-backups"] == [("Job", "postgres-backups-check")]


def applications():
    apps = {}
    for path in sorted((GITOPS / "applications").glob("*.yaml")):
        for d in load_docs(path):
            apps[(d["kind"], d["metadata"]["name"])] = (path.name, d)
    return apps


def test_applications_point_at_the_environments():
    apps = applications()
    repo = None
    for env in ENVIRONMENTS:
        fname, app = apps[("Application", f"humor-game-{env}")]
        assert fname == f"{env}-app.yaml" and app["metadata"]["namespace"] == "argocd"
        src = app["spec"]["source"]
        assert src["path"] == f"gitops/environments/{env}" and (ROOT / src["path"] / "kustomization.yaml").exists()
        assert src["targetRevision"] == "main"
        repo = repo or src["repoURL"]
        assert src["repoURL"] == repo
        assert app["spec"]["destination"] == {"server": "https://kubernetes.default.svc", "namespace": ENV_NAMESPACE[env]}
        assert app["spec"]["project"] == "humor-game"
        sync = app["spec"]["syncPolicy"]
        assert "CreateNamespace=false" in sync["syncOptions"] and "RespectIgnoreDifferences=true" in sync["syncOptions"]
        hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in render(env) if h["kind"] == "HorizontalPodAutoscaler"}
        assert app["spec"]["ignoreDifferences"] == [
            {"group": "apps", "kind": "Deployment", "name": n, "jsonPointers": ["/spec/replicas"]} for n in sorted(hpa_targets)]
        assert "finalizers" not in app["metadata"], "deleting an Application must not cascade into the environment"
    assert apps[("Application", "humor-game-dev")][1]["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert apps[("Application", "humor-game-staging")][1]["spec"]["syncPolicy"]["automated"] == {"prune": False, "selfHeal": False}
    assert "automated" not in apps[("Application", "humor-game-prod")][1]["spec"]["syncPolicy"]
    for (kind, _), (_, d) in apps.items():
        if kind == "Application":
            assert d["spec"]["source"]["repoURL"] == repo
        else:
            assert d["spec"]["sourceRepos"] == [repo]


def test_each_application_file_carries_the_same_project():
    docs = [next(d for d in load_docs(GITOPS / "applications" / f"{e}-app.yaml") if d["kind"] == "AppProject")
            for e in ENVIRONMENTS]
    assert docs[0] == docs[1] == docs[2]


def test_the_project_allows_exactly_what_the_environments_render():
    project = applications()[("AppProject", "humor-game")][1]["spec"]
    dests = {d["namespace"] for d in project["destinations"]}
    assert dests == set(ENV_NAMESPACE.values())
    cluster_kinds = {(g["group"], g["kind"]) for g in project["clusterResourceWhitelist"]}
    ns_kinds = {(g["group"], g["kind"]) for g in project["namespaceResourceWhitelist"]}
    rendered = set()
    for env in ENVIRONMENTS:
        for o in render(env):
            group = o["apiVersion"].rpartition("/")[0]
            rendered.add((group, o["kind"]))
            allowed = cluster_kinds if o["kind"] == "Namespace" else ns_kinds
            assert (group, o["kind"]) in allowed, f"{env}: {o['kind']} is not whitelisted"
    assert cluster_kinds | ns_kinds == rendered, f"whitelisted but never rendered: {(cluster_kinds | ns_kinds) - rendered}"
    assert ("", "Secret") not in ns_kinds


def test_platform_application_deploys_only_the_cluster_issuers():
    apps = applications()
    app = apps[("Application", "humor-game-platform")][1]["spec"]
    project = apps[("AppProject", "humor-game-platform")][1]["spec"]
    assert app["project"] == "humor-game-platform"
    assert app["source"]["path"] == "k8s" and app["source"]["directory"] == {"include": "cluster-issuer.yaml"}
    issuers = load_docs(K8S / "cluster-issuer.yaml")
    assert {(d["apiVersion"], d["kind"]) for d in issuers} == {("cert-manager.io/v1", "ClusterIssuer")}
    assert sorted(d["metadata"]["name"] for d in issuers) == ["letsencrypt-prod", "letsencrypt-staging", "selfsigned"]
    assert project["clusterResourceWhitelist"] == [{"group": "cert-manager.io", "kind": "ClusterIssuer"}]
    assert project["namespaceResourceWhitelist"] == []
    for d in issuers:
        if "acme" in d["spec"]:
            assert d["spec"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
            want = "acme-staging-v02" if "staging" in d["metadata"]["name"] else "acme-v02"
            assert f"//{want}.api.letsencrypt.org/" in d["spec"]["acme"]["server"]


def test_k8s_kustomization_is_the_app_only():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "namespace" not in k
    assert not {"cluster-issuer.yaml", "ingress-prod.yaml", "monitoring.yaml", "prometheus-rbac.yaml"} & set(k["resources"])
    assert "secretGenerator" not in k
    for gen in k.get("configMapGenerator") or []:
        assert gen.get("options", {}).get("disableNameSuffixHash") is True
    kinds = {o["kind"] for o in render("k8s")}
    assert not kinds & {"ClusterIssuer", "Secret", "ClusterRole", "ClusterRoleBinding"}


def test_guides_values_yaml_is_a_documented_omission():
    for env in ENVIRONMENTS:
        assert not (GITOPS / "environments" / env / "values.yaml").exists()
    assert "values.yaml" in (ROOT / "docs" / "deployment.md").read_text()
