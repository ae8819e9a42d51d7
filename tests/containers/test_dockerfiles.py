"""Both Dockerfiles: hadolint, and every port, path, user and command checked against the binary's contract."""
import json
import os
import re
import shlex
import subprocess

from .local_stack import repo_path, which

from . import image_build


def parsed(path):
    all_stages, global_args = image_build.stages(path)
    return all_stages, global_args


def instr(steps, keyword):
    return [args for k, args in steps if k == keyword]


def exec_form(args):
    """The JSON-array form of CMD/ENTRYPOINT/HEALTHCHECK CMD as a list."""
    return json.loads(args)


def test_hadolint_passes_on_both_dockerfiles():
    hadolint = which("hadolint")
    result = subprocess.run([hadolint, "backend/Dockerfile", "frontend/Dockerfile"], cwd=repo_path(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_backend_runtime_listens_where_the_contract_says(contract):
    stages, _ = parsed(repo_path("backend", "Dockerfile"))
    runtime = stages["runtime"]
    env = {}
    for args in instr(runtime, "ENV"):
        for token in shlex.split(args):
            k, _, v = token.partition("=")
            env[k] = v
    assert env["PORT"] == str(contract["listen"]["port"]["container"])
    assert env["HOST"] == contract["listen"]["host"]["container"]
    assert set(env) <= {e["name"] for e in contract["env"]}, "the image sets a variable the binary does not read"
    assert instr(runtime, "EXPOSE") == [str(contract["listen"]["port"]["container"])]


def test_backend_healthcheck_and_entrypoint_use_the_binary(contract):
    stages, _ = parsed(repo_path("backend", "Dockerfile"))
    runtime = stages["runtime"]
    binary = contract["binary"]
    (health,) = instr(runtime, "HEALTHCHECK")
    cmd = exec_form(health[health.index("CMD") + 3:].strip())
    assert cmd == [binary, "healthcheck"] and "healthcheck" in contract["subcommands"]
    assert exec_form(instr(runtime, "ENTRYPOINT")[0]) == [binary]
    (cmd,) = instr(runtime, "CMD")
    assert exec_form(cmd)[0] in contract["subcommands"]
    copies = [a for a in instr(runtime, "COPY") if a.startswith("--from=build")]
    assert copies and copies[0].split()[-1] == f"/usr/local/bin/{binary}"


def test_backend_runs_as_a_numeric_non_root_user():
    stages, _ = parsed(repo_path("backend", "Dockerfile"))
    (user,) = instr(stages["runtime"], "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit()), user


def test_backend_runtime_matches_the_builder_and_has_the_guides_tools():
    stages, global_args = parsed(repo_path("backend", "Dockerfile"))
    with open(repo_path("backend", "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert set(froms[:-1]) == {"rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE}"}
    assert froms[-1] == "debian:${DEBIAN_RELEASE}-slim", "the runtime must be the builder's Debian release (glibc)"
    assert global_args["DEBIAN_RELEASE"] == "bookworm"
    (run,) = instr(stages["runtime"], "RUN")
    for package in ("curl", "netcat-openbsd", "dnsutils", "ca-certificates"):
        assert re.search(rf"\s{re.escape(package)}(\s|$)", run), f"{package} is not installed in the runtime"
    labels = " ".join(instr(stages["runtime"], "LABEL"))
    for key, arg in (("version", "VERSION"), ("revision", "REVISION"), ("source", "SOURCE")):
        assert f'org.opencontainers.image.{key}="${{{arg}}}"' in labels
    assert {"VERSION", "REVISION", "SOURCE"} <= {a.split("=")[0] for a in instr(stages["runtime"], "ARG")}


def test_backend_build_stage_builds_the_locked_release_without_the_embedded_frontend():
    with open(repo_path("backend", "build-release.sh"), encoding="utf-8") as f:
        script = f.read()
    assert "cargo build --release --locked --no-default-features -p \"$PACKAGE\"" in script
    assert 'PACKAGE=humor-server' in script and "BIN=humor-memory-game" in script
    stages, _ = parsed(repo_path("backend", "Dockerfile"))
    runs = instr(stages["build"], "RUN")
    assert runs == ["./build-release.sh --deps", "./build-release.sh"]


def test_backend_dockerignore_keeps_the_build_inputs_and_drops_build_output():
    patterns = image_build.ignore_patterns(repo_path("backend"))
    for kept in ("Cargo.image.toml", "Cargo.lock", "build-release.sh", "server/src/main.rs",
                 "store/migrations/postgres/0001_init.sql"):
        assert not image_build.excluded(kept, patterns), kept
    for dropped in ("target/release/humor-memory-game", "server/target/x", "dist/humor-memory-game",
                    "data/humor_memory_game.sqlite", "game/x.sqlite-wal", ".env"):
        assert image_build.excluded(dropped, patterns), dropped


def test_frontend_image_is_unprivileged_nginx_with_only_the_page_and_its_config():
    stages, _ = parsed(repo_path("frontend", "Dockerfile"))
    with open(repo_path("frontend", "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    layout_base, runtime_base = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert layout_base == "node:${NODE_VERSION}-alpine"
    image, _, tag = runtime_base.partition(":")
    assert image == "nginxinc/nginx-unprivileged" and tag and tag != "latest"
    assert list(stages) == ["layout", "runtime"]
    assert instr(stages["layout"], "RUN") == ["node asset-version.mjs layout public html"]
    steps = stages["runtime"]
    assert instr(steps, "COPY") == ["nginx.conf /etc/nginx/nginx.conf", "--from=layout /page/html/ /usr/share/nginx/html/"]
    assert not instr(steps, "RUN"), "the runtime stage only adds files to the nginx base"
    assert instr(steps, "EXPOSE") == ["8080"]
    assert not instr(steps, "USER"), "the base image's unprivileged user (101) must stay"
    (health,) = instr(steps, "HEALTHCHECK")
    assert "http://127.0.0.1:8080/health" in health
    with open(repo_path("frontend", "nginx.conf"), encoding="utf-8") as f:
        conf = f.read()
    assert re.findall(r"^\s*listen\s+([^;]+);", conf, re.MULTILINE) == ["8080 default_server"]
    assert "root /usr/share/nginx/html;" in conf


def test_the_frontend_image_holds_the_page_under_its_content_hash(frontend_image):
    """Carrying out frontend/Dockerfile: nginx.conf, and the page with its assets under static/<hash>/."""
    assert re.fullmatch(r"[0-9a-f]{10}", frontend_image.version)
    with open(repo_path("frontend", "nginx.conf"), "rb") as f, \
            open(os.path.join(frontend_image.root, "etc", "nginx", "nginx.conf"), "rb") as g:
        assert g.read() == f.read()
    tree = sorted(os.path.relpath(os.path.join(base, n), frontend_image.root)
                  for base, _dirs, names in os.walk(frontend_image.root) for n in names)
    assert tree == ["etc/nginx/nginx.conf"] + [f"usr/share/nginx/html/{rel}" for rel in frontend_image.files()]
    public = repo_path("frontend", "public")
    prefix = f"static/{frontend_image.version}/"
    assets = [rel for rel in frontend_image.files() if rel.startswith("static/")]
    assert assets and all(rel.startswith(prefix) for rel in assets), assets
    for rel in assets:
        with open(os.path.join(public, "static", rel[len(prefix):]), "rb") as f:
            assert frontend_image.read(rel) == f.read(), rel
    with open(os.path.join(public, "index.html"), "rb") as f:
        committed = f.read()
    served = frontend_image.read("index.html")
    assert served == committed.replace(b'"/static/', f'"/static/{frontend_image.version}/'.encode())
    for ref in re.findall(rb'"/(static/[^"]+)"', served):
        assert ref.decode() in assets, ref


def test_frontend_dockerignore_sends_only_nginx_conf_public_and_the_layout_script():
    patterns = image_build.ignore_patterns(repo_path("frontend"))
    for kept in ("nginx.conf", "asset-version.mjs", "public/index.html", "public/static/js/main.js"):
        assert not image_build.excluded(kept, patterns), kept
    for dropped in ("node_modules/playwright-core/index.js", "tests/http-headers.json", "package.json", "e2e/x.js"):
        assert image_build.excluded(dropped, patterns), dropped


def test_every_path_the_images_write_is_under_tmp():
    """Read-only root filesystems (compose read_only, Kubernetes readOnlyRootFilesystem) need this."""
    for conf in (repo_path("frontend", "nginx.conf"), repo_path("nginx", "nginx.conf")):
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        assert re.search(r"^pid /tmp/", text, re.MULTILINE), conf
        for directive in ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
                          "scgi_temp_path"):
            assert re.search(rf"^\s*{directive}\s+/tmp/", text, re.MULTILINE), f"{conf}: {directive}"
        logs = re.findall(r"^\s*(?:access_log|error_log)\s+([^\s;]+)", text, re.MULTILINE)
        assert logs and all(p in ("/dev/stdout", "/dev/stderr", "stderr", "off") for p in logs), logs


def test_shellcheck_passes_on_every_script_of_this_area():
    shellcheck = which("shellcheck")
    scripts = ["backend/build-release.sh", "scripts/local-stack.sh", ".ci/steps/30-containers.sh"]
    scripts += [os.path.join("scripts/local-stack", n) for n in sorted(os.listdir(repo_path("scripts", "local-stack")))
                if n.endswith(".sh")]
    result = subprocess.run([shellcheck, *scripts], cwd=repo_path(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
