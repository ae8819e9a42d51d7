"""scripts/cluster.sh: one command to the guide's end state. Its calls to k3d, docker, kubectl and curl are
checked exactly, in order, against recording stand-ins (recording_tools.py), for a fresh machine, a second
`up` where everything exists, `down` and `status`; then it runs on the cluster model (cluster_model.py), where
the dev environment it applies must become Ready and a second `up` must change nothing."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .recording_tools import RecordingTools
from .scratch_checkout import ROOT, copy_checkout

MODEL = Path(__file__).resolve().parent / "cluster_model.py"
SCRIPT = ROOT / "scripts" / "cluster.sh"
TOOLS = ["k3d", "docker", "kubectl", "curl", "helm"]


def pinned(name, path=SCRIPT):
    match = re.search(rf"^{name}=(\S+)", Path(path).read_text(), re.M)
    assert match, f"{name} is not set in {path}"
    return match.group(1)


INGRESS = ("https://raw.githubusercontent.com/kubernetes/ingress-nginx/" + pinned("INGRESS_NGINX_VERSION")
           + "/deploy/static/provider/cloud/deploy.yaml")
CERT_MANAGER = ("https://github.com/cert-manager/cert-manager/releases/download/" + pinned("CERT_MANAGER_VERSION")
                + "/cert-manager.yaml")
ARGOCD = f"https://raw.githubusercontent.com/argoproj/argo-cd/{pinned('ARGOCD_VERSION')}/manifests/install.yaml"


@pytest.fixture
def machine(tmp_path):
    """A scratch checkout and recording tools; `run(*args)` runs scripts/cluster.sh there."""
    repo = copy_checkout(tmp_path / "repo")
    tools = RecordingTools(tmp_path, TOOLS)
    tools.answer("k3d", r"^version", stdout="k3d version v5.9.0\nk3s version v1.31.5-k3s1 (default)\n")

    def run(*args):
        return subprocess.run(["bash", str(repo / "scripts/cluster.sh"), *args], cwd=tmp_path, env=tools.env(),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    return repo, tools, run


def nothing_exists(tools):
    tools.answer("k3d", r"^(cluster|registry) list", stdout="[]\n")
    tools.answer("curl", r"tags/list", stderr="curl: (22) The requested URL returned error: 404\n", exit=22)
    tools.answer("kubectl", r"^get namespace", stderr='Error from server (NotFound): namespaces not found\n', exit=1)


def everything_exists(tools):
    tools.answer("k3d", r"^cluster list", stdout='[{"name": "dev-cluster", "serversRunning": 1}]\n')
    tools.answer("k3d", r"^registry list", stdout='[{"name": "k3d-registry", "role": "registry"}]\n')
    tools.answer("curl", r"humor-game/backend/tags/list", stdout='{"name":"humor-game/backend","tags":["v1.1.0"]}\n')
    tools.answer("curl", r"humor-game/frontend/tags/list", stdout='{"name":"humor-game/frontend","tags":["v1.0.0"]}\n')
    tools.answer("kubectl", r"^get namespace (\S+)", stdout="namespace/exists\n")


def rolled_out(ns, *deployments):
    return [("kubectl", ["rollout", "status", f"deployment/{d}", "-n", ns, "--timeout=300s"]) for d in deployments]


def addons_and_dev(repo):
    return [
        ("kubectl", ["apply", "-f", INGRESS]),
        *rolled_out("ingress-nginx", "ingress-nginx-controller"),
        ("kubectl", ["apply", "-f", CERT_MANAGER]),
        *rolled_out("cert-manager", "cert-manager", "cert-manager-webhook", "cert-manager-cainjector"),
        ("kubectl", ["get", "namespace", "argocd"]),
        "create argocd",
        ("kubectl", ["apply", "-n", "argocd", "--server-side", "--force-conflicts", "-f", ARGOCD]),
        *rolled_out("argocd", "argocd-server", "argocd-repo-server"),
        ("kubectl", ["apply", "-f", f"{repo}/k8s/prometheus-rbac.yaml"]),
        ("kubectl", ["apply", "-f", f"{repo}/k8s/monitoring.yaml"]),
        *rolled_out("monitoring", "prometheus", "grafana"),
        ("kubectl", ["get", "namespace", "humor-game"]),
        "create humor-game",
        ("kubectl", ["apply", "-k", f"{repo}/gitops/environments/dev"]),
        *rolled_out("humor-game", "postgres", "redis", "backend", "frontend"),
    ]


def expected_up(repo, fresh):
    calls = [("k3d", ["version"]), ("k3d", ["registry", "list", "-o", "json"])]
    if fresh:
        calls.append(("k3d", ["registry", "create", "registry", "--port", "5001"]))
    calls.append(("k3d", ["cluster", "list", "-o", "json"]))
    if fresh:
        calls.append(("k3d", ["cluster", "create", "dev-cluster", "--servers", "1", "--agents", "2",
                              "--port", "8080:80@loadbalancer", "--port", "8443:443@loadbalancer",
                              "--k3s-arg", "--disable=traefik@server:0", "--registry-use", "k3d-registry:5001",
                              "--registry-config", "<mirror file>"]))
    calls += [("kubectl", ["config", "use-context", "k3d-dev-cluster"]),
              ("kubectl", ["kustomize", f"{repo}/gitops/environments/dev"])]
    for component, tag in (("backend", "v1.1.0"), ("frontend", "v1.0.0")):
        calls.append(("curl", ["-fsS", f"http://localhost:5001/v2/humor-game/{component}/tags/list"]))
        if fresh:
            image = f"localhost:5001/humor-game/{component}:{tag}"
            calls += [("docker", ["build", "-t", image, f"{repo}/{component}/"]), ("docker", ["push", image])]
    for call in addons_and_dev(repo):
        if isinstance(call, str):
            if fresh:
                calls.append(("kubectl", ["create", "namespace", call.split()[1]]))
        else:
            calls.append(call)
    return calls


def with_mirror_placeholder(calls):
    """The mirror file is a temporary file: its name varies."""
    out = []
    for tool, args in calls:
        if args[:2] == ["cluster", "create"]:
            i = args.index("--registry-config")
            args = args[:i + 1] + ["<mirror file>"] + args[i + 2:]
        out.append((tool, args))
    return out


def test_up_on_a_fresh_machine_creates_everything_in_the_guides_order(machine):
    repo, tools, run = machine
    nothing_exists(tools)
    r = run("up")
    assert r.returncode == 0, r.stdout + r.stderr
    assert with_mirror_placeholder(tools.calls("cluster.sh")) == expected_up(repo, fresh=True)
    # The Secret comes from scripts/create-secrets.sh, which generated k8s/secrets.env and sent it on stdin.
    assert (repo / "k8s/secrets.env").is_file()
    applied = [r for r in tools.records() if r["caller"] == "create-secrets.sh" and r["args"][:3] == ["apply", "-f", "-"]]
    assert len(applied) == 1 and "name: humor-game-secrets" in applied[0]["stdin"]
    assert "namespace: humor-game" in applied[0]["stdin"]
    assert not tools.calls() or all(tool != "helm" for tool, _ in tools.calls()), "the guide's way: no Helm"


def test_a_second_up_where_everything_exists_creates_nothing(machine):
    repo, tools, run = machine
    everything_exists(tools)
    (repo / "k8s/secrets.env").write_text("DB_PASSWORD=a-db-password-1\nREDIS_PASSWORD=a-redis-password-2\n"
                                          "JWT_SECRET=a-jwt-secret-that-is-long-enough-3\n")
    before = (repo / "k8s/secrets.env").read_text()
    r = run("up")
    assert r.returncode == 0, r.stdout + r.stderr
    calls = tools.calls("cluster.sh")
    assert calls == expected_up(repo, fresh=False)
    assert not [c for c in tools.calls() if "create" in c[1] or c[0] == "docker"], "nothing is created or built"
    assert (repo / "k8s/secrets.env").read_text() == before, "the existing secrets file is kept"
    assert "registry k3d-registry: exists" in r.stdout and "cluster dev-cluster: exists" in r.stdout


def test_the_mirror_file_gives_the_nodes_localhost_5001(machine):
    _, tools, run = machine
    nothing_exists(tools)
    # Keep a copy of the registry configuration k3d is given (the script removes its temporary file).
    tools.answer("k3d", r"^cluster create", stdout="")
    copy = machine[0].parent / "mirror-copy.yaml"
    shim = tools.bin / "k3d"
    shim.write_text(shim.read_text().replace("tool = os.path.basename(sys.argv[0])",
        "tool = os.path.basename(sys.argv[0])\nif '--registry-config' in sys.argv:\n"
        f"    open({str(copy)!r}, 'w').write(open(sys.argv[sys.argv.index('--registry-config') + 1]).read())"))
    assert run("up").returncode == 0
    mirror = yaml.safe_load(copy.read_text())
    assert mirror == {"mirrors": {"localhost:5001": {"endpoint": ["http://k3d-registry:5000"]}}}


def test_down_deletes_the_cluster_then_the_registry_and_only_what_exists(machine):
    _, tools, run = machine
    everything_exists(tools)
    r = run("down")
    assert r.returncode == 0, r.stderr
    assert tools.calls("cluster.sh") == [
        ("k3d", ["cluster", "list", "-o", "json"]), ("k3d", ["cluster", "delete", "dev-cluster"]),
        ("k3d", ["registry", "list", "-o", "json"]), ("k3d", ["registry", "delete", "k3d-registry"])]


def test_down_with_nothing_there_deletes_nothing(machine):
    _, tools, run = machine
    nothing_exists(tools)
    r = run("down")
    assert r.returncode == 0, r.stderr
    assert not [c for c in tools.calls() if "delete" in c[1]]
    assert "cluster dev-cluster: absent" in r.stdout and "registry k3d-registry: absent" in r.stdout


def test_status_says_what_runs_and_fails_when_nothing_does(machine):
    _, tools, run = machine
    nothing_exists(tools)
    r = run("status")
    assert r.returncode == 1 and "not up: scripts/cluster.sh up" in r.stdout
    tools.rules.clear()
    everything_exists(tools)
    tools.answer("curl", r"_catalog", stdout='{"repositories":["humor-game/backend","humor-game/frontend"]}')
    tools.answer("kubectl", r"get deployments -n humor-game", stdout="backend   2/2\nfrontend   1/1\n")
    r = run("status")
    assert r.returncode == 0, r.stderr
    assert "humor-game/backend" in r.stdout and "backend   2/2" in r.stdout
    namespaces = [c[1][-1] for c in tools.calls("cluster.sh") if c[1][:2] == ["--context=k3d-dev-cluster", "get"]
                  and "-n" in c[1]]
    assert namespaces == ["ingress-nginx", "cert-manager", "argocd", "monitoring", "humor-game"]


def test_a_missing_tool_is_named(machine, tmp_path):
    repo, tools, _ = machine
    env = tools.env()
    (tools.bin / "k3d").unlink()
    env["PATH"] = f"{tools.bin}:/usr/bin:/bin"
    r = subprocess.run(["bash", str(repo / "scripts/cluster.sh"), "up"], env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "k3d not found on PATH" in r.stderr, r.stderr
    assert not tools.calls(), "nothing runs before every tool is there"


def test_an_unknown_command_prints_the_usage():
    r = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True)
    assert r.returncode == 2 and "scripts/cluster.sh up" in r.stderr


def test_the_pinned_versions_are_the_guides_and_the_e2e_tools():
    guide = (ROOT / "tests/k8s/guide-replay.yaml").read_text()
    assert f"INGRESS_NGINX_VERSION={pinned('INGRESS_NGINX_VERSION')}" in guide
    assert f"/cert-manager/releases/download/{pinned('CERT_MANAGER_VERSION')}/cert-manager.yaml" in guide
    tools = ROOT / ".github/scripts/e2e-tools.sh"
    assert pinned("K3D_VERSION", tools) == pinned("K3D_VERSION")
    assert pinned("ARGOCD_VERSION", tools) == pinned("ARGOCD_VERSION")
    docs = (ROOT / "docs/deployment.md").read_text()
    for name in ("K3D_VERSION", "INGRESS_NGINX_VERSION", "CERT_MANAGER_VERSION", "ARGOCD_VERSION"):
        assert pinned(name) in docs, f"docs/deployment.md does not give {name} {pinned(name)}"


# ------------------------------------------------------------------------------------ on the cluster model
@pytest.fixture
def model_machine(tmp_path, contract):
    repo = copy_checkout(tmp_path / "repo")
    bin_dir, state = tmp_path / "bin", tmp_path / "model" / "state.json"
    bin_dir.mkdir()
    state.parent.mkdir()
    (tmp_path / "model" / "contract.json").write_text(json.dumps(contract))
    for tool in ("kubectl", "k3d", "docker", "curl"):
        (bin_dir / tool).write_text(f'#!/bin/sh\nexec "{sys.executable}" "{MODEL}" {tool} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    real_kubectl = RecordingTools(tmp_path / "unused", []).env()["REAL_KUBECTL"]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "MODEL_STATE": str(state),
           "MODEL_CONTRACT": str(tmp_path / "model" / "contract.json"), "MODEL_REMOTE": str(tmp_path / "no-remote"),
           "REAL_KUBECTL": real_kubectl}

    def run(*args):
        return subprocess.run(["bash", str(repo / "scripts/cluster.sh"), *args], env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=600)
    return repo, state, run


def test_on_the_cluster_model_up_makes_the_dev_environment_ready_and_a_second_up_changes_nothing(model_machine):
    repo, state, run = model_machine
    first = run("up")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    model = json.loads(state.read_text())
    assert model["cluster"]["name"] == "dev-cluster" and not model["cluster"]["traefik"] and model["cluster"]["mirror"]
    assert {"ingress-nginx", "argocd", "cert-manager"} <= set(model["addons"])
    for name in ("postgres", "redis", "backend", "frontend"):
        assert f"deployment \"{name}\" successfully rolled out" in first.stdout, name
    backend = [p for p in model["pods"].values() if p["owner"] == "Deployment/backend"]
    assert backend and all(p["started"] for p in backend)
    assert {p["spec"]["containers"][0]["image"] for p in backend} == {"localhost:5001/humor-game/backend:v1.1.0"}
    assert model["objects"]["Job/humor-game/backend-migrate"]["status"]["result"] == "Succeeded"
    assert {p["ns"] for p in model["pods"].values() if p["started"]} >= {"monitoring", "humor-game", "argocd"}

    second = run("up")
    assert second.returncode == 0, second.stderr[-3000:]
    again = json.loads(state.read_text())
    assert again["objects"] == model["objects"] and again["pods"].keys() == model["pods"].keys()
    for created in ("Successfully created registry", "created successfully", "naming to", "digest:"):
        assert created not in second.stdout + second.stderr, f"a second up made something: {created}"
    assert not re.search(r"^namespace/\S+ created", second.stdout, re.M)
    assert "image localhost:5001/humor-game/backend:v1.1.0: in the registry" in second.stdout

    status = run("status")
    assert status.returncode == 0 and "cluster dev-cluster: exists" in status.stdout, status.stderr

    down = run("down")
    assert down.returncode == 0, down.stderr
    gone = json.loads(state.read_text())
    assert gone["cluster"] is None and "k3d-registry" not in gone["containers"] and "5001" not in gone["ports"]
