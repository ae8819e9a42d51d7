"""The guide replayed on the cluster model: every command of docs/deployment.md's path (guide-replay.yaml),
in one shell, against cluster_model.py's kubectl/k3d/docker/curl/argocd; then what the cluster looks like.

Only modelled here (no cluster runs in CI): scheduling, binding, readiness, waits, Argo CD's sync waves and
health, port-forwards and host ports. What the model leaves out is listed in docs/deployment.md.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import guide_replay
from .manifests import ENV_NAMESPACE, ENVIRONMENTS, ROOT, kubectl

MODEL = Path(__file__).resolve().parent / "cluster_model.py"
TOOLS = ("kubectl", "k3d", "docker", "curl", "argocd", "mkcert", "sudo")
GIT_ID = {"GIT_AUTHOR_NAME": "Reader", "GIT_AUTHOR_EMAIL": "reader@localhost",
          "GIT_COMMITTER_NAME": "Reader", "GIT_COMMITTER_EMAIL": "reader@localhost"}


class Sandbox:
    """A reader's clone of this repository (pushed to a remote Argo CD reads), a scratch HOME, and the
    model's tools first on PATH."""

    def __init__(self, tmp, contract):
        self.tmp = tmp
        self.repo, self.remote, self.home, self.bin = tmp / "repo", tmp / "remote.git", tmp / "home", tmp / "bin"
        self.state = tmp / "model" / "state.json"
        for d in (self.repo, self.home, self.bin, self.state.parent):
            d.mkdir(parents=True)
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.split("\0")
        for f in filter(None, files):
            if (ROOT / f).is_file():
                (self.repo / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / f, self.repo / f)
        contract_file = tmp / "model" / "contract.json"
        contract_file.write_text(json.dumps(contract))
        for tool in TOOLS:
            shim = self.bin / tool
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{MODEL}" {tool} "$@"\n')
            shim.chmod(0o755)
        # Time is not modelled: the guide's `sleep 0.1` between requests buys nothing here.
        (self.bin / "sleep").write_text("#!/bin/sh\nexit 0\n")
        (self.bin / "sleep").chmod(0o755)
        self.env = guide_replay.environment({
            **GIT_ID, "HOME": str(self.home), "PATH": f"{self.bin}:{Path(sys.executable).parent}:/usr/bin:/bin",
            "MODEL_STATE": str(self.state), "MODEL_CONTRACT": str(contract_file), "MODEL_REMOTE": str(self.remote),
            "REAL_KUBECTL": kubectl(), "GIT_CONFIG_NOSYSTEM": "1",
        })
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "clone"],
                    ["git", "init", "-q", "--bare", str(self.remote)], ["git", "remote", "add", "origin", str(self.remote)],
                    ["git", "push", "-q", "-u", "origin", "main"]):
            subprocess.run(cmd, cwd=self.repo, env=self.env, check=True, capture_output=True)
        self.session = guide_replay.Session(self.repo, self.env, tmp / "steps", background="wait")

    def model(self):
        return json.loads(self.state.read_text())

    def show_guide_fails(self, step):
        """Runs the guide's own command first on a copy of the state, which is then put back."""
        if not step.get("guide_fails"):
            return None
        saved = self.state.read_bytes()
        outcome = self.session.run(step["guide"])
        self.state.write_bytes(saved)
        self.guide_outcomes.append((step, outcome))
        return outcome

    def replay(self, steps):
        self.guide_outcomes = []
        return guide_replay.replay(steps, self.session, before_step=self.show_guide_fails)


def on_k3d(steps):
    return [s for s in steps if s.get("needs") != "public-host"]


@pytest.fixture(scope="module")
def path_replayed(tmp_path_factory, contract):
    box = Sandbox(tmp_path_factory.mktemp("replay"), contract)
    results = box.replay(on_k3d(guide_replay.load_steps()))
    yield box, results
    box.session.close()


def test_the_documented_path_replays_to_a_working_app_on_the_cluster_model(path_replayed):
    _, results = path_replayed
    assert len(results) > 100
    problems = guide_replay.report(results)
    assert not problems, "the replay diverged from what docs/deployment.md promises:\n" + problems


def test_where_we_deviate_the_guides_own_command_fails_on_the_model(path_replayed):
    box, _ = path_replayed
    shown = {s["number"]: (s, o) for s, o in box.guide_outcomes}
    wanted = [s for s in guide_replay.load_steps() if s.get("guide_fails")]
    assert sorted(shown) == [s["number"] for s in wanted] and len(wanted) >= 2
    for step, outcome in shown.values():
        assert outcome.code != 0 and step["guide_fails"] in outcome.stderr, \
            f"guide {step['section']}: {step['guide']!r} should fail with {step['guide_fails']!r}; got {outcome}"


def test_after_the_path_every_environment_is_synced_healthy_and_its_backup_claim_bound(path_replayed):
    box, _ = path_replayed
    state = box.model()
    for env in ENVIRONMENTS:
        app = state["objects"][f"Application/argocd/humor-game-{env}"]
        assert (app["status"]["sync"]["status"], app["status"]["health"]["status"]) == ("Synced", "Healthy"), \
            f"{env}: {app['status']}"
        claim = state["objects"][f"PersistentVolumeClaim/{ENV_NAMESPACE[env]}/postgres-backups"]
        assert claim["status"]["phase"] == "Bound", env
    images = {p["spec"]["containers"][0]["image"] for p in state["pods"].values() if p["owner"] == "Deployment/backend"}
    assert images == {"localhost:5001/humor-game/backend:v1.2.0"}, "every environment runs the promoted release"


def test_only_track_c_steps_are_left_out_of_the_k3d_replay():
    steps = guide_replay.load_steps()
    public = [s for s in steps if s.get("needs")]
    assert {s["needs"] for s in public} == {"public-host"}
    assert {s["section"] for s in public} <= {"6.3", "6.5", "final"}
    assert all("yourdomain.com" in s["run"] for s in public)


def test_the_guides_own_milestone_2_gives_a_ready_backend_without_redis(tmp_path, contract):
    """Guide 2.3-2.5 never applies k8s/redis.yaml: the backend must still become Ready (and say Redis is
    missing) so the guide's `kubectl wait -l app=backend` succeeds."""
    steps = guide_replay.load_steps()
    last = max(s["number"] for s in steps if s["section"] == "2.5")
    guides_own = [s for s in steps[:last] if not (s.get("added") and s["section"] in ("2.3", "2.4", "2.5"))]
    assert not any("redis.yaml" in s["run"] for s in guides_own)
    box = Sandbox(tmp_path, contract)
    try:
        results = box.replay(guides_own)
        problems = guide_replay.report(results)
        assert not problems, problems
        health = next(o for s, o, _ in results if s["run"] == "curl http://localhost:3001/health")
        body = json.loads(health.stdout)
        assert body["services"]["redis"] == "disconnected" and body["services"]["database"] == "connected"
    finally:
        box.session.close()


FIRST_SYNC = """
k3d registry create registry --port 5001
printf 'mirrors:\\n  "localhost:5001":\\n    endpoint: ["http://k3d-registry:5000"]\\n' > registries.yaml
k3d cluster create c --port "8080:80@loadbalancer" --k3s-arg "--disable=traefik@server:0" --registry-use k3d-registry:5001 --registry-config registries.yaml
docker build -t localhost:5001/humor-game/backend:{backend} backend/ && docker push localhost:5001/humor-game/backend:{backend}
docker build -t localhost:5001/humor-game/frontend:{frontend} frontend/ && docker push localhost:5001/humor-game/frontend:{frontend}
kubectl apply -f "https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-v1.12.1/deploy/static/provider/cloud/deploy.yaml"
kubectl create namespace argocd
kubectl apply -n argocd --server-side -f https://raw.githubusercontent.com/argoproj/argo-cd/stable/manifests/install.yaml
kubectl create namespace {namespace}
scripts/create-secrets.sh -n {namespace} --generate ~/{env}.env
kubectl apply -f gitops/applications/{env}-app.yaml
kubectl port-forward svc/argocd-server -n argocd 9443:443 &
argocd login localhost:9443 --username admin --insecure --password "$(kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{{.data.password}}' | base64 -d)"
argocd app get humor-game-{env} >/dev/null && {sync}
"""


def run_lines(box, script):
    """Runs each line; every one must succeed. Returns the last outcome."""
    outcome = None
    for line in filter(None, script.strip().splitlines()):
        outcome = box.session.run(line)
        assert outcome.code == 0, f"{line}\n{outcome.stderr}"
    return outcome


def first_sync(box, env):
    tags = {"dev": ("v1.1.0", "v1.0.0")}.get(env, ("v1.0.0", "v1.0.0"))
    run_lines(box, FIRST_SYNC.format(env=env, namespace=ENV_NAMESPACE[env], backend=tags[0], frontend=tags[1],
                                     sync="argocd app sync humor-game-prod" if env == "prod" else "true"))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_first_sync_completes_on_a_cluster_whose_claims_bind_on_first_consumer(tmp_path, contract, env):
    """A fresh k3d cluster (local-path: WaitForFirstConsumer), nothing applied by hand: Argo CD's first sync
    must get through every wave, in every environment (prod's by hand, as its Application is manual)."""
    box = Sandbox(tmp_path, contract)
    try:
        first_sync(box, env)
        app = box.model()["objects"][f"Application/argocd/humor-game-{env}"]["status"]
        assert app["operationState"] == {"phase": "Succeeded", "message": "successfully synced (all tasks run)"}, app
        assert (app["sync"]["status"], app["health"]["status"]) == ("Synced", "Healthy"), app
        state = box.model()
        assert state["objects"][f"PersistentVolumeClaim/{ENV_NAMESPACE[env]}/postgres-backups"]["status"]["phase"] == "Bound"
        assert state["objects"][f"Job/{ENV_NAMESPACE[env]}/backend-migrate"]["status"]["result"] == "Succeeded"
    finally:
        box.session.close()


def test_dev_prunes_what_leaves_git_but_never_a_volume(tmp_path, contract):
    box = Sandbox(tmp_path, contract)
    try:
        first_sync(box, "dev")
        run_lines(box, """
sed -i.bak -e '/- pdb.yaml/d' -e '/- postgres-backup.yaml/d' k8s/kustomization.yaml && rm k8s/kustomization.yaml.bak
git commit -qam "Drop the disruption budgets and the backups" && git push -q
kubectl get applications -n argocd
""")
        objects = box.model()["objects"]
        assert not [k for k in objects if k.startswith(("PodDisruptionBudget/", "CronJob/"))], "pruned"
        assert "ConfigMap/humor-game/postgres-backup-scripts" not in objects
        assert objects["PersistentVolumeClaim/humor-game/postgres-backups"]["status"]["phase"] == "Bound", \
            "Prune=false keeps the data"
        status = objects["Application/argocd/humor-game-dev"]["status"]
        assert (status["sync"]["status"], status["health"]["status"]) == ("Synced", "Healthy"), status
    finally:
        box.session.close()


KUBECTL_PATH = """
k3d registry create registry --port 5001
printf 'mirrors:\\n  "localhost:5001":\\n    endpoint: ["http://k3d-registry:5000"]\\n' > registries.yaml
k3d cluster create c --registry-use k3d-registry:5001 --registry-config registries.yaml
docker build -t localhost:5001/humor-game/backend:v1.0.0 backend/ && docker push localhost:5001/humor-game/backend:v1.0.0
kubectl apply -f k8s/namespace.yaml
kubectl apply -f k8s/configmap.yaml
scripts/create-secrets.sh --generate
kubectl apply -f k8s/postgres.yaml
kubectl apply -f k8s/redis.yaml
kubectl apply -f k8s/backend.yaml
kubectl wait --for=condition=ready pod -l app=backend -n humor-game --timeout=120s
"""


def test_a_new_db_password_breaks_the_backend_unless_it_is_rotated(tmp_path, contract):
    """PostgreSQL keeps the password of its first start on its volume. scripts/create-secrets.sh refuses a new
    DB_PASSWORD, rotates it (role first, then Secret, then restart), and recovers a Secret changed alone,
    which with a restart (what the docs used to advise) leaves new backends unable to log in."""
    box = Sandbox(tmp_path, contract)
    try:
        run_lines(box, KUBECTL_PATH)
        new_password = "sed -i.bak 's/^DB_PASSWORD=.*/DB_PASSWORD={}/' k8s/secrets.env && rm k8s/secrets.env.bak"
        run_lines(box, new_password.format("a-new-password-123"))
        refused = box.session.run("scripts/create-secrets.sh")
        assert refused.code != 0 and "PostgreSQL keeps the" in refused.stderr, refused
        rotated = run_lines(box, "scripts/create-secrets.sh --rotate-db-password")
        assert "DB_PASSWORD rotated" in rotated.stdout
        run_lines(box, "kubectl wait --for=condition=ready pod -l app=backend -n humor-game --timeout=120s")
        # The Secret replaced by hand, then the restart the docs used to advise:
        run_lines(box, new_password.format("yet-another-password-456") + """
kubectl delete secret humor-game-secrets -n humor-game
kubectl create secret generic humor-game-secrets -n humor-game $(grep -v '^#' k8s/secrets.env | sed 's/^/--from-literal=/')
kubectl rollout restart deployment/backend -n humor-game
""")
        broken = box.session.run("kubectl rollout status deployment/backend -n humor-game")
        assert broken.code != 0 and "password authentication failed" in broken.stderr, broken
        run_lines(box, """
scripts/create-secrets.sh --rotate-db-password
kubectl wait --for=condition=ready pod -l app=backend -n humor-game --timeout=120s
""")
        health = run_lines(box, "kubectl exec deployment/backend -n humor-game -- curl -s http://localhost:3001/health")
        assert json.loads(health.stdout)["services"]["database"] == "connected"
    finally:
        box.session.close()
