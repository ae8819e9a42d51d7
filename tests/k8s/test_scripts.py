"""The scripts, run for real on temporary git repositories, with a fake kubectl and curl standing in
where a cluster would be needed (tests/k8s/fakes). `kubectl kustomize` is always the real one."""
import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

from .manifests import ROOT, find, kubectl
from .k8s_rules import CRD_MODELS

FAKES = ROOT / "tests" / "k8s" / "fakes"
GIT_ID = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@localhost",
          "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@localhost"}


class Sandbox:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.log = tmp_path / "fake-calls.jsonl"
        self.scenario = tmp_path / "scenario.json"
        self.scenario.write_text("{}")
        # The fakes are Python; putting this interpreter's directory first skips slow launcher shims.
        path = f"{FAKES}:{os.path.dirname(sys.executable)}:{os.environ['PATH']}"
        self.env = dict(os.environ, **GIT_ID, PATH=path, FAKE_LOG=str(self.log),
                        FAKE_SCENARIO=str(self.scenario), REAL_KUBECTL=kubectl())
        for k in ("NAMESPACE", "APP_URL", "TLS_INSECURE", "GLOBAL_URL", "ARGOCD_APPS"):
            self.env.pop(k, None)

    def set_scenario(self, data):
        self.scenario.write_text(json.dumps(data))

    def calls(self, tool):
        if not self.log.exists():
            return []
        return [c for c in map(json.loads, self.log.read_text().splitlines()) if c["tool"] == tool]

    def run(self, args, cwd, env=None):
        return subprocess.run(args, cwd=cwd, env=dict(self.env, **(env or {})), capture_output=True, text=True,
                              timeout=120)

    def git(self, repo, *args):
        out = self.run(["git", *args], repo)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


@pytest.fixture
def sandbox(tmp_path):
    return Sandbox(tmp_path)


@pytest.fixture
def repo(sandbox):
    """A fresh git repository holding this repository's k8s/, gitops/ and scripts/, one commit on main."""
    r = sandbox.tmp / "repo"
    r.mkdir()
    for d in ("k8s", "gitops", "scripts"):
        shutil.copytree(ROOT / d, r / d, ignore=shutil.ignore_patterns("secrets.env", "__pycache__"))
    shutil.copy(ROOT / ".gitignore", r / ".gitignore")  # the real ignore rules (k8s/secrets.env)
    sandbox.git(r, "init", "-q", "-b", "main")
    sandbox.git(r, "add", "-A")
    sandbox.git(r, "commit", "-q", "-m", "initial")
    return r


def render_env(sandbox, repo, env):
    out = sandbox.run([kubectl(), "kustomize", f"gitops/environments/{env}"], repo)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def image_of(objs, kind, name):
    o = find(objs, kind, name)
    spec = o["spec"]["template"]["spec"]
    return spec["containers"][0]["image"]


# ------------------------------------------------------------------------------------------ promote.sh
def test_promote_follows_the_guide(sandbox, repo):
    gitops = repo / "gitops"
    # Milestone 5.4: bump dev with the guide's sed, commit, then promote from the GitOps root.
    assert sandbox.run(["sed", "-i", "s/newTag: v1.1.0/newTag: v1.2.0/g", "environments/dev/kustomization.yaml"],
                       gitops).returncode == 0
    sandbox.git(repo, "commit", "-q", "-am", "Update backend to v1.2.0")
    out = sandbox.run(["./promote.sh", "dev", "staging"], gitops)
    assert out.returncode == 0, out.stderr
    assert "-        image: localhost:5001/humor-game/backend:v1.0.0" in out.stdout
    assert "+        image: localhost:5001/humor-game/backend:v1.2.0" in out.stdout
    assert sandbox.git(repo, "log", "-1", "--format=%s") == \
        "Promote dev to staging: backend v1.2.0 (was v1.0.0), frontend v1.0.0 (unchanged)"
    assert sandbox.git(repo, "show", "--name-only", "--format=", "HEAD") == "gitops/environments/staging/kustomization.yaml"
    assert sandbox.git(repo, "status", "--porcelain") == ""
    staging = render_env(sandbox, repo, "staging")
    assert image_of(staging, "Deployment", "backend") == "localhost:5001/humor-game/backend:v1.2.0"
    assert image_of(staging, "Job", "backend-migrate") == "localhost:5001/humor-game/backend:v1.2.0"
    assert image_of(staging, "Deployment", "frontend") == "localhost:5001/humor-game/frontend:v1.0.0"
    assert "no upstream" in out.stdout
    # and on to prod, from another working directory
    out = sandbox.run([str(gitops / "promote.sh"), "staging", "prod"], sandbox.tmp)
    assert out.returncode == 0, out.stderr
    assert image_of(render_env(sandbox, repo, "prod"), "Deployment", "backend") == "localhost:5001/humor-game/backend:v1.2.0"
    text = (gitops / "environments/prod/kustomization.yaml").read_text()
    assert "newTag: v1.2.0\n" in text, "tags are written unquoted"


def test_promote_pushes_to_the_upstream(sandbox, repo):
    remote = sandbox.tmp / "remote.git"
    sandbox.git(sandbox.tmp, "init", "-q", "--bare", str(remote))
    sandbox.git(repo, "remote", "add", "origin", str(remote))
    sandbox.git(repo, "push", "-q", "-u", "origin", "main")
    out = sandbox.run(["./promote.sh", "dev", "staging"], repo / "gitops")
    assert out.returncode == 0, out.stderr
    assert "pushed" in out.stdout
    assert sandbox.git(remote, "log", "-1", "--format=%s", "main").startswith("Promote dev to staging: backend v1.1.0")
    # --no-push keeps it local
    out = sandbox.run(["./promote.sh", "--no-push", "staging", "prod"], repo / "gitops")
    assert out.returncode == 0, out.stderr
    assert sandbox.git(remote, "log", "-1", "--format=%s", "main").startswith("Promote dev to staging")
    assert sandbox.git(repo, "log", "-1", "--format=%s").startswith("Promote staging to prod")


@pytest.mark.parametrize("args,message", [
    (["dev", "qa"], "unknown environment 'qa'"),
    (["test", "prod"], "unknown environment 'test'"),
    (["dev", "dev"], "both 'dev'"),
    (["dev"], "FROM TO"),
])
def test_promote_refuses_bad_environments(sandbox, repo, args, message):
    head = sandbox.git(repo, "rev-parse", "HEAD")
    out = sandbox.run(["./promote.sh", *args], repo / "gitops")
    assert out.returncode != 0
    assert message in out.stderr
    assert sandbox.git(repo, "rev-parse", "HEAD") == head


def test_promote_refuses_a_dirty_tree(sandbox, repo):
    target = repo / "gitops/environments/prod/kustomization.yaml"
    with open(target, "a") as f:
        f.write("# local edit\n")
    before = target.read_text()
    out = sandbox.run(["./promote.sh", "staging", "prod"], repo / "gitops")
    assert out.returncode != 0 and "uncommitted changes" in out.stderr
    assert target.read_text() == before
    (repo / "gitops/notes.txt").write_text("untracked")
    target.write_text(before.replace("# local edit\n", ""))
    sandbox.git(repo, "checkout", "--", "gitops/environments/prod/kustomization.yaml")
    out = sandbox.run(["./promote.sh", "dev", "staging"], repo / "gitops")
    assert out.returncode != 0 and "notes.txt" in out.stderr


def test_promote_with_nothing_new_changes_nothing(sandbox, repo):
    head = sandbox.git(repo, "rev-parse", "HEAD")
    out = sandbox.run(["./promote.sh", "staging", "prod"], repo / "gitops")
    assert out.returncode == 0, out.stderr
    assert "nothing to do" in out.stdout
    assert sandbox.git(repo, "rev-parse", "HEAD") == head


def test_promote_refuses_a_target_without_the_image(sandbox, repo):
    target = repo / "gitops/environments/staging/kustomization.yaml"
    text = target.read_text()
    target.write_text(text.replace("  - name: localhost:5001/humor-game/frontend\n    newTag: v1.0.0\n", ""))
    sandbox.git(repo, "commit", "-q", "-am", "drop frontend entry")
    before = target.read_text()
    out = sandbox.run(["./promote.sh", "dev", "staging"], repo / "gitops")
    assert out.returncode != 0 and "no images: entry for localhost:5001/humor-game/frontend" in out.stderr
    assert target.read_text() == before


def test_promote_refuses_an_invalid_tag(sandbox, repo):
    src = repo / "gitops/environments/dev/kustomization.yaml"
    src.write_text(src.read_text().replace("newTag: v1.1.0", "newTag: v1.1.0;rm"))
    sandbox.git(repo, "commit", "-q", "-am", "bad tag")
    out = sandbox.run(["./promote.sh", "dev", "staging"], repo / "gitops")
    assert out.returncode != 0 and "not a valid image tag" in out.stderr
    assert sandbox.git(repo, "status", "--porcelain") == ""


# ------------------------------------------------------------------------------------- gitops-init.sh
URL = "https://github.com/alice/humor-memory-game.git"


def app_docs(repo):
    docs = []
    for p in sorted((repo / "gitops/applications").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(p.read_text()) if d]
    return docs


def test_gitops_init_points_every_application_at_the_fork(sandbox, repo):
    out = sandbox.run(["scripts/gitops-init.sh", URL], repo)
    assert out.returncode == 0, out.stderr
    docs = app_docs(repo)
    assert len(docs) == 8
    for d in docs:
        CRD_MODELS[(d["apiVersion"], d["kind"])].model_validate(d)
        if d["kind"] == "Application":
            assert d["spec"]["source"]["repoURL"] == URL and d["spec"]["source"]["targetRevision"] == "main"
        else:
            assert d["spec"]["sourceRepos"] == [URL]
    changed = sandbox.git(repo, "diff", "--name-only").splitlines()
    assert sorted(changed) == sorted(f"gitops/applications/{n}" for n in
                                     ("dev-app.yaml", "staging-app.yaml", "prod-app.yaml", "platform-app.yaml"))
    # idempotent
    sandbox.git(repo, "commit", "-q", "-am", "fork")
    again = sandbox.run(["scripts/gitops-init.sh", URL], repo)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert sandbox.git(repo, "status", "--porcelain") == ""


def test_gitops_init_sets_hosts_email_and_revision(sandbox, repo):
    out = sandbox.run(["scripts/gitops-init.sh", "git@github.com:alice/hmg.git", "--revision", "release",
                       "--acme-email", "ops@alice.dev", "--prod-host", "game.alice.dev",
                       "--staging-host", "staging.alice.dev"], repo)
    assert out.returncode == 0, out.stderr
    for env, host in (("prod", "game.alice.dev"), ("staging", "staging.alice.dev")):
        objs = render_env(sandbox, repo, env)
        ing = find(objs, "Ingress", "gameapp-ingress")
        assert ing["spec"]["rules"][0]["host"] == host and ing["spec"]["tls"][0]["hosts"] == [host]
        assert find(objs, "ConfigMap", "humor-game-config")["data"]["CORS_ORIGIN"] == f"https://{host}"
    manual = yaml.safe_load((repo / "k8s/ingress-prod.yaml").read_text())
    assert manual["spec"]["rules"][0]["host"] == "game.alice.dev"
    issuers = [d for d in yaml.safe_load_all((repo / "k8s/cluster-issuer.yaml").read_text()) if d]
    assert [d["spec"]["acme"]["email"] for d in issuers if "acme" in d["spec"]] == ["ops@alice.dev"] * 2
    assert {d["spec"]["source"]["targetRevision"] for d in app_docs(repo) if d["kind"] == "Application"} == {"release"}
    # dev keeps the local host
    dev = render_env(sandbox, repo, "dev")
    assert find(dev, "Ingress", "humor-game-ingress")["spec"]["rules"][0]["host"] == "gameapp.local"


@pytest.mark.parametrize("args,message", [
    ([], "REPO_URL"),
    (["not a url"], "does not look like a git URL"),
    (["https://github.com/your-org/humor-memory-game.git"], "placeholder"),
    ([URL, "--acme-email", "me@example.com"], "Let's Encrypt refuses"),
    ([URL, "--acme-email", "not-an-address"], "not an e-mail address"),
    ([URL, "--prod-host", "Game.Example.COM"], "not a lower-case DNS host name"),
    ([URL, "--prod-host", "a.alice.dev", "--staging-host", "a.alice.dev"], "different hosts"),
    ([URL, "--revision"], "needs a value"),
    ([URL, "--bogus"], "unknown option"),
])
def test_gitops_init_rejects_bad_input_and_changes_nothing(sandbox, repo, args, message):
    out = sandbox.run(["scripts/gitops-init.sh", *args], repo)
    assert out.returncode != 0
    assert message in out.stderr + out.stdout
    assert sandbox.git(repo, "status", "--porcelain") == ""


# ---------------------------------------------------------------------------------- create-secrets.sh
NO_SECRET = {"match": "^get secret humor-game-secrets -n [a-z-]+ --ignore-not-found ", "stdout": ""}


def existing_secret(namespace, **values):
    """A fake-kubectl rule answering the script's read of the Secret already in the cluster."""
    lines = "".join(base64.b64encode(values[k].encode()).decode() + "\n"
                    for k in ("DB_PASSWORD", "REDIS_PASSWORD", "JWT_SECRET"))
    return {"match": f"^get secret humor-game-secrets -n {namespace} --ignore-not-found ", "stdout": lines}


def applied_secret(sandbox):
    calls = [c for c in sandbox.calls("kubectl") if c["args"][0] != "get"]
    assert [c["args"] for c in calls] == [["apply", "-f", "-"]]
    secret = yaml.safe_load(calls[0]["stdin"])
    return secret, {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_create_secrets_applies_the_env_file_through_stdin(sandbox, repo):
    sandbox.set_scenario({"kubectl": [NO_SECRET, {"match": "^apply -f -$", "stdout": "secret/humor-game-secrets created\n"}]})
    env_file = sandbox.tmp / "secrets.env"
    env_file.write_text("# demo values from the guide\nDB_PASSWORD=gamepass123\n\nREDIS_PASSWORD=redispass123\n"
                        "JWT_SECRET=your-super-secret-jwt-key\n")
    out = sandbox.run(["scripts/create-secrets.sh", str(env_file)], repo)
    assert out.returncode == 0, out.stderr
    secret, values = applied_secret(sandbox)
    assert secret["metadata"] == {"name": "humor-game-secrets", "namespace": "humor-game",
                                  "labels": {"app.kubernetes.io/part-of": "humor-memory-game"}}
    assert values == {"DB_PASSWORD": "gamepass123", "REDIS_PASSWORD": "redispass123",
                      "JWT_SECRET": "your-super-secret-jwt-key"}
    assert "gamepass123" not in out.stdout + out.stderr


def test_create_secrets_generates_a_private_strong_file(sandbox, repo):
    sandbox.set_scenario({"kubectl": [NO_SECRET, {"match": "^apply -f -$"}]})
    env_file = repo / "k8s/secrets.env"
    out = sandbox.run(["scripts/create-secrets.sh", "--generate", "-n", "humor-game-prod"], repo)
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    secret, values = applied_secret(sandbox)
    assert secret["metadata"]["namespace"] == "humor-game-prod"
    assert len(values["JWT_SECRET"]) >= 32 and len(values["DB_PASSWORD"]) >= 16
    assert len(set(values.values())) == 3
    assert sandbox.git(repo, "status", "--porcelain") == "", "k8s/secrets.env must be ignored by git"
    again = sandbox.run(["scripts/create-secrets.sh", "--generate"], repo)
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr


def test_create_secrets_dry_run_redacts_and_calls_nothing(sandbox, repo):
    env_file = sandbox.tmp / "s.env"
    env_file.write_text("DB_PASSWORD=abcdefgh1\nREDIS_PASSWORD=abcdefgh2\nJWT_SECRET=abcdefgh3\n")
    out = sandbox.run(["scripts/create-secrets.sh", "--dry-run", str(env_file)], repo)
    assert out.returncode == 0, out.stderr
    assert "abcdefgh" not in out.stdout and "<redacted, 9 characters>" in out.stdout
    assert sandbox.calls("kubectl") == []


def test_create_secrets_generate_dry_run_writes_nothing_and_generate_still_works(sandbox, repo):
    env_file = repo / "k8s/secrets.env"
    out = sandbox.run(["scripts/create-secrets.sh", "--generate", "--dry-run", "-n", "humor-game-prod"], repo)
    assert out.returncode == 0, out.stderr
    assert "would write random values" in out.stdout and "<redacted, 64 characters>" in out.stdout
    assert not env_file.exists() and sandbox.calls("kubectl") == []
    sandbox.set_scenario({"kubectl": [NO_SECRET, {"match": "^apply -f -$"}]})
    out = sandbox.run(["scripts/create-secrets.sh", "--generate"], repo)
    assert out.returncode == 0, out.stderr
    assert env_file.exists()


OLD = {"DB_PASSWORD": "old-db-password-1", "REDIS_PASSWORD": "old-redis-password", "JWT_SECRET": "j" * 40}


def test_create_secrets_refuses_a_new_db_password_for_an_existing_secret(sandbox, repo):
    sandbox.set_scenario({"kubectl": [existing_secret("humor-game", **OLD), {"match": "^apply -f -$"}]})
    env_file = sandbox.tmp / "s.env"
    env_file.write_text("DB_PASSWORD=new-db-password-2\nREDIS_PASSWORD=old-redis-password\nJWT_SECRET=" + "j" * 40 + "\n")
    out = sandbox.run(["scripts/create-secrets.sh", str(env_file)], repo)
    assert out.returncode != 0
    assert "PostgreSQL keeps the" in out.stderr and "--rotate-db-password" in out.stderr
    assert [c["args"][0] for c in sandbox.calls("kubectl")] == ["get"], "nothing applied"
    assert "old-db-password" not in out.stdout + out.stderr


def test_create_secrets_applies_other_changes_and_names_the_restarts(sandbox, repo):
    sandbox.set_scenario({"kubectl": [existing_secret("humor-game", **OLD), {"match": "^apply -f -$"}]})
    env_file = sandbox.tmp / "s.env"
    env_file.write_text("DB_PASSWORD=old-db-password-1\nREDIS_PASSWORD=new-redis-password\nJWT_SECRET=" + "k" * 40 + "\n")
    out = sandbox.run(["scripts/create-secrets.sh", str(env_file)], repo)
    assert out.returncode == 0, out.stderr
    assert applied_secret(sandbox)[1]["REDIS_PASSWORD"] == "new-redis-password"
    assert "changed REDIS_PASSWORD JWT_SECRET" in out.stdout
    assert "kubectl rollout restart deployment/redis deployment/backend -n humor-game" in out.stdout
    assert "tokens signed with the old one" in out.stdout


def test_create_secrets_rotate_needs_an_existing_secret(sandbox, repo):
    sandbox.set_scenario({"kubectl": [NO_SECRET]})
    env_file = sandbox.tmp / "s.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in OLD.items()))
    out = sandbox.run(["scripts/create-secrets.sh", "--rotate-db-password", str(env_file)], repo)
    assert out.returncode != 0 and "does not exist" in out.stderr
    assert [c["args"][0] for c in sandbox.calls("kubectl")] == ["get"]


def scram_matches(verifier, password):
    """True when a PostgreSQL SCRAM-SHA-256 verifier (pg_authid.rolpassword) was made from `password`."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, _ = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == base64.b64decode(stored_key)


def psql_admin(sql):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qtAX", "-v",
                          "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_create_secrets_rotation_changes_the_role_password_then_the_secret_then_restarts(sandbox, repo):
    """The kubectl side with the recording fake; the SQL it sends to the postgres pod is then run for real,
    as the pod would run it, against the local PostgreSQL with a role of its own."""
    role = f"hmg_rotate_{secrets.token_hex(6)}"
    sandbox.set_scenario({"kubectl": [
        existing_secret("humor-game-staging", **OLD),
        {"match": r"^get configmap humor-game-config -n humor-game-staging -o jsonpath=\{\.data\.DB_USER\}$", "stdout": role},
        {"match": r"^get configmap humor-game-config -n humor-game-staging -o jsonpath=\{\.data\.DB_NAME\}$", "stdout": "postgres"},
        {"match": "^exec -i deployment/postgres -n humor-game-staging -- psql "},
        {"match": "^apply -f -$"},
        {"match": "^rollout (restart|status) deployment/backend -n humor-game-staging"},
    ]})
    new = "rotated-db-password-3"
    env_file = sandbox.tmp / "s.env"
    env_file.write_text(f"DB_PASSWORD={new}\nREDIS_PASSWORD={OLD['REDIS_PASSWORD']}\nJWT_SECRET={OLD['JWT_SECRET']}\n")
    out = sandbox.run(["scripts/create-secrets.sh", "-n", "humor-game-staging", "--rotate-db-password", str(env_file)], repo)
    assert out.returncode == 0, out.stdout + out.stderr
    calls = sandbox.calls("kubectl")
    steps = [c["args"][:2] for c in calls if c["args"][0] != "get"]
    assert steps == [["exec", "-i"], ["apply", "-f"], ["rollout", "restart"], ["rollout", "status"]], \
        "the role first, then the Secret, then the restart"
    exec_call = next(c for c in calls if c["args"][0] == "exec")
    assert new not in " ".join(exec_call["args"]), "the password never appears on a command line"
    assert base64.b64decode(yaml.safe_load(next(c for c in calls if c["args"][0] == "apply")["stdin"])
                            ["data"]["DB_PASSWORD"]).decode() == new
    # Run what the pod would run: the same psql arguments and stdin, as the role itself.
    psql_args = exec_call["args"][exec_call["args"].index("--") + 1:]
    assert psql_args[0] == "psql" and ["-U", role] == psql_args[psql_args.index("-U"):psql_args.index("-U") + 2]
    psql_admin(f"CREATE ROLE {role} LOGIN PASSWORD '{OLD['DB_PASSWORD']}'")
    try:
        before = psql_admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
        assert scram_matches(before, OLD["DB_PASSWORD"])
        ran = subprocess.run(psql_args, input=exec_call["stdin"], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, PGHOST="127.0.0.1"))
        assert ran.returncode == 0, ran.stderr
        assert new not in ran.stdout + ran.stderr
        after = psql_admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
        assert scram_matches(after, new) and not scram_matches(after, OLD["DB_PASSWORD"])
    finally:
        psql_admin(f"DROP ROLE IF EXISTS {role}")


def test_create_secrets_rotation_stops_before_the_secret_when_the_database_refuses(sandbox, repo):
    sandbox.set_scenario({"kubectl": [
        existing_secret("humor-game", **OLD),
        {"match": r"^get configmap humor-game-config -n humor-game -o jsonpath=\{\.data\.DB_USER\}$", "stdout": "gameuser"},
        {"match": r"^get configmap humor-game-config -n humor-game -o jsonpath=\{\.data\.DB_NAME\}$", "stdout": "humor_memory_game"},
        {"match": "^exec -i deployment/postgres ", "stderr": "error: unable to upgrade connection: pod does not exist\n", "exit": 1},
        {"match": "^apply -f -$"},
    ]})
    env_file = sandbox.tmp / "s.env"
    env_file.write_text(f"DB_PASSWORD=another-password-4\nREDIS_PASSWORD={OLD['REDIS_PASSWORD']}\nJWT_SECRET={OLD['JWT_SECRET']}\n")
    out = sandbox.run(["scripts/create-secrets.sh", "--rotate-db-password", str(env_file)], repo)
    assert out.returncode != 0 and "the database and the Secret are unchanged" in out.stderr
    assert "apply" not in [c["args"][0] for c in sandbox.calls("kubectl")]


def test_create_secrets_rotation_dry_run_calls_nothing(sandbox, repo):
    env_file = sandbox.tmp / "s.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in OLD.items()))
    out = sandbox.run(["scripts/create-secrets.sh", "--dry-run", "--rotate-db-password", str(env_file)], repo)
    assert out.returncode == 0, out.stderr
    assert "would set the database role's password" in out.stdout
    assert sandbox.calls("kubectl") == []


@pytest.mark.parametrize("content,args,message", [
    ("DB_PASSWORD=gamepass123\nREDIS_PASSWORD=gamepass123\n", [], "JWT_SECRET is missing"),
    ("DB_PASWORD=gamepass123\nREDIS_PASSWORD=gamepass123\nJWT_SECRET=gamepass123\n", [], "unknown key 'DB_PASWORD'"),
    ("DB_PASSWORD=change-me\nREDIS_PASSWORD=gamepass123\nJWT_SECRET=gamepass123\n", [], "example value"),
    ("DB_PASSWORD=gamepass123\nDB_PASSWORD=gamepass124\n", [], "set twice"),
    ("DB_PASSWORD=has space1\nREDIS_PASSWORD=gamepass123\nJWT_SECRET=gamepass123\n", [], "without spaces"),
    ('DB_PASSWORD=quo"te123\nREDIS_PASSWORD=gamepass123\nJWT_SECRET=gamepass123\n', [], "quotes"),
    ("DB_PASSWORD=short\nREDIS_PASSWORD=gamepass123\nJWT_SECRET=gamepass123\n", [], "8-128"),
    ("DB_PASSWORD=gamepass123\nREDIS_PASSWORD=gamepass123\nJWT_SECRET=your-super-secret-jwt-key\n",
     ["-n", "humor-game-prod"], "at least 16"),
    ("DB_PASSWORD=0123456789abcdef\nREDIS_PASSWORD=0123456789abcdef\nJWT_SECRET=0123456789abcdef0123456789abcdef\n",
     ["--strong"], "must differ"),
    ("export DB_PASSWORD=gamepass123\n", [], "expected KEY=VALUE"),
    ("DB_PASSWORD=gamepass123\n", ["-n", "Bad_Namespace"], "not a valid namespace"),
])
def test_create_secrets_rejects_bad_input_before_calling_kubectl(sandbox, repo, content, args, message):
    env_file = sandbox.tmp / "s.env"
    env_file.write_text(content)
    out = sandbox.run(["scripts/create-secrets.sh", *args, str(env_file)], repo)
    assert out.returncode != 0
    assert message in out.stderr
    assert sandbox.calls("kubectl") == []


def test_create_secrets_refuses_the_committed_example(sandbox, repo):
    out = sandbox.run(["scripts/create-secrets.sh", "k8s/secrets.env.example"], repo)
    assert out.returncode != 0 and "example value" in out.stderr


# --------------------------------------------------------------------------------- production-test.sh
APP = "https://gameapp.local:8443"
HEALTH = json.dumps({"status": "healthy", "services": {"database": "connected", "redis": "connected", "api": "running"}})
TARGETS = json.dumps({"status": "success", "data": {"activeTargets": [
    {"scrapeUrl": "http://10.42.1.7:3001/metrics", "health": "up", "labels": {"job": "kubernetes-pods"}},
    {"scrapeUrl": "http://10.42.2.9:3001/metrics", "health": "up", "labels": {"job": "kubernetes-pods"}}]}})
GRAFANA = json.dumps({"commit": "abc", "database": "ok", "version": "11.2.0"})
NODES = ("k3d-dev-cluster-server-0   Ready    control-plane,master   1h   v1.31.5+k3s1\n"
         "k3d-dev-cluster-agent-0    Ready    <none>                 1h   v1.31.5+k3s1\n")
PODS = ("humor-game   backend-5d9c7b6f4-abcde    1/1   Running     0   10m\n"
        "humor-game   backend-5d9c7b6f4-fghij    1/1   Running     0   10m\n"
        "humor-game   postgres-backup-28890195-xk2p   0/1   Completed   0   1h\n"
        "kube-system  coredns-ccb96694c-2mq7x   1/1   Running     0   1h\n")


def healthy_scenario():
    return {
        "kubectl": [
            {"match": "^get nodes --no-headers$", "stdout": NODES},
            {"match": "^get pods --all-namespaces --no-headers$", "stdout": PODS},
            {"match": r"^get deployment (postgres|redis) -n humor-game ", "stdout": "1/1"},
            {"match": r"^get deployment (backend|frontend) -n humor-game ", "stdout": "2/2"},
            {"match": "^exec deployment/postgres -n humor-game -- psql -U gameuser -d humor_memory_game -tAc SELECT 1;$",
             "stdout": "1\n"},
            {"match": "^exec deployment/redis -n humor-game -- sh -c redis-cli -h 127.0.0.1 ping$", "stdout": "PONG\n"},
            {"match": "^get applications.argoproj.io humor-game-dev -n argocd ", "stdout": "Synced/Healthy"},
        ],
        "curl": {
            f"{APP}/api/health": {"code": 200, "body": HEALTH},
            f"{APP}/": {"code": 200, "body": "<!doctype html><html><title>Humor Memory Game</title></html>"},
            f"{APP}/metrics": {"code": 200, "body": "<!doctype html><html></html>"},
            "http://localhost:9090/api/v1/targets?state=active": {"code": 200, "body": TARGETS},
            "http://localhost:3000/api/health": {"code": 200, "body": GRAFANA},
        },
    }


def run_production_test(sandbox, repo, scenario, *args, env=None):
    sandbox.set_scenario(scenario)
    return sandbox.run(["scripts/production-test.sh", *args], repo, env=env)


def test_production_test_passes_on_a_healthy_system(sandbox, repo):
    out = run_production_test(sandbox, repo, healthy_scenario())
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAIL" not in out.stdout
    assert out.stdout.strip().endswith("production-test: 15 passed, 0 failed")
    app_calls = [c for c in sandbox.calls("curl") if c["url"].startswith(APP)]
    assert app_calls and all(c["insecure"] for c in app_calls), "the local mkcert host is checked with -k"
    monitoring = [c for c in sandbox.calls("curl") if "localhost:" in c["url"]]
    assert monitoring and not any(c["insecure"] for c in monitoring)


@pytest.mark.parametrize("break_it,failure", [
    (lambda s: s["curl"].__setitem__("http://localhost:3000/api/health",
                                     {"code": 200, "body": "<html><title>Grafana</title>login</html>"}),
     "FAIL  Grafana unhealthy or not Grafana (HTTP 200)"),
    (lambda s: s["curl"].__setitem__("http://localhost:3000/api/health",
                                     {"code": 200, "body": json.dumps({"database": "failing", "version": "11"})}),
     "FAIL  Grafana unhealthy"),
    (lambda s: s["curl"].pop("http://localhost:3000/api/health"), "FAIL  Grafana unhealthy or not Grafana (HTTP 000)"),
    (lambda s: s["kubectl"].__setitem__(1, {"match": "^get pods", "stdout": PODS + "humor-game   backend-x-y   0/1   CrashLoopBackOff   5   3m\n"}),
     "FAIL  unhealthy pods"),
    (lambda s: s["kubectl"].__setitem__(1, {"match": "^get pods", "stdout": PODS + "humor-game   frontend-x-y   0/1   Running   0   3m\n"}),
     "FAIL  unhealthy pods"),
    (lambda s: s["kubectl"].__setitem__(0, {"match": "^get nodes", "stdout": NODES.replace("agent-0    Ready", "agent-0    NotReady")}),
     "FAIL  nodes not Ready"),
    (lambda s: s["kubectl"].insert(0, {"match": r"^get deployment backend ", "stdout": "1/2"}),
     "FAIL  deployment/backend not ready"),
    (lambda s: s["curl"].__setitem__(f"{APP}/api/health", {"code": 503, "body": HEALTH.replace('"redis": "connected"', '"redis": "disconnected"')}),
     "FAIL  GET /api/health (HTTP 503)"),
    (lambda s: s["curl"].__setitem__(f"{APP}/metrics", {"code": 200, "body": "# TYPE http_requests_total counter\n"}),
     "FAIL  /metrics is reachable from outside"),
    (lambda s: s["kubectl"].__setitem__(4, {"match": "^exec deployment/postgres", "stderr": "psql: error: connection refused\n", "exit": 2}),
     "FAIL  database query"),
    (lambda s: s["kubectl"].__setitem__(5, {"match": "^exec deployment/redis", "stdout": "NOAUTH Authentication required.\n"}),
     "FAIL  redis PING"),
    (lambda s: s["curl"].__setitem__("http://localhost:9090/api/v1/targets?state=active",
                                     {"code": 200, "body": TARGETS.replace('"up"', '"down"')}),
     "FAIL  no backend target (:3001/metrics) is up"),
    (lambda s: s["kubectl"].__setitem__(6, {"match": "^get applications", "stdout": "OutOfSync/Healthy"}),
     "FAIL  Argo CD application humor-game-dev is OutOfSync/Healthy"),
    (lambda s: s["kubectl"].__setitem__(6, {"match": "^get applications", "stderr": 'error: the server doesn\'t have a resource type "applications"\n', "exit": 1}),
     "FAIL  Argo CD application humor-game-dev"),
])
def test_production_test_reports_each_failure_and_exits_non_zero(sandbox, repo, break_it, failure):
    scenario = healthy_scenario()
    break_it(scenario)
    out = run_production_test(sandbox, repo, scenario)
    assert out.returncode == 1, out.stdout + out.stderr
    assert failure in out.stdout
    assert ", 1 failed" in out.stdout.splitlines()[-1], "one broken part fails exactly one check"


def test_production_test_global_mode_verifies_tls(sandbox, repo):
    scenario = healthy_scenario()
    scenario["curl"]["https://localhost:9443/api/health"] = {"code": 200, "body": HEALTH, "tls_error": True}
    out = run_production_test(sandbox, repo, scenario, "global", env={"GLOBAL_URL": "https://localhost:9443"})
    assert out.returncode == 1
    assert "PASS  DNS: localhost resolves" in out.stdout
    assert "FAIL  global /api/health (HTTP 000" in out.stdout
    assert not [c for c in sandbox.calls("curl") if c["url"].startswith("https://localhost:9443") and c["insecure"]]
    scenario["curl"]["https://localhost:9443/api/health"]["tls_error"] = False
    out = run_production_test(sandbox, repo, scenario, "global", env={"GLOBAL_URL": "https://localhost:9443"})
    assert out.returncode == 0, out.stdout
    assert "production-test: 17 passed, 0 failed" in out.stdout


def test_production_test_uses_the_namespace_and_apps_it_is_given(sandbox, repo):
    scenario = healthy_scenario()
    scenario["kubectl"] = [dict(r, match=r["match"].replace("humor-game ", "humor-game-prod ")
                                .replace("humor-game-dev", "humor-game-prod")) for r in scenario["kubectl"]]
    prod = "https://game.alice.dev"
    scenario["curl"] = {k.replace(APP, prod): v for k, v in scenario["curl"].items()}
    out = run_production_test(sandbox, repo, scenario, env={"NAMESPACE": "humor-game-prod", "APP_URL": prod,
                                                            "ARGOCD_APPS": "humor-game-prod"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert not any(c["insecure"] for c in sandbox.calls("curl")), "a real host is checked with full TLS"


def test_production_test_rejects_an_unknown_mode(sandbox, repo):
    out = run_production_test(sandbox, repo, healthy_scenario(), "everything")
    assert out.returncode == 2 and "unknown argument" in out.stderr
