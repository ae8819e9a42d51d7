#!/usr/bin/env python3
"""Runs the build stages of backend/Dockerfile without Docker, on a copy of backend/ alone.

This machine has no Docker engine, so CI proves the image build another way: it reads the Dockerfile and
carries out every stage before the runtime one itself, in order (WORKDIR, ENV, COPY from the context with the
.dockerignore rules or from an earlier stage, RUN in that stage's directory), each stage in a directory of its
own, on a context made of backend/'s committed files only. Any instruction it cannot carry out faithfully
(ADD, RUN --mount, COPY options other than --from, a second WORKDIR...) fails the test, so the Dockerfile
cannot drift away from what CI proves. Afterwards it checks what the runtime stage copies out: the binary
exists, runs `--help` and `contract`, and links only libraries the Debian-slim runtime has. Then it runs that
binary the way the runtime stage does, as far as a machine without Docker can: as the image's user (10001),
in a private mount namespace whose root filesystem is read-only except a tmpfs at /tmp, against PostgreSQL
(a private database) and Redis (a private key prefix), and checks readiness, /api/health, a game start and the
HEALTHCHECK command.

For frontend/Dockerfile it carries out the layout stage on frontend/ as `docker build frontend/` sends it
(the working tree through .dockerignore), then the runtime stage's COPY steps into a folder that thereby holds
every file the image adds to its nginx base (etc/nginx/nginx.conf, usr/share/nginx/html/...). The container
tests serve and compare that tree.

    image_build.py [--keep]              (CARGO_TARGET_DIR defaults to <repo>/target/image-build; offline)
    image_build.py frontend --out DIR    the frontend image's files, written into the new folder DIR
"""
import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BACKEND = os.path.join(ROOT, "backend")
DOCKERFILE = os.path.join(BACKEND, "Dockerfile")
FRONTEND = os.path.join(ROOT, "frontend")
# Runtime instructions that only set image metadata: nothing to carry out on the filesystem.
METADATA = {"ARG", "LABEL", "EXPOSE", "HEALTHCHECK", "CMD", "ENTRYPOINT", "STOPSIGNAL", "USER", "ENV"}
# Shared libraries every debian:bookworm-slim has (libc6, libgcc-s1). Anything else would need an apt package.
RUNTIME_LIBS = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libgcc_s.so.1", "libdl.so.2", "libpthread.so.0",
                "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


class Fail(Exception):
    pass


def instructions(path):
    """Yields (keyword, arguments) for each instruction, with continuation lines joined and comments dropped."""
    logical = ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not logical and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if logical and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            logical += line
            keyword, _, rest = logical.strip().partition(" ")
            yield keyword.upper(), rest.strip()
            logical = ""
    if logical:
        raise Fail("the Dockerfile ends inside a continuation line")


def stages(path):
    """{stage name: [(keyword, args), ...]} plus the global ARG defaults."""
    result, global_args, current = {}, {}, None
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest, re.IGNORECASE)
            if not m:
                raise Fail(f"cannot read FROM {rest}")
            current = (m.group(2) or f"stage{len(result)}").lower()
            result[current] = []
        elif current is None:
            if keyword != "ARG":
                raise Fail(f"{keyword} before the first FROM")
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            result[current].append((keyword, rest))
    return result, global_args


def ignore_patterns(context):
    path = os.path.join(context, ".dockerignore")
    patterns = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    patterns.append(line)
    return patterns


def _match(pattern, rel):
    """Docker's rule: a pattern excludes a path when it matches the path or one of its parent directories."""
    regex = re.escape(pattern.strip("/"))
    regex = regex.replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    parts = rel.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1))


def excluded(rel, patterns):
    out = False
    for p in patterns:
        if p.startswith("!"):
            if _match(p[1:], rel):
                out = False
        elif _match(p, rel):
            out = True
    return out


def make_context(dest):
    """backend/ as committed (a fresh clone has exactly that; CI runs on one): `git archive HEAD backend`."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD", "backend"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest, "--strip-components=1"], input=archive, check=True)
    count = sum(len(files) for _, _, files in os.walk(dest))
    return count, head


def copy_tree_or_file(src_path, dest_path, dest_is_dir, keep):
    if os.path.isdir(src_path):
        for base, _dirs, files in os.walk(src_path):
            for name in files:
                full = os.path.join(base, name)
                if not keep(full):
                    continue
                target = os.path.join(dest_path, os.path.relpath(full, src_path))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy2(full, target)
    else:
        target = os.path.join(dest_path, os.path.basename(src_path)) if dest_is_dir else dest_path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(src_path, target)


def docker_copy(context, patterns, stage_root, workdir, args, stage_roots):
    source_root, from_stage = context, None
    m = re.match(r"--from=(\S+)\s+(.*)$", args)
    if m:
        from_stage, args = m.group(1).lower(), m.group(2)
        if from_stage not in stage_roots:
            raise Fail(f"COPY --from={from_stage}: not an earlier stage")
        source_root = stage_roots[from_stage]
    elif args.startswith("--"):
        raise Fail(f"COPY {args}: options other than --from are not emulated")
    parts = shlex.split(args)
    if len(parts) < 2:
        raise Fail(f"COPY {args}: needs a source and a destination")
    *sources, dest = parts
    # An absolute destination is inside the stage's own filesystem, never the host's.
    dest_path = os.path.join(stage_root, dest.lstrip("/")) if dest.startswith("/") else os.path.join(workdir, dest)
    dest_is_dir = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
    for src in sources:
        if ".." in src.split("/") or any(c in src for c in "*?["):
            raise Fail(f"COPY {src}: only plain paths are emulated")
        if from_stage is None:
            if os.path.isabs(src):
                raise Fail(f"COPY {src}: a context path must be relative")
            src_path = os.path.normpath(os.path.join(context, src))
            rel_src = os.path.relpath(src_path, context)
            if not os.path.exists(src_path) or (os.path.isfile(src_path) and excluded(rel_src, patterns)):
                raise Fail(f"COPY {src}: not in the build context (missing, or excluded by .dockerignore)")

            def keep(full):
                return not excluded(os.path.relpath(full, context), patterns)
        else:
            if not os.path.isabs(src):
                raise Fail(f"COPY --from={from_stage} {src}: use the absolute path inside that stage")
            src_path = os.path.join(source_root, src.lstrip("/"))
            if not os.path.exists(src_path):
                raise Fail(f"COPY --from={from_stage} {src}: that stage did not produce it")

            def keep(_full):
                return True
        copy_tree_or_file(src_path, dest_path, dest_is_dir, keep)


def expand(value, variables):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def run_stage(name, steps, global_args, context, stage_roots, env, build_args):
    """Carries out one stage in its own directory (its root filesystem); returns the stage's WORKDIR."""
    patterns = ignore_patterns(context)
    root_dir = stage_roots[name]
    variables = dict(global_args)
    env = dict(env)
    workdir = None
    container_workdir = None
    for keyword, args in steps:
        if keyword == "WORKDIR":
            if workdir is not None:
                raise Fail(f"{name}: a second WORKDIR is not emulated")
            container_workdir = args
            workdir = os.path.join(root_dir, args.lstrip("/"))
            os.makedirs(workdir, exist_ok=True)
        elif keyword == "ENV":
            for token in shlex.split(args):
                k, sep, v = token.partition("=")
                if not sep:
                    raise Fail(f"ENV {args}: use the KEY=value form")
                env[k] = expand(v, variables)
                variables[k] = env[k]
        elif keyword == "ARG":
            # Docker: a build argument wins over the default; a bare ARG takes the global one; RUN sees it.
            name_, sep, default = args.partition("=")
            if not sep:
                default = global_args.get(name_, "")
            variables[name_] = env[name_] = build_args.get(name_, default)
        elif keyword == "COPY":
            if workdir is None:
                raise Fail(f"{name}: COPY before WORKDIR")
            docker_copy(context, patterns, root_dir, workdir, args, stage_roots)
        elif keyword == "RUN":
            if workdir is None:
                raise Fail(f"{name}: RUN before WORKDIR")
            if args.startswith("--") or args.startswith("["):
                raise Fail(f"RUN {args}: only the shell form without options is emulated")
            print(f"--- [{name}] RUN {args}", flush=True)
            t0 = time.monotonic()
            subprocess.run(["/bin/sh", "-c", args], cwd=workdir, env=env, check=True)
            print(f"--- [{name}] done in {time.monotonic() - t0:.0f}s", flush=True)
        else:
            raise Fail(f"{name}: {keyword} is not emulated")
    if workdir is None:
        raise Fail(f"{name}: no WORKDIR")
    return container_workdir


def frontend_image(out):
    """Carries out frontend/Dockerfile: the stages before the runtime one, then the runtime stage's COPY steps
    into `out` (a new folder), which then holds the files the image adds to its base. Returns `out`."""
    dockerfile = os.path.join(FRONTEND, "Dockerfile")
    all_stages, global_args = stages(dockerfile)
    *emulated, runtime = list(all_stages)
    os.makedirs(out)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "USER")}
    tmp = tempfile.mkdtemp(prefix="hmg-frontend-image-")
    try:
        stage_roots = {}
        for name in emulated:
            stage_roots[name] = os.path.join(tmp, "stage-" + name)
            os.makedirs(stage_roots[name])
            run_stage(name, all_stages[name], global_args, FRONTEND, stage_roots, env, {})
        patterns = ignore_patterns(FRONTEND)
        for keyword, args in all_stages[runtime]:
            if keyword == "COPY":
                # No WORKDIR in the runtime stage: Docker's is /, so `out` stands for the image's root.
                docker_copy(FRONTEND, patterns, out, out, args, stage_roots)
            elif keyword not in METADATA:
                raise Fail(f"frontend runtime stage: {keyword} is not emulated (the image's files would differ "
                           "from what CI proves)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


RUNTIME_PORT = 8093  # this area's ports: 127.0.0.1:8080-8099


def runtime_user(dockerfile_text):
    m = re.search(r"^USER\s+(\d+):(\d+)\s*$", dockerfile_text, re.MULTILINE)
    if not m:
        raise Fail("the runtime stage must set a numeric USER uid:gid")
    return m.group(1), m.group(2)


def http_json(method, path, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{RUNTIME_PORT}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read())


def runtime_check(binary, uid, gid, revision):
    """The built binary as the runtime stage runs it: non-root, read-only root, tmpfs at /tmp."""
    db = "hmg_containers_" + secrets.token_hex(4)
    prefix = f"hmg_ct_{secrets.token_hex(4)}:"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c"]
    subprocess.run(psql + [f"CREATE DATABASE {db}"], check=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PORT": str(RUNTIME_PORT), "HOST": "127.0.0.1",
           "NODE_ENV": "production",
           "DB_HOST": "127.0.0.1", "DB_USER": "postgres", "DB_NAME": db, "DB_PASSWORD": "gamepass123",
           "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_KEY_PREFIX": prefix,
           "DRAIN_DELAY_SECONDS": "0", "LOG_FORMAT": "json"}
    # Inside the namespace: the host's filesystem recursively bound at /mnt (with /proc and /dev) and made
    # read-only, a fresh tmpfs at /tmp, the binary on a read-only tmpfs of its own at /opt, then chroot into it
    # as the image's user (cwd /, read-only, as the image's /app would be).
    script = (
        "set -e; r=/mnt; mount --rbind / $r; mount -o remount,bind,ro $r; mount -t tmpfs -o mode=1777 tmpfs $r/tmp;"
        f" mount -t tmpfs -o mode=0755 tmpfs $r/opt; cp {shlex.quote(binary)} $r/opt/humor-memory-game;"
        " mount -o remount,ro $r/opt;"
        f" exec chroot --userspec={uid}:{gid} $r /opt/humor-memory-game serve")
    log_dir = os.path.join(os.environ["ARTIFACTS"], "containers") if os.environ.get("ARTIFACTS") else \
        os.path.join(ROOT, "target")
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, "image-runtime.log")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                with open(log_path, encoding="utf-8") as f:
                    raise Fail(f"the binary exited under the runtime constraints:\n{f.read()[-2000:]}")
            try:
                if http_json("GET", "/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise Fail("the binary did not become ready under the runtime constraints")
            time.sleep(0.2)
        status, health = http_json("GET", "/api/health")
        if status != 200 or health["storage"] != {"database": "postgres", "liveGames": "redis"}:
            raise Fail(f"/api/health under the runtime constraints: {health}")
        status, started = http_json("POST", "/api/game/start", {"username": "ct_" + secrets.token_hex(4)})
        if status != 201 or not started["game"]["cards"]:
            raise Fail(f"a game did not start under the runtime constraints: {started}")
        with open(f"/proc/{proc.pid}/status", encoding="utf-8") as f:
            uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
        if set(uids) != {uid}:
            raise Fail(f"the server runs as uid {uids}, not {uid}")
        with urllib.request.urlopen(f"http://127.0.0.1:{RUNTIME_PORT}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        if not re.search(rf'^build_info{{[^}}]*revision="{re.escape(revision)}"', metrics, re.MULTILINE):
            raise Fail(f"build_info does not carry the build argument REVISION={revision}")
        # The image's HEALTHCHECK command, against this server.
        hc = subprocess.run([binary, "healthcheck"], env={"PATH": "/usr/bin:/bin", "PORT": str(RUNTIME_PORT)},
                            capture_output=True, text=True, timeout=10)
        if hc.returncode != 0:
            raise Fail(f"`humor-memory-game healthcheck` failed against a ready server: {hc.stderr}")
        print(f"runtime: ready as uid {uid} on a read-only root (tmpfs /tmp), PostgreSQL + Redis, "
              f"a game started, build_info revision {revision}, HEALTHCHECK ok")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(psql + [f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=False)
        keys = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "--scan", "--pattern", prefix + "*"],
                              capture_output=True, text=True).stdout.split()
        for i in range(0, len(keys), 500):
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "DEL", *keys[i:i + 500]],
                           capture_output=True, check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", choices=["backend", "frontend"], default="backend")
    parser.add_argument("--out", help="frontend: the new folder to write the image's files into")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--no-runtime-check", action="store_true",
                        help="skip running the binary under the runtime stage's constraints (needs root, PostgreSQL"
                             " and Redis on 127.0.0.1)")
    opts = parser.parse_args()
    if opts.image == "frontend":
        if not opts.out:
            parser.error("frontend needs --out DIR")
        out = frontend_image(opts.out)
        count = sum(len(files) for _, _, files in os.walk(out))
        print(f"frontend image: {count} files in {out}")
        return

    all_stages, global_args = stages(DOCKERFILE)
    names = list(all_stages)
    if "build" not in names or names[-1] == "build":
        raise Fail("backend/Dockerfile needs a stage named 'build' and a runtime stage after it")
    runtime = names[-1]
    emulated = names[:-1]

    tmp = tempfile.mkdtemp(prefix="hmg-image-build-")
    try:
        context = os.path.join(tmp, "context")
        os.makedirs(context)
        n, head = make_context(context)
        print(f"build context: {n} files of backend/ alone, as committed at {head}")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "USER")}
        env["CARGO_TARGET_DIR"] = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target", "image-build"))
        env["CARGO_NET_OFFLINE"] = "true"  # CI reaches crates.io, but the root build already fetched everything
        # As `docker-compose build` passes it (GIT_REVISION): checked below in build_info{revision}.
        build_args = {"REVISION": head}
        t0 = time.monotonic()
        stage_roots, workdirs = {}, {}
        for name in emulated:
            stage_roots[name] = os.path.join(tmp, "stage-" + name)
            os.makedirs(stage_roots[name])
            workdirs[name] = run_stage(name, all_stages[name], global_args, context, stage_roots, env, build_args)
        workdir = workdirs["build"]
        root_dir = stage_roots["build"]
        print(f"stages {emulated} finished in {time.monotonic() - t0:.0f}s")

        # What the runtime stage takes from the build stage must be there.
        binary = None
        for keyword, args in all_stages[runtime]:
            if keyword == "COPY" and args.startswith("--from=build"):
                src = shlex.split(args)[1]
                if not src.startswith(workdir.rstrip("/") + "/"):
                    raise Fail(f"runtime COPY {src} is outside the build WORKDIR {workdir}")
                path = os.path.join(root_dir, src.lstrip("/"))
                if not os.path.isfile(path):
                    raise Fail(f"runtime stage copies {src}, which the build stage did not produce")
                binary = path
        if binary is None:
            raise Fail("the runtime stage copies nothing from the build stage")
        help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
        if "healthcheck" not in help_text or "serve" not in help_text:
            raise Fail("`--help` does not list the serve and healthcheck subcommands")
        contract = json.loads(subprocess.run([binary, "contract"], check=True, capture_output=True).stdout)
        print(f"binary: {os.path.getsize(binary) / 1e6:.1f} MB, `--help` ok, contract version {contract['version']}")
        libs = set()
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
        if ldd.returncode != 0 and "not a dynamic executable" not in ldd.stdout + ldd.stderr:
            raise Fail(f"ldd failed: {ldd.stderr}")
        for line in ldd.stdout.splitlines():
            name = line.strip().split(" ")[0]
            libs.add(os.path.basename(name))
        extra = libs - RUNTIME_LIBS
        if extra:
            raise Fail(f"the binary links libraries debian-slim does not have: {sorted(extra)}")
        print(f"links only: {sorted(libs)}")
        if not opts.no_runtime_check:
            with open(DOCKERFILE, encoding="utf-8") as f:
                uid, gid = runtime_user(f.read())
            runtime_check(binary, uid, gid, build_args["REVISION"])
    finally:
        if opts.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("image build stage: ok")


if __name__ == "__main__":
    try:
        main()
    except (Fail, subprocess.CalledProcessError, OSError) as err:
        print(f"image_build: FAILED: {err}", file=sys.stderr)
        sys.exit(1)
