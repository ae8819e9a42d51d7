"""scripts/guide/run-guide.py, the runner that executes the guide's command list for real (the e2e-cluster
workflow). Against recording stand-ins of the tools (recording_tools.py): the exact calls in order, the clone
and scratch HOME it gives the steps, the git server that replaces the fork URL, waiting for a port-forward,
the retry when a fresh Deployment has no pod yet, and stopping at the first failure. Against the cluster model
(cluster_model.py): the real runner over the whole guide ends where the model's own replay ends."""
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness import free_port

from .recording_tools import RecordingTools
from .scratch_checkout import ROOT

RUNNER = ROOT / "scripts" / "guide" / "run-guide.py"
MODEL = Path(__file__).resolve().parent / "cluster_model.py"
TOOLS = ["k3d", "kubectl", "docker", "argocd", "curl"]


def write_steps(path, steps):
    path.write_text(json.dumps({"steps": steps}))  # JSON is YAML
    return path


def run_guide(tmp_path, tools, steps, *extra, env=None):
    steps_file = write_steps(tmp_path / "steps.yaml", steps)
    return subprocess.run([sys.executable, str(RUNNER), "--workdir", str(tmp_path / "work"), "--steps",
                           str(steps_file), *extra], env=env or tools.env(), capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture
def tools(tmp_path):
    return RecordingTools(tmp_path, TOOLS)


def test_every_step_runs_in_order_in_the_readers_clone_with_the_fork_served_over_git_http(tmp_path, tools):
    port = free_port()
    work = tmp_path / "work"
    tools.answer("kubectl", r"^get nodes", stdout="k3d-dev-cluster-server-0   Ready\n")
    tools.answer("kubectl", r"^port-forward", stdout=f"Forwarding from 127.0.0.1:{port} -> 3001\n", listen=port)
    tools.answer("kubectl", r"^run test-pod", stderr="wget: bad address 'web'\n", exit=1)
    tools.answer("curl", rf"localhost:{port}/health", stdout='{"status":"healthy"}')
    steps = [
        {"section": "1.1", "run": "k3d cluster create dev-cluster \\\n  --agents 2"},
        {"section": "1.1", "run": "kubectl get nodes", "output": "Ready"},
        {"section": "2.1", "run": "docker build -t localhost:5001/humor-game/backend:v1.0.0 backend/"},
        {"section": "2.4", "run": f"kubectl port-forward service/backend {port}:3001 -n humor-game &"},
        {"section": "2.4", "run": f"curl http://localhost:{port}/health", "output": "healthy"},
        {"section": "1.4", "run": "kubectl run test-pod --image=busybox --rm -it -n game-dev -- wget -qO- http://web/",
         "expect": "fails"},
        {"section": "5.2", "run": "git ls-remote https://github.com/you/humor-memory-game.git main",
         "output": "refs/heads/main", "added": True},
        {"section": "5.1", "run": 'argocd login localhost:9443 --username admin --insecure --password "$(echo pw)"'},
        {"section": "6.3", "run": "curl -I https://game.yourdomain.com/api/health", "needs": "public-host"},
        {"section": "ours", "run": 'echo "home=$HOME dir=$(pwd) branch=$(git branch --show-current)"',
         "output": f"home={work}/home dir={work}/repo branch=main"},
        {"section": "ours", "run": "test -f backend/Dockerfile && test -f tests/k8s/guide-replay.yaml"},
    ]
    r = run_guide(tmp_path, tools, steps, "--git-bind", "127.0.0.1", "--git-host", "127.0.0.1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert tools.calls() == [
        ("k3d", ["cluster", "create", "dev-cluster", "--agents", "2"]),
        ("kubectl", ["get", "nodes"]),
        ("docker", ["build", "-t", "localhost:5001/humor-game/backend:v1.0.0", "backend/"]),
        ("kubectl", ["port-forward", "service/backend", f"{port}:3001", "-n", "humor-game"]),
        ("curl", [f"http://localhost:{port}/health"]),
        ("kubectl", ["run", "test-pod", "--image=busybox", "--rm", "-it", "-n", "game-dev", "--", "wget", "-qO-",
                     "http://web/"]),
        ("argocd", ["login", "localhost:9443", "--username", "admin", "--insecure", "--password", "pw"]),
    ], "the public-host step is left out; git is the real one"
    summary = (work / "steps" / "summary.txt").read_text().splitlines()
    assert len(summary) == 10 and all(line.startswith("ok") for line in summary), summary
    assert "serving" in r.stdout and "humor-memory-game.git (in place of https://github.com/you/" in r.stdout
    assert "10 steps passed" in r.stdout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)  # the session's background jobs are stopped


def test_the_first_step_that_misses_its_expectation_stops_the_run(tmp_path, tools):
    tools.answer("kubectl", r"^get nodes", stdout="k3d-dev-cluster-server-0   Unknown\n")
    steps = [{"section": "1.1", "run": "k3d cluster create dev-cluster"},
             {"section": "1.1", "run": "kubectl get nodes", "output": "Ready"},
             {"section": "1.1", "run": "kubectl cluster-info"}]
    r = run_guide(tmp_path, tools, steps, "--no-git-server")
    assert r.returncode == 1
    assert tools.calls() == [("k3d", ["cluster", "create", "dev-cluster"]), ("kubectl", ["get", "nodes"])]
    assert "step 2 (guide 1.1): kubectl get nodes" in r.stderr and "expected output containing 'Ready'" in r.stderr
    assert "Unknown" in r.stderr and "stopped at step 2" in r.stderr


def test_a_port_forward_that_never_listens_fails_its_step(tmp_path, tools):
    port = free_port()
    tools.answer("kubectl", r"^port-forward", stdout="", listen=None)
    steps = [{"section": "4.3", "run": f"kubectl port-forward service/prometheus {port}:9090 -n monitoring &"}]
    r = run_guide(tmp_path, tools, steps, "--no-git-server", "--port-wait", "1")
    assert r.returncode == 1
    # Whether the stand-in has already exited when the runner looks (not alive) or not (nothing listens):
    assert "expected succeeds" in r.stderr or f"nothing listens on localhost:{port} 1s after" in r.stderr, r.stderr


def test_a_wait_that_finds_no_pod_yet_is_tried_again_like_a_person_would(tmp_path, tools):
    tools.answer("kubectl", r"^wait", stderr="error: no matching resources found\n", exit=1, times=2)
    tools.answer("kubectl", r"^wait", stdout="pod/backend-1 condition met\n")
    steps = [{"section": "2.4", "run": "kubectl wait --for=condition=ready pod -l app=backend -n humor-game --timeout=120s"}]
    r = run_guide(tmp_path, tools, steps, "--no-git-server")
    assert r.returncode == 0, r.stderr
    assert [c[0] for c in tools.calls()] == ["kubectl"] * 3


def test_a_wait_that_times_out_is_not_retried(tmp_path, tools):
    tools.answer("kubectl", r"^wait", stderr="error: timed out waiting for the condition on pods/backend-1\n", exit=1)
    steps = [{"section": "2.4", "run": "kubectl wait --for=condition=ready pod -l app=backend -n humor-game --timeout=120s"}]
    r = run_guide(tmp_path, tools, steps, "--no-git-server")
    assert r.returncode == 1 and len(tools.calls()) == 1


def test_the_workdir_must_be_new(tmp_path, tools):
    (tmp_path / "work" / "repo").mkdir(parents=True)
    r = run_guide(tmp_path, tools, [{"section": "1.1", "run": "true"}], "--no-git-server")
    assert r.returncode != 0 and "is not empty" in r.stderr


# --------------------------------------------------------------------------------------- the git server
def test_the_git_server_serves_a_clone_and_fetches_over_smart_http(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts" / "guide"))
    import git_http_server
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@localhost", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    work, bare = tmp_path / "work", tmp_path / "served" / "game.git"
    for cmd in (["git", "init", "-q", "-b", "main", str(work)], ["git", "init", "-q", "-b", "main", "--bare", str(bare)]):
        subprocess.run(cmd, check=True, env=env)
    (work / "a.txt").write_text("one\n" * 20000)
    for cmd in (["add", "-A"], ["commit", "-qm", "one"], ["push", "-q", str(bare), "main"]):
        subprocess.run(["git", "-C", str(work), *cmd], check=True, env=env)
    server = git_http_server.serve(bare.parent)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/game.git"
        clone = subprocess.run(["git", "clone", "-q", url, str(tmp_path / "clone")], env=env, capture_output=True,
                               text=True, timeout=60)
        assert clone.returncode == 0, clone.stderr
        assert (tmp_path / "clone" / "a.txt").read_text() == "one\n" * 20000
        (work / "b.txt").write_text("two\n")
        for cmd in (["add", "-A"], ["commit", "-qm", "two"], ["push", "-q", str(bare), "main"]):
            subprocess.run(["git", "-C", str(work), *cmd], check=True, env=env)
        fetched = subprocess.run(["git", "-C", str(tmp_path / "clone"), "pull", "-q"], env=env, capture_output=True,
                                 text=True, timeout=60)
        assert fetched.returncode == 0 and (tmp_path / "clone" / "b.txt").exists(), fetched.stderr
        push = subprocess.run(["git", "-C", str(tmp_path / "clone"), "push", "-q", url, "HEAD:refs/heads/x"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert push.returncode != 0, "read-only: pushes go to the repository's path"
        missing = subprocess.run(["git", "ls-remote", url.replace("game.git", "other.git")], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0
    finally:
        server.shutdown()


def test_gitops_init_accepts_the_served_http_url(tmp_path):
    from .scratch_checkout import copy_checkout
    repo = copy_checkout(tmp_path / "repo")
    url = "http://host.k3d.internal:8418/humor-memory-game.git"
    r = subprocess.run(["scripts/gitops-init.sh", url], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"repoURL: {url}" in (repo / "gitops/applications/dev-app.yaml").read_text()


# ----------------------------------------------------------------------------------- on the cluster model
def test_the_runner_takes_the_whole_guide_on_the_cluster_model_where_the_models_replay_ends(tmp_path, contract):
    """The same list, run by the real runner (not the test's own replay) with the model's tools first on PATH:
    every step passes, then the final check for all three environments, and the cluster ends as
    test_guide_replay.py's replay leaves it."""
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    bin_dir.mkdir()
    (tmp_path / "contract.json").write_text(json.dumps(contract))
    for tool in ("kubectl", "k3d", "docker", "curl", "argocd", "mkcert", "sudo"):
        (bin_dir / tool).write_text(f'#!/bin/sh\nexec "{sys.executable}" "{MODEL}" {tool} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")  # time is not modelled
    (bin_dir / "sleep").chmod(0o755)
    real_kubectl = RecordingTools(tmp_path / "unused", []).env()["REAL_KUBECTL"]
    state = tmp_path / "state.json"
    env = {"PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "MODEL_STATE": str(state), "MODEL_CONTRACT": str(tmp_path / "contract.json"),
           "MODEL_REMOTE": str(work / "remote" / "humor-memory-game.git"), "REAL_KUBECTL": real_kubectl,
           "GIT_CONFIG_NOSYSTEM": "1"}
    r = subprocess.run([sys.executable, str(RUNNER), "--workdir", str(work), "--no-git-server", "--background", "wait",
                        "--final-check"], env=env, capture_output=True, text=True, timeout=1200,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    summary = (work / "steps" / "summary.txt").read_text().splitlines()
    assert len(summary) > 100 and summary[-1].split()[2] == "check"
    model = json.loads(state.read_text())
    for env_name, namespace in (("dev", "humor-game"), ("staging", "humor-game-staging"), ("prod", "humor-game-prod")):
        status = model["objects"][f"Application/argocd/humor-game-{env_name}"]["status"]
        assert (status["sync"]["status"], status["health"]["status"]) == ("Synced", "Healthy"), env_name
        assert model["objects"][f"PersistentVolumeClaim/{namespace}/postgres-backups"]["status"]["phase"] == "Bound"
    images = {p["spec"]["containers"][0]["image"] for p in model["pods"].values() if p["owner"] == "Deployment/backend"}
    assert images == {"localhost:5001/humor-game/backend:v1.2.0"}
    final = (work / "steps" / f"{len(summary)}.out").read_text()
    assert "0 failed" in final and "humor-game-prod" in final
