"""The Renovate config (.github/renovate.json): valid against Renovate's own JSON schema (the copy check-jsonschema
carries), with no option the schema does not know, and covering every kind of dependency the repository has.
Renovate itself cannot run here (it needs GitHub and the registries); its managers' default file patterns are its
documented behaviour, the patterns and expressions of ours are checked against the files."""
import importlib.resources
import json
import re
import shutil
import sys


from .tools import ROOT, run, tool

CONFIG = ROOT / ".github/renovate.json"


def config():
    return json.loads(CONFIG.read_text())


def renovate_schema():
    text = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("renovate.json").read_text()
    return json.loads(text)


def option_names(schema):
    """Every option name the schema defines anywhere (its objects compose through $ref and allOf, so a plain
    additionalProperties: false would reject valid configs)."""
    names = set()
    if isinstance(schema, dict):
        names |= set(schema.get("properties", {}))
        for v in schema.values():
            names |= option_names(v)
    elif isinstance(schema, list):
        for v in schema:
            names |= option_names(v)
    return names


def unknown_keys(cfg, known, where=""):
    """Keys of the config that are no option of Renovate's (Renovate ignores them silently)."""
    found = []
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            if k not in known:
                found.append(f"{where}/{k}")
            found += unknown_keys(v, known, f"{where}/{k}")
    elif isinstance(cfg, list):
        for i, v in enumerate(cfg):
            found += unknown_keys(v, known, f"{where}/{i}")
    return found


def test_config_passes_renovates_schema():
    r = run([tool("check-jsonschema"), "--builtin-schema", "vendor.renovate", str(CONFIG)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert renovate_schema()["title"].startswith("JSON schema for Renovate")


def test_config_uses_only_options_the_schema_knows():
    known = option_names(renovate_schema()) | {"$schema"}  # $schema is for editors, not a Renovate option
    assert {"managerFilePatterns", "matchPackageNames", "customManagers"} <= known
    assert unknown_keys(config(), known) == []
    typo = config()
    typo["packageRules"][0]["enabeld"] = False
    assert unknown_keys(typo, known) == ["/packageRules/0/enabeld"]


def js_to_python(pattern):
    """Renovate's regexes are JavaScript's; named groups are the one difference used here."""
    return pattern.replace("(?<", "(?P<")


def file_patterns(manager):
    return [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]


def test_every_kind_of_dependency_has_a_manager():
    enabled = set(config()["enabledManagers"])
    assert {"cargo", "npm", "dockerfile", "docker-compose", "github-actions", "kubernetes", "kustomize",
            "custom.regex"} <= enabled
    # The files those managers read by default, where they are.
    for path in ("Cargo.toml", "frontend/package.json", "backend/Dockerfile", "frontend/Dockerfile",
                 "docker-compose.yml", ".github/workflows/ci.yml", "gitops/environments/dev/kustomization.yaml"):
        assert (ROOT / path).exists(), path


def test_every_kubernetes_manifest_with_an_image_is_matched():
    patterns = file_patterns(config()["kubernetes"])
    with_images = [p for p in list((ROOT / "k8s").glob("*.yaml")) + list((ROOT / "gitops/base").glob("*.yaml"))
                   if re.search(r"^\s*-?\s*image:", p.read_text(), re.M)]
    assert with_images
    for p in with_images:
        rel = p.relative_to(ROOT).as_posix()
        assert any(r.search(rel) for r in patterns), rel


def custom(fragment):
    (m,) = [m for m in config()["customManagers"] if any(fragment in p for p in m["managerFilePatterns"])]
    return m


def test_the_generator_images_are_found():
    m = custom("generate-k8s")
    text = (ROOT / "monitoring/generate-k8s.py").read_text()
    found = {d["depName"]: d["currentValue"]
             for d in (x.groupdict() for s in m["matchStrings"] for x in re.finditer(js_to_python(s), text))}
    constants = dict(re.findall(r'^\w+_IMAGE = "([^":]+):([^"]+)"', text, re.M))
    assert found == constants and len(found) == 3


def test_the_rust_build_image_is_found():
    m = custom("backend/Dockerfile")
    text = (ROOT / "backend/Dockerfile").read_text()
    (hit,) = [x.groupdict() for s in m["matchStrings"] for x in re.finditer(js_to_python(s), text)]
    assert hit["currentValue"] == re.search(r"^ARG RUST_VERSION=(\S+)", text, re.M).group(1)
    assert m["depNameTemplate"] == "rust" and m["datasourceTemplate"] == "docker"


def test_our_own_images_are_left_to_releases():
    (rule,) = [r for r in config()["packageRules"] if r.get("enabled") is False and "matchUpdateTypes" not in r]
    assert "localhost:5001/**" in rule["matchPackageNames"]


def test_a_monitoring_image_update_as_renovate_makes_it_keeps_the_generator_check_green(tmp_path):
    """Renovate edits each file it finds the image in, in one grouped pull request; the generated file then has to
    be exactly what the generator writes, or CI fails on that pull request."""
    group = [r for r in config()["packageRules"] if r.get("groupName") == "monitoring images"]
    assert group and set(group[0]["matchPackageNames"]) == {"prom/prometheus", "prom/alertmanager", "grafana/grafana"}
    shutil.copytree(ROOT / "monitoring", tmp_path / "monitoring")
    (tmp_path / "k8s").mkdir()
    shutil.copy(ROOT / "k8s/monitoring.yaml", tmp_path / "k8s/monitoring.yaml")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    gen = (tmp_path / "monitoring/generate-k8s.py").read_text()
    old = re.search(r'PROMETHEUS_IMAGE = "prom/prometheus:([^"]+)"', gen).group(1)
    new = "v9.9.9"
    # The three places the managers found it: the generator constant (regex manager), the generated manifest
    # (kubernetes manager) and the compose file (docker-compose manager).
    for rel in ("monitoring/generate-k8s.py", "k8s/monitoring.yaml", "docker-compose.yml"):
        p = tmp_path / rel
        text = p.read_text()
        assert f"prom/prometheus:{old}" in text, rel
        p.write_text(text.replace(f"prom/prometheus:{old}", f"prom/prometheus:{new}"))
    r = run([sys.executable, str(tmp_path / "monitoring/generate-k8s.py"), "--check"])
    assert r.returncode == 0, r.stderr
